// `kopt baseline`: the reference alone, timed eager and under torch.compile with the
// stopwatch, profiled once, and judged against the hardware model.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <shared_mutex>

#include "core/timing/eval_timing.hpp"
#include "core/timing/ncu_run.hpp"
#include "kopt/core/timing.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "kopt/verify/value.hpp"
#include "core/workers/request.hpp"
#include "core/timing/stopwatch.hpp"
#include "core/workers/worker_registry.hpp"

namespace kopt::core {

namespace {

using Clock = std::chrono::steady_clock;

// The precision whose peak bounds the workload: the narrowest floating dtype among its
// inputs and outputs.
std::string precision_of(const verify::Value& v) {
  std::vector<const verify::TensorData*> ts;
  verify::collect_tensors(v, ts);
  std::string p = "fp32";
  for (const auto* t : ts) {
    if (t->dtype == "float16") p = "fp16";
    else if (t->dtype == "bfloat16" && p != "fp16") p = "bf16";
  }
  return p;
}

// precision_of for a spec tree ({"t": "tensor", "dtype": ...} nodes, no bytes).
std::string precision_of_spec(const nlohmann::json& spec) {
  std::string p = "fp32";
  std::vector<const nlohmann::json*> todo{&spec};
  while (!todo.empty()) {
    const auto* j = todo.back();
    todo.pop_back();
    if (!j->is_object()) continue;
    const std::string dtype = j->value("dtype", "");
    if (dtype == "float16") p = "fp16";
    else if (dtype == "bfloat16" && p != "fp16") p = "bf16";
    if (j->contains("items") && (*j)["items"].is_array())
      for (const auto& item : (*j)["items"]) todo.push_back(&item);
  }
  return p;
}

class BaselineRun {
 public:
  explicit BaselineRun(const BaselineOptions& o) : m_opt(o) {}

  BaselineReport run() {
    m_eval.reference = m_opt.workload;
    m_eval.device = m_opt.device;
    m_eval.python = m_opt.python;
    m_eval.eval_mode = m_opt.eval_mode;
    m_eval.work_dir = m_opt.work_dir;
    m_eval.keep_work = m_opt.keep_work;
    m_eval.import_timeout = m_opt.import_timeout;
    m_eval.call_timeout = m_opt.call_timeout;
    auto pool = WorkerPool::create(m_eval);
    if (!pool) return fail(pool.failure().message);
    m_pool = std::move(pool.value());
    // Resident from the worker's start until it is gone: its inputs, outputs and compiled
    // models are all the device memory of kopt's that another workload's run may meet.
    auto resident = hold_residency(m_opt.exclusive, m_opt.resident, m_opt.device);
    go();
    if (m_ref) {
      (void)m_ref->request({{{"op", "bye"}}, {}}, std::chrono::milliseconds(5000));
      m_ref->stop(std::chrono::milliseconds(5000));
      WorkerRegistry::instance().erase(m_ref->pid());
      m_ref.reset();
    }
    sandbox::reap_orphans({});
    m_pool->cleanup();
    return m_report;
  }

 private:
  BaselineReport fail(const std::string& why) {
    m_report.ok = false;
    m_report.error = why;
    m_report.check = "reference";
    if (out_of_memory(why)) {
      // Not the workload's fault: the machine's memory (eval's check of the same name).
      m_report.check = "memory";
      m_report.error = "the reference worker ran out of memory on this machine (" + why + ")";
    }
    return m_report;
  }

  // hello, load and init in a reference worker; the hello's header into `hello`.
  Status load_reference(sandbox::Worker& worker, nlohmann::json& hello) {
    auto h = ask(worker, {{"op", "hello"}}, std::max(m_opt.import_timeout, 300.0));
    if (!h) return Failure{h.failure().kind, "workload start: " + h.failure().message};
    hello = h->header;
    auto load = ask(worker, {{"op", "load"}, {"path", m_pool->reference_path()}}, m_opt.import_timeout);
    if (!load) return Failure{load.failure().kind, "workload import: " + load.failure().message};
    auto init = ask(worker, {{"op", "init"}, {"init_seed", draw_seed()}, {"eval_mode", m_opt.eval_mode}}, m_opt.call_timeout);
    if (!init) return Failure{init.failure().kind, "workload init: " + init.failure().message};
    return {};
  }

