#include "core/timing/eval_timing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "kopt/measure/stats.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/verify/compare.hpp"
#include "core/workers/request.hpp"
#include "core/timing/stopwatch.hpp"

namespace kopt::core {

namespace {

using verify::Value;

double epoch_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

StopwatchConfig config(const TimingContext& c, measure::Nvml* nvml) {
  StopwatchConfig cfg;
  cfg.options = c.options->timing_options;
  cfg.device = c.options->device;
  cfg.call_timeout = c.options->call_timeout;
  cfg.bytes_per_call = c.bytes_per_call;
  cfg.device_memory = c.device.value("memory_bytes", 0.0);
  cfg.device_free = c.device.value("free_bytes", 0.0);
  cfg.nvml = nvml;
  cfg.own_pids = c.own_pids;
  return cfg;
}

// Compares one kept output of a timed call with the reference's outputs for the same
// seed: a candidate that is right while verified and wrong (or stale) while timed fails.
// The same check on the device: the candidate exports the kept output, the reference
// recomputes the seed's outputs and its comparer reads and compares them on the GPU.
std::string device_output_check(const TimingContext& c, sandbox::Worker& w, int index, uint64_t seed) {
  auto got = ask(w, {{"op", "time_output"}, {"index", index}, {"ipc", true}}, c.options->call_timeout);
  if (!got) return "a timed call's output could not be read: " + got.failure().message;
  auto ref = ask(*c.reference, {{"op", "trial"}, {"timed_seed", seed}, {"call_seed", draw_seed()}, {"keep", true}},
                 c.options->call_timeout);
  if (!ref) return "";  // the reference could not reproduce it: no evidence against the candidate
  const nlohmann::json no_buffers = {{"t", "dict"}, {"keys", nlohmann::json::array()}, {"items", nlohmann::json::array()}};
  nlohmann::json out = {{"t", "dict"},
                        {"keys", {{{"t", "str"}, {"v", "out"}}, {{"t", "str"}, {"v", "buffers"}}}},
                        {"items", {got->header["out"], no_buffers}}};
  nlohmann::json msg = {{"op", "compare"}, {"out", out}, {"precision", c.options->precision},
                        {"allow_ties", c.options->allow_ties}, {"fp32_only", c.fp32_only || !ref->header.value("fp64", false)},
                        {"recheck_seconds", 0.0}, {"check_inputs", false}, {"check_reuse", false}};
  auto cmp = ask(*c.reference, msg, c.options->call_timeout, std::move(got->payload));
  if (!cmp) return "a timed call's output could not be compared: " + cmp.failure().message;
  const auto& h = cmp->header;
  if (h.contains("candidate_error")) return "a timed call's " + h.value("candidate_error", std::string());
  const auto res = h.value("result", nlohmann::json::object());
  if (res.value("ok", false)) return "";
  return "the output of timed call " + std::to_string(index + 1) +
         " of its batch differs from the reference when read after the batch (was it overwritten by a later call?): " +
         res.value("detail", std::string());
}

OutputCheck output_check(const TimingContext& c) {
  if (!c.check_outputs) return nullptr;
  if (c.device_compare)
    return [&c](sandbox::Worker& w, int index, uint64_t seed) { return device_output_check(c, w, index, seed); };
  return [&c](sandbox::Worker& w, int index, uint64_t seed) -> std::string {
    // The one candidate reply that carries a whole value in one frame: its cap is the
    // reference's output size (twice, so that an output of the wrong dtype still reaches
    // the comparison and is named there), not the chunk every other frame is held to.
    const uint64_t cap = w.max_payload();
    w.set_max_payload(std::max<uint64_t>(sandbox::kChunkBytes, 2 * c.output_bytes + (1u << 20)));
    auto got = ask(w, {{"op", "time_output"}, {"index", index}}, c.options->call_timeout);
    w.set_max_payload(cap);
    if (!got) return "a timed call's output could not be read: " + got.failure().message;
    size_t pos = 0;
    const auto got_payload = std::make_shared<const std::string>(std::move(got->payload));
    auto out = verify::decode_value(got->header["out"], got_payload, pos);
    if (!out) return "a timed call's output is malformed: " + out.failure().message;
    auto ref = ask(*c.reference, {{"op", "trial"}, {"timed_seed", seed}, {"call_seed", draw_seed()}},
                   c.options->call_timeout);
    if (!ref) return "";  // the reference could not reproduce it: no evidence against the candidate
    pos = 0;
    const auto ref_payload = std::make_shared<const std::string>(std::move(ref->payload));
    auto r32 = verify::decode_value(ref->header["out32"], ref_payload, pos);
    Result<Value> r64 = Failure{"absent", ""};
    if (r32 && ref->header.contains("out64")) r64 = verify::decode_value(ref->header["out64"], ref_payload, pos);
    if (!r32 || r32->items.empty()) return "";
    verify::CompareOptions copt;
    copt.precision = c.options->precision;
    copt.allow_ties = c.options->allow_ties;
    copt.fp32_only = c.fp32_only || !r64 || r64->items.empty();
    const Value& ref64 = copt.fp32_only ? r32->items[0] : r64->items[0];
    auto cmp = verify::compare_outputs(out.value(), r32->items[0], ref64, copt);
    if (cmp.ok) return "";
    // Read after the whole batch ran: an output a later call overwrote (buffers reused
    // across calls, as torch.compile's CUDA graphs do) fails here too, and rightly.
    return "the output of timed call " + std::to_string(index + 1) +
           " of its batch differs from the reference when read after the batch (was it overwritten by a later call?): " +
           cmp.detail;
  };
}

TimingVerdict timing_failure(const Timing& t, const std::string& who) {
  TimingVerdict v;
  v.ok = false;
  const auto kind = Stopwatch::failure_kind(t);
  if (kind == "check") {
    v.outcome = Outcome::wrong_result;
    v.rule = "timed_outputs";
  } else if (kind == "tampered") {
    v.outcome = Outcome::tampered;
    v.rule = "tamper";
  } else if (kind == "timeout") {
    v.outcome = Outcome::timed_out;
    v.rule = "process";
  } else {
    v.outcome = Outcome::crashed;
    v.rule = "process";
  }
  v.reason = who + " while timed: " + t.error;
  if (!t.detail.is_null()) v.timing = {{"failed", t.detail}};
  return v;
}

TimingVerdict failed(Outcome outcome, const std::string& rule, const std::string& reason) {
  TimingVerdict v;
  v.ok = false;
  v.outcome = outcome;
  v.rule = rule;
  v.reason = reason;
  return v;
}

// A model that failed while being timed in a claim: the candidate's failure is its own
// verdict (timing_failure), a baseline's leaves the candidate unverified.
TimingVerdict model_failed(const std::string& key, const Failure& f) {
  if (key != "candidate")
    return failed(Outcome::unverified, "process", "baseline " + key + " failed while timed: " + f.message);
  Timing t;
  t.error = f.message;
  t.detail = {{"failure", f.kind}};
  return timing_failure(t, "candidate");
}

double block_median(const std::vector<BatchFigures>& b) {
  std::vector<double> v;
  for (const auto& x : b) v.push_back(x.per_call_ms);
  return measure::summarize(v).median;
}

nlohmann::json interval_json(const measure::Interval& i, int pairs, bool faster) {
  return {{"median", i.estimate}, {"low", i.low}, {"high", i.high}, {"pairs", pairs}, {"faster", faster}};
}

// Every model of a claim runs batches of the same size: a per-batch cost the null batch
// does not cancel exactly is then spread over the same number of calls on both sides.
// Sized apart, the H100 null test timed matmul 1024 in batches of 36 and its copy in
// batches of 30, and the copy read 2.6% slower (docs/measurement.md). The size is the
// largest calibrated: every model's batch lasts at least the target, and all share the
// workload's memory bound. The others' null batches are measured again at that size.
std::optional<TimingVerdict> equalise_batches(Stopwatch& sw, const TimingContext& c,
                                              std::map<std::string, Calibration>& cal) {
  int common = 1;
  for (const auto& [key, k] : cal) common = std::max(common, k.calls);
  for (auto& [key, k] : cal) {
    if (k.calls == common) continue;
    k.calls = common;
    std::vector<double> gaps;
    auto st = sw.remeasure_null(key == "candidate" ? *c.candidate : *c.reference, k, 5, &gaps);
    if (!st) return model_failed(key, st.failure());
    k.null_gap_ms = measure::summarize(gaps).median;
  }
  return std::nullopt;
}

// Top kernels of the reference and of the candidate (the candidate's are untrusted data:
// for people and prompts, never for a verdict), and the speed-of-light bound from the
// reference's bytes and flops at the peak the baseline's bound uses (reference_peak); a
// candidate timed below it is flagged with what that means.
void profile_and_bound(const TimingContext& c, nlohmann::json& timing, double candidate_ms,
                       std::vector<std::string>& notes) {
  std::vector<uint64_t> seeds;
  for (int k = 0; k < 4; ++k) seeds.push_back(draw_seed());
  nlohmann::json profiles = nlohmann::json::object();
  double bytes = 0, flops = 0;
  for (auto* w : {c.reference, c.candidate}) {
    const bool ref = w == c.reference;
    auto p = ask(*w, {{"op", "profile"}, {"model", ref ? "eager" : "candidate"}, {"seeds", seeds}}, c.options->call_timeout);
    if (!p) continue;
    auto h = p->header;
    h.erase("ok");
    h.erase("payload");
    if (ref) {
      bytes = h.value("bytes", 0.0);
      if (h.contains("flops") && h["flops"].is_number()) flops = h["flops"].get<double>();
    }
    profiles[ref ? "reference" : "candidate"] = h;
  }
  timing["profile"] = profiles;
  const auto target = resolve_target(c.device, c.options->target);
  if (!target || bytes <= 0) return;
  const auto peak = reference_peak(profiles.value("reference", nlohmann::json()), c.options->precision);
  auto j = sol_figures(*target, bytes, flops, peak.precision, candidate_ms);
  j["peak_why"] = peak.why;
  const double sol_ms = j.value("seconds", 0.0) * 1000.0;
  j["below_light"] = candidate_ms > 0 && candidate_ms < sol_ms;
  if (j["below_light"].get<bool>()) notes.push_back(below_light_note(j, candidate_ms, target->name));
  timing["sol"] = j;
}

}  // namespace

std::string below_light_note(const nlohmann::json& sol, double candidate_ms, const std::string& target) {
  const std::string bound = sol.value("bound", std::string("memory")), precision = sol.value("precision", std::string("fp32"));
  std::string cause;
  if (bound == "compute" && precision == "fp32")
    cause = "it computes on tensor cores (3xTF32 keeps fp32 accuracy there) or does less work than the reference "
            "(skipped masked blocks, an algebraic shortcut)";
  else if (bound == "compute")
    cause = "it does less work than the reference (skipped masked blocks, an algebraic shortcut) or computes below " +
            precision + " precision";
  else
    cause = "it moves less data than the reference's inputs, outputs and parameters once each (data held in L2, "
            "a tensor not read whole)";
  return fmt::format("the candidate's time ({:.4f} ms) is below the reference's speed-of-light bound ({:.4f} ms, "
                     "{}-bound at the {} peak of {}): {}, or its timing is off",
                     candidate_ms, 1000 * sol.value("seconds", 0.0), bound, precision, target, cause);
}

TimingVerdict time_rank(TimingContext& c) {
  TimingVerdict v;
  nlohmann::json info;
  auto nvml = open_nvml(c.options->device, c.device, info);
  Stopwatch sw(config(c, nvml.get()));
  if (auto st = sw.setup(*c.candidate); !st)
    return failed(Outcome::crashed, "process", "candidate timing setup: " + st.failure().message);
  std::unique_lock<GpuGate> lock;
  if (c.options->exclusive) lock = std::unique_lock<GpuGate>(*c.options->exclusive);
  const double span_start = epoch_now();
  const auto t = sw.measure(*c.candidate, "candidate", "candidate", output_check(c),
                            Stopwatch::cycles_of_us(c.options->baseline_head_us));
  if (!t.ok) return timing_failure(t, "candidate");
  const double span_end = epoch_now();
  v.timing = {{"mode", "rank"}, {"candidate", timing_json(t)}, {"gpu", info},
              {"span", {{"start", span_start}, {"end", span_end}}}};
  // Every timed candidate is profiled once after its timing (torch.profiler's top kernels,
  // a few calls): untrusted data for the next round's refine prompt, never for a verdict.
  std::vector<uint64_t> seeds;
  for (int k = 0; k < 3; ++k) seeds.push_back(draw_seed());
  if (auto p = ask(*c.candidate, {{"op", "profile"}, {"model", "candidate"}, {"seeds", seeds}}, c.options->call_timeout)) {
    auto h = p->header;
    h.erase("ok");
    h.erase("payload");
    v.timing["profile"] = {{"candidate", h}};
  } else {
    v.timing["profile"] = {{"candidate", {{"error", p.failure().message}}}};
  }
  return v;
}

TimingVerdict time_claim(TimingContext& c) {
  TimingVerdict v;
  const auto& o = *c.options;
  nlohmann::json info;
  auto nvml = open_nvml(c.options->device, c.device, info);
  Stopwatch sw(config(c, nvml.get()));
  for (auto* w : {c.reference, c.candidate}) {
    if (auto st = sw.setup(*w); !st)
      return failed(w == c.candidate ? Outcome::crashed : Outcome::unverified, "process",
                    std::string(w == c.candidate ? "candidate" : "reference") + " timing setup: " + st.failure().message);
  }
  std::unique_lock<GpuGate> lock;
  if (o.exclusive) lock = std::unique_lock<GpuGate>(*o.exclusive);
  const double span_start = epoch_now();
  // Baselines: eager, and torch.compile per mode (compiled with the GPU to itself).
  std::vector<std::pair<std::string, std::string>> models{{"eager", "eager"}};
  nlohmann::json baselines = nlohmann::json::object();
  for (const auto& mode : o.compile_modes) {
    auto r = ask(*c.reference, {{"op", "compile"}, {"mode", mode}, {"seed", draw_seed()}}, std::max(o.call_timeout, 600.0));
    if (!r) {
      baselines["compile:" + mode] = {{"ok", false}, {"error", r.failure().message}};
      v.notes.push_back("torch.compile (" + mode + ") is not a baseline here: " + r.failure().message);
      continue;
    }
    models.emplace_back("compile:" + mode, "compile:" + mode);
  }
  const auto check = output_check(c);
  std::map<std::string, Calibration> cal;
  for (const auto& [key, label] : models) {
    auto k = sw.calibrate(*c.reference, key);
    if (!k) {
      baselines[label] = {{"ok", false}, {"error", k.failure().message}};
      continue;
    }
    cal[key] = k.value();
  }
  if (!cal.count("eager"))
    return failed(Outcome::unverified, "process",
                  "the eager baseline could not be timed: " + baselines["eager"].value("error", std::string("?")));
  long baseline_head = 0;
  for (const auto& [key, k] : cal) baseline_head = std::max(baseline_head, k.head_cycles);
  auto kc = sw.calibrate(*c.candidate, "candidate", baseline_head);
  if (!kc) return model_failed("candidate", kc.failure());
  cal["candidate"] = kc.value();
  if (auto f = equalise_batches(sw, c, cal)) return *f;
  if (o.announce)
    spdlog::info("Calibrated. [models: {}, calls per batch: {}, seconds: {:.1f}]", cal.size(), cal["eager"].calls,
                 epoch_now() - span_start);
  // ABAB: eager, candidate, compiled, ... alternating, `pairs` times.
  const int per_block = 3;
  std::map<std::string, std::vector<double>> blocks;
  std::map<std::string, nlohmann::json> presync_blocks;  // measured beside, not used (stopwatch.hpp)
  std::map<std::string, std::vector<BatchFigures>> all;
  for (int i = 0; i < std::max(2, o.timing_options.pairs); ++i) {
    std::vector<std::string> order{"eager", "candidate"};
    for (const auto& m : models)
      if (m.first != "eager" && cal.count(m.first)) order.push_back(m.first);
    // Alternate the order (ABBA) so a position effect cancels instead of biasing every pair.
    if (i % 2 == 1) std::reverse(order.begin(), order.end());
    for (const auto& key : order) {
      auto& w = key == "candidate" ? *c.candidate : *c.reference;
      // One untimed batch first: the GPU switching between processes stays out of the block.
      if (auto settle = sw.batches(w, key, cal[key], 1, nullptr, 0); !settle && key != "candidate")
        return model_failed(key, settle.failure());
      // The flush subtracted is re-measured next to the block (the GPU's clocks drift).
      Calibration local = cal[key];
      (void)sw.remeasure_null(w, local);  // on failure the calibration's null figures stay
      auto b = sw.batches(w, key, local, per_block, key == "candidate" ? check : nullptr, 0.2);
      if (!b) return model_failed(key, b.failure());
      blocks[key].push_back(block_median(b.value()));
      if (b.value().front().head_ms >= 0) presync_blocks[key].push_back(Stopwatch::presync_json(b.value())["median_ms"]);
      for (auto& x : b.value()) all[key].push_back(x);
    }
    if (o.announce)
      spdlog::info("Timed a round. [round: {}/{}, seconds: {:.1f}]", i + 1, std::max(2, o.timing_options.pairs),
                   epoch_now() - span_start);
  }
  // Kopt's clock against the candidate's own figures, over all its batches.
  nlohmann::json xc;
  if (const auto why = Stopwatch::cross_check(all["candidate"], cal["candidate"], &xc, sw.cross_check_slack_ms(), sw.cross_check_relative()); !why.empty()) {
    v = failed(Outcome::tampered, "tamper", why);
    v.timing = {{"failed", {{"cross_check", xc}}}};
    return v;
  }
  nlohmann::json timing = {{"mode", "claim"}, {"gpu", info}, {"cross_check", xc}};
  std::map<std::string, double> medians;
  for (const auto& [key, b] : all) {
    Timing t = Stopwatch::summarize(key, b, cal[key]);
    t.detail = {{"null_ms", cal[key].null_ms}, {"head_us", Stopwatch::head_us(cal[key])}, {"settled", cal[key].settled},
                {"block_ms", blocks[key]}};
    if (auto h = Stopwatch::host_json(b); !h.is_null()) t.detail["host"] = h;
    if (auto z = Stopwatch::sleep_json(b); !z.is_null()) t.detail["sleep"] = z;
    if (auto p = Stopwatch::presync_json(b); !p.is_null()) {
      t.detail["presync"] = p;
      t.detail["presync"]["block_ms"] = presync_blocks[key];
    }
    medians[key] = t.median_ms;
    timing[key] = timing_json(t);
  }
  for (auto& [k, b] : baselines.items()) timing[k] = b;
  // The null test: consecutive eager blocks against each other.
  std::vector<double> null_ratios;
  const auto& e = blocks["eager"];
  for (size_t i = 0; i + 1 < e.size(); ++i)
    if (e[i + 1] > 0) null_ratios.push_back(e[i] / e[i + 1]);
  const auto null_iv = measure::bootstrap_median(null_ratios);
  const double spread = std::max(null_iv.high - 1.0, 1.0 - null_iv.low);
  timing["null_spread"] = spread;
  timing["null"] = interval_json(null_iv, static_cast<int>(null_ratios.size()), false);
  // Speedups: per pair, baseline over candidate.
  std::string best = "eager";
  for (const auto& [key, m] : medians)
    if (key != "candidate" && key != "eager" && m < medians[best]) best = key;
  auto speedup = [&](const std::string& base) {
    std::vector<double> r;
    const auto& bb = blocks[base];
    const auto& cb = blocks["candidate"];
    for (size_t i = 0; i < bb.size() && i < cb.size(); ++i)
      if (cb[i] > 0) r.push_back(bb[i] / cb[i]);
    const auto iv = measure::bootstrap_median(r);
    const bool faster = iv.low > 1.0 && iv.low > 1.0 + spread;
    return interval_json(iv, static_cast<int>(r.size()), faster);
  };
  nlohmann::json sp = {{"vs_eager", speedup("eager")}, {"vs_best", speedup(best)}};
  // vs_compile: torch.compile's default mode when timed, else the first mode that was.
  for (auto it = models.rbegin(); it != models.rend(); ++it)
    if (it->first != "eager" && blocks.count(it->first) && (!sp.contains("vs_compile") || it->first == "compile:default"))
      sp["vs_compile"] = speedup(it->first);
  timing["speedup"] = sp;
  timing["best_baseline"] = best;
  timing["faster"] = sp["vs_best"]["faster"];
  timing["span"] = {{"start", span_start}, {"end", epoch_now()}};
  lock = {};
  profile_and_bound(c, timing, medians["candidate"], v.notes);
  v.timing = timing;
  return v;
}

}  // namespace kopt::core
