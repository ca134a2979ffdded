// The summary of one workload's run (the --json part, run.json "summary") and report.md.
#include <map>
#include <sstream>

#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

using util::json_field;
using util::json_number;

namespace {

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

// Text from a candidate or a worker, made safe for one Markdown table cell.
std::string cell(std::string text, size_t max = 120) {
  text = util::strip_control(text);
  for (auto& c : text)
    if (c == '\n' || c == '|' || c == '\t') c = ' ';
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

}  // namespace

// Tokens of every session (the records keep them across resumes); "estimated" when any
// count came from the text (files provider) rather than from a server.
nlohmann::json SearchRun::token_totals() const {
  long long in = 0, out = 0;
  bool estimated = m_generator && m_generator->tokens_estimated();
  for (const auto& [id, r] : m_state.candidates) {
    in += r.input_tokens;
    out += r.output_tokens;
    estimated = estimated || r.tokens_estimated;
  }
  return {{"input", in}, {"output", out}, {"estimated", estimated}};
}

nlohmann::json SearchRun::summary(int best) const {
  nlohmann::json s;
  s["workload"] = m_state.header.value("workload", m_workload);
  s["run_dir"] = m_state.dir;
  s["status"] = m_status;
  s["stop_reason"] = m_stop_reason;
  s["device"] = m_opt.device;
  const auto& b = m_state.header.contains("baseline") ? json_field(m_state.header, "baseline") : nlohmann::json::object();
  nlohmann::json baselines = {{"ok", b.value("ok", false)}, {"error", b.value("error", "")}};
  if (m_baseline_ok) {
    baselines["best"] = m_best_baseline;
    baselines["best_ms"] = m_best_ms;
  }
  if (b.contains("eager")) baselines["eager"] = json_field(b, "eager");
  if (b.contains("compiled")) baselines["compiled"] = json_field(b, "compiled");
  s["baselines"] = baselines;
  // How much any implementation could gain over the best baseline (its distance to the bound).
  s["headroom"] = m_baseline_ok ? headroom(m_baseline_sol, m_best_baseline, m_best_ms) : nlohmann::json(nullptr);

  std::map<std::string, int> counts;
  int evaluated = 0, pending = 0, not_evaluated = 0;
  std::vector<std::pair<double, double>> waiting, busy;
  for (const auto& [id, r] : m_state.candidates) {
    if (r.status == "pending") ++pending;
    else if (r.status != "done") ++not_evaluated;
    else ++counts[r.outcome];
    if (r.status == "done" && r.verify_end > 0) {
      ++evaluated;
      waiting.push_back({r.proposed_at, r.verify_end});
    }
    if (r.timing_end > r.timing_start && r.timing_start > 0) busy.push_back({r.timing_start, r.timing_end});
  }
  s["counts"] = counts;
  s["candidates"] = m_state.candidates.size();
  s["evaluated"] = evaluated;
  s["pending"] = pending;
  s["not_evaluated"] = not_evaluated;
  s["rounds"] = m_rounds;
  const double elapsed = m_elapsed_before + (now_epoch() - m_session_start);
  const double loop_s = std::max(1e-9, elapsed - b.value("seconds", 0.0));
  s["elapsed_s"] = elapsed;
  s["evaluated_per_minute"] = evaluated / (loop_s / 60.0);
  s["gpu_idle_share"] = waiting.empty() ? nlohmann::json(nullptr) : nlohmann::json(idle_share(waiting, busy));
  s["tokens"] = token_totals();
  s["cost_usd"] = m_generator ? m_generator->cost_usd() : 0.0;
  s["faster"] = false;
  s["best"] = nullptr;
  if (best) {
    const auto& r = m_state.candidates.at(best);
    nlohmann::json j = {{"id", best}, {"strategy", r.strategy}, {"median_ms", r.median_ms ? *r.median_ms : 0.0},
                        {"confirmed", false}};
    j["speedup"] = r.speedup ? nlohmann::json(*r.speedup) : nlohmann::json(nullptr);
    if (r.speedup_low && r.speedup_high) {  // the ranking's quartile range (kept beside a gate's interval)
      j["ranking_low"] = *r.speedup_low;
      j["ranking_high"] = *r.speedup_high;
    }
    if (json_field(r.claim, "speedup").contains("vs_best")) {
      const auto& v = json_field(json_field(r.claim, "speedup"), "vs_best");
      j["speedup"] = json_number(v, "median");
      j["low"] = json_number(v, "low");
      j["high"] = json_number(v, "high");
      j["pairs"] = v.value("pairs", 0);
      j["confirmed"] = true;
      // The gate's own times of the candidate and of the best baseline, which its speedup
      // compares (the ranking's median_ms and the run's baseline may differ from them).
      if (json_number(r.claim, "candidate_ms") > 0) j["gate_ms"] = json_number(r.claim, "candidate_ms");
      const std::string gate_best = r.claim.value("best_baseline", std::string());
      const double gate_best_ms = gate_best.empty() || !r.claim.contains("baselines_ms")
                                      ? 0
                                      : json_number(json_field(r.claim, "baselines_ms"), gate_best.c_str());
      if (gate_best_ms > 0) {
        j["gate_baseline"] = gate_best;
        j["gate_baseline_ms"] = gate_best_ms;
      }
      s["faster"] = r.claim.value("faster", false);
    }
    j["faster"] = s["faster"];
    s["best"] = j;
  }
  // The run's baseline against the gate's own timing of it: the best's claim, else any.
  auto gated = [](const CandidateRecord& r) { return r.claim.is_object() && r.claim.contains("baselines_ms"); };
  const CandidateRecord* gate = best && gated(m_state.candidates.at(best)) ? &m_state.candidates.at(best) : nullptr;
  for (const auto& [id, r] : m_state.candidates)
    if (!gate && gated(r)) gate = &r;
  s["baseline_drift"] = gate ? baseline_drift(baselines, gate->claim) : nlohmann::json::array();
  s["earlier_baselines"] = m_state.header.value("earlier_baselines", nlohmann::json::array());
  // Where the gate did not reproduce the run's baseline, its figure stands, for the
  // distance to the bound too (logsumexp_rows read "faster than the bound" off a run's
  // baseline the gate timed 9.8% slower).
  if (m_baseline_ok) s["headroom"] = headroom_after_drift(s["headroom"], s["baseline_drift"], m_baseline_sol, m_best_baseline);
  // What best.py is: a candidate only when the final gate confirmed it faster.
  const bool candidate = s["faster"].get<bool>() && confirmed_faster(best);
  s["faster"] = candidate;
  if (s["best"].is_object()) s["best"]["faster"] = candidate;
  // An unusable workload gets no best.py (write_outputs writes none).
  s["best_py"] = m_status == "input_error" ? nlohmann::json(nullptr)
                 : candidate ? nlohmann::json{{"source", "candidate"}, {"id", best}, {"path", m_state.dir + "/best.py"}}
                             : nlohmann::json{{"source", "baseline"}, {"baseline", fallback_baseline()},
                                              {"path", m_state.dir + "/best.py"}};
  s["verdict"] = verdict(best);
  return s;
}

std::string SearchRun::report_markdown(int best, const nlohmann::json& s) const {
  std::ostringstream md;
  md << "# kopt optimize: " << m_state.header.value("workload_name", "") << "\n\n";
  md << "- workload: `" << json_field(s, "workload").get<std::string>() << "`\n- device: " << m_opt.device
     << "\n- status: " << m_status << (m_stop_reason.empty() ? "" : " (" + m_stop_reason + ")") << "\n";
  md << "- candidates: " << json_field(s, "candidates") << " (" << json_field(s, "evaluated") << " evaluated, "
     << json_field(s, "pending") << " pending, " << json_field(s, "not_evaluated") << " not evaluated) in " << m_rounds
     << " round(s), " << util::format_seconds(json_field(s, "elapsed_s").get<double>()) << "; "
     << fixed(json_field(s, "evaluated_per_minute").get<double>(), 2) << " evaluated per minute\n";
  if (const auto& t = json_field(s, "tokens"); json_number(t, "input") + json_number(t, "output") > 0)
    md << "- tokens: " << t.value("input", 0LL) << " in, " << t.value("output", 0LL) << " out"
       << (t.value("estimated", false) ? " (estimated from the text, about 4 characters a token)" : "") << "\n";
  if (json_field(s, "gpu_idle_share").is_number())
    md << "- share of time no timing ran while candidates waited: "
       << fixed(100 * json_field(s, "gpu_idle_share").get<double>(), 1) << "%\n";
  md << "\n## Baselines\n\n| baseline | median ms | note |\n|---|---|---|\n";
  const auto& b = json_field(s, "baselines");
  if (b.contains("eager"))
    md << "| eager | " << fixed(json_number(json_field(b, "eager"), "median_ms"), 4) << " | "
       << cell(json_field(b, "eager").value("error", "")) << " |\n";
  if (json_field(b, "compiled").is_object())
    for (const auto& [mode, t] : json_field(b, "compiled").items())
      md << "| " << mode << " | " << (t.value("ok", false) ? fixed(json_number(t, "median_ms"), 4) : "-") << " | "
         << cell(t.value("error", "")) << " |\n";
  if (!b.value("ok", false)) md << "\nNo baseline timing: " << cell(b.value("error", ""), 400) << "\n";
  if (const std::string room = headroom_text(json_field(s, "headroom")); !room.empty())
    md << "\nHeadroom: " << cell(room, 400) << ".\n";
  if (const std::string drift = baseline_drift_text(s.value("baseline_drift", nlohmann::json())); !drift.empty())
    md << "\nBaselines: " << cell(drift, 600) << ".\n";
  if (const std::string earlier = earlier_baselines_text(s.value("earlier_baselines", nlohmann::json())); !earlier.empty())
    md << "\nBaselines " << cell(earlier, 600) << ".\n";
  md << "\n## best.py\n\n" << cell(s.value("verdict", ""), 400) << ".\n";
  md << "\n## Fastest correct candidate\n\n";
  if (!best) {
    md << "No correct candidate.\n";
  } else {
    const auto& j = json_field(s, "best");
    md << "Candidate " << candidate_dir_name(best) << " (" << cell(json_field(j, "strategy").get<std::string>()) << "): ";
    if (json_field(j, "speedup").is_number())
      md << fixed(json_field(j, "speedup").get<double>(), 3) << "x the best baseline";
    if (j.value("confirmed", false))
      md << " (95% interval " << fixed(json_number(j, "low"), 3) << "-" << fixed(json_number(j, "high"), 3) << ", "
         << j.value("pairs", 0) << " ABAB pairs): " << (j.value("faster", false) ? "faster" : "not shown to be faster");
    else
      md << " (ranking time only, " << ranking_range_text(j) << "not confirmed by the final gate)";
    md << "\n";
  }
  md << "\n## Outcomes\n\n| outcome | count |\n|---|---|\n";
  for (const auto& [k, v] : json_field(s, "counts").items()) md << "| " << k << " | " << v << " |\n";
  md << "\n## Candidates\n\n| id | round | strategy | outcome | median ms | speedup | final gate | reason |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (const auto& [id, r] : m_state.candidates) {
    std::string gate = "-";
    if (r.claim.is_object()) {
      gate = r.claim.value("outcome", "");
      if (json_field(r.claim, "speedup").contains("vs_best"))
        gate += " " + fixed(json_number(json_field(json_field(r.claim, "speedup"), "vs_best"), "median"), 3) + "x" +
                (r.claim.value("faster", false) ? " faster" : "");
    }
    md << "| " << candidate_dir_name(id) << " | " << r.round << " | " << cell(r.strategy, 60) << " | "
       << (r.status == "done" ? r.outcome : r.status) << " | " << (r.median_ms ? fixed(*r.median_ms, 4) : "-") << " | "
       << (r.speedup ? fixed(*r.speedup, 3) + "x" : "-") << " | " << cell(gate) << " | "
       << cell(r.outcome == "correct" ? r.timing_error : r.reason) << " |\n";
  }
  return md.str();
}

}  // namespace kopt::core
