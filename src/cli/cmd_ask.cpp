#include "cmd_ask.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "kopt/core/run_state.hpp"
#include "kopt/providers/accounting.hpp"
#include "kopt/providers/dispatch.hpp"
#include "kopt/providers/extract.hpp"
#include "kopt/providers/prompts.hpp"
#include "kopt/providers/transcript.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "stop_signal.hpp"
#include "usage_error.hpp"
#include "validators.hpp"

namespace kopt::cli {

namespace pv = kopt::providers;

namespace {

std::string default_out_dir() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[64];
  std::strftime(buf, sizeof buf, "kopt-runs/ask-%Y%m%d-%H%M%S", &local);
  return buf;
}

std::string money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

struct Row {
  const pv::Reply* reply;
  std::string status;   // "candidate", "no_candidate", or the reply outcome
  std::string message;  // redacted, one line
  std::string candidate_path;
};

std::string one_line(const std::string& text, const std::vector<std::string>& secrets) {
  std::string out = util::redact(util::strip_control(text), secrets);
  for (auto& c : out)
    if (c == '\n' || c == '\t') c = ' ';
  return out;
}

}  // namespace

CLI::App* add_ask_command(CLI::App& app, AskCommand& cmd) {
  auto* sub = app.add_subcommand("ask", "Send the first-attempt prompt for a workload to an LLM and extract candidates");
  auto& p = cmd.provider;
  sub->add_option("workload", cmd.workload, "Workload file: Model, get_inputs, get_init_inputs")->required();
  sub->add_option("--provider", p.kind, "openai, anthropic or exec")
      ->required()
      ->check(CLI::IsMember({"openai", "anthropic", "exec"}));
  sub->add_option("--model", p.model, "Model name as the server knows it");
  sub->add_option("--base-url", p.base_url, "API base URL (default: $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, then the public API)");
  sub->add_option("--command", p.command, "exec: program and arguments (no shell); prompt on stdin, reply on stdout");
  sub->add_option("--n", cmd.n, "Requests to send, all in flight at once")->check(CLI::Range(1, 256));
  sub->add_option("--temperature", cmd.temperature, "Sampling temperature (default: the server's)")->check(number_in(0, true, 2, ""));
  sub->add_option("--max-output-tokens", p.max_output_tokens, "Output-token limit per reply")->check(CLI::Range(1, 1'000'000));
  sub->add_option("--out", cmd.out_dir, "Run directory (default: kopt-runs/ask-DATE-TIME)");
  sub->add_option("--hint", cmd.hints, "Guidance added to every prompt (repeatable)")->allow_extra_args(false);
  sub->add_option("--hint-file", cmd.hint_files, "File of guidance added to every prompt (repeatable)")->allow_extra_args(false);
  sub->add_option("--prompts", cmd.prompts_dir, "Directory overriding system.md, first_attempt.md, refine.md");
  sub->add_option("--prices", cmd.prices_file, "Price table (JSON) replacing the built-in one");
  sub->add_option("--max-tokens-total", cmd.max_tokens_total, "Stop sending once this many tokens are used")
      ->check(number_in(0, true, 1e15, "tokens"));
  sub->add_option("--max-cost", cmd.max_cost, "Stop sending once this estimated cost (USD) is reached")
      ->check(option_range_check("max_cost"));
  sub->add_option("--connect-timeout", cmd.connect_timeout_s, "Seconds to connect")->check(timeout_seconds());
  sub->add_option("--timeout", cmd.timeout_s, "Seconds for one request (one attempt), or the exec deadline")
      ->check(timeout_seconds());
  sub->add_option("--retries", p.max_retries, "Retries for 429 and 5xx replies")->check(CLI::Range(0, 20));
  sub->add_flag("--json", cmd.json, "Print one JSON document on stdout");
  return sub;
}

