#include "kopt/core/eval.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <shared_mutex>

#include "eval_run.hpp"
#include "ncu_run.hpp"
#include "eval_timing.hpp"
#include "request.hpp"
#include "kopt/core/rules.hpp"
#include "kopt/core/prestart.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "stopwatch.hpp"
#include "worker_registry.hpp"

namespace kopt::core {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

}  // namespace

// Whether the candidate may import torch._dynamo (torch.compile, torch.export, flex
// attention, custom ops): the harness then imports it before the tripwire's snapshot,
// because dynamo wraps torch functions when first imported. Importing it costs seconds
// (4.9-6.0 s on an H200 with torch 2.11), so a candidate that names none of these skips it.
// An unreadable file says yes: the import phase reports the file itself.
bool needs_dynamo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return true;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string source = ss.str();
  // Signs of use, not of words: "compiled" in a load_inline candidate's comment does not
  // count (it would cost a prestarted interpreter, prestart.cpp run_prepared).
  for (const char* sign : {"torch.compile", "compile(", "import compile", "dynamo", "inductor", "torch.export",
                           "export(", "import export", "flex_attention", "custom_op", "torch.library",
                           "torch._higher_order_ops", "torch.fx", "functorch", "torch.func"})
    if (source.find(sign) != std::string::npos) return true;
  return false;
}

void EvalRun::decide(Outcome outcome, const std::string& check, const std::string& reason) {
  if (m_decided) return;
  m_decided = true;
  m_report.outcome = outcome;
  m_report.check = check;
  m_report.reason = reason;
  if (outcome == Outcome::input_error && check == "reference" && out_of_memory(reason)) {
    // Not the workload's fault: say which process ran out and what it said it needed.
    m_report.check = "memory";
    m_report.reason = "the reference worker ran out of memory on this machine (" + reason + ")";
  }
  spdlog::debug("Verdict decided. [outcome: {}, check: {}, reason: {}]", outcome_name(outcome), check, reason);
}

EvalReport EvalRun::run() {
  const auto start = Clock::now();
  if (!setup()) return finish(start);
  start_workers();
  return proceed(start);
}

void EvalRun::start_workers() {
  try {
    boot_candidate();
    m_reference_ok = start_reference();
    join_boot();
  } catch (const nlohmann::json::exception& e) {
    fail_rule("process", Outcome::tampered, std::string("a worker sent a malformed frame: ") + e.what());
  }
}

EvalReport EvalRun::proceed(Clock::time_point start) {
  try {
    if (!decided() && m_reference_ok && start_candidate()) trials();
    if (!decided() && m_opt.timing != "none") time_candidate();
    if (!decided() && !m_opt.ncu.empty()) ncu_candidate();
  } catch (const nlohmann::json::exception& e) {
    // Only a worker's frames can be malformed this way; the candidate can write to its
    // control socket directly. A verdict, not a kopt error.
    fail_rule("process", Outcome::tampered, std::string("a worker sent a malformed frame: ") + e.what());
  }
  teardown();
  return finish(start);
}

bool EvalRun::setup() {
  const auto t = Clock::now();
  auto pool = WorkerPool::create(m_opt, m_prestarting);
  timed("setup", t);
  if (!pool) {
    decide(Outcome::input_error, "setup", pool.failure().message);
    return false;
  }
  m_pool = std::move(pool.value());
  m_report.environment = m_pool->environment();
  m_report.isolation = m_pool->isolation();
  return true;
}

bool EvalRun::start_reference() {
  auto t = Clock::now();
  // Starting, the reference creates its CUDA context and constructs the workload on the
  // device: no timing runs meanwhile (kopt optimize: another candidate's, or a prestart's).
  std::shared_lock<GpuGate> gpu;
  if (m_opt.exclusive && m_opt.device == "cuda") {
    const auto w = Clock::now();
    gpu = std::shared_lock<GpuGate>(*m_opt.exclusive);
    waited_for_gpu(w);
  }
  auto ref = m_pool->start("reference");
  if (!ref) {
    decide(Outcome::input_error, "reference", "reference worker: " + ref.failure().message);
    return false;
  }
  m_ref = std::move(ref.value());
  WorkerRegistry::instance().set(m_ref->pid(), false);
  // The reference is the user's own code: its start-up gets a generous deadline of its
  // own, so a short --import-timeout for candidates never fails a slow torch import.
  const double ref_timeout = std::max(m_opt.import_timeout, 300.0);
  auto hello = ask(*m_ref, {{"op", "hello"}}, ref_timeout);
  if (!hello) return reference_failed("start", hello.failure());
  m_ref_hello = hello->header;
  m_report.environment["torch"] = hello->header.value("torch", "");
  m_report.environment["python_version"] = hello->header.value("python", "");
  if (m_opt.device == "cuda") {
    m_report.environment["device_name"] = hello->header.value("device_name", "");
    m_report.environment["capability"] = hello->header.value("capability", "");
    m_pool->set_capability(hello->header.value("capability", ""));
  }
  auto load = ask(*m_ref, {{"op", "load"}, {"path", m_pool->reference_path()}}, ref_timeout);
  if (!load) return reference_failed("import", load.failure());
  m_init_seed = draw_seed();
  auto init = ask(*m_ref, {{"op", "init"}, {"init_seed", m_init_seed}, {"eval_mode", m_opt.eval_mode}},
                      m_opt.call_timeout);
  if (!init) return reference_failed("init", init.failure());
  m_init = std::move(init.value());
  if (!m_init.header.value("fp64", false)) {
    m_report.notes.push_back("the workload cannot run in float64 (" +
                             m_init.header.value("fp64_error", std::string("unknown")) +
                             "): explicit float32 tolerance");
  }
  timed("reference_start", t);
  WorkerRegistry::instance().set(m_ref->pid(), true);
  return true;
}

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