  void go() {
    // Start-up, import, construction and the two sanity calls use the GPU outside any
    // timing: under the gate's shared side, as a candidate's verification, so that another
    // workload's timing (kopt optimize --workloads-at-once) never runs beside them. Until
    // parked, the contention check takes the worker for a stranger.
    auto shared = share_gpu(m_opt.exclusive, m_opt.device);
    auto ref = m_pool->start("reference");
    if (!ref) return (void)fail("reference worker: " + ref.failure().message);
    m_ref = std::move(ref.value());
    WorkerRegistry::instance().set(m_ref->pid(), false);
    if (auto st = load_reference(*m_ref, m_hello); !st) return (void)fail(st.failure().message);
    // Two calls on different inputs: it runs, and its outputs depend on its inputs.
    verify::Value first;
    double bytes = 0;
    std::string precision = "fp32";
    // On CUDA the outputs stay on the device: the comparer reports their sanity figures
    // (all zero, constant, a fingerprint) and sizes, so no size is too large to baseline.
    const bool on_device = m_opt.device == "cuda";
    std::string first_print;
    for (int k = 0; k < 2; ++k) {
      auto t = ask(*m_ref, {{"op", "trial"}, {"input_seed", draw_seed()}, {"call_seed", draw_seed()}, {"stress", "none"},
                            {"keep", on_device}},
                   m_opt.call_timeout);
      if (!t) return (void)fail("workload call: " + t.failure().message);
      if (on_device) {
        const auto& h = t->header;
        bytes = h.value("bytes", 0.0);
        precision = h.contains("out_spec") && h["out_spec"].contains("items") && !h["out_spec"]["items"].empty()
                        ? precision_of_spec(h["out_spec"]["items"][0])
                        : "fp32";
        const auto s = h.value("sanity", nlohmann::json::object());
        const std::string print = s.value("fingerprint", "");
        if (k == 0) {
          if (s.value("all_zero", false)) m_report.notes.push_back("the reference's outputs are all zero");
          else if (s.value("constant", false)) m_report.notes.push_back("the reference's outputs are constant");
          first_print = print;
        } else if (!print.empty() && print == first_print) {
          m_report.notes.push_back("the reference's outputs do not depend on its inputs");
        }
        if (h.value("random", false) && k == 0)
          m_report.notes.push_back("the workload is random (its forward advances the RNG); try --eval for inference");
        continue;
      }
      size_t pos = 0;
      auto in = verify::decode_value(t->header["inputs"], t->payload, pos);
      auto out = in ? verify::decode_value(t->header["out32"], t->payload, pos) : in;
      if (!out || out->items.empty()) return (void)fail("the reference worker sent malformed values");
      bytes = static_cast<double>(verify::tensor_bytes(in.value()) + verify::tensor_bytes(out->items[0]));
      precision = precision_of(out->items[0]);
      bool zero = false, constant = false;
      verify::output_sanity(out->items[0], zero, constant);
      if (k == 0) {
        if (zero) m_report.notes.push_back("the reference's outputs are all zero");
        else if (constant) m_report.notes.push_back("the reference's outputs are constant");
        first = out->items[0];
      } else if (verify::identical(first, out->items[0])) {
        m_report.notes.push_back("the reference's outputs do not depend on its inputs");
      }
      if (t->header.value("random", false) && k == 0)
        m_report.notes.push_back("the workload is random (its forward advances the RNG); try --eval for inference");
    }
    std::vector<std::string> warnings;
    m_report.device = device_facts(m_hello, m_opt.target, warnings);
    for (auto& w : warnings) m_report.notes.push_back("target: " + w);
    m_report.device["python"] = m_hello.value("python", "");

    nlohmann::json gpu;
    auto nvml = open_nvml(m_opt.device, m_hello, gpu);
    if (m_opt.device == "cuda") m_report.device.update(gpu);
    if (nvml)
      if (auto s = nvml->sample()) m_report.device["gpu_state"] = measure::state_json(*s);
    StopwatchConfig cfg;
    cfg.options = m_opt.timing;
    cfg.device = m_opt.device;
    cfg.call_timeout = m_opt.call_timeout;
    cfg.bytes_per_call = bytes;
    cfg.device_memory = m_hello.value("memory_bytes", 0.0);
    cfg.device_free = m_hello.value("free_bytes", 0.0);
    cfg.nvml = nvml.get();
    const pid_t ref_pid = m_ref->pid();
    cfg.own_pids = [ref_pid] {
      // This worker, and other runs' parked workers (kopt optimize --workloads-at-once).
      std::set<pid_t> own = WorkerRegistry::instance().parked();
      own.insert(ref_pid);
      for (pid_t p : sandbox::descendants_of(ref_pid)) own.insert(p);
      return own;
    };
    Stopwatch sw(cfg);
    if (auto st = sw.setup(*m_ref); !st) return (void)fail("timing setup: " + st.failure().message);

    shared = {};
    WorkerRegistry::instance().set(m_ref->pid(), true);  // parked: on the GPU only under the gate
    std::unique_lock<GpuGate> lock;
    if (m_opt.exclusive) lock = std::unique_lock<GpuGate>(*m_opt.exclusive);
    m_report.eager = sw.measure(*m_ref, "eager", "eager");
    if (!m_report.eager.ok) return (void)fail("the eager reference could not be timed: " + m_report.eager.error);
    m_report.best = "eager";
    m_report.best_ms = m_report.eager.median_ms;
    for (const auto& mode : m_opt.compile_modes) {
      const std::string key = "compile:" + mode;
      const auto t0 = Clock::now();
      auto c = ask(*m_ref, {{"op", "compile"}, {"mode", mode}, {"seed", draw_seed()}}, std::max(m_opt.call_timeout, 600.0));
      Timing t;
      t.label = key;
      if (!c) {
        t.error = c.failure().message;
      } else {
        t = sw.measure(*m_ref, key, key);
        t.detail["compile_s"] = std::chrono::duration<double>(Clock::now() - t0).count() - t.warmup_s;
      }
      if (t.ok && t.median_ms < m_report.best_ms) {
        m_report.best = key;
        m_report.best_ms = t.median_ms;
      }
      m_report.compiled[key] = t;
    }
    // What a plain copy reaches on this device, timed alone like the baselines: the memory
    // bound a kernel can practically reach (profile() puts it beside the bound).
    if (m_opt.profile) copy_bandwidth(bytes);
    lock = {};
    // The profile runs the workload again: like verification, under the shared side.
    shared = share_gpu(m_opt.exclusive, m_opt.device);
    if (m_opt.profile) profile(bytes, precision);
    shared = {};
    if (!m_opt.ncu.empty()) ncu();
    m_report.ok = true;
  }

