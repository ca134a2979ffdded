#include <cmath>
#include <sstream>

#include "kopt/core/eval.hpp"
#include "core/timing/ncu_run.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::core {

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::correct: return "correct";
    case Outcome::compile_error: return "compile_error";
    case Outcome::crashed: return "crashed";
    case Outcome::timed_out: return "timed_out";
    case Outcome::wrong_result: return "wrong_result";
    case Outcome::tampered: return "tampered";
    case Outcome::input_error: return "input_error";
    case Outcome::unverified: return "unverified";
  }
  return "unknown";
}

int exit_code(const EvalReport& report) {
  if (report.outcome == Outcome::correct) return 0;
  if (report.outcome == Outcome::input_error) return 2;
  return 1;
}

bool reference_could_not_start(const EvalReport& report) {
  // check "memory": the reference ran out of memory there (EvalRun::decide), which says
  // nothing about the machine lacking what the workload needs.
  return report.outcome == Outcome::input_error && report.check == "reference" &&
         (report.reference_failed_at == ReferencePhase::start || report.reference_failed_at == ReferencePhase::import);
}

bool reference_on_other_device(const EvalReport& report) {
  return report.outcome == Outcome::input_error && report.check == "reference" &&
         report.reference_failed_at == ReferencePhase::device;
}

std::string device_identity(const nlohmann::json& facts, const std::string& device) {
  if (!facts.is_object()) return "";
  const char* key = device == "cuda" ? "name" : "host_cpu";
  return facts.contains(key) && facts[key].is_string() ? facts[key].get<std::string>() : "";
}

namespace {

nlohmann::json finite_or_null(double x) {
  if (std::isfinite(x)) return x;
  return nullptr;
}

const char* verdict_word(const EvalReport& r) {
  switch (r.outcome) {
    case Outcome::correct: return "CORRECT";
    case Outcome::input_error: return "INPUT ERROR";
    case Outcome::unverified: return "UNVERIFIED";
    default: return "NOT CORRECT";
  }
}

void timing_text(const nlohmann::json& t, std::ostringstream& out) {
  if (!t.is_object()) return;
  char buf[320];
  for (const auto& [key, v] : t.items()) {
    if (!v.is_object() || !v.contains("median_ms")) continue;
    std::snprintf(buf, sizeof buf, "  time %-22s median %9.4f ms  IQR %8.4f ms  min %9.4f ms\n", key.c_str(),
                  v.value("median_ms", 0.0), v.value("iqr_ms", 0.0), v.value("min_ms", 0.0));
    out << buf;
  }
  if (t.contains("speedup")) {
    for (const auto& [key, s] : util::json_field(t, "speedup").items()) {
      std::snprintf(buf, sizeof buf, "  speedup %-12s %6.3fx  95%% interval [%.3f, %.3f] over %d pairs: %s\n", key.c_str(),
                    s.value("median", 0.0), s.value("low", 0.0), s.value("high", 0.0), s.value("pairs", 0),
                    s.value("faster", false) ? "faster" : "not faster");
      out << buf;
    }
    std::snprintf(buf, sizeof buf, "  null test spread +/-%.2f%% (eager against itself); best baseline: %s\n",
                  100 * t.value("null_spread", 0.0), t.value("best_baseline", std::string("eager")).c_str());
    out << buf;
  }
}

}  // namespace

