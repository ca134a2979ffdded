// The builtin generator: strategies from builtin_strategy_names(), engines alone first,
// then combinations, preferring the engines of the best correct candidates so far and
// skipping combinations whose engine failed alone.
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "kopt/core/generator.hpp"

namespace kopt::core {

namespace {

std::string engine_of(const std::string& strategy) { return strategy.substr(0, strategy.find('+')); }

bool mentions_conv(const std::string& source) {
  for (const char* needle : {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose", "conv1d(", "conv2d(", "conv3d("})
    if (source.find(needle) != std::string::npos) return true;
  return false;
}

bool mentions_matmul(const std::string& source) {
  for (const char* needle : {"Linear", "linear(", "matmul", "@", ".mm(", "bmm(", "addmm("})
    if (source.find(needle) != std::string::npos) return true;
  return false;
}

// One builtin strategy's candidate for the request's workload; nullopt for an unknown one.
std::optional<Proposal> builtin_proposal(const std::string& strategy, const std::string& origin,
                                         const RoundRequest& request) {
  auto code = builtin_candidate_source(strategy, request.workload_name, request.workload_source);
  if (!code) return std::nullopt;
  Proposal p;
  p.code = std::move(code.value());
  p.strategy = strategy;
  p.origin = origin;
  return p;
}

class BuiltinGenerator final : public Generator {
 public:
  std::string name() const override { return "builtin"; }

  void restore(const std::vector<CandidateRecord>& records) override {
    for (const auto& r : records)
      if (r.origin.rfind("builtin", 0) == 0) m_tried.insert(r.strategy);
  }

  std::vector<Proposal> propose(const RoundRequest& request) override {
    const auto names = builtin_strategy_names(request.device, mentions_conv(request.workload_source), request.precision,
                                              request.compile_available.value_or(true),
                                              mentions_matmul(request.workload_source));
    // Engines that ran alone and were not correct: their combinations are not tried.
    std::set<std::string> failed;
    std::map<std::string, int> rank;  // engine -> position among the best (0: fastest)
    std::map<int, std::string> strategy_of;
    for (const auto& view : request.history) {
      strategy_of[view.record.id] = view.record.strategy;
      if (view.record.origin.rfind("builtin", 0) == 0 && view.record.strategy.find('+') == std::string::npos &&
          view.record.outcome != "correct")
        failed.insert(view.record.strategy);
    }
    int position = 0;
    if (request.refine_from && strategy_of.count(request.refine_from))
      rank[engine_of(strategy_of[request.refine_from])] = position++;
    for (int id : request.best)
      if (strategy_of.count(id) && !rank.count(engine_of(strategy_of[id])))
        rank[engine_of(strategy_of[id])] = position++;

    std::vector<std::string> remaining;
    for (const auto& n : names)
      if (!m_tried.count(n) && !failed.count(engine_of(n))) remaining.push_back(n);
    std::stable_sort(remaining.begin(), remaining.end(), [&](const std::string& a, const std::string& b) {
      const bool a_alone = a.find('+') == std::string::npos, b_alone = b.find('+') == std::string::npos;
      if (a_alone != b_alone) return a_alone;  // every engine alone first
      const int ra = rank.count(engine_of(a)) ? rank[engine_of(a)] : 1000;
      const int rb = rank.count(engine_of(b)) ? rank[engine_of(b)] : 1000;
      return ra < rb;
    });
    m_exhausted = remaining.size() <= static_cast<size_t>(request.count);

    std::vector<Proposal> out;
    for (const auto& strategy : remaining) {
      if (static_cast<int>(out.size()) >= request.count) break;
      m_tried.insert(strategy);
      if (auto p = builtin_proposal(strategy, "builtin", request)) out.push_back(std::move(*p));
    }
    return out;
  }

  bool exhausted() const override { return m_exhausted; }

 private:
  std::set<std::string> m_tried;
  bool m_exhausted = false;
};

// An LLM's run with the builtin's verified candidates first: round 1 begins with the
// builtin strategies that the measurements showed to win where they apply (seed_strategies),
// each taking one of the round's slots, at least one slot left to the writer. The writer
// sees them as the run's candidates (refine prompts can build on one) and their ideas as in
// flight, so it is not sent after the same idea in the same round.
class SeededGenerator final : public Generator {
 public:
  explicit SeededGenerator(std::unique_ptr<Generator> inner) : m_inner(std::move(inner)) {}
  std::string name() const override { return m_inner->name(); }
  void restore(const std::vector<CandidateRecord>& records) override {
    m_seeded = m_seeded || !records.empty();  // seeds come first or not at all
    m_inner->restore(records);
  }
  std::vector<Proposal> propose(const RoundRequest& request) override {
    std::vector<Proposal> out;
    RoundRequest rest = request;
    if (!m_seeded) {
      m_seeded = true;
      for (const auto& strategy : seed_strategies(request)) {
        if (rest.count < 2) break;  // the writer keeps a slot
        auto p = builtin_proposal(strategy, "builtin-seed", request);
        if (!p) continue;
        out.push_back(std::move(*p));
        rest.idea_history[strategy] = "in_flight";
        ++rest.first_id;
        --rest.count;
      }
    }
    for (auto& p : m_inner->propose(rest)) out.push_back(std::move(p));
    return out;
  }
  std::vector<Proposal> reask(const std::vector<PendingRequest>& pending) override { return m_inner->reask(pending); }
  bool exhausted() const override { return m_inner->exhausted(); }
  long long input_tokens() const override { return m_inner->input_tokens(); }
  long long output_tokens() const override { return m_inner->output_tokens(); }
  double cost_usd() const override { return m_inner->cost_usd(); }
  bool tokens_estimated() const override { return m_inner->tokens_estimated(); }
  std::string stop_reason() const override { return m_inner->stop_reason(); }

 private:
  std::unique_ptr<Generator> m_inner;
  bool m_seeded = false;
};

}  // namespace

std::vector<std::string> seed_strategies(const RoundRequest& request) {
  // split-tf32: fp32 matmuls on the tensor cores at fp32 accuracy. On the H200 it doubled a
  // GEMM + GELU (2.02x over torch.compile) and gave an MLP 1.52x, where LLM-style writers
  // reached 1.03x and 1.00x (docs/benchmarks.md, sixteenth session).
  // Where the reference was profiled, its matmuls must be most of its time: split-tf32 at
  // most about doubles them, and where they were 54% of the time (MinGPT attention, the
  // rest a 768 MiB softmax and mask) it ran at 0.37x (H100) and 0.47x (H200) of
  // torch.compile, a lost slot of round 1; at 95% and 97% it gave 1.79x and 1.31x (H100).
  if (request.device != "cuda" || request.precision != "fp32" || !mentions_matmul(request.workload_source)) return {};
  const auto& shares = request.facts.class_share;
  if (!shares.empty() && (!shares.count("gemm") || shares.at("gemm") < kSeedMatmulShare)) return {};
  return {"split-tf32"};
}

std::unique_ptr<Generator> make_builtin_generator() { return std::make_unique<BuiltinGenerator>(); }

std::unique_ptr<Generator> make_seeded_generator(std::unique_ptr<Generator> inner) {
  return std::make_unique<SeededGenerator>(std::move(inner));
}

}  // namespace kopt::core
