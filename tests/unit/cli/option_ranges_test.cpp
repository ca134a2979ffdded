// One table of option ranges (kopt/core/option_ranges.hpp): kopt optimize's CLI takes a
// value exactly when a resumed run's run.json may hold it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "cli/cmd_optimize.hpp"
#include "cli/optimize_plan.hpp"
#include "core/optimize/run_schema.hpp"
#include "kopt/core/option_ranges.hpp"

using kopt::core::OptionRange;

namespace {

bool is_time_budget(const OptionRange& r) { return std::string(r.key) == "time_budget_s"; }

// Values at and around both ends of the range.
std::vector<double> probes(const OptionRange& r) {
  if (r.integer) return {r.low - 1, r.low, r.low + 1, r.high - 1, r.high, r.high + 1};
  return {r.low - 1, r.low - 0.001, r.low, r.low + 0.001, r.high - 0.001, r.high, r.high + 0.001, r.high + 1, 1e30};
}

std::string text_of(const OptionRange& r, double v) {
  return r.integer ? std::to_string(static_cast<long long>(v)) : fmt::format("{}", v);
}

// Whether `kopt optimize FLAG=v` is taken (--time-budget: as a number of seconds).
bool cli_takes(const OptionRange& r, double v, std::string& message) {
  const std::string text = text_of(r, v);
  if (is_time_budget(r)) {  // a duration, read after parsing
    auto seconds = kopt::cli::time_budget_seconds(text);
    if (!seconds) message = seconds.failure().message;
    return seconds.ok();
  }
  CLI::App app;
  kopt::cli::OptimizeCommand cmd;
  kopt::cli::add_optimize_command(app, cmd);
  try {
    app.parse("optimize " + std::string(r.flag) + "=" + text, false);
  } catch (const CLI::ParseError& e) {
    message = e.what();
    return false;
  }
  return true;
}

// Whether a run.json whose options hold `v` passes the schema.
bool run_json_takes(const OptionRange& r, double v, std::string& message) {
  nlohmann::json options = nlohmann::json::object();
  if (r.integer) options[r.key] = static_cast<long long>(v);
  else options[r.key] = v;
  message = kopt::core::run_header_error({{"workload", "/w.py"}, {"options", options}});
  return message.empty();
}

}  // namespace

// A value the CLI takes and a resume refuses stops the run where it stands (--time-budget
// 40000d was taken, and its run.json then refused); one a resume takes and the CLI refuses
// cannot be given again. max_cost's "no limit" (-1), the default, is in run.json only.
TEST(option_ranges, the_cli_and_run_json_take_the_same_values_of_each_option) {
  for (const auto& r : kopt::core::kOptionRanges) {
    SCOPED_TRACE(r.key);
    for (const double v : probes(r)) {
      std::string cli_message, saved_message;
      const bool cli = cli_takes(r, v, cli_message), saved = run_json_takes(r, v, saved_message);
      const bool within = kopt::core::in_option_range(r, v);
      const bool none = !std::isnan(r.none) && v >= r.none && v < r.low;
      EXPECT_EQ(cli, within) << text_of(r, v) << ": " << cli_message;
      EXPECT_EQ(saved, within || none) << text_of(r, v) << ": " << saved_message;
      if (!none) {
        EXPECT_EQ(cli, saved) << text_of(r, v);
      }
    }
  }
}

TEST(option_ranges, messages_name_the_limits) {
  std::string message;
  EXPECT_FALSE(cli_takes(kopt::core::option_range("call_timeout"), 0, message));
  EXPECT_NE(message.find("--call-timeout: must be more than 0 and at most 1000000 seconds (it is 0)"), std::string::npos)
      << message;
  EXPECT_FALSE(cli_takes(kopt::core::option_range("trials"), 1, message));
  EXPECT_NE(message.find("Value 1 not in range 2 to 1000"), std::string::npos) << message;
  EXPECT_FALSE(cli_takes(kopt::core::option_range("time_budget_s"), 2e9, message));
  EXPECT_EQ(message, "--time-budget: must be at least 0 and at most 1000000000 seconds (it is 2000000000)");
  EXPECT_FALSE(run_json_takes(kopt::core::option_range("max_cost"), -2, message));
  EXPECT_EQ(message, "field \"options.max_cost\" must be at least -1.0 and at most 1000000000.0 (it is -2.0)");
  EXPECT_FALSE(run_json_takes(kopt::core::option_range("trials"), 1001, message));
  EXPECT_EQ(message, "field \"options.trials\" must be at least 2.0 and at most 1000.0 (it is 1001)");
}

// The files provider's reply timeout, saved under "provider": 0 (forever) to 10^6 s, as
// --reply-timeout takes it (1e300 was taken on resume and overflowed the deadline; -5 was
// reported as a bad --reply-timeout that nobody had given).
TEST(option_ranges, a_saved_reply_timeout_is_checked_like_the_command_lines) {
  auto header = [](double v) {
    return nlohmann::json{{"workload", "/w.py"}, {"options", nlohmann::json::object()},
                          {"provider", {{"kind", "files"}, {"reply_timeout_s", v}}}};
  };
  EXPECT_EQ(kopt::core::run_header_error(header(0)), "");
  EXPECT_EQ(kopt::core::run_header_error(header(1800)), "");
  EXPECT_EQ(kopt::core::run_header_error(header(-5)),
            "field \"provider.reply_timeout_s\" must be at least 0.0 and at most 1000000.0 (it is -5.0)");
  EXPECT_NE(kopt::core::run_header_error(header(1e300)).find("(it is 1e+300)"), std::string::npos);
}

TEST(option_ranges, a_key_not_in_the_table_is_kopts_own_bug) {
  EXPECT_THROW(kopt::core::option_range("no_such_option"), std::logic_error);
}
