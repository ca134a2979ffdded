// The trials of `kopt eval`: each a reference call and a candidate call on the same
// fresh inputs, compared in C++ in float64 (DESIGN.md, "Verification").
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <shared_mutex>

#include "core/eval/eval_run.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "core/workers/request.hpp"
#include "core/eval/stream.hpp"
#include "core/timing/stopwatch.hpp"

namespace kopt::core {

using verify::Value;
using Clock = std::chrono::steady_clock;

void EvalRun::trials() {
  const auto t = Clock::now();
  std::vector<std::string> kinds(static_cast<size_t>(std::max(m_opt.trials, 2)), "none");
  for (const char* s : {"scale_up", "scale_down", "negate", "shift"}) kinds.push_back(s);
  m_report.trials_planned = static_cast<int>(kinds.size());
  if (m_opt.announce) spdlog::info("Verifying. [trials: {}, of them stress: 4]", kinds.size());
  m_device = m_opt.device == "cuda" && m_opt.compare != "host";
  m_report.compare_where = m_device ? "device" : "host";
  if (m_opt.compare == "host") m_report.compare_note = "--compare host";
  else if (m_opt.device != "cuda") m_report.compare_note = "the device is the CPU";
  for (size_t k = 0; k < kinds.size() && !decided(); ++k) {
    // Verification shares the GPU with other candidates' verification, never with timing.
    const auto gpu = share_gpu_timed();
    unchecked_calls(k);
    if (decided()) break;
    if (!m_device || !device_trial(kinds[k], k)) trial(kinds[k], k);
  }
  if (m_report.calls_unchecked > 0)
    spdlog::debug("Unchecked calls made. [calls: {}]", m_report.calls_unchecked);
  timed("trials", t);
  if (decided()) return;
  if (m_threads.size() >= 2) {
    const auto& a = m_threads[m_threads.size() - 2];
    const auto& b = m_threads.back();
    if (b.first > a.first || b.second > a.second) {
      fail_rule("stray_work", Outcome::tampered,
                "threads/child processes grew between the last two calls (" + std::to_string(a.first) + "/" +
                    std::to_string(a.second) + " -> " + std::to_string(b.first) + "/" + std::to_string(b.second) + ")");
      return;
    }
    rule("stray_work", "passed", "threads " + std::to_string(b.first) + ", child processes " + std::to_string(b.second) + " after the last two calls");
  }
}

namespace {

using Deadline = Clock::time_point;
using verify::Spill;

Deadline after_seconds(double s) { return Clock::now() + std::chrono::milliseconds(static_cast<long long>(s * 1000.0)); }

// A request without payload whose first reply frame is judged as ask() judges one.
Result<sandbox::Message> begin(sandbox::Worker& w, nlohmann::json header, Deadline deadline) {
  if (auto st = w.send(sandbox::Message{std::move(header), {}}, deadline); !st) return st.failure();
  return expect_ok(w.receive(deadline));
}

// One reply frame and the values streamed after it.
struct Part {
  nlohmann::json header;
  std::map<std::string, Value> values;
};

Result<Part> receive_part(sandbox::Worker& w, Result<sandbox::Message> first,
                          const std::vector<std::pair<std::string, Keep>>& fields,
                          const std::shared_ptr<Spill>& spill, Deadline deadline) {
  if (!first) return first.failure();
  auto values = receive_values(w, first->header, fields, spill, deadline);
  if (!values) return values.failure();
  return Part{std::move(first->header), std::move(values.value())};
}

// What a streamed trial may keep in kopt's memory before it writes to the spill file: an
// eighth of the machine's memory, at most 512 MiB, so that kopt's own process stays under
// 1 GiB at any output size (issue 26). With up to 4 GiB kept, kopt peaked at 3.2 GiB for a
// 1 GiB output; with 512 MiB a 256 MiB output's trials (1.25 GiB each: inputs, both
// references, the candidate's output) go through the file: 173-176 s of trials against
// 135-172 s, kopt at 925 MiB against 1,691 (docs/benchmarks.md, "Twelfth session").
uint64_t spill_memory_budget() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return std::min<uint64_t>(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 8, uint64_t{512} << 20);
}

}  // namespace