bool EvalRun::reference_failed(const std::string& phase, const Failure& f) {
  decide(Outcome::input_error, "reference", "workload " + phase + ": " + f.message);
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

void EvalRun::stop_candidate() {
  const pid_t pid = m_cand->pid();
  bool said_bye = false;
  if (!decided()) {
    auto bye = m_cand->request({{{"op", "bye"}}, {}}, ms(std::min(m_opt.call_timeout, 30.0)));
    said_bye = bye.ok();
  }
  const auto descendants = sandbox::descendants_of(pid);
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
  } else if (!decided() && !said_bye && info && !(info->exited && info->code == 0)) {
    fail_rule("process", Outcome::crashed, "candidate worker ended badly (" + info->describe() + ")");
  }
  m_report.candidate_log += m_cand->log();
  WorkerRegistry::instance().erase(m_cand->pid());
  m_cand.reset();
}

void EvalRun::time_candidate() {
  const auto t = Clock::now();
  if (m_opt.announce) spdlog::info("Timing the candidate. [mode: {}]", m_opt.timing);
  if (m_opt.timing == "claim") {
    stop_candidate();
    m_for_timing = true;  // the fresh process only runs timed calls (checked ones too)
    if (decided() || !start_candidate()) return;
  }
  TimingContext ctx;
  ctx.options = &m_opt;
  ctx.reference = m_ref.get();
  ctx.candidate = m_cand.get();
  ctx.bytes_per_call = m_bytes_per_call;
  ctx.check_outputs = !m_report.random_workload;
  ctx.fp32_only = !m_init.header.value("fp64", false);
  ctx.device_compare = m_report.compare_where == "device";
  ctx.device = m_ref_hello;
  ctx.own_pids = [this] {
    // This evaluation's workers, and other evaluations' parked ones (kopt optimize -j N).
    std::set<pid_t> own = WorkerRegistry::instance().parked();
    for (auto* w : {m_ref.get(), m_cand.get()}) {
      if (!w) continue;
      own.insert(w->pid());
      for (pid_t p : sandbox::descendants_of(w->pid())) own.insert(p);
    }
    return own;
  };
  auto v = m_opt.timing == "claim" ? time_claim(ctx) : time_rank(ctx);
  timed("timing", t);
  for (auto& n : v.notes) m_report.notes.push_back(n);
  if (!v.ok) {
    if (v.outcome == Outcome::unverified) {
      m_report.notes.push_back("not timed: " + v.reason);
      m_timing_note = v.reason;
      return;
    }
    fail_rule(v.rule, v.outcome, v.reason);
    m_report.timing = std::move(v.timing);  // the figures that decided it
    return;
  }
  std::vector<std::string> warnings;
  v.timing["device"] = device_facts(m_ref_hello, m_opt.target, warnings);
  for (auto& w : warnings) m_report.notes.push_back("target: " + w);
  m_report.timing = std::move(v.timing);
  m_timed_checks = ctx.check_outputs;
}

