// The evaluation pool of a run: up to -j candidates verified at once in threads (each
// run_eval holds m_gpu only while timing), results written as they come, the live
// progress line, and stopping the workers when interrupted.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "kopt/core/prestart.hpp"
#include "kopt/sandbox/isolation.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "search.hpp"

namespace kopt::core {

namespace {

// The last lines of a worker's log kept in a record: 20 lines, at most 4 KiB.
std::string log_tail(const std::string& log) {
  std::string tail = util::tail_lines(log, 20);
  if (tail.size() > 4096) {
    tail = tail.substr(tail.size() - 4096);
    const auto nl = tail.find('\n');  // whole lines only (and no character cut in two)
    tail = nl == std::string::npos ? std::string() : tail.substr(nl + 1);
  }
  return tail;
}

}  // namespace

void SearchRun::evaluate(const std::vector<int>& ids, bool claim) {
  if (ids.empty()) return;
  const int jobs = std::max(1, std::min<int>(m_opt.jobs, static_cast<int>(ids.size())));
  // Verification: the next candidates' workers start while earlier ones are verified
  // (prestart.hpp); claims start theirs afresh, one at a time, under the GPU to themselves.
  std::unique_ptr<Prestarts> prestarts;
  if (!claim && m_opt.prestart) prestarts = std::make_unique<Prestarts>(eval_options(ids[0], false), static_cast<int>(ids.size()), jobs);
  m_prestarts = prestarts.get();
  std::atomic<size_t> next{0};
  std::atomic<int> finished{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < jobs; ++t) {
    pool.emplace_back([&] {
      while (!m_stop) {
        if (!claim && m_opt.time_budget_s > 0 && search_seconds() >= m_opt.time_budget_s) break;
        const size_t i = next++;
        if (i >= ids.size()) break;
        evaluate_one(ids[i], claim);
      }
      ++finished;
    });
  }
  bool killed = false;
  while (finished < jobs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (m_stop) {
      // Stop the workers: the evaluations in flight then end at once; their results are
      // discarded and the candidates redone on --resume.
      if (!killed) spdlog::info("Interrupted: stopping the workers and saving state.");
      killed = true;
      sandbox::kill_processes(sandbox::descendants_of(getpid()));
    }
    progress();
  }
  for (auto& t : pool) t.join();
  m_prestarts = nullptr;
  prestarts.reset();  // the ones no candidate took (a budget or an interrupt ended the batch)
  progress();
}

void SearchRun::evaluate_one(int id, bool claim) {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    auto& r = m_state.candidates[id];
    if (!claim) {
      r.status = "running";
      r.verify_start = now_epoch();
      r.phases = nlohmann::json::array();
      r.log_tail.clear();
      (void)save_record(m_state.dir, r);
    }
    m_in_flight.insert(id);
  }
  EvalOptions eo = eval_options(id, claim);
  if (!claim) eo.on_phase = [this, id](const EvalPhase& phase) { note_phase(id, phase); };
  if (!claim) eo.prestarts = m_prestarts;
  if (claim) {
    // The claim runs where the candidate was built (its own sandbox, the same paths), and
    // removes it at its end.
    std::lock_guard<std::mutex> lock(m_mutex);
    if (const auto it = m_builds.find(id); it != m_builds.end()) {
      eo.reuse_sandbox = it->second;
      m_builds.erase(it);
    }
  }
  const EvalReport report = run_eval(eo);
  const double end = now_epoch();
  std::lock_guard<std::mutex> lock(m_mutex);
  m_in_flight.erase(id);
  auto& r = m_state.candidates[id];
  // The sandbox holding the candidate's build after this evaluation: the one it kept, or a
  // claim's reused one where the evaluation stopped before taking it.
  std::string kept = report.kept_sandbox;
  if (kept.empty() && claim && !eo.reuse_sandbox.empty() && is_directory(eo.reuse_sandbox)) kept = eo.reuse_sandbox;
  const std::string dir = m_state.dir + "/candidates/" + candidate_dir_name(id);
  // The reference's worker could not start or import the workload although the baseline
  // ran it (resumed on a machine without the GPU, a driver or module gone; the workload
  // itself is the run's own copy): the machine's fault, not the workload's, and the run stops.
  // Or it runs on another device than the baselines (a resume elsewhere): nothing was run.
  const bool other_device = reference_on_other_device(report);
  // An interrupt kills the workers itself: a reference that died then is no fault of the machine.
  const bool machine_fault = !m_stop && (other_device || (!claim && m_baseline_ok && reference_could_not_start(report)));
  if (m_stop || machine_fault) {
    // No verdict: a worker killed by the interrupt, or a reference that could not start,
    // means nothing about the candidate; how far it got and what it printed do (it is
    // evaluated again on --resume).
    if (!claim) {
      r.status = "interrupted";
      r.log_tail = log_tail(report.candidate_log);
      if (!report.candidate_log.empty()) write_or_warn(dir + "/log", report.candidate_log);
    }
    // An interrupted claim keeps its build for the next session's claim (its record names
    // it); anything else kept goes.
    if (claim && m_stop && !machine_fault && !kept.empty()) {
      m_builds[id] = kept;
      r.build_sandbox = kept;
    } else {
      if (!kept.empty()) sandbox::remove_tree(kept);
      if (claim) r.build_sandbox.clear();
    }
    (void)save_record(m_state.dir, r);
    if (machine_fault) {
      const std::string reason = util::redact(report.reason, m_opt.secrets);
      const size_t step = reason.find(": ");  // "another device: this is ..."
      if (m_environment_failure.empty())
        m_environment_failure = other_device ? "resumed on another device: " +
                                                   reason.substr(step == std::string::npos ? 0 : step + 2) +
                                                   " (kopt never ranks times from two devices together; `kopt optimize "
                                                   "--resume " + m_state.dir +
                                                   " --rebaseline` times the baselines and the candidates again here)"
                                             : "the reference could not start here although its baseline ran (" + reason + ")";
      spdlog::warn("Candidate not judged: {}. [id: {}, reason: {}]",
                   other_device ? "this is another device than the baselines'" : "the reference could not start on this machine",
                   id, reason);
    }
    return;
  }
  const auto json = report_json(report, eo);
  // A candidate's exception text is its own: it never carries a secret into the run.
  const std::string dump = util::redact(util::dump_json(json, 2), m_opt.secrets) + "\n";
  write_or_warn(dir + (claim ? "/claim.json" : "/verify.json"), dump);
  if (!report.timing.is_null())
    write_or_warn(dir + (claim ? "/claim_timing.json" : "/timing.json"), util::dump_json(report.timing, 2) + "\n");
  if (!claim) {
    write_or_warn(dir + "/log", report.candidate_log);
    r.verify_end = end;
  }
  apply_eval(r, report, eo, claim);
  r.status = "done";
  r.log_tail.clear();  // the whole log is in candidates/NNNN/log
  if (claim) {
    // The claim is done: its build has served.
    if (!kept.empty()) sandbox::remove_tree(kept);
    r.build_sandbox.clear();
  }
  (void)save_record(m_state.dir, r);
  if (!claim) hold_builds(id, report.kept_sandbox);
  save_header();
  if (!claim)
    spdlog::info("Candidate evaluated. [id: {}, strategy: {}, outcome: {}{}]", id, r.strategy, r.outcome,
                 ranking_speedup_text(r));
}