bool EvalRun::open_spill() {
  if (!m_spill) {
    // In the reference's sandbox directory (kopt's, mode 0700), unnamed: the trial's
    // streamed tensors, read back a chunk at a time (docs/ARCHITECTURE.md, "host path").
    auto spill = Spill::open(m_pool->role_dir("reference"), spill_memory_budget());
    if (!spill) {
      decide(Outcome::input_error, "reference", "host path: " + spill.failure().message);
      return false;
    }
    m_spill = std::move(spill.value());
  }
  m_spill->reset();
  return true;
}

// The host path streams (kopt eval on the CPU, or where CUDA IPC fails): the reference
// sends its inputs and fp32 outputs, then, once it has freed them, its fp64 outputs; the
// candidate gets the inputs and sends its outputs and inputs after the call, then (50 ms
// later) its outputs again. Everything travels in chunks; kopt keeps in its spill file
// what it compares and only digests of what must merely be identical.
void EvalRun::trial(const std::string& stress, size_t index) {
  const bool is_stress = stress != "none";
  if (!open_spill()) return;
  const auto ref_deadline = after_seconds(m_opt.call_timeout);
  auto ref = receive_part(*m_ref,
                          begin(*m_ref, {{"op", "trial"}, {"input_seed", draw_seed()}, {"call_seed", m_call_seed = draw_seed()},
                                         {"stress", stress}, {"stream", true}}, ref_deadline),
                          {{"inputs", Keep::spill}, {"out32", Keep::spill}, {"inputs_after", Keep::spill}}, m_spill, ref_deadline);
  auto ref64 = ref ? receive_part(*m_ref, expect_ok(m_ref->receive(ref_deadline)), {{"out64", Keep::spill}}, m_spill, ref_deadline)
                   : ref;
  if (!ref64) {
    const Failure& f = ref ? ref64.failure() : ref.failure();
    decide(Outcome::input_error, "reference", "workload trial: " + f.kind + ": " + f.message);
    return;
  }
  auto& rv = ref->values;
  if (!rv.count("inputs") || !rv.count("out32") || rv["out32"].kind != Value::Kind::dict || rv["out32"].items.size() != 2) {
    decide(Outcome::input_error, "reference", "reference worker sent malformed values");
    return;
  }
  const Value& inputs = rv["inputs"];
  const Value& out32 = rv["out32"];
  const Value* out64 = ref64->values.count("out64") ? &ref64->values["out64"] : nullptr;
  const Value* inputs_after = rv.count("inputs_after") ? &rv["inputs_after"] : nullptr;
  m_output_bytes = verify::tensor_bytes(out32);
  m_bytes_per_call = static_cast<double>(verify::tensor_bytes(inputs) + m_output_bytes);
  note_reference(ref->header);
  m_report.phase_seconds["reference_compute"] += ref64->header.value("seconds", 0.0);
  const bool fp32_only = m_report.random_workload || !out64;

  // The candidate's call, with poison sized like the outputs.
  std::vector<const verify::TensorData*> out_tensors;
  verify::collect_tensors(out32, out_tensors);
  m_poison = nlohmann::json::array();
  for (const auto* td : out_tensors)
    if (m_poison.size() < 16) m_poison.push_back({td->dtype, td->shape});
  nlohmann::json call = {{"op", "call"}, {"call_seed", m_call_seed}, {"poison", m_poison},
                         {"recheck_seconds", m_opt.recheck_seconds}};
  bookkeeping(call, true);
  const auto t = Clock::now();
  const auto deadline = after_seconds(m_opt.call_timeout);
  Result<Part> first = Failure{"", ""}, later = Failure{"", ""};
  if (auto st = send_values(*m_cand, call, {{"inputs", &inputs}}, deadline); !st) {
    first = st.failure();
  } else {
    first = receive_part(*m_cand, expect_ok(m_cand->receive(deadline)),
                         {{"out", Keep::spill}, {"inputs_after", m_ref_mutates ? Keep::spill : Keep::digest}}, m_spill, deadline);
  }
  if (first) later = receive_part(*m_cand, expect_ok(m_cand->receive(deadline)), {{"out_later", Keep::digest}}, m_spill, deadline);
  m_report.phase_seconds["candidate_calls"] += std::chrono::duration<double>(Clock::now() - t).count();
  if (!first || !later) {
    const Failure& f = first ? later.failure() : first.failure();
    if (f.kind == "protocol" && f.message.rfind("bad value", 0) == 0)
      fail_rule("process", Outcome::crashed, "candidate worker sent malformed values: " + f.message);
    else
      candidate_failed("call", f);
    return;
  }
  if (!note_processes() || !check_tamper(later->header, "while running")) return;
  auto& cv = first->values;
  if (!cv.count("out") || !cv.count("inputs_after") || !later->values.count("out_later")) {
    fail_rule("process", Outcome::crashed, "candidate worker sent malformed values: a value is missing");
    return;
  }
  const Value& out = cv["out"];
  const Value& cand_inputs_after = cv["inputs_after"];
  const Value& out_later = later->values["out_later"];
  if (out.kind != Value::Kind::dict || out.items.size() != 2 || out_later.kind != Value::Kind::dict) {
    fail_rule("process", Outcome::tampered, "candidate worker broke the protocol (malformed output frame)");
    return;
  }
  if (!check_earlier(later->header)) return;
  m_report.phase_seconds["candidate_compute"] += first->header.value("seconds", 0.0);
  rule("poison", "passed", std::to_string(first->header.value("poisoned_bytes", 0)) + " bytes of allocator memory poisoned before each call");
  ++m_report.trials_run;

  verify::CompareOptions copt;
  copt.precision = m_opt.precision;
  copt.allow_ties = m_opt.allow_ties;
  copt.stress = is_stress;
  copt.fp32_only = fp32_only;
  const Value& ref64v = out64 ? *out64 : out32;
  // Output structure and values ("out"), then buffers that exist on both sides.
  auto cmp = verify::compare_outputs(out.items[0], out32.items[0], ref64v.items[0], copt);
  if (cmp.ok) compare_buffers(out, out32, ref64v, copt, cmp);
  if (!judge(cmp, index, is_stress)) return;
  if (!verify::identical(out, out_later)) {
    fail_rule("background", Outcome::wrong_result, "outputs changed after the call returned (a background writer)");
    return;
  }
  // Inputs unchanged (or changed exactly as the reference changes them).
  if (!m_ref_mutates) {
    if (!verify::identical(cand_inputs_after, inputs)) {
      fail_rule("inputs", Outcome::wrong_result, "the candidate modified its inputs in place");
      return;
    }
  } else if (inputs_after) {
    auto icmp = verify::compare_outputs(cand_inputs_after, *inputs_after, *inputs_after, copt);
    if (!icmp.ok) {
      fail_rule("inputs", Outcome::wrong_result, "inputs after the call differ from the reference's: " + icmp.detail);
      return;
    }
  }
  sanity(out32.items[0], index, is_stress);
}

