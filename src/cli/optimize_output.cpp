#include "optimize_output.hpp"

#include <fmt/format.h>

#include <iostream>
#include <sstream>

#include "kopt/core/run_state.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::cli {

using util::json_field;
using util::json_number;

std::string optimize_text(const core::WorkloadResult& r) {
  std::ostringstream out;
  const auto& s = r.summary;
  out << "kopt optimize " << r.workload << ": " << r.status;
  if (!r.error.empty()) out << ": " << util::strip_control(r.error);
  if (s.is_object() && !s.value("stop_reason", "").empty()) out << " (" << s.value("stop_reason", "") << ")";
  out << "\n";
  if (!s.is_object()) return out.str();
  const auto& b = json_field(s, "baselines");
  out << "  baselines:";
  // (is_object() before each value(): a damaged summary may hold anything there.)
  if (const auto& eager = json_field(b, "eager"); eager.is_object() && eager.value("ok", false))
    out << fmt::format(" eager {:.4f} ms", json_number(eager, "median_ms"));
  if (json_field(b, "compiled").is_object())
    for (const auto& [mode, t] : json_field(b, "compiled").items())
      out << (t.is_object() && t.value("ok", false) ? fmt::format(", {} {:.4f} ms", mode, json_number(t, "median_ms"))
                                                    : fmt::format(", {} unavailable", mode));
  if (!(b.is_object() && b.value("ok", false))) {
    const std::string why = util::strip_control(util::json_string(b, "error"));
    out << " not measured" << (why.empty() ? "" : " (" + why + ")");
  }
  out << "\n";
  if (const std::string room = core::headroom_text(s.value("headroom", nlohmann::json())); !room.empty())
    out << "  " << util::strip_control(room) << "\n";
  if (json_field(s, "verdict").is_string())
    out << "  " << util::strip_control(json_field(s, "verdict").get<std::string>()) << "\n";
  if (json_field(s, "best").is_object()) {
    const auto& best = json_field(s, "best");
    out << fmt::format("  fastest candidate: {:04d} ({})", best.value("id", 0), best.value("strategy", ""));
    if (json_number(best, "gate_ms") > 0) {
      // The figures the gate's speedup compares, then the ranking's.
      out << fmt::format(" {:.4f} ms", json_number(best, "gate_ms"));
      if (json_number(best, "gate_baseline_ms") > 0)
        out << fmt::format(" against {} {:.4f} ms", util::strip_control(best.value("gate_baseline", "")),
                           json_number(best, "gate_baseline_ms"));
      out << " in the final gate";
      if (json_number(best, "median_ms") > 0) out << fmt::format(" ({:.4f} ms when ranked)", json_number(best, "median_ms"));
    } else if (json_number(best, "median_ms") > 0) {
      out << fmt::format(" {:.4f} ms", json_number(best, "median_ms"));
    } else {
      out << " (not timed)";
    }
    if (json_field(best, "speedup").is_number()) {
      out << fmt::format(", {:.3f}x the best baseline", json_number(best, "speedup"));
      if (best.value("confirmed", false))
        out << fmt::format(" (95% interval {:.3f}-{:.3f}): {}", json_number(best, "low"), json_number(best, "high"),
                           best.value("faster", false) ? "FASTER" : "not shown to be faster");
      else
        out << " (ranking only, " << core::ranking_range_text(best) << "not confirmed)";
    }
    out << "\n";
  } else {
    out << "  best: no correct candidate\n";
  }
  if (const std::string drift = core::baseline_drift_text(s.value("baseline_drift", nlohmann::json())); !drift.empty())
    out << "  note: " << drift << "\n";
  if (const std::string earlier = core::earlier_baselines_text(s.value("earlier_baselines", nlohmann::json())); !earlier.empty())
    out << "  note: baselines " << earlier << "\n";
  std::string counts;
  for (const auto& [k, v] : json_field(s, "counts").items()) counts += (counts.empty() ? "" : ", ") + k + " " + v.dump();
  if (s.value("pending", 0)) counts += (counts.empty() ? "" : ", ") + std::string("pending ") + std::to_string(s.value("pending", 0));
  if (s.value("not_evaluated", 0))
    counts += (counts.empty() ? "" : ", ") + std::string("not evaluated ") + std::to_string(s.value("not_evaluated", 0));
  out << "  candidates: " << s.value("candidates", 0) << (counts.empty() ? "" : " (" + counts + ")");
  out << fmt::format(", {:.2f} evaluated per minute", json_number(s, "evaluated_per_minute"));
  if (json_field(s, "gpu_idle_share").is_number()) out << fmt::format(", timing idle {:.0f}% while candidates waited", 100 * json_number(s, "gpu_idle_share"));
  const nlohmann::json tokens = s.contains("tokens") ? json_field(s, "tokens") : nlohmann::json::object();
  if (json_number(tokens, "input") + json_number(tokens, "output") > 0)
    out << fmt::format("\n  tokens: {} in, {} out{}", tokens.value("input", 0LL), tokens.value("output", 0LL),
                       tokens.value("estimated", false) ? " (estimated from the text)" : "");
  out << "\n  run: " << r.run_dir << (json_field(s, "best_py").is_object() ? "  (best.py, report.md, report.html)"
                                                                          : "  (report.md, report.html)") << "\n";
  const auto waiting = report::waiting_prompts(r.run_dir);
  if (!waiting.empty()) {
    out << "  waiting for replies (" << waiting.size() << "):\n";
    for (const auto& p : waiting)
      out << fmt::format("    {} (written {:.0f} s ago)\n", util::strip_control(p.path), p.waited_s);
    out << "  answer each with NNNN.reply.md (or .reply.py) beside it, then: kopt optimize --resume " << r.run_dir << "\n";
  }
  return out.str();
}

