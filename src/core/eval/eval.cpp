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

#include "core/eval/eval_run.hpp"
#include "core/timing/ncu_run.hpp"
#include "core/timing/eval_timing.hpp"
#include "core/workers/request.hpp"
#include "kopt/core/rules.hpp"
#include "kopt/core/prestart.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "core/timing/stopwatch.hpp"
#include "core/workers/worker_registry.hpp"

namespace kopt::core {

namespace {

using Clock = std::chrono::steady_clock;

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
    if (!decided() && m_reference_ok && start_candidate()) {
      hold_residency_timed();
      trials();
    }
    if (!decided() && m_opt.timing != "none") time_candidate();
    if (!decided() && !m_opt.ncu.empty()) ncu_candidate();
  } catch (const nlohmann::json::exception& e) {
    // Only a worker's frames can be malformed this way; the candidate can write to its
    // control socket directly. A verdict, not a kopt error.
    fail_rule("process", Outcome::tampered, std::string("a worker sent a malformed frame: ") + e.what());
  }
  teardown();
  m_resident = {};  // the workers are gone, and their device memory with them
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
  const auto gpu = share_gpu_timed();
  auto ref = m_pool->start("reference");
  if (!ref) return reference_failed(ReferencePhase::worker, ref.failure());
  m_ref = std::move(ref.value());
  WorkerRegistry::instance().set(m_ref->pid(), false);
  // The reference is the user's own code: its start-up gets a generous deadline of its
  // own, so a short --import-timeout for candidates never fails a slow torch import.
  const double ref_timeout = std::max(m_opt.import_timeout, 300.0);
  auto hello = ask(*m_ref, {{"op", "hello"}}, ref_timeout);
  if (!hello) return reference_failed(ReferencePhase::start, hello.failure());
  m_ref_hello = hello->header;
  m_report.environment["torch"] = hello->header.value("torch", "");
  m_report.environment["python_version"] = hello->header.value("python", "");
  if (m_opt.device == "cuda") {
    m_report.environment["device_name"] = hello->header.value("device_name", "");
    m_report.environment["capability"] = hello->header.value("capability", "");
    m_pool->set_capability(hello->header.value("capability", ""));
  }
  if (!m_opt.expect_device.empty()) {
    // kopt optimize --resume on another machine: its baselines were timed elsewhere.
    // Known as the run's records know it: by the device facts the hello makes.
    std::vector<std::string> unused;
    const std::string here = device_identity(device_facts(hello->header, "", unused), m_opt.device);
    if (!here.empty() && here != m_opt.expect_device)
      return reference_failed(ReferencePhase::device,
                              {"device", "this is " + here + ", the run's baselines were measured on " + m_opt.expect_device});
  }
  auto load = ask(*m_ref, {{"op", "load"}, {"path", m_pool->reference_path()}}, ref_timeout);
  if (!load) return reference_failed(ReferencePhase::import, load.failure());
  m_init_seed = draw_seed();
  auto init = ask(*m_ref, {{"op", "init"}, {"init_seed", m_init_seed}, {"eval_mode", m_opt.eval_mode}},
                      m_opt.call_timeout);
  if (!init) return reference_failed(ReferencePhase::init, init.failure());
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
  ctx.output_bytes = m_output_bytes;
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
  if (m_pool) {
    m_pool->cleanup();
    m_report.kept_sandbox = m_pool->kept_sandbox();
  }
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