bool EvalRun::judge(const verify::Comparison& cmp, size_t index, bool is_stress) {
  verify::merge_figures(m_report.figures, cmp.figures);
  if (!cmp.ok) {
    const std::string id = cmp.check == "finite" ? "finite"
                           : (cmp.check == "normwise" || cmp.check == "elementwise" || cmp.check == "exact" || cmp.check == "tie") ? "close"
                           : "structure";
    if (index > 0 && !is_stress) {
      // Right on earlier calls of this instance, wrong now: memoised or degrading.
      rule(id, "failed", cmp.detail);
      fail_rule("memo", Outcome::wrong_result, "correct on the first " + std::to_string(index) +
                " checked call(s), then wrong on checked call " + std::to_string(index + 1) + " (call " +
                std::to_string(m_call_id) + " on this instance) with new inputs: " + cmp.detail);
    } else {
      fail_rule(id, Outcome::wrong_result, cmp.detail + (is_stress ? " (stress trial: inputs outside the sample distribution)" : ""));
    }
    return false;
  }
  return true;
}

void EvalRun::note_reference(const nlohmann::json& h) {
  m_report.phase_seconds["reference_compute"] += h.value("seconds", 0.0);
  if (h.value("random", false) && !m_report.random_workload) {
    m_report.random_workload = true;
    m_report.notes.push_back("the workload is random (its forward advances the RNG): both sides are reseeded identically before every call and compared with an explicit float32 tolerance; try --eval for inference");
  }
  if (h.value("mutated", false) && !m_ref_mutates) {
    m_ref_mutates = true;
    m_report.notes.push_back("the reference modifies its inputs in place; the candidate must do the same");
  }
}