nlohmann::json report_json(const EvalReport& r, const EvalOptions& o) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& rule : r.rules)
    rules.push_back({{"id", rule.id}, {"title", rule.title}, {"status", rule.status}, {"detail", rule.detail}});
  const auto& f = r.figures;
  nlohmann::json phases = nlohmann::json::object();
  for (const auto& [name, seconds] : r.phase_seconds) phases[name] = seconds;
  return {
      {"kopt_eval", 1},
      {"verdict", r.outcome == Outcome::correct ? "correct" : r.outcome == Outcome::input_error ? "input_error"
                                                  : r.outcome == Outcome::unverified        ? "unverified"
                                                                                            : "incorrect"},
      {"outcome", outcome_name(r.outcome)},
      {"check", r.check},
      {"reason", r.reason},
      {"exit_code", exit_code(r)},
      {"reference", o.reference},
      {"candidate", o.candidate},
      {"device", o.device},
      {"precision", o.precision},
      {"eval_mode", o.eval_mode},
      {"random_workload", r.random_workload},
      {"trials", {{"planned", r.trials_planned}, {"run", r.trials_run}, {"stress", 4}, {"unchecked_calls", r.calls_unchecked}}},
      {"compare", {{"where", r.compare_where}, {"note", r.compare_note}}},
      {"errors",
       {{"normwise", finite_or_null(f.norm_error)},
        {"normwise_reference", finite_or_null(f.norm_ref_error)},
        {"normwise_limit", finite_or_null(f.norm_bound)},
        {"normwise_ratio", finite_or_null(f.norm_ratio)},
        {"max_abs", finite_or_null(f.max_abs_error)},
        {"max_abs_reference", finite_or_null(f.max_ref_abs_error)},
        {"elementwise_ratio", finite_or_null(f.elem_ratio)},
        {"elements_over_limit", f.elements_over},
        {"elements_compared", f.elements_compared},
        {"ties", f.ties},
        {"fp32_fallback", f.fp32_fallback}}},
      {"rules", rules},
      {"notes", r.notes},
      {"phase_seconds", phases},
      {"environment", r.environment},
      {"isolation", r.isolation},
      {"candidate_log_tail", util::tail_lines(r.candidate_log, 20)},
      {"timing", r.timing},
      {"ncu", r.ncu},
  };
}

namespace {

// "isolation: network, filesystem, limits; not: user (why), gpu_memory (why)".
void isolation_text(const nlohmann::json& isolation, std::ostringstream& out) {
  if (!isolation.is_object() || isolation.empty()) return;
  std::string on, off;
  for (const auto& [name, layer] : isolation.items()) {
    if (layer.value("active", false)) {
      on += (on.empty() ? "" : ", ") + name;
    } else {
      off += "\n    " + name + ": " + util::strip_control(layer.value("detail", std::string()));
    }
  }
  out << "  isolation: " << (on.empty() ? "none of its layers" : on) << "\n";
  if (!off.empty()) out << "  isolation not in force:" << off << "\n";
}

}  // namespace

std::string report_text(const EvalReport& r) {
  std::ostringstream out;
  out << verdict_word(r);
  if (r.outcome != Outcome::correct) out << " (" << outcome_name(r.outcome) << (r.check.empty() ? "" : ", " + r.check) << ")";
  out << ": " << util::strip_control(r.reason) << "\n";
  if (r.trials_run > 0) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  trials %d/%d, worst normwise error %.3g (limit %.3g), max abs error %.3g\n",
                  r.trials_run, r.trials_planned, r.figures.norm_error, r.figures.norm_bound, r.figures.max_abs_error);
    out << buf;
  }
  timing_text(r.timing, out);
  out << ncu_report_text(r.ncu, "candidate");
  for (const auto& note : r.notes) out << "  note: " << note << "\n";
  isolation_text(r.isolation, out);
  if (r.outcome != Outcome::correct && !r.candidate_log.empty() && r.outcome != Outcome::input_error) {
    const std::string tail = util::tail_lines(r.candidate_log, 5);
    if (!tail.empty()) {
      out << "  candidate output (last lines):\n";
      std::istringstream lines(tail);
      std::string line;
      while (std::getline(lines, line)) out << "    | " << line.substr(0, 200) << "\n";
    }
  }
  auto total = r.phase_seconds.find("total");
  if (total != r.phase_seconds.end()) out << "  took " << util::format_seconds(total->second) << "\n";
  return out.str();
}

}  // namespace kopt::core