int run_ask(AskCommand cmd) {
  auto& po = cmd.provider;
  if (cmd.temperature >= 0) po.temperature = cmd.temperature;
  po.connect_timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(cmd.connect_timeout_s * 1000)));
  po.timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(cmd.timeout_s * 1000)));

  // Refused before any request: a folder or a file that is no workload would be sent to
  // a paid model as an empty or meaningless prompt.
  const auto workload = core::read_text(cmd.workload);
  if (!workload) return usage_error("cannot read the workload " + cmd.workload + (core::is_directory(cmd.workload) ? " (a folder)" : ""));
  if (!core::looks_like_workload(*workload))
    return usage_error(cmd.workload + " is not a workload: it does not define class Model( and def get_inputs");
  pv::PromptSet prompts = pv::builtin_prompts();
  if (!cmd.prompts_dir.empty()) {
    auto loaded = pv::load_prompts(cmd.prompts_dir);
    if (!loaded) return usage_error(loaded.failure().message);
    prompts = std::move(loaded.value());
  }
  pv::FirstAttemptFacts facts;
  facts.workload_name = cmd.workload.substr(cmd.workload.rfind('/') + 1);
  facts.workload_source = *workload;
  facts.hints = cmd.hints;
  for (const auto& path : cmd.hint_files) {
    auto text = core::read_text(path);
    if (!text) return usage_error("cannot read the hint file " + path);
    facts.hints.push_back(*text);
  }
  auto system = pv::system_prompt(prompts);
  auto user = pv::first_attempt_prompt(prompts, facts);
  if (!system) return usage_error("system.md: " + system.failure().message);
  if (!user) return usage_error("first_attempt.md: " + user.failure().message);

  pv::PriceTable prices = pv::PriceTable::builtin();
  if (!cmd.prices_file.empty()) {
    auto loaded = pv::PriceTable::load(cmd.prices_file);
    if (!loaded) return usage_error(loaded.failure().message);
    prices = std::move(loaded.value());
  }
  const auto env = sandbox::current_environment();
  // Ctrl-C: requests in flight come back unanswered, the finished ones are extracted and
  // the summary is written; exit 130.
  install_stop_handlers();
  po.should_stop = [] { return stop_requested().load(); };
  auto provider = pv::make_provider(po, env);
  if (!provider) return usage_error(provider.failure().message);

  std::vector<std::string> secrets = (*provider)->secrets();
  for (auto& s : sandbox::secret_values(env)) secrets.push_back(std::move(s));
  const std::string out_dir = cmd.out_dir.empty() ? default_out_dir() : cmd.out_dir;
  // An earlier ask's replies and summary are finished results: never written over.
  if (core::is_directory(out_dir) && !core::list_dir(out_dir).empty())
    return usage_error("--out " + out_dir + " already holds files (an earlier run's?): kopt ask writes into a new or empty folder");
  auto transcript = pv::Transcript::open(out_dir, secrets);
  if (!transcript) return usage_error(transcript.failure().message);

  pv::BudgetLimits limits;
  if (cmd.max_tokens_total >= 0) limits.max_tokens_total = cmd.max_tokens_total;
  if (cmd.max_cost >= 0) limits.max_cost_usd = cmd.max_cost;
  pv::Budget budget(limits, prices, po.model);
  if (const auto why = budget.unpriced_cost_limit(); !why.empty()) spdlog::warn("{}", why);

  std::vector<pv::Request> requests;
  // A secret the hints or the workload hold never goes out in a prompt.
  for (int i = 1; i <= cmd.n; ++i) requests.push_back({i, util::redact(*system, secrets), util::redact(*user, secrets)});
  spdlog::info("Asking. [provider: {}, model: {}, requests: {}, out: {}]", (*provider)->name(), po.model, cmd.n, out_dir);
  const auto replies = pv::dispatch(**provider, requests, {cmd.n, po.max_output_tokens}, &budget, &transcript.value());

  std::vector<Row> rows;
  int candidates = 0;
  for (const auto& reply : replies) {
    Row row{&reply, pv::reply_outcome_name(reply.outcome), one_line(reply.message, secrets), ""};
    if (pv::has_text(reply.outcome)) {
      auto code = pv::extract_candidate(reply.text);
      if (code) {
        auto path = transcript->save_candidate(reply.index, util::redact(*code, secrets));
        if (path) {
          ++candidates;
          row.status = "candidate";
          row.candidate_path = *path;
        } else {
          row.status = "io_error";
          row.message = path.failure().message;
        }
      } else {
        row.status = "no_candidate";
        row.message = code.failure().message + (reply.outcome == pv::ReplyOutcome::truncated ? " (" + row.message + ")" : "");
      }
    }
    rows.push_back(std::move(row));
  }

  nlohmann::json summary = {{"out_dir", out_dir},
                            {"provider", (*provider)->name()},
                            {"model", po.model},
                            {"candidates", candidates},
                            {"requests", nlohmann::json::array()}};
  for (const auto& row : rows) {
    const auto& r = *row.reply;
    summary["requests"].push_back({{"index", r.index},
                                   {"status", row.status},
                                   {"outcome", pv::reply_outcome_name(r.outcome)},
                                   {"message", row.message},
                                   {"candidate", row.candidate_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.candidate_path)},
                                   {"input_tokens", r.usage.input_tokens},
                                   {"output_tokens", r.usage.output_tokens},
                                   {"cost_usd", r.cost_known ? nlohmann::json(r.cost_usd) : nlohmann::json(nullptr)},
                                   {"elapsed_s", r.elapsed_s},
                                   {"attempts", r.attempts},
                                   {"http_status", r.http_status}});
  }
  summary["totals"] = {{"input_tokens", budget.input_tokens()},
                       {"output_tokens", budget.output_tokens()},
                       {"cost_usd", budget.cost_known() && prices.find(po.model) ? nlohmann::json(budget.cost_usd())
                                                                                 : nlohmann::json(nullptr)}};
  summary["budget_stop"] = budget.exhausted_reason();
  if (Status saved = transcript->save_summary(summary); !saved)
    spdlog::warn("Summary not saved. [reason: {}]", saved.failure().message);

  if (cmd.json) {
    std::cout << util::redact(util::dump_json(summary, 2), secrets) << std::endl;
  } else {
    std::cout << "kopt ask: " << rows.size() << " request(s) to " << (*provider)->name()
              << (po.model.empty() ? "" : " (" + po.model + ")") << ", saved in " << out_dir << "\n";
    for (const auto& row : rows) {
      const auto& r = *row.reply;
      char line[160];
      std::snprintf(line, sizeof line, "  %04d  %-17s %7lld in / %6lld out  %9s  %8s", r.index, row.status.c_str(),
                    r.usage.input_tokens, r.usage.output_tokens, r.cost_known ? money(r.cost_usd).c_str() : "cost ?",
                    util::format_seconds(r.elapsed_s).c_str());
      std::cout << line << "  " << (row.candidate_path.empty() ? row.message : row.candidate_path) << "\n";
    }
    std::cout << "total: " << budget.input_tokens() << " in / " << budget.output_tokens() << " out tokens, "
              << (summary["totals"]["cost_usd"].is_null() ? std::string("cost unknown (model not in the price table)")
                                                          : money(budget.cost_usd()) + " estimated")
              << "\n";
    if (!budget.exhausted_reason().empty()) std::cout << "stopped: " << budget.exhausted_reason() << "\n";
    std::cout << candidates << " candidate(s) extracted." << std::endl;
  }
  if (stop_requested()) return 130;
  return candidates > 0 ? 0 : 1;
}

}  // namespace kopt::cli
