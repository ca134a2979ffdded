#include "kopt/core/eval.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <shared_mutex>

#include "eval_timing.hpp"
#include "kopt/core/rules.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "stopwatch.hpp"

namespace kopt::core {

namespace {

using verify::Value;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

class EvalRun {
 public:
  explicit EvalRun(const EvalOptions& options) : m_opt(options), m_rules(make_rules()) {}

  EvalReport run() {
    const auto start = Clock::now();
    if (!setup()) return finish(start);
    try {
      if (start_reference() && start_candidate()) trials();
      if (!decided() && m_opt.timing != "none") time_candidate();
    } catch (const nlohmann::json::exception& e) {
      // Only a worker's frames can be malformed this way; the candidate can write to its
      // control socket directly. A verdict, not a kopt error.
      fail_rule("process", Outcome::tampered, std::string("a worker sent a malformed frame: ") + e.what());
    }
    teardown();
    return finish(start);
  }

 private:
  // --- outcome bookkeeping -------------------------------------------------

  bool decided() const { return m_decided; }

  void decide(Outcome outcome, const std::string& check, const std::string& reason) {
    if (m_decided) return;
    m_decided = true;
    m_report.outcome = outcome;
    m_report.check = check;
    m_report.reason = reason;
    spdlog::debug("Verdict decided. [outcome: {}, check: {}, reason: {}]", outcome_name(outcome), check, reason);
  }

  void rule(const std::string& id, const std::string& status, const std::string& detail) {
    set_rule(m_rules, id, status, detail);
  }

  void fail_rule(const std::string& id, Outcome outcome, const std::string& reason) {
    rule(id, "failed", reason);
    decide(outcome, id, reason);
  }

  void timed(const std::string& phase, Clock::time_point since) {
    m_report.phase_seconds[phase] += std::chrono::duration<double>(Clock::now() - since).count();
  }

  // --- phases --------------------------------------------------------------

  bool setup() {
    auto pool = WorkerPool::create(m_opt);
    if (!pool) {
      decide(Outcome::input_error, "setup", pool.failure().message);
      return false;
    }
    m_pool = std::move(pool.value());
    m_report.environment = m_pool->environment();
    return true;
  }

  bool start_reference() {
    auto t = Clock::now();
    auto ref = m_pool->start("reference");
    if (!ref) {
      decide(Outcome::input_error, "reference", "reference worker: " + ref.failure().message);
      return false;
    }
    m_ref = std::move(ref.value());
    // The reference is the user's own code: its start-up gets a generous deadline of its
    // own, so a short --import-timeout for candidates never fails a slow torch import.
    const double ref_timeout = std::max(m_opt.import_timeout, 300.0);
    auto hello = request(*m_ref, {{"op", "hello"}}, ref_timeout);
    if (!hello) return reference_failed("start", hello.failure());
    m_ref_hello = hello->header;
    m_report.environment["torch"] = hello->header.value("torch", "");
    m_report.environment["python_version"] = hello->header.value("python", "");
    if (m_opt.device == "cuda") {
      m_report.environment["device_name"] = hello->header.value("device_name", "");
      m_report.environment["capability"] = hello->header.value("capability", "");
      m_pool->set_capability(hello->header.value("capability", ""));
    }
    auto load = request(*m_ref, {{"op", "load"}, {"path", m_pool->reference_path()}}, ref_timeout);
    if (!load) return reference_failed("import", load.failure());
    m_init_seed = draw_seed();
    auto init = request(*m_ref, {{"op", "init"}, {"init_seed", m_init_seed}, {"eval_mode", m_opt.eval_mode}},
                        m_opt.call_timeout);
    if (!init) return reference_failed("init", init.failure());
    m_init = std::move(init.value());
    if (!m_init.header.value("fp64", false)) {
      m_report.notes.push_back("the workload cannot run in float64 (" +
                               m_init.header.value("fp64_error", std::string("unknown")) +
                               "): explicit float32 tolerance");
    }
    timed("reference_start", t);
    return true;
  }

  bool reference_failed(const std::string& phase, const Failure& f) {
    decide(Outcome::input_error, "reference", "workload " + phase + ": " + f.message);
    return false;
  }

  // A request whose reply must say ok; a reply with ok=false becomes a Failure whose
  // kind is the reply's error tag.
  Result<sandbox::Message> request(sandbox::Worker& w, nlohmann::json header, double timeout,
                                   std::string payload = {}) {
    sandbox::Message msg{std::move(header), std::move(payload)};
    auto reply = w.request(msg, ms(timeout));
    if (!reply) return reply.failure();
    if (!reply->header.value("ok", false)) {
      return Failure{reply->header.value("error", std::string("error")),
                     reply->header.value("message", std::string("failed"))};
    }
    return reply;
  }