void SearchRun::hold_builds(int id, const std::string& sandbox) {
  if (!sandbox.empty()) m_builds[id] = sandbox;
  auto top = ranked_correct();
  if (static_cast<int>(top.size()) > m_opt.final_top) top.resize(static_cast<size_t>(std::max(0, m_opt.final_top)));
  for (auto it = m_builds.begin(); it != m_builds.end();) {
    if (std::find(top.begin(), top.end(), it->first) != top.end() && m_state.candidates[it->first].claim.is_null()) {
      ++it;
    } else {
      sandbox::remove_tree(it->second);
      it = m_builds.erase(it);
    }
  }
  // The records name the builds held (a later session's claim finds them there).
  for (auto& [cid, r] : m_state.candidates) {
    const auto it = m_builds.find(cid);
    const std::string held = it == m_builds.end() ? std::string() : it->second;
    if (r.build_sandbox == held) continue;
    r.build_sandbox = held;
    (void)save_record(m_state.dir, r);
  }
}

void SearchRun::restore_builds() {
  const std::string root = sandbox::sandbox_parent(m_opt.work_dir);
  for (auto& [id, r] : m_state.candidates) {
    if (r.build_sandbox.empty()) continue;
    const bool ours = sandbox::is_kept_sandbox(r.build_sandbox, root);
    const bool wanted = r.status == "done" && r.outcome == "correct" && r.claim.is_null();
    if (ours && wanted) {
      m_builds[id] = r.build_sandbox;
      continue;
    }
    // Not needed any more, or not a sandbox kopt kept here (another --work-dir, a machine
    // whose /tmp was emptied, an edited record): only one that checks out is removed.
    if (ours) sandbox::remove_tree(r.build_sandbox);
    r.build_sandbox.clear();
    (void)save_record(m_state.dir, r);
  }
  if (!m_builds.empty()) spdlog::info("Builds kept for the final gate. [candidates: {}]", m_builds.size());
  hold_builds(0, "");  // only the current top final_top stay held
}

