// What an evaluation means for a candidate's record, the final gate (the top few re-timed
// ABAB in fresh processes with more trials), the choice of the best candidate, and the
// files a run leaves: best.py, report.md, run.json.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "kopt/core/generator.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

using util::json_field;
using util::json_number;

EvalOptions SearchRun::eval_options(int id, bool claim) const {
  EvalOptions eo;
  eo.reference = m_workload_abs;
  eo.candidate = m_state.dir + "/candidates/" + candidate_dir_name(id) + "/candidate.py";
  eo.device = m_opt.device;
  eo.python = m_opt.python;
  eo.precision = m_opt.precision;
  eo.trials = claim ? m_opt.final_trials : m_opt.trials;
  eo.eval_mode = m_opt.eval_mode;
  eo.allow_ties = m_opt.allow_ties;
  eo.import_timeout = m_opt.import_timeout;
  eo.call_timeout = m_opt.call_timeout;
  eo.work_dir = m_opt.work_dir;
  eo.limits = m_opt.limits;
  eo.timing = claim ? "claim" : "rank";
  eo.timing_options.diagnostics = m_opt.timing_diagnostics;
  // A ranked candidate's caches wait for its claim (hold_builds), and an interrupted claim's
  // for the next session's; set here, not per call, so the prestarted evaluations (built
  // from these options) match the ones that take them.
  eo.keep_builds = m_opt.final_top > 0;
  eo.baseline_head_us = m_baseline_head_us;
  if (!claim) eo.ncu = m_opt.ncu;  // --ncu: every correct candidate, for its refine prompt
  eo.target = m_opt.target;
  eo.compile_modes = m_opt.compile_modes;
  eo.exclusive = &gate();
  // Other workloads share the GPU (--workloads-at-once): one evaluation resident at a time.
  eo.resident = m_opt.gpu != nullptr;
  // Resumed elsewhere: the baselines' device, so that no candidate is timed on another.
  if (const auto& b = json_field(m_state.header, "baseline"); b.is_object())
    eo.expect_device = device_identity(b.value("device", nlohmann::json()), m_opt.device);
  return eo;
}

void SearchRun::apply_eval(CandidateRecord& r, const EvalReport& report, const EvalOptions& eo, bool claim) {
  const auto& t = report.timing;
  if (claim) {
    nlohmann::json c = {{"outcome", outcome_name(report.outcome)}, {"check", report.check},
                        {"reason", report.reason}, {"trials", eo.trials}};
    if (t.is_object()) {
      if (json_field(t, "speedup").is_object()) c["speedup"] = json_field(t, "speedup");
      c["faster"] = json_field(t, "faster").is_boolean() && json_field(t, "faster").get<bool>();
      if (t.contains("best_baseline")) c["best_baseline"] = json_field(t, "best_baseline");
      if (t.contains("candidate")) c["candidate_ms"] = json_number(json_field(t, "candidate"), "median_ms");
      if (t.contains("device")) c["device"] = json_field(t, "device");
      // The gate's own medians of the baselines, to hold against the run's (baseline_drift).
      c.update(gate_baselines(t));
    } else {
      c["faster"] = false;
      c["timing"] = report.outcome == Outcome::correct ? "unavailable" : "not run";
    }
    r.claim = c;
    return;
  }
  r.outcome = outcome_name(report.outcome);
  r.isolation = report.isolation;
  r.check = report.check;
  r.reason = util::redact(report.reason, m_opt.secrets);
  if (report.outcome != Outcome::correct) return;
  r.ncu = report.ncu;
  if (const auto& p = json_field(t, "profile"); p.is_object() && p.contains("candidate"))
    r.profile = json_field(p, "candidate");
  // The candidate's distance to the speed-of-light bound goes with its profile (the refine
  // prompt shows both).
  if (r.profile.is_object() && !r.profile.contains("error") && json_field(t, "sol").is_object()) {
    r.profile["sol"] = json_field(t, "sol");
    // With the baseline's copy test, which the eval does not repeat (the refine prompt
    // holds the candidate's bandwidth against it).
    for (const char* key : {"copy_bandwidth", "copy_fraction"})
      if (json_number(m_baseline_sol, key) > 0) r.profile["sol"][key] = json_number(m_baseline_sol, key);
  }
  const auto& candidate = json_field(t, "candidate");
  if (candidate.is_object() && candidate.value("ok", false) && json_number(candidate, "median_ms") > 0) {
    r.median_ms = json_number(candidate, "median_ms");
    if (m_baseline_ok) r.speedup = m_best_ms / *r.median_ms;
    const double q1 = json_number(candidate, "q1_ms"), q3 = json_number(candidate, "q3_ms");
    if (m_baseline_ok && m_best_q1 > 0 && q1 > 0 && q3 >= q1) {
      r.speedup_low = m_best_q1 / q3;
      r.speedup_high = m_best_q3 / q1;
    }
    bound_ranked_profile(r, m_baseline_sol);
    if (json_field(t, "span").is_object()) {
      r.timing_start = json_number(json_field(t, "span"), "start");
      r.timing_end = json_number(json_field(t, "span"), "end");
    } else if (report.phase_seconds.count("timing")) {
      // Approximation when the eval gives no span: timing ends before teardown.
      const double teardown = report.phase_seconds.count("teardown") ? report.phase_seconds.at("teardown") : 0;
      r.timing_end = r.verify_end - teardown;
      r.timing_start = r.timing_end - report.phase_seconds.at("timing");
    }
  } else {
    r.timing_error = candidate.is_object()
                         ? candidate.value("error", "no ranking time")
                         : "not timed" + (report.notes.empty() ? std::string() : ": " + report.notes.back());
  }
}

