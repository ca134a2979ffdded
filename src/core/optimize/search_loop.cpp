// The search loop of one workload: open or resume the run directory, baselines once,
// rounds of proposals evaluated by a pool of threads (verification in parallel, timing
// serialised by m_gpu), budgets, interruption.
#include <spdlog/spdlog.h>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <thread>

#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

using util::json_number;

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

SearchRun::SearchRun(const OptimizeOptions& options, std::string workload, std::string run_dir,
                     const GeneratorFactory& make_generator, const std::atomic<bool>& stop)
    : m_opt(options), m_workload(std::move(workload)), m_make_generator(make_generator), m_stop(stop) {
  m_state.dir = std::move(run_dir);
}

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
  } else {
    if (Status made = make_dirs(m_state.dir + "/candidates"); !made) return made;
    m_state.header = {{"kopt_optimize", 1},
                      {"kopt_version", "0.1.0"},
                      {"workload", m_workload_abs},
                      {"workload_name", m_workload.substr(m_workload.rfind('/') + 1)},
                      {"device", m_opt.device},
                      {"created", now_epoch()},
                      {"provider", m_opt.provider},
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
                        {"hints", m_opt.hints}}},
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
  const nlohmann::json bound = saved.contains("baseline") && saved["baseline"].is_object() && saved["baseline"].contains("sol")
                                   ? saved["baseline"]["sol"]
                                   : nlohmann::json();
  for (auto& [id, r] : m_state.candidates) {
    bound_ranked_profile(r, bound);
    records.push_back(r);
  }
  m_generator->restore(records);
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

void SearchRun::save_header() {
  auto& h = m_state.header;
  h["elapsed_s"] = m_elapsed_before + (now_epoch() - m_session_start);
  h["rounds"] = m_rounds;
  h["stale_rounds"] = m_stale_rounds;
  h["best_score"] = m_best_seen;
  h["tokens"] = token_totals();
  h["sessions"].back()["end"] = now_epoch();
  if (Status saved = save_run(m_state); !saved) spdlog::warn("run.json not saved. [reason: {}]", saved.failure().message);
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
  m_baseline_sol = b.contains("sol") ? b["sol"] : nlohmann::json();
  // Absent (0) in runs started before kopt recorded it.
  m_baseline_head_us = b.contains("eager") ? json_number(b["eager"], "head_us") : 0.0;
  if (b.contains("compiled") && b["compiled"].is_object())
    for (const auto& [mode, t] : b["compiled"].items())
      m_baseline_head_us = std::max(m_baseline_head_us, json_number(t, "head_us"));
  m_best_baseline = b.value("best", "");
  best_quartiles();
  m_baseline_text = b.value("text", "");
  if (b.contains("compiled") && b["compiled"].is_object() && !b["compiled"].empty()) {
    bool any = false;
    for (const auto& [mode, t] : b["compiled"].items()) any = any || t.value("ok", false);
    if (b.value("ok", false)) m_compile_available = any;
  }
  if (!m_baseline_ok)
    spdlog::warn("No baseline timing: candidates are verified and ranked by their own time only. [reason: {}]",
                 b.value("error", ""));
  // Little room above the best baseline: said before the search spends its budget.
  const nlohmann::json room = m_baseline_ok ? headroom(m_baseline_sol, m_best_baseline, m_best_ms) : nlohmann::json();
  if (json_number(room, "ceiling") > 0 && json_number(room, "ceiling") < kLittleHeadroom)
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

std::vector<int> SearchRun::ranked_correct() const {
  std::vector<int> ids;
  for (const auto& [id, r] : m_state.candidates)
    if (r.status == "done" && r.outcome == "correct") ids.push_back(id);
  auto key = [&](int id) {
    const auto& r = m_state.candidates.at(id);
    return r.median_ms ? *r.median_ms : 1e300;
  };
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return key(a) < key(b); });
  return ids;
}

double SearchRun::search_seconds() const {
  return std::max(0.0, m_elapsed_before + (now_epoch() - m_session_start) - m_baseline_seconds);
}

