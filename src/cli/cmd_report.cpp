#include "cmd_report.hpp"

#include <fmt/format.h>

#include <iostream>

#include "kopt/core/run_state.hpp"
#include "kopt/util/text.hpp"
#include "optimize_output.hpp"

namespace kopt::cli {

namespace {

// The runs of RUN_DIR: itself, or the runs its suite.json lists. Failure kind "state".
Result<std::vector<core::SuiteEntry>> run_dirs(const std::string& dir) {
  if (!core::is_regular_file(dir + "/suite.json")) return std::vector<core::SuiteEntry>{{"", dir}};
  return core::load_suite(dir);
}

// Candidates whose evaluation did not finish (interrupted, or running when the run was
// killed), with the phases they got through and the last lines of their log.
nlohmann::json unfinished_json(const core::RunState& state) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, c] : state.candidates)
    if ((c.status == "interrupted" || c.status == "running") && (!c.phases.empty() || !c.log_tail.empty()))
      out.push_back({{"id", id}, {"strategy", c.strategy}, {"status", c.status}, {"phases", c.phases},
                     {"log_tail", c.log_tail}});
  return out;
}

std::string unfinished_text(const nlohmann::json& unfinished) {
  std::string out;
  for (const auto& c : unfinished) {
    double total = 0;
    std::string phases;
    for (const auto& p : c["phases"]) {
      const double s = p.value("seconds", 0.0);
      total += s;
      phases += fmt::format("{}{} {}", phases.empty() ? "" : ", ", util::strip_control(p.value("name", "")),
                            util::format_seconds(s));
    }
    out += fmt::format("  {}: candidate {} ({}) after {}: {}\n", c["status"].get<std::string>(),
                       core::candidate_dir_name(c["id"].get<int>()), util::strip_control(c["strategy"].get<std::string>()),
                       util::format_seconds(total), phases.empty() ? "no phase finished" : phases);
    const std::string tail = util::strip_control(c["log_tail"].get<std::string>());
    if (tail.empty()) continue;
    out += "    log (last lines):\n";
    size_t start = 0;
    while (start <= tail.size()) {
      const size_t nl = tail.find('\n', start);
      out += "      " + tail.substr(start, nl == std::string::npos ? std::string::npos : nl - start) + "\n";
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  return out;
}

// One run's part of the report: its summary text appended to `text`, its JSON returned.
// Throws nlohmann::json::exception on a field load_run does not check.
nlohmann::json run_entry(const core::RunState& state, std::string& text) {
  core::WorkloadResult r;
  r.workload = state.header.value("workload", "");
  r.run_dir = state.dir;
  r.status = state.header.value("status", "");
  r.summary = state.header.value("summary", nlohmann::json());
  // A run killed before its summary was written: the candidates still count.
  if (!r.summary.is_object()) {
    std::map<std::string, int> counts;
    int pending = 0;
    for (const auto& [id, c] : state.candidates) {
      if (c.status == "pending") ++pending;
      else if (c.status == "done") ++counts[c.outcome];
    }
    r.summary = {{"candidates", state.candidates.size()}, {"counts", counts}, {"pending", pending},
                 {"baselines", state.header.value("baseline", nlohmann::json::object())}, {"best", nullptr},
                 {"gpu_idle_share", nullptr}, {"tokens", state.header.value("tokens", nlohmann::json::object())}};
  }
  const auto unfinished = unfinished_json(state);
  text += optimize_text(r) + unfinished_text(unfinished);
  nlohmann::json j = r.summary;
  j["unfinished"] = unfinished;
  j["workload"] = r.workload;
  j["run_dir"] = state.dir;
  j["status"] = r.status;
  j["waiting_prompts"] = waiting_json(waiting_prompts(state.dir));
  return j;
}

}  // namespace

CLI::App* add_report_command(CLI::App& app, ReportCommand& cmd) {
  auto* sub = app.add_subcommand("report", "Summarise a kopt optimize run and list the prompts waiting for replies");
  sub->add_option("run_dir", cmd.run_dir, "Run directory (or suite directory) of kopt optimize")->required();
  sub->add_flag("--json", cmd.json, "Print one JSON document on stdout");
  return sub;
}

int run_report(const ReportCommand& cmd) {
  auto dirs = run_dirs(cmd.run_dir);
  if (!dirs) {
    std::cerr << "kopt: error: " << dirs.failure().message << std::endl;
    return 2;
  }
  nlohmann::json runs = nlohmann::json::array();
  std::string text;
  for (const auto& [workload, dir] : *dirs) {
    if (!workload.empty() && !core::is_regular_file(dir + "/run.json")) {  // a suite stopped before it
      text += "kopt optimize " + workload + ": not started\n  run: " + dir + "\n";
      runs.push_back({{"workload", workload}, {"run_dir", dir}, {"status", "not_started"}});
      continue;
    }
    auto state = core::load_run(dir);
    if (!state) {
      std::cerr << "kopt: error: " << state.failure().message << std::endl;
      return 2;
    }
    try {
      runs.push_back(run_entry(*state, text));
    } catch (const nlohmann::json::exception& e) {  // a field load_run does not check
      std::cerr << "kopt: error: " << dir << "/run.json: " << core::json_error_text(e) << std::endl;
      return 2;
    }
  }
  if (cmd.json)
    std::cout << nlohmann::json({{"kopt_report", 1}, {"runs", runs}}).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
  else
    std::cout << text << std::flush;
  return 0;
}

}  // namespace kopt::cli