void SearchRun::final_gate() {
  if (m_opt.final_top <= 0 || m_stop) return;
  auto top = ranked_correct();
  if (static_cast<int>(top.size()) > m_opt.final_top) top.resize(static_cast<size_t>(m_opt.final_top));
  std::vector<int> ids;  // a claim from an earlier session is kept
  for (int id : top)
    if (m_state.candidates[id].claim.is_null()) ids.push_back(id);
  if (ids.empty()) return;
  spdlog::info("Final gate: {} candidate(s), {} trials each, timed ABAB against the baselines.", ids.size(),
               m_opt.final_trials);
  evaluate(ids, true);
}

int SearchRun::choose_best() const {
  // Confirmed by the final gate first (faster, then by its speedup), then ranking time.
  int best = 0;
  double best_key = -1;
  for (int id : ranked_correct()) {
    const auto& r = m_state.candidates.at(id);
    double key;
    if (r.claim.is_object()) {
      if (r.claim.value("outcome", "") != "correct") continue;  // failed the gate
      const double sp = r.claim.contains("speedup")
                            ? json_number(json_field(r.claim, "speedup").value("vs_best", nlohmann::json()), "median")
                            : 0;
      key = 2e6 + (r.claim.value("faster", false) ? 1e6 : 0) + sp;
    } else {
      key = r.median_ms ? 1e6 - *r.median_ms : 0;  // unconfirmed: faster ranking time first
    }
    if (key > best_key) {
      best_key = key;
      best = id;
    }
  }
  return best;
}

std::string SearchRun::best_file(int best) const {
  const auto& r = m_state.candidates.at(best);
  const std::string code =
      read_text(m_state.dir + "/candidates/" + candidate_dir_name(best) + "/candidate.py").value_or("");
  std::string head = "# kopt: " + verdict(best) + " (" + r.strategy + "), a drop-in ModelNew for " +
                     m_state.header.value("workload_name", "") + ".\n";
  // Only a candidate the final gate confirmed faster gets here (write_outputs).
  const auto& c = r.claim;
  const nlohmann::json s = json_field(c, "speedup").is_object()
                               ? json_field(c, "speedup").value("vs_best", nlohmann::json::object())
                               : nlohmann::json::object();
  head += fmt::format("# speedup vs the best baseline ({}): {:.3f}x (95% interval {:.3f}-{:.3f}, {} ABAB pairs): faster\n",
                      c.value("best_baseline", m_best_baseline), json_number(s, "median"), json_number(s, "low"),
                      json_number(s, "high"), s.value("pairs", 0));
  const auto& b = json_field(m_state.header, "baseline");
  std::string device = m_opt.device;
  if (const auto& name = json_field(json_field(b, "device"), "name"); name.is_string())
    device += " (" + name.get<std::string>() + ")";
  head += "# device: " + device + "; precision: " + m_opt.precision + (m_opt.eval_mode ? "; eval mode" : "") + "\n";
  head += "# specialised to the shapes and dtypes of the workload's get_inputs(): verified only on those.\n";
  return head + code;
}