// --ncu: the correct candidate once more, in a fresh process under Nsight Compute. What
// happens there is the profile's report, never the verdict: the candidate was judged.
void EvalRun::ncu_candidate() {
  const auto t = Clock::now();
  if (m_cand) stop_candidate();
  if (decided()) return;
  const auto session = ncu_session(*m_pool, "candidate", m_opt.ncu);
  m_for_timing = true;
  if (const auto f = launch_candidate(session.wrapper, true)) {
    if (m_cand) {
      m_cand->stop(std::chrono::milliseconds(5000));
      m_report.candidate_log += m_cand->log();
      WorkerRegistry::instance().erase(m_cand->pid());
      m_cand.reset();
    }
    m_report.ncu = ncu_failed(session, "the candidate under ncu: " + f->phase + ": " + f->failure.message);
  } else {
    // ncu replays kernels on the GPU: nothing else may be timed meanwhile (kopt optimize).
    std::unique_lock<GpuGate> lock;
    if (m_opt.exclusive) lock = std::unique_lock<GpuGate>(*m_opt.exclusive);
    WorkerRegistry::instance().erase(m_cand->pid());
    m_report.ncu = ncu_finish(std::move(m_cand), session, "candidate", 1, m_opt.call_timeout);
  }
  sandbox::reap_orphans(m_ref ? std::set<pid_t>{m_ref->pid()} : std::set<pid_t>{});
  timed("ncu", t);
}

void EvalRun::teardown() {
  const auto t = Clock::now();
  join_boot();  // the boot thread uses m_cand: it ends before the candidate is stopped
  // The reference is idle: told first, it exits while the candidate is stopped.
  if (m_ref && m_ref->exit_info() == std::nullopt) (void)m_ref->request({{{"op", "bye"}}, {}}, ms(200));
  if (m_cand) stop_candidate();
  if (m_ref) {
    m_ref->stop(std::chrono::milliseconds(1000));
    m_report.reference_log = m_ref->log();
    WorkerRegistry::instance().erase(m_ref->pid());
    m_ref.reset();
  }
  sandbox::reap_orphans({});
  if (m_pool) m_pool->cleanup();
  timed("teardown", t);
}

EvalReport EvalRun::finish(Clock::time_point start) {
  // Rules that ran to completion pass; the rest say why not.
  if (m_report.trials_run > 0 && m_report.trials_run == m_report.trials_planned) {
    for (const char* id : {"structure", "finite", "close", "inputs", "background", "tamper", "process"})
      if (rule_status(m_rules, id) == "not_run") rule(id, "passed", "");
    if (rule_status(m_rules, "reuse") == "not_run")
      rule("reuse", "passed", m_report.compare_where == "device"
                                  ? "each checked call's outputs re-read by the comparer after the next checked call"
                                  : "each call's outputs re-read by the harness after the next call (self-reported)");
    rule("trials", "passed", std::to_string(m_report.trials_run) + " trials from run-time seeds, 4 of them stress trials, " +
                                 std::to_string(m_report.calls_unchecked) + " unchecked calls between them (a number drawn at run time)");
    if (rule_status(m_rules, "memo") == "not_run")
      rule("memo", "passed", std::to_string(m_report.trials_run) + " calls on one instance with different inputs matched");
    if (rule_status(m_rules, "stray_work") == "not_run") rule("stray_work", "passed", "");
    if (m_sanity_zero) rule("sanity", "warning", "the reference's outputs are all zero: this workload cannot tell a correct candidate from a cheat");
    else if (m_sanity_constant) rule("sanity", "warning", "the reference's outputs are constant");
    else if (m_sanity_same) rule("sanity", "warning", "the reference's outputs do not depend on its inputs");
    else rule("sanity", "passed", "outputs vary with the inputs");
    if (rule_status(m_rules, "sanity") == "warning") m_report.notes.push_back(rule_detail(m_rules, "sanity"));
  }
  if (rule_status(m_rules, "timed_outputs") == "not_run") {
    if (m_opt.timing == "none")
      rule("timed_outputs", "not_applicable", "not timed (--time none)");
    else if (!m_report.timing.is_null() && m_timed_checks)
      rule("timed_outputs", "passed", "outputs of timed calls, picked after each batch ran, matched the reference");
    else if (!m_report.timing.is_null())
      rule("timed_outputs", "not_applicable", "a random workload's timed outputs cannot be reproduced");
    else
      rule("timed_outputs", "not_run", m_timing_note.empty() ? "not timed" : m_timing_note);
  }
  if (m_report.figures.fp32_fallback)
    m_report.notes.push_back("the fp32 reference equals the fp64 one exactly (or no fp64 run is possible): an explicit float32 tolerance applied");
  if (!decided()) {
    bool unimplemented = false;
    for (const auto& r : m_rules) unimplemented = unimplemented || r.status == "not_implemented";
    if (unimplemented) decide(Outcome::unverified, "rules", "a verification rule is not implemented on this device");
    else decide(Outcome::correct, "", "the candidate matched the reference on every check");
  }
  m_report.rules = m_rules;
  m_report.phase_seconds["total"] = std::chrono::duration<double>(Clock::now() - start).count();
  return m_report;
}

EvalReport run_eval(const EvalOptions& options) {
  if (options.prestarts) return options.prestarts->run(options);
  return EvalRun(options).run();
}

}  // namespace kopt::core