namespace {

// `text` cut to `width` characters, its last one "~" where it was longer.
std::string fit(std::string text, size_t width) {
  if (text.size() > width) text = text.substr(0, width - 1) + "~";
  return text;
}

// A baseline cell: "compile:default 3.4147"; a longer mode
// ("compile:max-autotune-no-cudagraphs") is cut.
std::string baseline_cell(const std::string& name, double ms) {
  return fmt::format("{} {:.4f}", fit(util::strip_control(name), 17), ms);
}

}  // namespace

std::string suite_table(const std::vector<core::WorkloadResult>& results) {
  std::ostringstream out;
  // ceiling: the most an implementation in the reference's arithmetic could gain (its distance to the
  // speed-of-light bound; "-" without one).
  out << fmt::format("  {:<16} {:>26}  {:<28} {:>9} {:>8} {:>8}  {}\n", "workload", "baseline", "fastest candidate", "ms",
                     "speedup", "ceiling", "result");
  const auto names = core::suite_names(results);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const auto& s = r.summary;
    const std::string stem = fit(util::strip_control(names[i]), 16);
    if (!s.is_object()) {
      out << fmt::format("  {:<16} {:>26}  {:<28} {:>9} {:>8} {:>8}  {}\n", stem, "-", "-", "-", "-", "-",
                         r.status + (r.error.empty() ? "" : ": " + util::strip_control(r.error).substr(0, 60)));
      continue;
    }
    const auto& b = json_field(s, "baselines");
    const bool measured = b.is_object() && b.value("ok", false) && json_number(b, "best_ms") > 0;
    std::string baseline = measured ? baseline_cell(b.value("best", ""), json_number(b, "best_ms")) : "-";
    std::string candidate = "-", ms = "-", speedup = "-", result;
    if (json_field(s, "best").is_object()) {
      const auto& best = json_field(s, "best");
      candidate = fit(fmt::format("{:04d} {}", best.value("id", 0), util::strip_control(best.value("strategy", ""))), 28);
      // The gate's times where it ran, baseline and candidate alike: the speedup beside
      // them is theirs (a ranking time beside a gate's speedup read 1.5974 ms against a
      // 1.0041 ms baseline for 1.026x).
      if (json_number(best, "gate_ms") > 0) ms = fmt::format("{:.4f}", json_number(best, "gate_ms"));
      else if (json_number(best, "median_ms") > 0) ms = fmt::format("{:.4f}", json_number(best, "median_ms"));
      if (json_number(best, "gate_baseline_ms") > 0)
        baseline = baseline_cell(best.value("gate_baseline", ""), json_number(best, "gate_baseline_ms"));
      if (json_field(best, "speedup").is_number()) speedup = fmt::format("{:.3f}x", json_number(best, "speedup"));
      if (!json_field(best, "speedup").is_number()) result = "correct, no speedup measured";
      else if (!best.value("confirmed", false))
        result = "correct, ranking only (" + core::ranking_range_text(best) + "not confirmed)";
      else if (best.value("faster", false)) result = fmt::format("FASTER (95% {:.3f}-{:.3f})", json_number(best, "low"), json_number(best, "high"));
      else result = fmt::format("correct, not shown faster (95% {:.3f}-{:.3f})", json_number(best, "low"), json_number(best, "high"));
    } else {
      result = "no correct candidate";
    }
    // What best.py is comes first: the baseline itself unless a candidate was confirmed faster.
    if (json_field(s, "best_py").is_object() && json_field(s, "best_py").value("source", "") == "baseline")
      result = util::strip_control(s.value("verdict", "")) + " (" + result + ")";
    // A workload the interrupt kept from being reached: its figures are as its folder saved them.
    if (r.status == "not_started")
      result = "not reached this time, as saved" + (r.saved_status.empty() ? "" : " (" + r.saved_status + ")") + ": " + result;
    else if (r.status != "finished")
      result = r.status + ", " + result;
    result += fmt::format("; {} tried", s.value("candidates", 0));
    const double ceiling = json_number(s.value("headroom", nlohmann::json()), "ceiling");
    const std::string room = ceiling > 0 ? fmt::format("{:.2f}x", ceiling) : "-";
    out << fmt::format("  {:<16} {:>26}  {:<28} {:>9} {:>8} {:>8}  {}\n", stem, baseline, candidate, ms, speedup, room,
                       result);
  }
  return out.str();
}