  bool start_candidate() {
    auto t = Clock::now();
    auto cand = m_pool->start("candidate", m_for_timing);
    if (!cand) {
      decide(Outcome::crashed, "process", "candidate worker: " + cand.failure().message);
      return false;
    }
    m_cand = std::move(cand.value());
    // Start-up (interpreter and torch) runs no candidate code yet: not the candidate's deadline.
    auto hello = request(*m_cand, {{"op", "hello"}}, std::max(m_opt.import_timeout, 300.0));
    if (!hello) return candidate_failed("start", hello.failure());
    m_report.environment["candidate_uid"] = hello->header.value("uid", -1);
    nlohmann::json load_msg = {{"op", "load"}, {"path", m_pool->candidate_path()}};
    if (m_opt.timing != "none") load_msg["workload"] = m_pool->workload_copy_path();
    auto load = request(*m_cand, load_msg, m_opt.import_timeout);
    timed("candidate_import", t);
    if (!load) {
      if (load.failure().kind == "import") {
        fail_rule("process", Outcome::compile_error, "candidate import/build failed: " + load.failure().message);
        return false;
      }
      return candidate_failed("import", load.failure());
    }
    if (!check_tamper(load->header, "at import")) return false;
    t = Clock::now();
    std::string payload;
    std::string init_payload = m_init.payload;
    nlohmann::json init = {{"op", "init"}, {"init_seed", m_init_seed}, {"eval_mode", m_opt.eval_mode},
                           {"init_args", m_init.header["init_args"]}, {"state", m_init.header["state"]}};
    auto reply = request(*m_cand, init, m_opt.call_timeout, init_payload);
    timed("candidate_init", t);
    if (!reply) return candidate_failed("init", reply.failure());
    if (!check_tamper(reply->header, "while constructing ModelNew")) return false;
    return true;
  }

  bool candidate_failed(const std::string& phase, const Failure& f) {
    if (f.kind == "timeout") {
      fail_rule("process", Outcome::timed_out, "candidate " + phase + " passed its deadline");
    } else if (f.kind == "exited" || f.kind == "flood" || f.kind == "protocol" || f.kind == "spawn") {
      fail_rule("process", Outcome::crashed, "candidate " + phase + ": " + f.message);
    } else if (f.kind == "input") {
      fail_rule("process", Outcome::compile_error, f.message);
    } else if (f.kind == "output") {
      fail_rule("structure", Outcome::wrong_result, f.message);
    } else {
      fail_rule("process", Outcome::crashed, "candidate raised during " + phase + ": " + f.message);
    }
    return false;
  }

  bool check_tamper(const nlohmann::json& header, const std::string& when) {
    const auto& t = header.contains("tampered") ? header["tampered"] : nlohmann::json::array();
    if (t.is_array() && !t.empty()) {
      std::string names;
      for (size_t k = 0; k < t.size() && k < 5; ++k) names += (k ? ", " : "") + t[k].get<std::string>();
      if (t.size() > 5) names += ", ...";
      fail_rule("tamper", Outcome::tampered, "candidate replaced " + names + " " + when);
      return false;
    }
    return true;
  }

