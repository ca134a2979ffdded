// The builtin generator: strategies from builtin_strategy_names(), engines alone first,
// then combinations, preferring the engines of the best correct candidates so far and
// skipping combinations whose engine failed alone.
#include <algorithm>
#include <map>
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
      auto code = builtin_candidate_source(strategy, request.workload_name, request.workload_source);
      if (!code) continue;
      Proposal p;
      p.code = std::move(code.value());
      p.strategy = strategy;
      p.origin = "builtin";
      out.push_back(std::move(p));
    }
    return out;
  }

  bool exhausted() const override { return m_exhausted; }

 private:
  std::set<std::string> m_tried;
  bool m_exhausted = false;
};

}  // namespace

std::unique_ptr<Generator> make_builtin_generator() { return std::make_unique<BuiltinGenerator>(); }

}  // namespace kopt::core