  // The eager reference in a fresh worker under Nsight Compute.
  void ncu() {
    auto session = ncu_session(*m_pool, "reference", m_opt.ncu);
    auto w = m_pool->start("reference", false, session.wrapper);
    if (!w) {
      m_report.ncu = {{"ok", false}, {"error", "ncu worker: " + w.failure().message}};
      return;
    }
    auto& worker = *w.value();
    nlohmann::json hello;
    const Status set = load_reference(worker, hello);
    if (!set) {
      worker.stop(std::chrono::milliseconds(5000));
      m_report.ncu = ncu_failed(session, "the worker under ncu: " + set.failure().message);
      return;
    }
    // ncu replays kernels on the GPU: nothing else may be timed meanwhile (kopt optimize).
    std::unique_lock<GpuGate> lock;
    if (m_opt.exclusive) lock = std::unique_lock<GpuGate>(*m_opt.exclusive);
    m_report.ncu = ncu_finish(std::move(w.value()), session, "eager", 1, m_opt.call_timeout);
  }

  // The copy's size: half the workload's traffic (the copy's is twice its size), at least
  // 8 times L2 and 256 MiB so that L2 holds little of it, at most 1 GiB; 64 MiB on a CPU,
  // where the figure is kept but not used (no target describes a CPU). The worker caps it
  // at a quarter of the free memory.
  void copy_bandwidth(double bytes) {
    const bool cuda = m_opt.device == "cuda";
    const double floor = std::max(8 * m_hello.value("l2_bytes", 0.0), 256.0 * (1 << 20));
    const double size = cuda ? std::min(std::max(bytes / 2, floor), 1024.0 * (1 << 20)) : 64.0 * (1 << 20);
    auto c = ask(*m_ref, {{"op", "time_copy"}, {"bytes", static_cast<long long>(size)}, {"reps", 10}}, m_opt.call_timeout);
    if (!c) {
      m_copy = {{"ok", false}, {"error", c.failure().message}};
      return;
    }
    m_copy = c->header;
    m_copy.erase("payload");
  }