void EvalRun::bookkeeping(nlohmann::json& call, bool checked) {
  const int64_t id = ++m_call_id;
  // Kept: the previous call (the host path reads it again now) and, on the device path,
  // the last checked call (the comparer reads it again at the next checked one).
  const int64_t previous = m_live_calls.empty() ? -1 : m_live_calls.back();
  nlohmann::json release = nlohmann::json::array();
  std::vector<int64_t> live;
  for (int64_t c : m_live_calls) {
    if ((!m_device && c == previous) || (m_device && c == m_last_checked)) live.push_back(c);
    else release.push_back(c);
  }
  live.push_back(id);
  m_live_calls = live;
  call["call_id"] = id;
  call["release"] = release;
  if (!m_device && previous >= 0) call["recheck"] = previous;
  if (checked && m_device) m_last_checked = id;
}

bool EvalRun::check_earlier(const nlohmann::json& header) {
  if (header.value("earlier_shared", false)) {
    fail_rule("reuse", Outcome::wrong_result, "an output shares memory with an earlier call's output (one buffer returned by every call)");
    return false;
  }
  if (header.value("earlier_changed", false)) {
    fail_rule("reuse", Outcome::wrong_result, "an earlier call's output changed during a later call (its buffer was reused)");
    return false;
  }
  return true;
}

void EvalRun::unchecked_calls(size_t index) {
  if (index == 0 || m_opt.max_unchecked <= 0) return;
  const int n = static_cast<int>(draw_seed() % static_cast<uint64_t>(m_opt.max_unchecked + 1));
  for (int k = 0; k < n && !decided(); ++k) unchecked_call();
}

void EvalRun::unchecked_call() {
  if (!m_device) return unchecked_call_host();
  auto ref = ask(*m_ref, {{"op", "trial"}, {"inputs_only", true}, {"keep", true}, {"input_seed", draw_seed()},
                          {"stress", "none"}}, m_opt.call_timeout);
  if (!ref) {
    decide(Outcome::input_error, "reference", "workload inputs: " + ref.failure().kind + ": " + ref.failure().message);
    return;
  }
  nlohmann::json call = {{"op", "call"}, {"call_seed", draw_seed()}, {"poison", m_poison},
                         {"recheck_seconds", 0.0}, {"prepared", true}, {"ipc", true}};
  if (feed_inputs(ref->header["inputs"]) != Fed::ok) return;
  bookkeeping(call, false);
  auto reply = ask(*m_cand, call, m_opt.call_timeout);
  ++m_report.calls_unchecked;
  if (!reply) {
    candidate_failed("call", reply.failure());
    return;
  }
  if (note_processes()) check_tamper(reply->header, "while running");
}