  void trials() {
    const auto t = Clock::now();
    std::vector<std::string> kinds(static_cast<size_t>(std::max(m_opt.trials, 2)), "none");
    for (const char* s : {"scale_up", "scale_down", "negate", "shift"}) kinds.push_back(s);
    m_report.trials_planned = static_cast<int>(kinds.size());
    for (size_t k = 0; k < kinds.size() && !decided(); ++k) {
      // Verification shares the GPU with other candidates' verification, never with timing.
      std::shared_lock<GpuGate> gpu;
      if (m_opt.exclusive && m_opt.device == "cuda") gpu = std::shared_lock<GpuGate>(*m_opt.exclusive);
      trial(kinds[k], k);
    }
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

  void trial(const std::string& stress, size_t index) {
    const bool is_stress = stress != "none";
    auto ref = request(*m_ref, {{"op", "trial"}, {"input_seed", draw_seed()}, {"call_seed", m_call_seed = draw_seed()},
                                {"stress", stress}}, m_opt.call_timeout);
    if (!ref) {
      decide(Outcome::input_error, "reference", "workload trial: " + ref.failure().kind + ": " + ref.failure().message);
      return;
    }
    size_t pos = 0;
    const auto& h = ref->header;
    auto inputs = verify::decode_value(h["inputs"], ref->payload, pos);
    auto out32 = inputs ? verify::decode_value(h["out32"], ref->payload, pos) : inputs;
    Result<Value> out64 = Failure{"absent", ""};
    if (h.contains("out64") && out32) out64 = verify::decode_value(h["out64"], ref->payload, pos);
    Result<Value> inputs_after = Failure{"absent", ""};
    if (h.contains("inputs_after") && out32) inputs_after = verify::decode_value(h["inputs_after"], ref->payload, pos);
    if (!inputs || !out32) {
      decide(Outcome::input_error, "reference", "reference worker sent malformed values");
      return;
    }
    ref->payload.clear();
    m_bytes_per_call = static_cast<double>(verify::tensor_bytes(inputs.value()) + verify::tensor_bytes(out32.value()));
    m_report.phase_seconds["reference_compute"] += h.value("seconds", 0.0);
    if (h.value("random", false) && !m_report.random_workload) {
      m_report.random_workload = true;
      m_report.notes.push_back("the workload is random (its forward advances the RNG): both sides are reseeded identically before every call and compared with an explicit float32 tolerance; try --eval for inference");
    }
    if (h.value("mutated", false) && !m_ref_mutates) {
      m_ref_mutates = true;
      m_report.notes.push_back("the reference modifies its inputs in place; the candidate must do the same");
    }
    const bool fp32_only = m_report.random_workload || !out64;

    // The candidate's call, with poison sized like the outputs.
    std::vector<const verify::TensorData*> out_tensors;
    verify::collect_tensors(out32.value(), out_tensors);
    nlohmann::json poison = nlohmann::json::array();
    for (const auto* td : out_tensors)
      if (poison.size() < 16) poison.push_back({td->dtype, td->shape});
    std::string payload;
    nlohmann::json call = {{"op", "call"}, {"call_seed", m_call_seed}, {"poison", poison},
                           {"recheck_seconds", m_opt.recheck_seconds}};
    call["inputs"] = verify::encode_value(inputs.value(), payload);
    const auto t = Clock::now();
    auto reply = request(*m_cand, call, m_opt.call_timeout, std::move(payload));
    m_report.phase_seconds["candidate_calls"] += std::chrono::duration<double>(Clock::now() - t).count();
    if (!reply) {
      candidate_failed("call", reply.failure());
      return;
    }
    m_threads.emplace_back(sandbox::thread_count(m_cand->pid()),
                           static_cast<int>(sandbox::descendants_of(m_cand->pid()).size()));
    if (!check_tamper(reply->header, "while running")) return;
    pos = 0;
    auto out = verify::decode_value(reply->header["out"], reply->payload, pos);
    auto cand_inputs_after = out ? verify::decode_value(reply->header["inputs_after"], reply->payload, pos) : out;
    auto out_later = cand_inputs_after ? verify::decode_value(reply->header["out_later"], reply->payload, pos) : cand_inputs_after;
    if (!out_later) {
      fail_rule("process", Outcome::crashed, "candidate worker sent malformed values: " + out_later.failure().message);
      return;
    }
    if (out->kind != Value::Kind::dict || out->items.size() != 2 || out_later->kind != Value::Kind::dict) {
      fail_rule("process", Outcome::tampered, "candidate worker broke the protocol (malformed output frame)");
      return;
    }
    m_report.phase_seconds["candidate_compute"] += reply->header.value("seconds", 0.0);
    rule("poison", "passed", std::to_string(reply->header.value("poisoned_bytes", 0)) + " bytes of allocator memory poisoned before each call");
    ++m_report.trials_run;

    verify::CompareOptions copt;
    copt.precision = m_opt.precision;
    copt.allow_ties = m_opt.allow_ties;
    copt.stress = is_stress;
    copt.fp32_only = fp32_only;
    const Value& ref64 = out64 ? out64.value() : out32.value();
    // Output structure and values ("out"), then buffers that exist on both sides.
    auto cmp = verify::compare_outputs(out->items[0], out32->items[0], ref64.items[0], copt);
    if (cmp.ok) compare_buffers(out.value(), out32.value(), ref64, copt, cmp);
    verify::merge_figures(m_report.figures, cmp.figures);
    if (!cmp.ok) {
      const std::string id = cmp.check == "finite" ? "finite"
                             : (cmp.check == "normwise" || cmp.check == "elementwise" || cmp.check == "exact" || cmp.check == "tie") ? "close"
                             : "structure";
      if (index > 0 && !is_stress) {
        // Right on earlier calls of this instance, wrong now: memoised or degrading.
        rule(id, "failed", cmp.detail);
        fail_rule("memo", Outcome::wrong_result, "correct on the first " + std::to_string(index) +
                  " call(s), then wrong on call " + std::to_string(index + 1) + " with new inputs: " + cmp.detail);
      } else {
        fail_rule(id, Outcome::wrong_result, cmp.detail + (is_stress ? " (stress trial: inputs outside the sample distribution)" : ""));
      }
      return;
    }
    if (!verify::identical(out.value(), out_later.value())) {
      fail_rule("background", Outcome::wrong_result, "outputs changed after the call returned (a background writer)");
      return;
    }
    // Inputs unchanged (or changed exactly as the reference changes them).
    if (!m_ref_mutates) {
      if (!verify::identical(cand_inputs_after.value(), inputs.value())) {
        fail_rule("inputs", Outcome::wrong_result, "the candidate modified its inputs in place");
        return;
      }
    } else if (inputs_after) {
      auto icmp = verify::compare_outputs(cand_inputs_after.value(), inputs_after.value(), inputs_after.value(), copt);
      if (!icmp.ok) {
        fail_rule("inputs", Outcome::wrong_result, "inputs after the call differ from the reference's: " + icmp.detail);
        return;
      }
    }
    sanity(out32->items[0], index, is_stress);
  }

  void compare_buffers(const Value& cand, const Value& r32, const Value& r64,
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

  void sanity(const Value& out32, size_t index, bool is_stress) {
    if (is_stress) return;
    bool all_zero = false, constant = false;
    verify::output_sanity(out32, all_zero, constant);
    if (index == 0) {
      m_first_out = out32;
      m_sanity_zero = all_zero;
      m_sanity_constant = constant;
    } else {
      m_sanity_zero = m_sanity_zero && all_zero;
      m_sanity_constant = m_sanity_constant && constant;
      if (index == 1) m_sanity_same = verify::identical(m_first_out, out32);
      m_first_out = Value{};
    }
  }

  // Ends the candidate worker: an acknowledged bye, then processes it left behind.
  void stop_candidate() {
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
    m_cand.reset();
  }

  // Timing after a correct verification: in the verifying process ("rank"), or in a
  // fresh one against the baselines ("claim").
  void time_candidate() {
    const auto t = Clock::now();
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
    ctx.device = m_ref_hello;
    ctx.own_pids = [this] {
      std::set<pid_t> own;
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

  void teardown() {
    const auto t = Clock::now();
    if (m_cand) stop_candidate();
    if (m_ref) {
      if (m_ref->exit_info() == std::nullopt) (void)m_ref->request({{{"op", "bye"}}, {}}, ms(10));
      m_ref->stop(std::chrono::milliseconds(1000));
      m_report.reference_log = m_ref->log();
      m_ref.reset();
    }
    sandbox::reap_orphans({});
    if (m_pool) m_pool->cleanup();
    timed("teardown", t);
  }

  EvalReport finish(Clock::time_point start) {
    // Rules that ran to completion pass; the rest say why not.
    if (m_report.trials_run > 0 && m_report.trials_run == m_report.trials_planned) {
      for (const char* id : {"structure", "finite", "close", "inputs", "background", "tamper", "process"})
        if (rule_status(m_rules, id) == "not_run") rule(id, "passed", "");
      rule("trials", "passed", std::to_string(m_report.trials_run) + " trials from run-time seeds, 4 of them stress trials");
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

  const EvalOptions& m_opt;
  std::vector<RuleStatus> m_rules;
  EvalReport m_report;
  bool m_decided = false;
  std::unique_ptr<WorkerPool> m_pool;
  std::unique_ptr<sandbox::Worker> m_ref, m_cand;
  sandbox::Message m_init;
  uint64_t m_init_seed = 0;
  uint64_t m_call_seed = 0;
  nlohmann::json m_ref_hello;
  double m_bytes_per_call = 0;
  bool m_timed_checks = false;
  bool m_for_timing = false;
  std::string m_timing_note;
  bool m_ref_mutates = false;
  std::vector<std::pair<int, int>> m_threads;
  Value m_first_out;
  bool m_sanity_zero = false, m_sanity_constant = false, m_sanity_same = false;
};

}  // namespace

EvalReport run_eval(const EvalOptions& options) { return EvalRun(options).run(); }

}  // namespace kopt::core