SearchRun::~SearchRun() {
  // The gate still to come (a --no-wait exit, an interrupt, a resume that could not open):
  // the top candidates' builds stay for it, named in their records. Otherwise they go.
  if (!m_opened || m_status == "waiting" || m_status == "interrupted") return;
  for (auto& [id, sandbox] : m_builds) {
    sandbox::remove_tree(sandbox);
    auto& r = m_state.candidates[id];
    r.build_sandbox.clear();
    (void)save_record(m_state.dir, r);
  }
}

void SearchRun::note_phase(int id, const EvalPhase& phase) {
  std::lock_guard<std::mutex> lock(m_mutex);
  auto& r = m_state.candidates[id];
  r.phases.push_back({{"name", phase.name}, {"seconds", phase.seconds}, {"end", now_epoch()}});
  r.log_tail = log_tail(phase.candidate_log);
  if (Status saved = save_record(m_state.dir, r); !saved)
    spdlog::warn("Candidate record not saved. [reason: {}]", saved.failure().message);
}

void SearchRun::progress(bool final) {
  if (!m_opt.progress) return;
  const auto now = std::chrono::steady_clock::now();
  if (!final && now - m_last_progress < std::chrono::milliseconds(250)) return;
  m_last_progress = now;
  if (final) {
    std::cerr << "\r\033[K" << std::flush;
    return;
  }
  std::lock_guard<std::mutex> lock(m_mutex);
  int done = 0;
  for (const auto& [id, r] : m_state.candidates) done += r.status == "done";
  std::string best = best_phrase();
  if (m_opt.color && best != "best -") best = "\033[1;32m" + best + "\033[0m";
  std::string line = fmt::format("kopt optimize {}: {} done, {} in flight, {}, {}", m_state.header.value("workload_name", ""),
                                 done, m_in_flight.size(), best,
                                 util::format_seconds(m_elapsed_before + (now_epoch() - m_session_start)));
  if (m_generator && (m_generator->input_tokens() || m_generator->output_tokens()))
    line += fmt::format(", {}{} tokens, ${:.3f}", m_generator->tokens_estimated() ? "~" : "",
                        m_generator->input_tokens() + m_generator->output_tokens(),
                        m_generator->cost_usd());
  std::cerr << "\r\033[K" << line << std::flush;
}

// Callers hold m_mutex or run on the loop's thread while no evaluation runs.
std::string SearchRun::best_phrase() const {
  const auto ranked = ranked_correct();
  if (ranked.empty()) return "best -";
  const auto& r = m_state.candidates.at(ranked[0]);
  return r.speedup     ? fmt::format("best {:.2f}x ({})", *r.speedup, candidate_dir_name(r.id))
         : r.median_ms ? fmt::format("best {:.3f} ms ({})", *r.median_ms, candidate_dir_name(r.id))
                       : fmt::format("best {} (not timed)", candidate_dir_name(r.id));
}

void SearchRun::publish_best() {
  if (m_opt.on_best) m_opt.on_best(best_phrase());
}

}  // namespace kopt::core
