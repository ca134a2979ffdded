// The device path of `kopt eval`'s trials: on CUDA, outputs never leave the GPU. The
// reference worker keeps its inputs and fp32/fp64 outputs on the device, writes the
// inputs into memory the candidate allocated and exported (CUDA IPC), and after the
// candidate's call copies its outputs out of the candidate's memory and compares them
// there (src/harness/kopt_comparer.py). Only figures and verdicts reach kopt.
#include <memory>

#include "core/eval/eval_run.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "core/workers/request.hpp"
#include "core/timing/stopwatch.hpp"

namespace kopt::core {

namespace {

verify::ErrorFigures figures_of(const nlohmann::json& j) {
  verify::ErrorFigures f;
  if (!j.is_object()) return f;
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
  auto count = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<int64_t>() : int64_t{0}; };
  f.norm_error = num("norm_error");
  f.norm_ref_error = num("norm_ref_error");
  f.norm_bound = num("norm_bound");
  f.norm_ratio = num("norm_ratio");
  f.max_abs_error = num("max_abs_error");
  f.max_ref_abs_error = num("max_ref_abs_error");
  f.elem_ratio = num("elem_ratio");
  f.elements_over = count("elements_over");
  f.elements_compared = count("elements_compared");
  f.ties = count("ties");
  f.fp32_fallback = j.value("fp32_fallback", false);
  return f;
}

// The poison list (dtype and shape of up to 16 output tensors) from a spec tree.
void poison_from(const nlohmann::json& spec, nlohmann::json& out) {
  if (!spec.is_object() || out.size() >= 16) return;
  if (spec.value("t", "") == "tensor") {
    out.push_back({spec.value("dtype", "float32"), spec.value("shape", nlohmann::json::array())});
    return;
  }
  if (spec.contains("items") && spec["items"].is_array())
    for (const auto& item : spec["items"]) poison_from(item, out);
}

}  // namespace

void EvalRun::fall_back(const std::string& why) {
  m_device = false;
  m_report.compare_where = "host";
  m_report.compare_note = "CUDA IPC unavailable: " + why;
  m_report.notes.push_back("outputs compared in kopt's process, not on the device (" + m_report.compare_note + ")");
  spdlog::warn("Comparing on the host. [reason: {}]", why);
}

EvalRun::Fed EvalRun::feed_inputs(const nlohmann::json& spec) {
  auto prep = ask(*m_cand, {{"op", "prepare"}, {"inputs", spec}}, m_opt.call_timeout);
  if (!prep) {
    if (prep.failure().kind == "ipc" && !m_device_confirmed) {
      fall_back("the candidate's memory cannot be exported (" + prep.failure().message + ")");
      return Fed::fallback;
    }
    candidate_failed("prepare", prep.failure());
    return Fed::failed;
  }
  auto fill = ask(*m_ref, {{"op", "fill"}, {"handles", prep->header.value("handles", nlohmann::json::array())}},
                  m_opt.call_timeout);
  if (!fill) {
    decide(Outcome::input_error, "reference", "workload inputs: " + fill.failure().kind + ": " + fill.failure().message);
    return Fed::failed;
  }
  if (const auto err = util::json_string(fill->header, "candidate_error"); !err.empty()) {
    if (!m_device_confirmed) {
      fall_back(err);
      return Fed::fallback;
    }
    fail_rule("process", Outcome::tampered, "the candidate's " + err);
    return Fed::failed;
  }
  m_device_confirmed = true;
  return Fed::ok;
}

