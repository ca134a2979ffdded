#include "cmd_report.hpp"

#include <fmt/format.h>

#include <iostream>
#include <set>

#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "optimize_output.hpp"
#include "usage_error.hpp"

namespace kopt::cli {

namespace {

std::string unfinished_text(const nlohmann::json& unfinished) {
  std::string out;
  for (const auto& c : unfinished) {
    double total = 0;
    std::string phases;
    for (const auto& p : util::json_field(c, "phases")) {
      const double s = p.value("seconds", 0.0);
      total += s;
      phases += fmt::format("{}{} {}", phases.empty() ? "" : ", ", util::strip_control(p.value("name", "")),
                            util::format_seconds(s));
    }
    out += fmt::format("  {}: candidate {} ({}) after {}: {}\n", util::json_field(c, "status").get<std::string>(),
                       core::candidate_dir_name(util::json_field(c, "id").get<int>()),
                       util::strip_control(util::json_field(c, "strategy").get<std::string>()),
                       util::format_seconds(total), phases.empty() ? "no phase finished" : phases);
    const std::string tail = util::strip_control(util::json_field(c, "log_tail").get<std::string>());
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

// The text report: each run's summary as `kopt optimize` prints it, the evaluations that
// did not finish, and for several runs the suite table and line.
std::string text_report(const nlohmann::json& doc) {
  std::string text;
  std::vector<core::WorkloadResult> results;
  for (const auto& run : util::json_field(doc, "runs")) {
    core::WorkloadResult r;
    r.workload = run.value("workload", "");
    r.run_dir = run.value("run_dir", "");
    r.status = run.value("status", "");
    if (r.status == "not_started") {
      text += "kopt optimize " + r.workload + ": not started\n  run: " + r.run_dir + "\n";
      results.push_back(r);
      continue;
    }
    r.summary = run;
    text += optimize_text(r) + unfinished_text(util::json_field(run, "unfinished"));
    results.push_back(r);
  }
  if (doc.contains("suite")) {
    const auto& s = util::json_field(doc, "suite");
    text += "suite summary (medians in ms, the final gate's where it ran; baseline: the fastest of eager and torch.compile):\n" + suite_table(results);
    text += suite_line(s, results.size());
  }
  return text;
}

}  // namespace

CLI::App* add_report_command(CLI::App& app, ReportCommand& cmd) {
  auto* sub = app.add_subcommand(
      "report", "Report kopt optimize runs (text, Markdown, one self-contained HTML page, JSON); several directories merge");
  sub->add_option("dirs", cmd.dirs, "Run directories, suite directories or shards of kopt optimize")->required();
  sub->add_option("--format", cmd.format, "text (default), md, html or json")
      ->check(CLI::IsMember({"text", "md", "html", "json"}));
  sub->add_option("-o,--output", cmd.output, "Write the report to FILE (atomically) instead of stdout");
  sub->add_flag("--json", cmd.json, "The same as --format json");
  return sub;
}

int run_report(const ReportCommand& cmd) {
  // A folder named twice (or by two paths) is one run, not two in the suite table; so is
  // a run named beside a suite (or shard) folder that holds it.
  std::vector<std::string> dirs;
  std::set<std::string> seen;
  std::vector<std::string> real;
  for (const auto& d : cmd.dirs) real.push_back(core::real_path(d));
  for (size_t i = 0; i < cmd.dirs.size(); ++i) {
    bool inside = false;
    for (const auto& other : real)
      if (real[i].size() > other.size() && real[i].compare(0, other.size() + 1, other + "/") == 0) inside = true;
    if (!inside && seen.insert(real[i]).second) dirs.push_back(cmd.dirs[i]);
  }
  auto doc = report::collect(dirs);
  if (!doc) {
    return usage_error(doc.failure().message);
  }
  const std::string format = cmd.json ? "json" : cmd.format;
  std::string out;
  try {
    if (format == "json")
      out = util::dump_json(*doc, 2) + "\n";
    else if (format == "html")
      out = report::render_html(*doc);
    else if (format == "md")
      out = report::render_markdown(*doc);
    else
      out = util::strip_control(text_report(*doc));  // run.json's strings may hold terminal escapes
  } catch (const nlohmann::json::exception& e) {  // a field of run.json's summary of another type
    return usage_error(cmd.dirs.front() + "/run.json: " + core::json_error_text(e));
  }
  // Runs saved before run.json was redacted, or under other keys, may hold a secret of
  // this environment's: no report format prints it.
  out = util::redact(out, sandbox::secret_values(sandbox::current_environment()));
  if (cmd.output.empty()) {
    std::cout << out << std::flush;
    return 0;
  }
  // A run's own files are not report targets: "-o RUN/run.json" destroyed the run.
  const std::string name = cmd.output.substr(cmd.output.rfind('/') == std::string::npos ? 0 : cmd.output.rfind('/') + 1);
  for (const char* kept : {"run.json", "suite.json", "record.json", "baseline.json", "verify.json", "claim.json",
                           "timing.json", "claim_timing.json", "candidate.py", "best.py", "workload.py"})
    if (name == kept && core::is_regular_file(cmd.output))
      return usage_error("-o " + cmd.output + " would replace a file of a kopt run; write the report elsewhere");
  if (Status w = core::write_atomic(cmd.output, out); !w) {
    return usage_error(w.failure().message);
  }
  return 0;
}

}  // namespace kopt::cli