  void profile(double bytes, const std::string& precision) {
    std::vector<uint64_t> seeds;
    for (int k = 0; k < 4; ++k) seeds.push_back(draw_seed());
    auto p = ask(*m_ref, {{"op", "profile"}, {"model", "eager"}, {"seeds", seeds}}, m_opt.call_timeout);
    if (!p) {
      m_report.notes.push_back("no profile: " + p.failure().message);
      return;
    }
    auto prof = p->header;
    prof.erase("ok");
    prof.erase("payload");
    m_report.profile = prof;
    if (m_copy.is_object()) m_report.profile["copy"] = m_copy;
    const double b = prof.value("bytes", bytes);
    const double flops = prof.contains("flops") && prof["flops"].is_number() ? prof["flops"].get<double>() : 0.0;
    const auto target = resolve_target(m_hello, m_opt.target);
    if (!target) return;
    // The peak follows the precision the reference's kernels actually ran in.
    const auto peak = reference_peak(prof, precision);
    m_report.sol = sol_figures(*target, b, flops, peak.precision, m_report.best_ms);
    m_report.sol["peak_why"] = peak.why;
    // The copy's bandwidth against the target's: only where the target describes the
    // device the copy ran on.
    const double copied = util::json_number(m_copy, "bytes_per_second");
    if (m_opt.device == "cuda" && copied > 0 && target->memory_bandwidth > 0) {
      m_report.sol["copy_bandwidth"] = copied;
      m_report.sol["copy_fraction"] = copied / target->memory_bandwidth;
    }
    const std::string warning = measure::bound_warning(measure::speed_of_light(*target, b, flops, peak.precision), peak,
                                                       m_report.best_ms / 1000.0, "the best baseline, " + m_report.best + ",");
    if (!warning.empty()) {
      m_report.sol["warning"] = warning;
      m_report.notes.push_back(warning);
    }
  }

  const BaselineOptions& m_opt;
  EvalOptions m_eval;
  BaselineReport m_report;
  std::unique_ptr<WorkerPool> m_pool;
  std::unique_ptr<sandbox::Worker> m_ref;
  nlohmann::json m_hello;  // the reference worker's hello: the device
  nlohmann::json m_copy;   // the time_copy reply (copy_bandwidth), or null
};

}  // namespace

BaselineReport run_baseline(const BaselineOptions& options) { return BaselineRun(options).run(); }

}  // namespace kopt::core