bool EvalRun::device_trial(const std::string& stress, size_t index) {
  const bool is_stress = stress != "none";
  auto ref = ask(*m_ref, {{"op", "trial"}, {"keep", true}, {"input_seed", draw_seed()},
                          {"call_seed", m_call_seed = draw_seed()}, {"stress", stress},
                          // sanity figures (a pass over the outputs) for the first two ordinary trials only
                          {"sanity", !is_stress && index < 2}},
                 m_opt.call_timeout);
  if (!ref) {
    decide(Outcome::input_error, "reference", "workload trial: " + ref.failure().kind + ": " + ref.failure().message);
    return true;
  }
  const auto& h = ref->header;
  m_bytes_per_call = h.value("bytes", 0.0);
  note_reference(h);
  const bool fp32_only = m_report.random_workload || !h.value("fp64", false);
  m_poison = nlohmann::json::array();
  if (h.contains("out_spec") && h["out_spec"].contains("items") && !h["out_spec"]["items"].empty())
    poison_from(h["out_spec"]["items"][0], m_poison);

  switch (feed_inputs(util::json_field(h, "inputs"))) {
    case Fed::ok: break;
    case Fed::fallback: return false;
    case Fed::failed: return true;
  }
  nlohmann::json call = {{"op", "call"}, {"prepared", true}, {"ipc", true}, {"call_seed", m_call_seed},
                         {"poison", m_poison}, {"recheck_seconds", 0.0}};
  bookkeeping(call, true);
  const auto t = Clock::now();
  auto reply = ask(*m_cand, call, m_opt.call_timeout);
  m_report.phase_seconds["candidate_calls"] += std::chrono::duration<double>(Clock::now() - t).count();
  if (!reply) {
    if (reply.failure().kind == "ipc" && !m_device_confirmed) {
      fall_back("the candidate's outputs cannot be exported (" + reply.failure().message + ")");
      return false;
    }
    candidate_failed("call", reply.failure());
    return true;
  }
  if (!note_processes() || !check_tamper(reply->header, "while running")) return true;
  m_report.phase_seconds["candidate_compute"] += reply->header.value("seconds", 0.0);
  rule("poison", "passed", std::to_string(reply->header.value("poisoned_bytes", 0)) + " bytes of allocator memory poisoned before each call");

  // The candidate is blocked on its socket now; its device work was synchronized.
  nlohmann::json cmp_msg = {{"op", "compare"}, {"out", reply->header["out"]}, {"stress", is_stress},
                            {"precision", m_opt.precision}, {"allow_ties", m_opt.allow_ties}, {"fp32_only", fp32_only},
                            {"recheck_seconds", m_opt.recheck_seconds}};
  const auto tc = Clock::now();
  auto c = ask(*m_ref, cmp_msg, m_opt.call_timeout, std::move(reply->payload));
  m_report.phase_seconds["compare"] += std::chrono::duration<double>(Clock::now() - tc).count();
  if (!c) {
    const auto& f = c.failure();
    // The candidate cannot write to the comparer's socket: a malformed reply there is kopt's
    // fault or the workload's, never the candidate's.
    if (f.kind == "exited" || f.kind == "timeout" || f.kind == "flood" || f.kind == "spawn" || f.kind == "malformed")
      decide(Outcome::input_error, "reference", "the comparer (reference worker) failed: " + f.kind + ": " + f.message);
    else
      fail_rule("process", Outcome::tampered, "the candidate's outputs could not be compared: " + f.message);
    return true;
  }
  const auto& r = c->header;
  // Where the comparison's time goes, as the comparer measured it: reading the candidate's
  // outputs (IPC), the figures, and the checks after them (background writer, inputs, reuse).
  if (r.contains("seconds") && r["seconds"].is_object())
    for (const auto& [step, name] : {std::pair{"copy", "compare_copy"}, {"compare", "compare_figures"}, {"checks", "compare_checks"}})
      if (r["seconds"].contains(step) && r["seconds"][step].is_number())
        m_report.phase_seconds[name] += r["seconds"][step].get<double>();
  if (const auto err = util::json_string(r, "candidate_error"); !err.empty()) {
    fail_rule("process", Outcome::tampered, "the candidate's " + err);
    return true;
  }
  ++m_report.trials_run;
  const nlohmann::json res = r.value("result", nlohmann::json::object());
  verify::Comparison cmp;
  cmp.ok = res.value("ok", false);
  cmp.check = util::json_string(res, "check");
  cmp.detail = util::json_string(res, "detail");
  cmp.figures = figures_of(res.value("figures", nlohmann::json::object()));
  if (!judge(cmp, index, is_stress)) return true;
  if (const auto m = util::json_string(r, "background"); !m.empty()) {
    fail_rule("background", Outcome::wrong_result, m);
    return true;
  }
  if (const auto m = util::json_string(r, "inputs"); !m.empty()) {
    fail_rule("inputs", Outcome::wrong_result, m);
    return true;
  }
  if (const auto m = util::json_string(r, "reuse"); !m.empty()) {
    fail_rule("reuse", Outcome::wrong_result, m);
    return true;
  }
  // Sanity from the reference's own figures: zero, constant, and whether the first two
  // ordinary trials gave the same outputs (fingerprints under the comparer's secret key).
  if (!is_stress && index < 2 && h.contains("sanity")) {
    const auto& s = util::json_field(h, "sanity");
    const bool zero = s.value("all_zero", false), constant = s.value("constant", false);
    const std::string print = util::json_string(s, "fingerprint");
    if (index == 0) {
      m_sanity_zero = zero;
      m_sanity_constant = constant;
      m_first_print = print;
    } else {
      m_sanity_zero = m_sanity_zero && zero;
      m_sanity_constant = m_sanity_constant && constant;
      if (index == 1) m_sanity_same = !print.empty() && print == m_first_print;
    }
  }
  return true;
}

}  // namespace kopt::core
