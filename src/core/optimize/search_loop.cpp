// The search loop of one workload (opened by search_open.cpp): the run.json header,
// rounds of proposals evaluated by a pool of threads (verification in parallel, timing
// serialised by m_gpu), budgets, interruption.
#include <spdlog/spdlog.h>
#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <thread>

#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

double now_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

SearchRun::SearchRun(const OptimizeOptions& options, std::string workload, std::string run_dir,
                     const GeneratorFactory& make_generator, const std::atomic<bool>& stop)
    : m_opt(options), m_workload(std::move(workload)), m_make_generator(make_generator), m_stop(stop) {
  m_state.dir = std::move(run_dir);
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
  std::vector<int> unfinished = take_pending_replies();
  // A resume that leaves a request unanswered asks nothing new: another round of prompts
  // would spend the run's candidates on requests nobody has answered, and would be written
  // without the unanswered ones' results.
  const int pending_after = pending_count();
  for (const auto& [id, r] : m_state.candidates)
    if (r.status == "queued" || r.status == "running" || r.status == "interrupted") unfinished.push_back(id);
  std::sort(unfinished.begin(), unfinished.end());
  unfinished.erase(std::unique(unfinished.begin(), unfinished.end()), unfinished.end());
  if (!unfinished.empty()) evaluate(unfinished, false);
  publish_best();
  if (environment_failed()) return;
  if (!m_stop && unusable_workload()) return;  // found in an earlier session: nothing more to try
  if (!m_stop && pending_after > 0) {
    m_status = "waiting";
    m_stop_reason = (pending_after == pending_before ? "no reply yet to the " : "no reply yet to ") +
                    std::to_string(pending_after) + (pending_after == pending_before ? "" : " of the " + std::to_string(pending_before)) +
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
    // A round that left a request pending (--no-wait) ends the session even where its other
    // candidates were evaluated (a builtin seed beside the writer's prompt): the next
    // round's prompts wait for the pending one's result.
    if (any_pending) {
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
  m_gate_left = m_stop && m_status == "finished";
  if (m_gate_left)
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