void EvalRun::unchecked_call_host() {
  if (!open_spill()) return;
  const auto ref_deadline = after_seconds(m_opt.call_timeout);
  auto ref = receive_part(*m_ref,
                          begin(*m_ref, {{"op", "trial"}, {"inputs_only", true}, {"input_seed", draw_seed()},
                                         {"stress", "none"}, {"stream", true}}, ref_deadline),
                          {{"inputs", Keep::spill}}, m_spill, ref_deadline);
  if (!ref || !ref->values.count("inputs")) {
    decide(Outcome::input_error, "reference", "workload inputs: " + (ref ? std::string("malformed values") : ref.failure().kind + ": " + ref.failure().message));
    return;
  }
  nlohmann::json call = {{"op", "call"}, {"call_seed", draw_seed()}, {"poison", m_poison},
                         {"recheck_seconds", m_opt.recheck_seconds}};
  bookkeeping(call, false);
  const auto deadline = after_seconds(m_opt.call_timeout);
  Result<Part> first = Failure{"", ""}, later = Failure{"", ""};
  if (auto st = send_values(*m_cand, call, {{"inputs", &ref->values["inputs"]}}, deadline); !st)
    first = st.failure();
  else
    first = receive_part(*m_cand, expect_ok(m_cand->receive(deadline)),
                         {{"out", Keep::digest}, {"inputs_after", Keep::digest}}, m_spill, deadline);
  if (first) later = receive_part(*m_cand, expect_ok(m_cand->receive(deadline)), {{"out_later", Keep::digest}}, m_spill, deadline);
  ++m_report.calls_unchecked;
  if (!first || !later) {
    candidate_failed("call", first ? later.failure() : first.failure());
    return;
  }
  if (!note_processes() || !check_tamper(later->header, "while running")) return;
  const auto out = first->values.find("out");
  if (out == first->values.end() || out->second.kind != Value::Kind::dict || out->second.items.size() != 2 ||
      !later->values.count("out_later")) {
    fail_rule("process", Outcome::crashed, "candidate worker sent malformed values");
    return;
  }
  check_earlier(later->header);
}

void EvalRun::sanity(const Value& out32, size_t index, bool is_stress) {
  if (is_stress) return;
  bool all_zero = false, constant = false;
  verify::output_sanity(out32, all_zero, constant);
  if (index == 0) {
    m_first_out = verify::digest_copy(out32);  // its digests: the spill is reused by the next trial
    m_sanity_zero = all_zero;
    m_sanity_constant = constant;
  } else {
    m_sanity_zero = m_sanity_zero && all_zero;
    m_sanity_constant = m_sanity_constant && constant;
    if (index == 1) m_sanity_same = verify::identical(m_first_out, out32);
    m_first_out = Value{};
  }
}

void EvalRun::compare_buffers(const Value& cand, const Value& r32, const Value& r64,
                               const verify::CompareOptions& copt, verify::Comparison& cmp) {
  const Value& cb = cand.items[1];
  const Value& rb = r32.items[1];
  const Value& rb64 = r64.items.size() > 1 ? r64.items[1] : rb;
  for (size_t i = 0; i < rb.keys.size() && cmp.ok; ++i) {
    for (size_t j = 0; j < cb.keys.size(); ++j) {
      if (!verify::identical(cb.keys[j], rb.keys[i])) continue;
      if (cb.items[j].tensor.shape != rb.items[i].tensor.shape) break;
      const Value& r64v = i < rb64.items.size() ? rb64.items[i] : rb.items[i];
      auto c = verify::compare_outputs(cb.items[j], rb.items[i], r64v, copt);
      if (!c.ok) {
        c.detail = "buffer " + rb.keys[i].s + " after the call: " + c.detail;
        cmp = c;
      }
      break;
    }
  }
}

}  // namespace kopt::core
