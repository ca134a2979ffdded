// Opening one workload's run: a new run directory, or a resumed one (its workload copy
// checked, its records read back, --rebaseline's reset), and the baselines, timed once
// per run (kopt baseline) and read back on resume.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "kopt/util/json.hpp"
#include "search.hpp"

namespace kopt::core {

using util::json_field;
using util::json_number;

Status SearchRun::open() {
  // A resumed run verifies against the workload its earlier sessions verified against: its
  // copy in the run directory. A changed file would mix verdicts against two references; a
  // file gone is replaced by the copy.
  const bool resuming = is_regular_file(m_state.dir + "/run.json");
  const std::string copy = m_state.dir + "/workload.py";
  auto source = read_text(m_workload);
  const std::optional<std::string> saved_copy = resuming && is_regular_file(copy) ? read_text(copy) : std::nullopt;
  if (!source && saved_copy) {
    spdlog::warn("The workload is gone; using the run's copy. [workload: {}, copy: {}]", m_workload, copy);
    m_workload = copy;
    source = saved_copy;
  }
  if (!source) return Failure{"input", "cannot read the workload " + m_workload};
  if (saved_copy && *saved_copy != *source)
    return Failure{"input", "the workload " + m_workload + " changed since this run started (the run's copy: " + copy +
                                "); restore it, or start a new run"};
  m_source = *source;
  m_workload_abs = absolute_path(m_workload);
  m_session_start = now_epoch();
  if (resuming) {
    auto loaded = load_run(m_state.dir);
    if (!loaded) return loaded.failure();
    m_state = std::move(loaded.value());
    const auto& h = m_state.header;
    m_elapsed_before = h.value("elapsed_s", 0.0);
    m_rounds = h.value("rounds", 0);
    m_stale_rounds = h.value("stale_rounds", 0);
    m_best_seen = h.value("best_score", 0.0);
    spdlog::info("Resuming. [run: {}, candidates: {}]", m_state.dir, m_state.candidates.size());
    if (m_opt.rebaseline) rebaseline();
    restore_builds();
  } else {
    if (Status made = make_dirs(m_state.dir + "/candidates"); !made) return made;
    m_state.header = {{"kopt_optimize", 1},
                      {"kopt_version", "0.1.0"},
                      {"workload", m_workload_abs},
                      {"workload_name", m_workload.substr(m_workload.rfind('/') + 1)},
                      {"device", m_opt.device},
                      {"created", now_epoch()},
                      {"provider", util::redact_json(m_opt.provider, m_opt.secrets)},
                      {"options",
                       {{"device", m_opt.device}, {"python", m_opt.python}, {"precision", m_opt.precision},
                        {"target", m_opt.target}, {"eval_mode", m_opt.eval_mode}, {"allow_ties", m_opt.allow_ties},
                        {"trials", m_opt.trials}, {"final_trials", m_opt.final_trials},
                        {"final_top", m_opt.final_top}, {"candidates_per_round", m_opt.candidates_per_round},
                        {"jobs", m_opt.jobs}, {"max_candidates", m_opt.max_candidates},
                        {"time_budget_s", m_opt.time_budget_s}, {"max_cost", m_opt.max_cost},
                        {"max_tokens_total", m_opt.max_tokens_total},
                        {"patience", m_opt.patience}, {"import_timeout", m_opt.import_timeout},
                        {"call_timeout", m_opt.call_timeout}, {"compile_modes", m_opt.compile_modes},
                        {"hints", util::redact_json(m_opt.hints, m_opt.secrets)}}},
                      {"sessions", nlohmann::json::array()},
                      {"elapsed_s", 0.0}};
    if (Status w = write_atomic(m_state.dir + "/workload.py", m_source); !w) return w;
  }
  m_state.header["status"] = "running";
  m_state.header["sessions"].push_back({{"start", m_session_start}, {"pid", getpid()}});
  if (Status saved = save_run(m_state); !saved) return saved;
  auto generator = m_make_generator(m_state.dir);
  if (!generator) return generator.failure();
  m_generator = std::move(generator.value());
  std::vector<CandidateRecord> records;
  const auto& saved = m_state.header;
  const nlohmann::json bound = json_field(json_field(saved, "baseline"), "sol");
  for (auto& [id, r] : m_state.candidates) {
    bound_ranked_profile(r, bound);
    records.push_back(r);
  }
  m_generator->restore(records);
  m_opened = true;
  return {};
}

// --rebaseline: the baselines are timed again (baseline() finds none) and every candidate
// that was evaluated is evaluated again, here. Nothing is lost: the earlier baseline is
// kept in run.json's earlier_baselines and each candidate's earlier reports in
// candidates/NNNN/before-rebaseline/. Replies and tokens stay; nothing is asked again.
void SearchRun::rebaseline() {
  auto& h = m_state.header;
  if (h.contains("baseline") && h["baseline"].is_object()) {
    const auto& b = h["baseline"];
    nlohmann::json earlier = {{"best", b.value("best", "")},
                              {"best_ms", json_number(b, "best_ms")},
                              {"device", b.value("device", nlohmann::json(nullptr))},
                              {"replaced", now_epoch()}};
    if (!h.contains("earlier_baselines") || !h["earlier_baselines"].is_array()) h["earlier_baselines"] = nlohmann::json::array();
    h["earlier_baselines"].push_back(earlier);
    h.erase("baseline");
  }
  h.erase("summary");
  h["best_score"] = 0.0;
  h["stale_rounds"] = 0;
  m_best_seen = 0;
  m_stale_rounds = 0;
  int again = 0;
  for (auto& [id, r] : m_state.candidates) {
    const std::string dir = m_state.dir + "/candidates/" + candidate_dir_name(id);
    if (r.status != "done" || !is_regular_file(dir + "/candidate.py")) continue;  // no code: nothing to time
    const std::string keep = dir + "/before-rebaseline";
    (void)make_dirs(keep);
    for (const char* name : {"verify.json", "timing.json", "claim.json", "claim_timing.json", "log"})
      if (is_regular_file(dir + "/" + name)) std::rename((dir + "/" + name).c_str(), (keep + "/" + name).c_str());
    CandidateRecord fresh;  // what was proposed, and what it cost, stay
    fresh.id = r.id;
    fresh.round = r.round;
    fresh.strategy = r.strategy;
    fresh.origin = r.origin;
    fresh.parent = r.parent;
    fresh.proposed_at = r.proposed_at;
    fresh.input_tokens = r.input_tokens;
    fresh.output_tokens = r.output_tokens;
    fresh.tokens_estimated = r.tokens_estimated;
    fresh.cost_usd = r.cost_usd;
    fresh.status = "interrupted";  // evaluated again first thing (loop)
    r = fresh;
    (void)save_record(m_state.dir, r);
    ++again;
  }
  spdlog::info("Rebaselining: the baselines are timed again and {} candidate(s) evaluated again. [run: {}]", again,
               m_state.dir);
}

bool SearchRun::baseline() {
  auto& h = m_state.header;
  if (!h.contains("baseline")) {
    spdlog::info("Timing baselines. [workload: {}, device: {}]", m_workload, m_opt.device);
    BaselineOptions bo;
    bo.workload = m_workload_abs;
    bo.device = m_opt.device;
    bo.python = m_opt.python;
    bo.target = m_opt.target;
    bo.compile_modes = m_opt.compile_modes;
    bo.eval_mode = m_opt.eval_mode;
    bo.import_timeout = m_opt.import_timeout;
    bo.work_dir = m_opt.work_dir;
    bo.exclusive = &gate();
    bo.resident = m_opt.gpu != nullptr;
    bo.timing.diagnostics = m_opt.timing_diagnostics;
    bo.ncu = m_opt.ncu;
    const double start = now_epoch();
    const BaselineReport report = run_baseline(bo);
    if (m_stop) return false;
    const nlohmann::json full = baseline_json(report);
    write_or_warn(m_state.dir + "/baseline.json", util::dump_json(full, 2) + "\n");
    // Each model's opening sleep (µs) too: ranking lets a candidate's grow as far as these.
    auto head_us = [](const Timing& t) { return json_number(t.detail, "head_us"); };
    nlohmann::json compiled = nlohmann::json::object();
    for (const auto& [mode, t] : report.compiled)
      compiled[mode] = {{"ok", t.ok}, {"median_ms", t.median_ms}, {"q1_ms", t.q1_ms}, {"q3_ms", t.q3_ms},
                        {"error", t.error}, {"head_us", head_us(t)}};
    h["baseline"] = {{"ok", report.ok},
                     {"error", report.error},
                     {"best", report.best},
                     {"best_ms", report.best_ms},
                     {"eager", {{"ok", report.eager.ok}, {"median_ms", report.eager.median_ms},
                                {"q1_ms", report.eager.q1_ms}, {"q3_ms", report.eager.q3_ms}, {"error", report.eager.error},
                                {"head_us", head_us(report.eager)}}},
                     {"compiled", compiled},
                     {"device", report.device},
                     {"profile", report.profile},
                     {"sol", report.sol},
                     {"ncu", report.ncu},
                     {"notes", report.notes},
                     {"text", report.ok ? baseline_text(report) : "Not measured: " + report.error},
                     {"seconds", now_epoch() - start}};
    save_header();
  }
  const auto& b = h["baseline"];
  m_baseline_ok = b.value("ok", false) && b.value("best_ms", 0.0) > 0;
  m_best_ms = b.value("best_ms", 0.0);
  m_baseline_seconds = json_number(b, "seconds");
  m_baseline_sol = json_field(b, "sol");
  // Absent (0) in runs started before kopt recorded it.
  m_baseline_head_us = json_number(json_field(b, "eager"), "head_us");
  if (json_field(b, "compiled").is_object())
    for (const auto& [mode, t] : json_field(b, "compiled").items())
      m_baseline_head_us = std::max(m_baseline_head_us, json_number(t, "head_us"));
  m_best_baseline = b.value("best", "");
  best_quartiles();
  m_baseline_text = b.value("text", "");
  if (json_field(b, "compiled").is_object() && !json_field(b, "compiled").empty()) {
    bool any = false;
    for (const auto& [mode, t] : json_field(b, "compiled").items()) any = any || t.value("ok", false);
    if (b.value("ok", false)) m_compile_available = any;
  }
  if (!m_baseline_ok)
    spdlog::warn("No baseline timing: candidates are verified and ranked by their own time only. [reason: {}]",
                 b.value("error", ""));
  // Little room above the best baseline: said before the search spends its budget.
  const nlohmann::json room = m_baseline_ok ? headroom(m_baseline_sol, m_best_baseline, m_best_ms) : nlohmann::json();
  // (The practical ceiling where a copy was timed: the datasheet's leaves 1.10x where a copy
  // reaches no more bandwidth than the baseline.)
  const double ceiling = json_number(room, "practical_ceiling") > 0 ? json_number(room, "practical_ceiling")
                                                                     : json_number(room, "ceiling");
  if (ceiling > 0 && ceiling < kLittleHeadroom)
    spdlog::warn("Little room for a speedup: {}. [workload: {}]", headroom_text(room), m_workload);
  return true;
}

void SearchRun::best_quartiles() {
  auto entry = [&](const nlohmann::json& b) {
    if (!b.is_object()) return nlohmann::json();
    if (m_best_baseline == "eager") return b.value("eager", nlohmann::json());
    const nlohmann::json compiled = b.value("compiled", nlohmann::json());
    return compiled.is_object() ? compiled.value(m_best_baseline, nlohmann::json()) : nlohmann::json();
  };
  nlohmann::json t = entry(m_state.header.value("baseline", nlohmann::json()));
  if (json_number(t, "q1_ms") <= 0) {
    nlohmann::json full;
    if (const auto text = read_text(m_state.dir + "/baseline.json"))
      full = nlohmann::json::parse(*text, nullptr, false);  // a damaged file: discarded, no quartiles
    t = entry(full);
  }
  m_best_q1 = json_number(t, "q1_ms");
  m_best_q3 = json_number(t, "q3_ms");
  if (!(m_best_q1 > 0 && m_best_q3 >= m_best_q1)) m_best_q1 = m_best_q3 = 0;
}

}  // namespace kopt::core