bool SearchRun::budget_left(std::string& why) {
  if (static_cast<int>(m_state.candidates.size()) >= m_opt.max_candidates) {
    why = "reached --max-candidates " + std::to_string(m_opt.max_candidates);
    return false;
  }
  if (m_opt.time_budget_s > 0 && search_seconds() >= m_opt.time_budget_s) {
    why = "reached --time-budget " + util::format_seconds(m_opt.time_budget_s);
    return false;
  }
  if (m_opt.patience > 0 && m_stale_rounds >= m_opt.patience) {
    why = "no improvement in " + std::to_string(m_stale_rounds) + " round(s) (--patience)";
    return false;
  }
  if (m_generator->exhausted()) {
    why = m_generator->stop_reason().empty() ? m_generator->name() + " has nothing more to propose"
                                             : m_generator->stop_reason();
    return false;
  }
  return true;
}

void SearchRun::loop() {
  publish_best();
  auto pending_count = [this] {
    int n = 0;
    for (const auto& [id, r] : m_state.candidates) n += r.status == "pending";
    return n;
  };
  const int pending_before = pending_count();
  std::vector<int> unfinished = take_pending_replies(INT_MAX);
  // A resume that brought no reply to any pending request asks nothing new: another
  // round of prompts would spend the run's candidates on requests nobody has answered.
  const bool nothing_came = pending_before > 0 && pending_count() == pending_before;
  for (const auto& [id, r] : m_state.candidates)
    if (r.status == "queued" || r.status == "running" || r.status == "interrupted") unfinished.push_back(id);
  std::sort(unfinished.begin(), unfinished.end());
  unfinished.erase(std::unique(unfinished.begin(), unfinished.end()), unfinished.end());
  if (!unfinished.empty()) evaluate(unfinished, false);
  publish_best();
  if (environment_failed()) return;
  if (!m_stop && unusable_workload()) return;  // found in an earlier session: nothing more to try
  if (!m_stop && nothing_came) {
    m_status = "waiting";
    m_stop_reason = "no reply yet to the " + std::to_string(pending_before) +
                    " pending request(s); continue with --resume " + m_state.dir + " once they are answered";
    return;
  }

  bool first_round = true;
  while (!m_stop) {
    std::string why;
    if (!budget_left(why)) {
      m_stop_reason = why;
      break;
    }
    const int count = std::min(m_opt.candidates_per_round, m_opt.max_candidates - static_cast<int>(m_state.candidates.size()));
    auto req = round_request(m_rounds + 1, count);
    if (first_round) req.refine_from = m_opt.refine_from;
    first_round = false;
    auto proposals = m_generator->propose(req);
    if (proposals.empty()) {
      m_stop_reason = m_generator->stop_reason().empty() ? m_generator->name() + " has nothing more to propose"
                                                         : m_generator->stop_reason();
      break;
    }
    ++m_rounds;
    const int first = m_state.next_id();
    add_proposals(std::move(proposals), m_rounds, false, {});
    std::vector<int> queued;
    bool any_pending = false;
    for (auto it = m_state.candidates.lower_bound(first); it != m_state.candidates.end(); ++it) {
      if (it->second.status == "queued") queued.push_back(it->first);
      any_pending = any_pending || it->second.status == "pending";
    }
    // Replies that came meanwhile to earlier rounds' pending requests join this round.
    const bool fresh = !queued.empty();
    if (!m_stop) {
      const auto late = take_pending_replies(first);
      queued.insert(queued.begin(), late.begin(), late.end());
    }
    evaluate(queued, false);
    publish_best();
    if (m_stop) break;
    if (environment_failed()) return;
    const auto ranked = ranked_correct();
    // Progress: a faster best ranking time (or a first correct candidate, timed or not).
    const auto& top = ranked.empty() ? std::optional<double>() : m_state.candidates[ranked[0]].median_ms;
    const double score = ranked.empty() ? 0 : top ? 1.0 / *top : 1e-12;
    if (score > m_best_seen * 1.005) {
      m_best_seen = score;
      m_stale_rounds = 0;
    } else {
      ++m_stale_rounds;
    }
    save_header();
    if (unusable_workload()) break;
    if (any_pending && !fresh) {
      m_status = "waiting";
      m_stop_reason = "waiting for replies to pending requests; continue with --resume " + m_state.dir;
      break;
    }
  }
  if (m_stop) {
    m_status = "interrupted";
    return;
  }
  int pending_left = 0;
  for (const auto& [id, r] : m_state.candidates) pending_left += r.status == "pending";
  if (m_status == "finished" && pending_left > 0) {
    m_status = "waiting";
    m_stop_reason += (m_stop_reason.empty() ? "" : "; ") + std::to_string(pending_left) +
                     " request(s) wait for replies; continue with --resume " + m_state.dir;
  }
}

