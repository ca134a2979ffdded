#include "core/timing/stopwatch.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <random>

#include "kopt/measure/stats.hpp"
#include "core/workers/request.hpp"

namespace kopt::core {

namespace {

using Clock = std::chrono::steady_clock;

double since_ms(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// torch.cuda._sleep counts SM cycles; about 2 GHz on the GPUs kopt targets.
constexpr long k_cycles_per_us = 2000;
// The longest opening sleep a batch gets (Stopwatch::head_cover, cycles_of_us).
constexpr double k_max_head_us = 20000;

// How far a batch's measured opening sleep may differ from its null batch's and still
// be corrected for, as a fraction of the null's: clocks drift a few percent, and the
// figure comes from the worker, which runs the candidate.
constexpr double k_max_sleep_drift = 0.15;

// A diagnostic duration in microseconds as GPU sleep cycles.
long cycles_of_diagnostic(double us) { return static_cast<long>(std::clamp(us, 0.0, 1e6)) * k_cycles_per_us; }

bool pid_visible(pid_t pid) {
  struct stat st;
  return stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace

uint64_t draw_seed() {
  static std::random_device device;
  const uint64_t hi = device(), lo = device();
  return ((hi << 32) ^ lo) & 0x7fffffffffffffffull;
}

Stopwatch::Stopwatch(StopwatchConfig config) : m_cfg(std::move(config)) {
  auto& o = m_cfg.options;
  const TimingDiagnostics& d = o.diagnostics;  // docs/measurement.md, "Diagnostics"
  if (d.batch_ms > 0) o.batch_seconds = d.batch_ms / 1000.0;
  if (m_cfg.device == "cuda") {
    o.input_memory = o.gpu_input_memory;
    if (m_cfg.device_memory > 0) o.input_memory = std::min(o.input_memory, m_cfg.device_memory / 16);
    // What others (and the worker's own model) already hold is not there to take.
    if (m_cfg.device_free > 0) o.input_memory = std::min(o.input_memory, m_cfg.device_free / 4);
  }
  if (d.input_mb > 0) o.input_memory = d.input_mb * double(1 << 20);
  if (m_cfg.bytes_per_call > 0)
    m_max_calls = static_cast<int>(std::clamp(o.input_memory / m_cfg.bytes_per_call, 1.0, 256.0));
  // Every model's timed batches keep their outputs, not only the checked ones' (docs/measurement.md,
  // "The null test's asymmetry").
  m_keep_all = d.keep_all;
  if (m_cfg.device == "cuda") {
    m_hold_cycles = cycles_of_diagnostic(d.hold_us);
    m_wake_cycles = cycles_of_diagnostic(d.wake_us);
    m_head_cycles = d.head_us ? cycles_of_diagnostic(*d.head_us) : static_cast<long>(o.head_us * k_cycles_per_us);
    m_head_fixed = d.head_us.has_value();
  }
  m_keep_gc = d.keep_gc;
  m_no_nvml = d.nvml == "0";
  m_nvml_adjacent = d.nvml == "adjacent";
  m_reuse_inputs = d.reuse_inputs;
  if (d.any())
    spdlog::warn("Timing diagnostics are on: figures for diagnosis, not verdicts. "
                 "[keep_all: {}, hold_cycles: {}, wake_cycles: {}, head_cycles: {}, input_memory: {}, batch_seconds: {}, "
                 "gc: {}, nvml: {}, reuse_inputs: {}]",
                 m_keep_all, m_hold_cycles, m_wake_cycles, m_head_cycles, o.input_memory, o.batch_seconds, m_keep_gc,
                 d.nvml, m_reuse_inputs);
}

Status Stopwatch::setup(sandbox::Worker& worker) {
  const bool flush = m_cfg.options.flush_l2 && m_cfg.device == "cuda";
  auto r = ask(worker, {{"op", "time_setup"}, {"flush", flush}}, m_cfg.call_timeout);
  if (!r) return r.failure();
  return {};
}

nlohmann::json Stopwatch::gpu_state(bool& contended, bool& throttled, std::string& why) {
  if (!m_cfg.nvml || m_no_nvml) return nullptr;
  auto s = m_cfg.nvml->sample();
  if (!s) return nullptr;
  auto j = measure::state_json(*s);
  if (measure::voids_timing(s->throttle_reasons)) {
    throttled = true;
    why = "throttled (" + measure::describe_throttle(s->throttle_reasons) + ")";
  }
  if (s->processes_known && m_cfg.own_pids) {
    const auto own = m_cfg.own_pids();
    int strangers = 0, ours = 0, unseen = 0;
    for (unsigned pid : s->processes) {
      if (own.count(static_cast<pid_t>(pid))) ++ours;
      else if (!pid_visible(static_cast<pid_t>(pid))) ++unseen;
      else ++strangers;
    }
    // In another PID namespace (a container) NVML reports PIDs this process cannot see;
    // then only a count beyond kopt's own CUDA workers tells of a stranger.
    if (ours == 0 && unseen > 0) strangers += std::max(0, unseen - static_cast<int>(std::min<size_t>(own.size(), 2)));
    if (strangers > 0) {
      contended = true;
      why = std::to_string(strangers) + " other process(es) on the GPU";
    }
    j["strangers"] = strangers;
  }
  return j;
}

long Stopwatch::head_cover(long base, double enqueue_per_call_ms) {
  if (base <= 0 || !std::isfinite(enqueue_per_call_ms) || enqueue_per_call_ms <= 0) return base;
  const double cover = std::min(1.5 * enqueue_per_call_ms * 1000.0, k_max_head_us) * k_cycles_per_us;
  return std::max(base, static_cast<long>(cover));
}

double Stopwatch::head_us(const Calibration& cal) { return static_cast<double>(cal.head_cycles) / k_cycles_per_us; }

long Stopwatch::cycles_of_us(double us) {
  return std::isfinite(us) && us > 0 ? static_cast<long>(std::min(us, k_max_head_us) * k_cycles_per_us) : 0;
}

Result<BatchFigures> Stopwatch::batch(sandbox::Worker& worker, const std::string& model, int calls, long head_cycles,
                                      bool keep, std::vector<uint64_t>* seeds_out) {
  std::vector<uint64_t> seeds;
  const double timeout = m_cfg.call_timeout * std::max(1.0, calls / 4.0) + 60;
  bool contended = false, throttled = false;
  std::string why;
  // NVML is asked before the inputs are prepared, not between that and the batch: with
  // the query right before it, matmul 1024 read 3-8% over do_bench in four of four runs
  // on H200s; with preparing in between, 0.6-1.2% (docs/measurement.md, "Where kopt's
  // pipeline read high, and what fixed it"; the mechanism is not known).
  nlohmann::json before;
  if (!m_nvml_adjacent) before = gpu_state(contended, throttled, why);
  auto& prepared = m_prepared[&worker];
  if (m_reuse_inputs && prepared.first == calls) {
    seeds = prepared.second;
  } else {
    for (int k = 0; k < calls; ++k) seeds.push_back(draw_seed());
    auto prep = ask(worker, {{"op", "time_prepare"}, {"seeds", seeds}}, timeout);
    if (!prep) return prep.failure();
    // The tripwire's report covers everything up to this batch (walking it inside the
    // timed request would blur the outside clock).
    if (const auto names = tampered_names(prep->header); !names.empty())
      return Failure{"tampered", "candidate replaced " + names + " while being timed"};
    prepared = {calls, seeds};
  }
  BatchFigures b;
  b.calls = calls;
  if (m_nvml_adjacent) before = gpu_state(contended, throttled, why);
  const bool flush = m_cfg.options.flush_l2 && m_cfg.device == "cuda";
  const auto t0 = Clock::now();
  nlohmann::json req = {{"op", "time_run"}, {"model", model}, {"keep", keep}, {"flush", flush}};
  if (m_hold_cycles > 0) req["hold_cycles"] = m_hold_cycles;
  if (m_wake_cycles > 0) req["wake_cycles"] = m_wake_cycles;
  if (head_cycles > 0) req["head_cycles"] = head_cycles;
  if (m_keep_gc) req["gc"] = true;
  auto run = ask(worker, req, timeout);
  b.outside_ms = since_ms(t0);
  if (!run) return run.failure();
  auto after = gpu_state(contended, throttled, why);
  if (!run->header.contains("ms") || !run->header["ms"].is_number())
    return Failure{"protocol", "timing reply without a figure"};
  if (run->header.value("calls", calls) != calls) {
    prepared = {0, {}};
    return Failure{"protocol", "the worker timed " + std::to_string(run->header.value("calls", 0)) + " calls, not " +
                                   std::to_string(calls)};
  }
  b.inside_ms = run->header["ms"].get<double>();
  if (!std::isfinite(b.inside_ms) || b.inside_ms < 0) return Failure{"tampered", "the worker reported an impossible time"};
  if (run->header.contains("head_ms") && run->header["head_ms"].is_number()) {
    b.head_ms = run->header["head_ms"].get<double>();
    if (!std::isfinite(b.head_ms) || b.head_ms < 0 || b.head_ms > b.inside_ms)
      return Failure{"tampered", "the worker reported an impossible time"};
  }
  if (run->header.contains("sleep_ms") && run->header["sleep_ms"].is_number()) {
    b.sleep_ms = run->header["sleep_ms"].get<double>();
    if (!std::isfinite(b.sleep_ms) || b.sleep_ms < 0 || b.sleep_ms > (b.head_ms >= 0 ? b.head_ms : b.inside_ms))
      return Failure{"tampered", "the worker reported an impossible time"};
  }
  const auto& h = run->header;
  if (h.contains("enqueue_ms") && h["enqueue_ms"].is_number()) b.enqueue_ms = h["enqueue_ms"].get<double>();
  if (h.contains("gc_collections") && h["gc_collections"].is_number_integer()) b.gc_collections = h["gc_collections"].get<int>();
  b.voided = contended || throttled;
  b.void_reason = why;
  if (!before.is_null()) b.gpu = {{"before", before}, {"after", after}};
  if (seeds_out) *seeds_out = std::move(seeds);
  return b;
}

Result<Calibration> Stopwatch::calibrate(sandbox::Worker& worker, const std::string& model,
                                         std::optional<long> head_limit) {
  const auto& o = m_cfg.options;
  Calibration cal;
  const auto start = Clock::now();
  int calls = 1;
  double total_ms = 0, prev = -1;
  // A CPU batch is longer: its clock's noise is larger.
  const double target_ms = o.batch_seconds * 1000.0 * (m_cfg.device == "cuda" ? 1.0 : 2.5);
  double queued_before = 0, queued_last = 0;  // host time per call, the last two warm-up batches
  for (;;) {
    auto b = batch(worker, model, calls, m_head_cycles, false, nullptr);
    if (!b) return b.failure();
    ++cal.warmup_batches;
    queued_before = queued_last;
    queued_last = b->enqueue_ms >= 0 ? b->enqueue_ms / calls : 0;
    total_ms += b->inside_ms;
    const double per = b->inside_ms / calls;
    if (b->inside_ms < target_ms && calls < m_max_calls && cal.warmup_batches > 1) {
      const double want = std::ceil(calls * target_ms / std::max(b->inside_ms, 1e-3));
      calls = static_cast<int>(std::clamp(want, calls * 2.0, static_cast<double>(m_max_calls)));
      prev = -1;
      continue;
    }
    if (total_ms >= o.warmup_seconds * 1000.0 && prev > 0 && std::fabs(per - prev) <= 0.03 * prev) {
      cal.settled = true;
      break;
    }
    prev = per;
    if (since_ms(start) > o.max_seconds * 500.0) break;  // half the budget: time with what we have
  }
  cal.calls = calls;
  // Warm: the settling batch and the one before it (the first, compiling, is long gone).
  const double enqueue_per_call = std::max(queued_before, queued_last);
  cal.head_cycles = m_head_fixed ? m_head_cycles : head_cover(m_head_cycles, enqueue_per_call);
  if (head_limit) cal.head_cycles = std::min(cal.head_cycles, std::max(m_head_cycles, *head_limit));
  if (cal.head_cycles != m_head_cycles)
    spdlog::debug("Opening sleep lengthened to cover the host's queueing. [model: {}, enqueue_per_call_ms: {:.3f}, head_us: {}]",
                  model, enqueue_per_call, cal.head_cycles / k_cycles_per_us);
  std::vector<double> gap;
  if (auto s = remeasure_null(worker, cal, 5, &gap); !s) return s.failure();
  cal.null_gap_ms = measure::summarize(gap).median;
  cal.warmup_s = since_ms(start) / 1000.0;
  return cal;
}

Result<std::vector<BatchFigures>> Stopwatch::batches(sandbox::Worker& worker, const std::string& model,
                                                     const Calibration& cal, int count, const OutputCheck& check,
                                                     double check_rate) {
  std::vector<BatchFigures> out;
  static thread_local std::mt19937_64 pick(draw_seed());
  int voided = 0;
  while (static_cast<int>(out.size()) < count) {
    std::vector<uint64_t> seeds;
    auto b = batch(worker, model, cal.calls, cal.head_cycles, static_cast<bool>(check) || m_keep_all, &seeds);
    if (!b) return b.failure();
    if (b->voided && voided < count) {
      ++voided;
      ++m_voided;
      spdlog::info("Timed batch voided and repeated. [model: {}, why: {}]", model, b->void_reason);
      continue;
    }
    b->null_sleep_ms = cal.null_sleep_ms;
    b->sleep_drift_ms = sleep_drift(b->sleep_ms, cal.null_sleep_ms);
    b->per_call_ms = std::max(0.0, b->inside_ms - cal.null_ms - b->sleep_drift_ms) / cal.calls;
    if (b->head_ms >= 0) {
      b->presync_per_call_ms = std::max(0.0, b->head_ms - cal.null_head_ms - b->sleep_drift_ms) / cal.calls;
      b->tail_excess_ms = (b->inside_ms - b->head_ms) - cal.null_tail_ms;
    }
    // Which output to check is chosen after the batch ran: the candidate cannot know.
    const bool last = static_cast<int>(out.size()) + 1 == count;
    if (check && (last || std::uniform_real_distribution<double>(0, 1)(pick) < check_rate)) {
      const int index = static_cast<int>(std::uniform_int_distribution<int>(0, cal.calls - 1)(pick));
      const auto why = check(worker, index, seeds[static_cast<size_t>(index)]);
      if (!why.empty()) return Failure{"check", why};
    }
    out.push_back(std::move(b.value()));
  }
  return out;
}

double Stopwatch::sleep_drift(double sleep_ms, double null_sleep_ms) {
  if (sleep_ms <= 0 || null_sleep_ms <= 0) return 0;  // no sleep, or a worker that does not report it
  const double most = k_max_sleep_drift * null_sleep_ms;
  return std::clamp(sleep_ms - null_sleep_ms, -most, most);
}

Status Stopwatch::remeasure_null(sandbox::Worker& worker, Calibration& cal, int count, std::vector<double>* gaps) {
  std::vector<double> inside, head, tail, sleep;
  for (int k = 0; k < count; ++k) {
    auto n = batch(worker, "null", cal.calls, cal.head_cycles, false, nullptr);
    if (!n) return n.failure();
    inside.push_back(n->inside_ms);
    const double h = n->head_ms >= 0 ? n->head_ms : n->inside_ms;
    head.push_back(h);
    tail.push_back(n->inside_ms - h);
    sleep.push_back(n->sleep_ms);
    if (gaps) gaps->push_back(n->outside_ms - n->inside_ms);
  }
  cal.null_ms = measure::summarize(inside).median;
  cal.null_head_ms = measure::summarize(head).median;
  cal.null_tail_ms = measure::summarize(tail).median;
  cal.null_sleep_ms = measure::summarize(sleep).median;
  return {};
}

nlohmann::json Stopwatch::presync_json(const std::vector<BatchFigures>& batches) {
  std::vector<double> per, tail;
  for (const auto& b : batches) {
    if (b.head_ms < 0) continue;
    per.push_back(b.presync_per_call_ms);
    tail.push_back(b.tail_excess_ms);
  }
  if (per.empty()) return nullptr;
  return {{"median_ms", measure::summarize(per).median}, {"tail_excess_ms", measure::summarize(tail).median},
          {"tail_excess_max_ms", *std::max_element(tail.begin(), tail.end())},
          {"per_call_ms", per}, {"tail_excess_per_batch_ms", tail}};
}

nlohmann::json Stopwatch::sleep_json(const std::vector<BatchFigures>& batches) {
  std::vector<double> drift, null;
  for (const auto& b : batches)
    if (b.sleep_ms > 0 && b.null_sleep_ms > 0) {
      drift.push_back(b.sleep_drift_ms * 1000.0);
      null.push_back(b.null_sleep_ms * 1000.0);
    }
  if (drift.empty()) return nullptr;
  double most = 0;
  for (double d : drift) most = std::fabs(d) > std::fabs(most) ? d : most;
  return {{"null_us", measure::summarize(null).median}, {"drift_us", measure::summarize(drift).median}, {"drift_max_us", most}};
}

nlohmann::json Stopwatch::host_json(const std::vector<BatchFigures>& batches) {
  std::vector<double> per;
  int bound = 0, gc = 0;
  for (const auto& b : batches) {
    if (b.enqueue_ms < 0) continue;
    per.push_back(b.enqueue_ms / std::max(1, b.calls));
    // The GPU cannot finish a batch before the host has queued it: when queueing took
    // (nearly) as long as the GPU's figure up to its last call, the GPU was waiting.
    const double gpu_ms = b.head_ms >= 0 ? b.head_ms : b.inside_ms;
    if (b.enqueue_ms >= 0.9 * gpu_ms) ++bound;
    gc += b.gc_collections;
  }
  if (per.empty()) return nullptr;
  return {{"enqueue_per_call_ms", measure::summarize(per).median}, {"host_bound_batches", bound},
          {"batches", per.size()}, {"gc_collections", gc}};
}

std::string Stopwatch::cross_check(const std::vector<BatchFigures>& batches, const Calibration& cal,
                                   nlohmann::json* figures, double absolute_ms, double relative) {
  if (batches.empty()) return "";
  std::vector<double> excess, outside;
  for (const auto& b : batches) {
    excess.push_back(b.outside_ms - b.inside_ms - cal.null_gap_ms);
    outside.push_back(b.outside_ms);
  }
  const double e = measure::summarize(excess).median;
  const double limit = relative * measure::summarize(outside).median + absolute_ms;
  if (figures) *figures = {{"median_excess_ms", e}, {"limit_ms", limit}, {"null_gap_ms", cal.null_gap_ms}};
  if (e > limit) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "kopt's own clock saw %.3f ms more per batch than the worker reported (limit %.3f ms)", e, limit);
    return buf;
  }
  return "";
}

Timing Stopwatch::measure(sandbox::Worker& worker, const std::string& model, const std::string& label,
                          const OutputCheck& check, std::optional<long> head_limit) {
  Timing t;
  t.label = label;
  const auto& o = m_cfg.options;
  auto cal = calibrate(worker, model, head_limit);
  if (!cal) {
    t.error = cal.failure().message;
    t.detail = {{"failure", cal.failure().kind}};
    return t;
  }
  const int voided_before = m_voided;
  const auto start = Clock::now();
  std::vector<BatchFigures> all;
  double timed_ms = 0;
  while (static_cast<int>(all.size()) < o.min_batches || timed_ms < o.min_seconds * 1000.0) {
    const int want = std::max(1, std::min(5, o.min_batches - static_cast<int>(all.size())));
    auto got = batches(worker, model, cal.value(), want, check, 3.0 / std::max(1, o.min_batches));
    if (!got) {
      t.error = got.failure().message;
      t.detail = {{"failure", got.failure().kind}};
      return t;
    }
    for (auto& b : got.value()) {
      timed_ms += b.inside_ms;
      all.push_back(std::move(b));
    }
    if (since_ms(start) > o.max_seconds * 1000.0) break;
  }
  nlohmann::json batch_ms = nlohmann::json::array(), gpu = nlohmann::json::array();
  for (const auto& b : all) {
    batch_ms.push_back(b.per_call_ms);
    if (!b.gpu.is_null() && gpu.size() < 4) gpu.push_back(b.gpu);
  }
  t = summarize(label, all, cal.value());
  t.ok = false;
  t.voided = m_voided - voided_before;
  nlohmann::json xc;
  const auto mismatch = cross_check(all, cal.value(), &xc, cross_check_slack_ms(), cross_check_relative());
  t.detail = {{"per_call_ms", batch_ms}, {"null_ms", cal->null_ms}, {"head_us", head_us(cal.value())},
              {"warmup_batches", cal->warmup_batches},
              {"settled", cal->settled}, {"cross_check", xc}, {"gpu_samples", gpu}};
  if (auto p = presync_json(all); !p.is_null()) t.detail["presync"] = p;
  if (auto z = sleep_json(all); !z.is_null()) t.detail["sleep"] = z;
  if (auto h = host_json(all); !h.is_null()) t.detail["host"] = h;
  if (!mismatch.empty()) {
    t.error = mismatch;
    t.detail["failure"] = "tampered";
    return t;
  }
  t.ok = true;
  return t;
}

Timing Stopwatch::summarize(const std::string& label, const std::vector<BatchFigures>& batches, const Calibration& cal) {
  Timing t;
  t.ok = true;
  t.label = label;
  std::vector<double> per;
  for (const auto& b : batches) per.push_back(b.per_call_ms);
  const auto s = measure::summarize(per);
  t.median_ms = s.median;
  t.q1_ms = s.q1;
  t.q3_ms = s.q3;
  t.min_ms = s.min;
  t.batches = static_cast<int>(batches.size());
  t.calls_per_batch = cal.calls;
  t.warmup_s = cal.warmup_s;
  return t;
}

std::string Stopwatch::failure_kind(const Timing& t) {
  return t.detail.is_object() ? t.detail.value("failure", std::string("")) : "";
}

}  // namespace kopt::core
