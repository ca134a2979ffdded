#include "cmd_report.hpp"

#include <iostream>

#include "kopt/core/run_state.hpp"
#include "kopt/util/text.hpp"
#include "optimize_output.hpp"

namespace kopt::cli {

namespace {

// The runs of RUN_DIR: itself, or the runs its suite.json lists. Failure kind "usage".
Result<std::vector<std::string>> run_dirs(const std::string& dir) {
  if (!core::is_regular_file(dir + "/suite.json")) return std::vector<std::string>{dir};
  try {
    std::vector<std::string> dirs;
    for (const auto& d : nlohmann::json::parse(core::read_text(dir + "/suite.json").value_or("")).at("runs"))
      dirs.push_back(d.get<std::string>());
    return dirs;
  } catch (const std::exception& e) {
    return Failure{"usage", dir + "/suite.json is unreadable: " + e.what()};
  }
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
  for (const auto& dir : *dirs) {
    auto state = core::load_run(dir);
    if (!state) {
      std::cerr << "kopt: error: " << state.failure().message << std::endl;
      return 2;
    }
    core::WorkloadResult r;
    r.workload = state->header.value("workload", "");
    r.run_dir = dir;
    r.status = state->header.value("status", "");
    r.summary = state->header.value("summary", nlohmann::json());
    // A run killed before its summary was written: the candidates still count.
    if (!r.summary.is_object()) {
      std::map<std::string, int> counts;
      int pending = 0;
      for (const auto& [id, c] : state->candidates) {
        if (c.status == "pending") ++pending;
        else if (c.status == "done") ++counts[c.outcome];
      }
      r.summary = {{"candidates", state->candidates.size()}, {"counts", counts}, {"pending", pending},
                   {"baselines", state->header.value("baseline", nlohmann::json::object())}, {"best", nullptr},
                   {"gpu_idle_share", nullptr}, {"tokens", state->header.value("tokens", nlohmann::json::object())}};
    }
    text += optimize_text(r);
    nlohmann::json j = r.summary;
    j["workload"] = r.workload;
    j["run_dir"] = dir;
    j["status"] = r.status;
    j["waiting_prompts"] = waiting_json(waiting_prompts(dir));
    runs.push_back(std::move(j));
  }
  if (cmd.json)
    std::cout << nlohmann::json({{"kopt_report", 1}, {"runs", runs}}).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
  else
    std::cout << text << std::flush;
  return 0;
}

}  // namespace kopt::cli