// m_environment_failure is set by evaluate_one (search_pool.cpp) from an eval report that
// says the reference could not start or import (core::reference_could_not_start).
bool SearchRun::environment_failed() {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_environment_failure.empty()) return false;
  m_status = "interrupted";
  m_stop_reason = m_environment_failure + "; continue with --resume " + m_state.dir + " where it can run";
  return true;
}

// Every candidate found the workload unusable; or the baseline could not run the reference
// and no candidate was correct while one found the workload unusable (the others' failures,
// e.g. torch.compile missing, say nothing about a workload whose forward raises).
bool SearchRun::unusable_workload() {
  bool all_input_errors = !m_state.candidates.empty(), any_correct = false;
  const CandidateRecord* input_error = nullptr;
  for (const auto& [id, r] : m_state.candidates) {
    const bool unusable = r.status == "done" && r.outcome == "input_error";
    all_input_errors = all_input_errors && unusable;
    any_correct = any_correct || (r.status == "done" && r.outcome == "correct");
    if (unusable && !input_error) input_error = &r;
  }
  const bool reference_failed = !m_baseline_ok && m_state.header.contains("baseline") &&
                                m_state.header["baseline"].value("ok", true) == false;
  if (!all_input_errors && !(reference_failed && input_error && !any_correct)) return false;
  m_status = "input_error";
  m_stop_reason = "the workload is unusable: " + input_error->reason;
  return true;
}

WorkloadResult SearchRun::run() {
  WorkloadResult result;
  result.workload = m_workload;
  result.run_dir = m_state.dir;
  if (Status opened = open(); !opened) {
    result.status = "input_error";
    result.error = opened.failure().message;
    result.exit_code = kExitUsage;
    return result;
  }
  if (baseline() && !m_stop) loop();
  if (m_stop) m_status = "interrupted";
  // The gate runs once, when the run finishes: a --no-wait exit (waiting for replies)
  // would otherwise re-run its trials and ABAB pairs at every exit (minutes at KernelBench
  // sizes); until then the summary gives ranking times only, marked as unconfirmed.
  if (m_status == "finished") final_gate();
  // A signal during the gate: the search had ended, the gate had not; say so, not only why
  // the search ended ("interrupted (reached --max-candidates 4)" read as a search cut short).
  if (m_stop && m_status == "finished")
    m_stop_reason = "stopped during the final gate, after the search ended (" + m_stop_reason +
                    "); --resume " + m_state.dir + " runs the gate";
  if (m_stop) m_status = "interrupted";
  progress(true);
  const int best = choose_best();
  write_outputs(best);
  result.status = m_status;
  result.summary = summary(best);
  result.faster = result.summary.value("faster", false);
  if (result.summary.contains("best") && result.summary["best"].is_object() &&
      result.summary["best"]["speedup"].is_number())
    result.best_speedup = result.summary["best"]["speedup"].get<double>();
  result.exit_code = m_status == "interrupted" ? kExitInterrupted
                     : m_status == "input_error" ? kExitUsage
                     : m_status == "waiting" ? kExitWaiting
                     : result.faster ? kExitFaster
                                     : kExitNotFaster;
  return result;
}

WorkloadResult optimize_workload(const OptimizeOptions& options, const std::string& workload, const std::string& run_dir,
                                 const GeneratorFactory& make_generator, const std::atomic<bool>& stop) {
  SearchRun run(options, workload, run_dir, make_generator, stop);
  return run.run();
}

}  // namespace kopt::core
