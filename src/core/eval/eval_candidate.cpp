// The candidate's worker within one evaluation (the EvalRun of eval_run.hpp): started
// early beside the reference (boot), launched for the import or build, its failures
// turned into verdicts, the tripwire's report read, and stopped with the stray-process
// check.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/eval/eval_run.hpp"
#include "core/workers/request.hpp"
#include "core/workers/worker_registry.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/procfs.hpp"

namespace kopt::core {


void EvalRun::boot_candidate() {
  auto cand = m_pool->start("candidate", m_for_timing, {});
  if (!cand) return;  // launch_candidate tries again and reports it
  m_cand = std::move(cand.value());
  WorkerRegistry::instance().set(m_cand->pid(), false);
  // Start-up (interpreter and torch) runs no candidate code yet: not the candidate's deadline.
  m_boot = std::async(std::launch::async,
                      [w = m_cand.get(), msg = candidate_hello(), timeout = std::max(m_opt.import_timeout, 300.0)] {
    Boot b;
    const auto t = Clock::now();
    auto hello = ask(*w, msg, timeout);
    b.seconds = std::chrono::duration<double>(Clock::now() - t).count();
    if (!hello) b.failure = hello.failure();
    else b.header = hello->header;
    return b;
  });
}

nlohmann::json EvalRun::candidate_hello() const {
  const bool dynamo = !m_prestarting && needs_dynamo(m_pool->candidate_path());
  nlohmann::json hello_msg = {{"op", "hello"}, {"dynamo", dynamo}};
  if (m_opt.device == "cuda" && m_opt.limits.gpu_memory_fraction > 0)
    hello_msg["gpu_memory_fraction"] = m_opt.limits.gpu_memory_fraction;
  return hello_msg;
}

void EvalRun::note_candidate_hello(const nlohmann::json& header) {
  if (m_opt.device == "cuda" && m_opt.limits.gpu_memory_fraction > 0) {
    // Set by the harness before any candidate code runs: a tripwire (the caching
    // allocator's cap; memory taken past torch, e.g. cudaMalloc in an extension, is not counted).
    const double applied = header.value("gpu_memory_fraction", 0.0);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.2f of the device through torch.cuda.set_per_process_memory_fraction "
                  "(torch's allocator only: a tripwire, not a driver limit)", applied);
    m_report.isolation["gpu_memory"] = applied > 0
        ? nlohmann::json{{"active", true}, {"detail", buf}}
        : nlohmann::json{{"active", false}, {"detail", "the harness could not set it: " +
                                                          header.value("gpu_memory_error", std::string("no reply"))}};
  }
  m_report.environment["candidate_uid"] = header.value("uid", -1);
}

void EvalRun::join_boot() {
  if (!m_boot.valid()) return;
  Boot b = m_boot.get();
  m_booted = true;
  m_boot_failure = b.failure;
  if (!b.failure) note_candidate_hello(b.header);
  m_report.phase_seconds["candidate_start"] += b.seconds;  // overlaps reference_start
}

namespace {

// The reason's opening for a failed step of the reference.
const char* reference_step_text(ReferencePhase phase) {
  switch (phase) {
    case ReferencePhase::worker: return "reference worker";
    case ReferencePhase::start: return "workload start";
    case ReferencePhase::import: return "workload import";
    case ReferencePhase::init: return "workload init";
    case ReferencePhase::device: return "another device";
    case ReferencePhase::none: break;
  }
  return "reference";
}

}  // namespace

bool EvalRun::reference_failed(ReferencePhase phase, const Failure& f) {
  if (!decided()) m_report.reference_failed_at = phase;  // the first verdict wins (decide)
  decide(Outcome::input_error, "reference", std::string(reference_step_text(phase)) + ": " + f.message);
  return false;
}

std::optional<EvalRun::StartFailure> EvalRun::launch_candidate(const std::vector<std::string>& wrapper,
                                                               bool with_workload) {
  auto t = Clock::now();
  if (m_booted) {  // started while the reference started (boot_candidate)
    m_booted = false;
    if (m_boot_failure) return StartFailure{"start", *m_boot_failure};
  } else {
    auto cand = m_pool->start("candidate", m_for_timing, wrapper);
    if (!cand) return StartFailure{"worker", cand.failure()};
    m_cand = std::move(cand.value());
    WorkerRegistry::instance().set(m_cand->pid(), false);
    // Start-up (interpreter and torch) runs no candidate code yet: not the candidate's deadline.
    auto hello = ask(*m_cand, candidate_hello(), std::max(m_opt.import_timeout, 300.0));
    if (!hello) return StartFailure{"start", hello.failure()};
    note_candidate_hello(hello->header);
  }
  nlohmann::json load_msg = {{"op", "load"}, {"path", m_pool->candidate_path()}};
  if (const auto arch = m_pool->arch_list(); !arch.empty()) load_msg["arch_list"] = arch;
  if (with_workload) load_msg["workload"] = m_pool->workload_copy_path();
  auto load = ask(*m_cand, load_msg, m_opt.import_timeout);
  timed("candidate_import", t);
  if (!load) return StartFailure{"import", load.failure()};
  if (auto names = tampered_names(load->header); !names.empty()) return StartFailure{"at import", {"tampered", names}};
  t = Clock::now();
  std::string init_payload = m_init.payload;
  nlohmann::json init = {{"op", "init"}, {"init_seed", m_init_seed}, {"eval_mode", m_opt.eval_mode},
                         {"init_args", m_init.header["init_args"]}, {"state", m_init.header["state"]}};
  auto reply = ask(*m_cand, init, m_opt.call_timeout, init_payload);
  timed("candidate_init", t);
  if (!reply) return StartFailure{"init", reply.failure()};
  if (auto names = tampered_names(reply->header); !names.empty())
    return StartFailure{"while constructing ModelNew", {"tampered", names}};
  WorkerRegistry::instance().set(m_cand->pid(), true);  // parked: uses the GPU only under the gate
  return std::nullopt;
}