std::string suite_line(const nlohmann::json& suite, size_t workloads) {
  std::string line = fmt::format("suite: {} workload(s)", workloads);
  const double geomean = json_number(suite, "geomean_speedup");
  if (geomean > 0) line += fmt::format(", geometric mean speedup {:.3f}x", geomean);
  const nlohmann::json fast = suite.is_object() ? suite.value("fast_p", nlohmann::json()) : nlohmann::json();
  line += fmt::format(", fast_1.0 {:.2f}, fast_1.5 {:.2f}, fast_2.0 {:.2f}", json_number(fast, "1.0"),
                      json_number(fast, "1.5"), json_number(fast, "2.0"));
  if (const double ceiling = json_number(suite, "geomean_ceiling"); ceiling > 0)
    line += fmt::format("; ceiling (geometric mean over {} workload(s) with a bound) {:.2f}x",
                        suite.value("workloads_with_ceiling", 0), ceiling);
  return line + "\n";
}

int finish_optimize(const core::OptimizeOptions& o, const std::vector<core::WorkloadResult>& results, size_t workloads,
                    bool interrupted) {
  int code = core::kExitNotFaster;
  bool any_waiting = false, any_interrupted = false, all_input = !results.empty(), all_faster = !results.empty();
  for (const auto& r : results) {
    any_waiting = any_waiting || r.status == "waiting";
    // also: the machine could not run the reference; or a workload the interrupt kept from starting
    any_interrupted = any_interrupted || r.status == "interrupted" || r.status == "not_started";
    all_input = all_input && r.status == "input_error";
    all_faster = all_faster && r.faster;
  }
  if (interrupted || any_interrupted || results.size() < workloads) code = core::kExitInterrupted;
  else if (any_waiting) code = core::kExitWaiting;
  else if (all_input) code = core::kExitUsage;
  else if (all_faster) code = core::kExitFaster;
  const auto suite = core::suite_summary(results);
  if (o.json) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json j = r.summary.is_object() ? r.summary : nlohmann::json::object();
      j["workload"] = r.workload;
      j["run_dir"] = r.run_dir;
      j["status"] = r.status;
      if (r.status == "not_started") j["saved_status"] = r.saved_status;
      j["exit_code"] = r.exit_code;
      if (!r.error.empty()) j["error"] = r.error;
      j["waiting_prompts"] = report::waiting_json(report::waiting_prompts(r.run_dir));
      runs.push_back(j);
    }
    nlohmann::json doc = {{"kopt_optimize", 1}, {"exit_code", code}, {"runs", runs}, {"suite", suite}};
    std::cout << util::redact(util::dump_json(doc, 2), o.secrets) << std::endl;
  } else if (results.size() > 1) {
    std::cout << "suite summary (medians in ms, the final gate's where it ran; baseline: the fastest of eager and torch.compile):\n"
              << suite_table(results);
    std::cout << suite_line(suite, results.size());
  }
  // A suite resumes from its own folder (every run in it), one workload from its run's.
  const std::string again = workloads > 1 ? (o.resume.empty() ? o.out : o.resume)
                            : results.empty() ? std::string("DIR")
                                              : results.back().run_dir;
  if (code == core::kExitInterrupted && !o.json)
    std::cerr << "kopt: interrupted; state saved. Continue with: kopt optimize --resume " << again << std::endl;
  return code;
}

}  // namespace kopt::cli