bool SearchRun::confirmed_faster(int id) const {
  const auto it = m_state.candidates.find(id);
  if (it == m_state.candidates.end()) return false;
  // The interval that backs it too: best.py is never a candidate without one above 1.
  const auto& c = it->second.claim;
  const nlohmann::json speedup = c.is_object() ? c.value("speedup", nlohmann::json()) : nlohmann::json();
  const nlohmann::json vs_best = speedup.is_object() ? speedup.value("vs_best", nlohmann::json()) : nlohmann::json();
  return c.is_object() && c.value("outcome", "") == "correct" && c.value("faster", false) &&
         json_number(vs_best, "low") > 1.0 && json_number(vs_best, "median") > 1.0;
}

std::string SearchRun::fallback_baseline() const {
  return m_baseline_ok && !m_best_baseline.empty() ? m_best_baseline : "eager";
}

Result<std::string> SearchRun::baseline_file() const {
  const std::string name = fallback_baseline();
  // Baseline names are "eager" and "compile:MODE"; the builtin engines "eager" and
  // "compile-MODE" run the workload's Model the same way, as a ModelNew subclass.
  std::string engine = name == "eager" ? "eager" : name.rfind("compile:", 0) == 0 ? "compile-" + name.substr(8) : "";
  const std::string workload_name = m_state.header.value("workload_name", "workload.py");
  auto source = builtin_candidate_source(engine, workload_name, m_source);
  if (!source) return Failure{"internal", "no drop-in form of the baseline " + name + ": " + source.failure().message};
  std::string head = "# kopt: " + verdict(0) + ".\n";
  head += "# best.py is the baseline itself as a drop-in ModelNew (no candidate of this run is recommended:\n"
          "# none was confirmed faster by the final gate's ABAB timing).\n";
  return head + *source;
}

std::string SearchRun::verdict(int best) const {
  if (m_status == "input_error") return "the workload is unusable; no best.py";
  if (best && confirmed_faster(best)) {
    const auto& c = m_state.candidates.at(best).claim;
    const std::string over = c.value("best_baseline", m_best_baseline);
    return "candidate " + candidate_dir_name(best) + " beat " + over + "; best.py is candidate " + candidate_dir_name(best);
  }
  // Nothing was measured to beat (interrupted or failed before the baselines were timed).
  if (!m_baseline_ok) return "the baselines were not timed; best.py is eager, the workload's own Model";
  const std::string name = fallback_baseline();
  return "no candidate beat " + name + "; best.py is " + name;
}

void SearchRun::write_outputs(int best) {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_status != "input_error") {
    // No output recommends slower code: a candidate becomes best.py only when the final
    // gate confirmed it faster; otherwise best.py is the fastest baseline itself.
    Result<std::string> text = confirmed_faster(best) ? Result<std::string>(best_file(best)) : baseline_file();
    if (!text) spdlog::warn("best.py not written. [reason: {}]", text.failure().message);
    else if (Status w = write_atomic(m_state.dir + "/best.py", *text); !w)
      spdlog::warn("best.py not written. [reason: {}]", w.failure().message);
  }
  m_state.header["status"] = m_status;
  m_state.header["stop_reason"] = m_stop_reason;
  m_state.header["gate_left"] = m_gate_left;
  m_state.header["best"] = best ? nlohmann::json(best) : nlohmann::json(nullptr);
  const auto s = summary(best);
  m_state.header["summary"] = s;
  write_or_warn(m_state.dir + "/report.md", report_markdown(best, s));
  m_state.header["elapsed_s"] = m_elapsed_before + (now_epoch() - m_session_start);
  m_state.header["sessions"].back()["end"] = now_epoch();
  if (Status saved = save_run(m_state); !saved) spdlog::warn("run.json not saved. [reason: {}]", saved.failure().message);
}

}  // namespace kopt::core
