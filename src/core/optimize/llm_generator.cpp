// An LLM provider behind the Generator interface. Each round: refine prompts for the best
// correct candidates (or the one a person picked), one for the most recent failure, and
// first-attempt prompts with a different idea each, chosen from the catalogue
// (prompts/ideas.json) by what the reference's profile shows and what earlier rounds
// tried (ideas.hpp). The request index is the candidate id, so transcripts
// (requests/NNNN.*.json) and candidate folders line up.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "kopt/core/generator.hpp"
#include "kopt/core/ideas.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/providers/dispatch.hpp"
#include "kopt/providers/extract.hpp"
#include "kopt/providers/transcript.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::core {

using util::json_field;
using util::json_number;

namespace pv = kopt::providers;

namespace {

std::string timing_text(const CandidateRecord& r) {
  char buf[256];
  if (r.median_ms && r.speedup)
    std::snprintf(buf, sizeof buf, "%.4f ms per call, %.3fx the best baseline (higher is better).", *r.median_ms,
                  *r.speedup);
  else if (r.median_ms)
    std::snprintf(buf, sizeof buf, "%.4f ms per call (no baseline to compare with).", *r.median_ms);
  else
    return r.timing_error.empty() ? "Not timed." : "Not timed: " + r.timing_error;
  return buf;
}

// How far a timed candidate is from the speed-of-light bound (eval_timing.cpp, sol_figures):
// what the bound is, the candidate's share of it, the bandwidth (and FLOP/s) it achieved.
std::string light_text(const nlohmann::json& sol) {
  if (!sol.is_object()) return "";
  // From a run directory, which may be damaged: a field of the wrong type is no figure.
  auto num = [&](const char* key) { return json_number(sol, key); };
  auto text = [&](const char* key, const char* absent) { return util::json_string(sol, key, absent); };
  const double bound_s = num("seconds"), fraction = num("fraction_of_light");
  if (bound_s <= 0 || fraction <= 0) return "";
  const double time_s = bound_s / fraction, bytes = num("bytes"), flops = num("flops");
  std::string out = fmt::format("Speed of light: {:.4f} ms ({}-bound, {} peak); this candidate is at {:.1f}% of it{}.",
                                1000 * bound_s, text("bound", "memory"), text("precision", "fp32"), 100 * fraction,
                                // 3xTF32 matmuls beat the fp32 FMA peak the bound assumes for fp32 work.
                                fraction > 1 ? " (faster than that peak allows: it computes on other units, e.g. tensor cores)"
                                             : "");
  if (bytes > 0)
    out += fmt::format(" Memory: {:.3g} GB moved at {:.2f} TB/s, {:.1f}% of the peak bandwidth.", bytes / 1e9,
                       bytes / time_s / 1e12, 100 * num("achieved_bandwidth_fraction"));
  // The baseline's copy test (memory-bound): what a kernel can practically reach here.
  if (const double copied = num("copy_bandwidth"); bytes > 0 && copied > 0 && text("bound", "memory") == std::string("memory"))
    out += fmt::format(" A plain copy on this GPU moves {:.2f} TB/s: this candidate moves {:.1f}% of that.", copied / 1e12,
                       100 * bytes / time_s / copied);
  if (flops > 0)
    out += fmt::format(" Compute: {:.3g} GFLOP at {:.1f} TFLOP/s, {:.1f}% of the peak.", flops / 1e9, flops / time_s / 1e12,
                       100 * num("achieved_compute_fraction"));
  return out + "\n";
}

// A candidate's torch.profiler profile as prompt text (its top kernels per call), or why
// there is none.
std::string profile_text(const nlohmann::json& profile) {
  if (!profile.is_object()) return "";
  if (json_field(profile, "error").is_string())
    return "Not profiled: " + json_field(profile, "error").get<std::string>();
  const std::string table = profile_table(profile, "this candidate");
  return table.empty() ? "" : table + light_text(profile.value("sol", nlohmann::json()));
}

// One line saying what a candidate is: the first line of its module docstring, else its
// first comment line, else the strategy that produced it (untrusted: quoted in the prompt).
std::string summary_line(const std::string& code, const std::string& strategy) {
  std::istringstream in(code);
  bool in_doc = false;
  auto is_quotes = [](const std::string& t, size_t at) {
    return t.compare(at, 3, "\"\"\"") == 0 || t.compare(at, 3, "'''") == 0;
  };
  for (std::string line; std::getline(in, line);) {
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    std::string t = line.substr(b);
    while (!t.empty() && (t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (!in_doc && t.size() >= 3 && is_quotes(t, 0)) {
      t = t.substr(3);
      if (t.size() >= 3 && is_quotes(t, t.size() - 3)) t.resize(t.size() - 3);
      if (!t.empty()) return t.substr(0, 160);
      in_doc = true;
      continue;
    }
    if (in_doc) return t.substr(0, 160);
    if (t[0] == '#' && t.rfind("#!", 0) != 0) {
      const auto text = t.find_first_not_of("# ");
      if (text != std::string::npos) return t.substr(text, 160);
      continue;
    }
    break;  // code before any docstring or comment
  }
  return strategy.empty() ? "no summary" : "from " + strategy;
}

// What ran in a candidate, from its profile (measured by kopt; the names are the
// candidate's): "its kernels: softmax_rows_cluster_kernel 100%, ..." (the top two, each
// name cut at its argument list), or "" when it was not profiled. Most LLM candidates
// begin with imports, not a docstring, so this is often all that tells them apart.
std::string kernels_phrase(const nlohmann::json& profile) {
  if (!profile.is_object() || !json_field(profile, "kernels").is_array()) return "";
  std::string out;
  int n = 0;
  for (const auto& k : json_field(profile, "kernels")) {
    if (!k.is_object() || !json_field(k, "name").is_string()) continue;
    std::string name = json_field(k, "name").get<std::string>();
    if (const auto paren = name.find('('); paren != std::string::npos && paren > 0) name.resize(paren);
    if (name.rfind("void ", 0) == 0) name = name.substr(5);
    if (name.size() > 60) name = name.substr(0, 57) + "...";
    out += (n ? ", " : "its kernels: ") + name + fmt::format(" {:.0f}%", 100 * json_number(k, "share"));
    if (++n == 2) break;
  }
  return out;
}

// The correct candidates other than `self`, fastest first: time and summary, for a refine
// prompt (at most kMaxOthers).
std::string other_candidates_text(const std::vector<CandidateView>& history, int self) {
  constexpr size_t kMaxOthers = 6;
  std::vector<const CandidateView*> others;
  for (const auto& v : history)
    if (v.record.id != self && v.record.status == "done" && v.record.outcome == "correct") others.push_back(&v);
  std::stable_sort(others.begin(), others.end(), [](const CandidateView* a, const CandidateView* b) {
    return a->record.median_ms.value_or(1e300) < b->record.median_ms.value_or(1e300);
  });
  std::string out;
  for (size_t i = 0; i < others.size() && i < kMaxOthers; ++i) {
    const auto& r = others[i]->record;
    char id[16];
    std::snprintf(id, sizeof id, "%04d", r.id);
    const std::string kernels = kernels_phrase(r.profile);
    out += "candidate " + std::string(id) + " (" + r.strategy + "): " + timing_text(r) + " " +
           summary_line(others[i]->code, r.strategy) + (kernels.empty() ? "" : " (" + kernels + ")") + "\n";
  }
  if (others.size() > kMaxOthers) out += std::to_string(others.size() - kMaxOthers) + " slower ones not shown\n";
  return out;
}

class LlmGenerator final : public Generator {
 public:
  LlmGenerator(std::unique_ptr<pv::Provider> provider, LlmSettings settings, pv::Budget* budget)
      : m_provider(std::move(provider)), m_settings(std::move(settings)), m_budget(budget) {
    auto t = pv::Transcript::open(m_settings.transcript_dir, m_settings.secrets);
    if (t) m_transcript.emplace(std::move(t.value()));
  }

  std::string name() const override { return m_provider->name(); }

  std::vector<Proposal> propose(const RoundRequest& req) override {
    auto system = pv::system_prompt(m_settings.prompts);
    std::vector<Proposal> shells;  // strategy, parent, prompt
    std::map<int, const CandidateView*> by_id;
    for (const auto& v : req.history) by_id[v.record.id] = &v;
    auto refine = [&](const CandidateView& v) {
      pv::RefineFacts f;
      f.workload_name = req.workload_name;
      f.workload_source = req.workload_source;
      f.target = req.target_text;
      f.previous_candidate = v.code;
      f.verdict = v.record.outcome;
      f.verdict_details = v.record.reason + (v.record.check.empty() ? "" : "\n(check: " + v.record.check + ")");
      if (v.record.outcome == "compile_error" || v.record.outcome == "crashed")
        f.verdict_details += "\n\nLast lines of the candidate's log:\n" + v.log_tail;
      f.timing = timing_text(v.record) + "\n\nBaselines:\n" + req.baseline_text;
      const auto& ncu = v.record.ncu;
      f.profile = profile_text(v.record.profile);
      if (ncu.is_object() && ncu.value("ok", false))
        f.profile += std::string(f.profile.empty() ? "" : "\n") +
                     "Nsight Compute, this candidate, per call (% of the device's peak):\n" + ncu.value("text", std::string());
      if (f.profile.empty())
        f.profile = v.record.outcome == "correct" ? "Not profiled (the candidate was not timed)."
                                                  : "Not profiled: only correct candidates are timed and profiled.";
      f.reference_profile = req.top_kernels_text;
      f.other_candidates = other_candidates_text(req.history, v.record.id);
      f.hints = req.hints;
      auto user = pv::refine_prompt(m_settings.prompts, f);
      Proposal p;
      p.strategy = "refine";
      p.parent = v.record.id;
      p.prompt = user ? *user : "";
      p.message = user ? "" : user.failure().message;
      shells.push_back(std::move(p));
    };
    if (req.refine_from && by_id.count(req.refine_from)) {
      for (int i = 0; i < req.count; ++i) refine(*by_id[req.refine_from]);
    } else {
      const int refines = std::min<int>(static_cast<int>(req.best.size()), (req.count + 1) / 2);
      for (int i = 0; i < refines; ++i) refine(*by_id[req.best[static_cast<size_t>(i)]]);
      // The most recent failure, to fix it, when there is room for fresh ideas too.
      if (static_cast<int>(shells.size()) + 2 <= req.count) {
        for (auto it = req.history.rbegin(); it != req.history.rend(); ++it) {
          if (it->record.outcome != "correct" && !it->code.empty() && it->record.round == req.round - 1) {
            refine(*it);
            break;
          }
        }
      }
      // First attempts, each with an idea chosen from the reference's measurements and
      // what earlier rounds tried (the same history gives the same ideas: a resumed run
      // asks the same questions).
      const int fresh = req.count - static_cast<int>(shells.size());
      const auto ideas = choose_ideas(m_settings.prompts.ideas, req.facts, req.idea_history, fresh);
      std::string failed;
      for (const auto& [id, how] : req.idea_history)
        if (how == "failed") failed += (failed.empty() ? "" : ", ") + id;
      for (int i = 0; i < fresh; ++i) {
        pv::FirstAttemptFacts f;
        f.workload_name = req.workload_name;
        f.workload_source = req.workload_source;
        f.target = req.target_text;
        f.baseline = req.baseline_text;
        f.top_kernels = req.top_kernels_text;
        f.hints = req.hints;
        Proposal p;
        if (i < static_cast<int>(ideas.size())) {
          f.idea = idea_hint(ideas[static_cast<size_t>(i)], req.facts);
          p.strategy = "idea:" + ideas[static_cast<size_t>(i)].id;
        } else {
          // The catalogue has no untried idea that fits: the writer's own, told what failed.
          f.idea = "Choose your own approach." +
                   (failed.empty() ? std::string() : " Ideas already tried on this workload without a speedup: " + failed + ".");
          p.strategy = "first_attempt";
        }
        auto user = pv::first_attempt_prompt(m_settings.prompts, f);
        p.prompt = user ? *user : "";
        p.message = user ? "" : user.failure().message;
        shells.push_back(std::move(p));
      }
    }
    std::vector<PendingRequest> requests;
    for (size_t i = 0; i < shells.size(); ++i)
      requests.push_back({req.first_id + static_cast<int>(i), system ? *system : "", shells[i].prompt,
                          shells[i].strategy, shells[i].parent});
    return send(requests);
  }

  std::vector<Proposal> reask(const std::vector<PendingRequest>& pending) override { return send(pending); }

  bool exhausted() const override { return m_budget && m_budget->exhausted(); }
  long long input_tokens() const override { return m_in; }
  long long output_tokens() const override { return m_out; }
  double cost_usd() const override { return m_cost; }
  bool tokens_estimated() const override { return m_estimated; }
  std::string stop_reason() const override { return m_budget ? m_budget->exhausted_reason() : ""; }

 private:
  std::vector<Proposal> send(const std::vector<PendingRequest>& pending) {
    std::vector<pv::Request> requests;
    // A secret the user's hints or workload hold never goes out in a prompt (the saved
    // prompt.md and transcript are redacted too, so they show what was sent).
    for (const auto& p : pending)
      requests.push_back({p.id, util::redact(p.system, m_settings.secrets), util::redact(p.prompt, m_settings.secrets)});
    const auto replies = pv::dispatch(*m_provider, requests, {m_settings.in_flight, m_settings.max_output_tokens},
                                      m_budget, m_transcript ? &*m_transcript : nullptr);
    std::vector<Proposal> out;
    for (size_t i = 0; i < replies.size() && i < pending.size(); ++i) {
      auto reply = replies[i];
      Proposal p;
      p.strategy = pending[i].strategy;
      p.parent = pending[i].parent;
      p.origin = m_provider->name() + (m_provider->model().empty() ? "" : ":" + m_provider->model());
      p.system = pending[i].system;
      p.prompt = pending[i].prompt;
      // A reply may quote a secret (a server's error naming the key, a model echoing one):
      // it never reaches the candidate's code, a record or a later prompt.
      reply.text = util::redact(reply.text, m_settings.secrets);
      reply.message = util::redact(reply.message, m_settings.secrets);
      p.response = reply.text;
      p.input_tokens = reply.usage.input_tokens;
      p.output_tokens = reply.usage.output_tokens;
      p.tokens_estimated = reply.usage.estimated;
      p.cost_usd = reply.cost_known ? reply.cost_usd : 0;
      if (reply.outcome == pv::ReplyOutcome::pending) {
        // Nobody has read the prompt yet: its tokens count when the reply comes (a
        // resumed run asks again and would count them twice).
        p.input_tokens = p.output_tokens = 0;
        p.cost_usd = 0;
      }
      m_in += p.input_tokens;
      m_out += p.output_tokens;
      m_cost += p.cost_usd;
      m_estimated = m_estimated || (p.tokens_estimated && (p.input_tokens || p.output_tokens));
      if (reply.outcome == pv::ReplyOutcome::pending) {
        p.status = "pending";
        p.message = reply.message.empty() ? "waiting for a reply" : reply.message;
      } else if (pv::has_text(reply.outcome)) {
        auto code = pv::extract_candidate(reply.text);
        if (code) {
          p.code = std::move(code.value());
        } else {
          p.status = "no_candidate";
          p.message = code.failure().message;
        }
      } else {
        p.status = "provider_error";
        p.message = std::string(pv::reply_outcome_name(reply.outcome)) + ": " + reply.message;
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  std::unique_ptr<pv::Provider> m_provider;
  LlmSettings m_settings;
  pv::Budget* m_budget;
  std::optional<pv::Transcript> m_transcript;
  long long m_in = 0, m_out = 0;
  double m_cost = 0;
  bool m_estimated = false;
};

}  // namespace

std::unique_ptr<Generator> make_llm_generator(std::unique_ptr<pv::Provider> provider, LlmSettings settings,
                                              pv::Budget* budget) {
  return std::make_unique<LlmGenerator>(std::move(provider), std::move(settings), budget);
}

}  // namespace kopt::core