bool EvalRun::start_candidate() {
  const auto f = launch_candidate({}, m_opt.timing != "none");
  if (!f) return true;
  if (f->phase == "worker") {
    decide(Outcome::crashed, "process", "candidate worker: " + f->failure.message);
  } else if (f->failure.kind == "tampered") {
    fail_rule("tamper", Outcome::tampered, "candidate replaced " + f->failure.message + " " + f->phase);
  } else if (f->phase == "import" && f->failure.kind == "import") {
    fail_rule("process", Outcome::compile_error, "candidate import/build failed: " + f->failure.message);
  } else {
    candidate_failed(f->phase, f->failure);
  }
  return false;
}

bool EvalRun::candidate_failed(const std::string& phase, const Failure& f) {
  if (f.kind == "timeout") {
    fail_rule("process", Outcome::timed_out, "candidate " + phase + " passed its deadline");
  } else if (f.kind == "exited" || f.kind == "flood" || f.kind == "protocol" || f.kind == "spawn") {
    fail_rule("process", Outcome::crashed, "candidate " + phase + ": " + f.message);
  } else if (f.kind == "malformed") {  // a frame of the candidate's own (request.cpp, malformed_reply)
    fail_rule("process", Outcome::tampered, "candidate " + phase + ": " + f.message);
  } else if (f.kind == "input") {
    fail_rule("process", Outcome::compile_error, f.message);
  } else if (f.kind == "output") {
    fail_rule("structure", Outcome::wrong_result, f.message);
  } else {
    fail_rule("process", Outcome::crashed, "candidate raised during " + phase + ": " + f.message);
  }
  return false;
}

bool EvalRun::check_tamper(const nlohmann::json& header, const std::string& when) {
  const auto names = tampered_names(header);
  if (names.empty()) return true;
  fail_rule("tamper", Outcome::tampered, "candidate replaced " + names + " " + when);
  return false;
}

bool EvalRun::note_processes() {
  const pid_t worker = m_cand->main_pid();
  const auto below = sandbox::descendants_of(worker);
  // Threads of the worker and of everything below it: a candidate that forked at import
  // and let the child carry on as the harness grows threads there, not in the parent.
  int threads = sandbox::thread_count(worker);
  for (pid_t p : below) threads += sandbox::thread_count(p);
  m_threads.emplace_back(threads, static_cast<int>(below.size()));
  const auto detached = sandbox::detached_from(m_cand->pid(), worker, std::chrono::milliseconds(200));
  if (detached.empty()) return true;
  fail_rule("stray_work", Outcome::tampered,
            "the candidate detached " + std::to_string(detached.size()) +
                " process(es) from its worker (orphaned, or a session of their own) while it ran");
  return false;
}

void EvalRun::stop_candidate() {
  const pid_t pid = m_cand->pid();
  bool said_bye = false;
  if (!decided()) {
    auto bye = m_cand->request({{{"op", "bye"}}, {}}, ms(std::min(m_opt.call_timeout, 30.0)));
    said_bye = bye.ok();
  }
  const auto descendants = sandbox::descendants_of(pid);
  const auto detached = sandbox::detached_from(pid, m_cand->main_pid(), std::chrono::milliseconds(200));
  // After an acknowledged bye every result is in; a slow interpreter shutdown (torch.compile's
  // worker pool takes seconds) is then no verdict, only something to cut short.
  m_cand->stop(std::chrono::milliseconds(5000));
  // Helpers that exit with the worker (torch.compile's compile pool) are fine; what
  // still runs 2 s after the worker ended was left behind on purpose (setsid, daemons).
  const std::set<pid_t> keep = m_ref ? std::set<pid_t>{m_ref->pid()} : std::set<pid_t>{};
  const auto left = sandbox::survivors(descendants, keep, std::chrono::milliseconds(2000));
  sandbox::kill_processes(left);
  sandbox::reap_orphans(keep);
  const auto info = m_cand->exit_info();
  if (!left.empty()) {
    fail_rule("stray_work", Outcome::tampered,
              "the candidate left " + std::to_string(left.size()) + " process(es) running after its worker finished");
  } else if (!detached.empty()) {
    // Its PID namespace ended them with the worker; they were meant to outlive it.
    fail_rule("stray_work", Outcome::tampered,
              "the candidate detached " + std::to_string(detached.size()) +
                  " process(es) from its worker (orphaned, or a session of their own) to outlive it");
  } else if (!decided() && !said_bye && info && !(info->exited && info->code == 0)) {
    fail_rule("process", Outcome::crashed, "candidate worker ended badly (" + info->describe() + ")");
  }
  m_report.candidate_log += m_cand->log();
  WorkerRegistry::instance().erase(m_cand->pid());
  m_cand.reset();
}
}  // namespace kopt::core
