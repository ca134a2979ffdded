#pragma once
// Ideas for first attempts chosen from what kopt measured on the workload (the
// reference's profile and speed-of-light bound) and from what earlier rounds tried: not a
// fixed rotation. The catalogue is data (prompts/ideas.json, extended by --prompts DIR).
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kopt/providers/prompts.hpp"

namespace kopt::core {

// The measured shape of a workload, as ideas need it.
struct WorkloadFacts {
  std::map<std::string, double> class_share;  // kernel class → share of the reference's device time
  std::map<std::string, double> class_launches;  // kernel class → its kernels launched per forward
  std::string dominant_class;                 // the class with the largest share; "" when not profiled
  std::string bound;                          // "memory", "compute" or "" (no bound)
  double light = 0;                           // the best baseline's fraction of that bound (0: unknown)
  double copy = 0;  // a memory bound's copy test: a plain copy's fraction of the peak bandwidth (0: not timed)
  double launches_per_call = 0;               // kernels launched per forward
  bool launch_bound = false;                  // many short kernels: launch overhead dominates
  bool cuda = false;
  // The reference's matmuls run in full fp32: its profile says TF32 matmuls were off.
  bool fp32_matmuls = false;
};

// Facts from the baseline's profile reply ({"kernels": [{name, share, us_per_call,
// launches_per_call}]}) and its speed-of-light figures ({"bound"}); either may be null.
WorkloadFacts workload_facts(const nlohmann::json& profile, const nlohmann::json& sol, const std::string& device);

// How an idea went on this workload: "failed" (wrong, crashed, not faster...),
// "worked" (correct and faster than the best baseline) or "in_flight" (not judged yet).
using IdeaHistory = std::map<std::string, std::string>;

// Up to `count` distinct ideas for first attempts, best fit first: ideas for another
// kernel class, a CUDA-only idea off CUDA, a launch-overhead idea on a workload that is
// not launch-bound, and every idea in `history` as failed or in flight are never chosen;
// untried ideas come before ones that worked; then the fit (dominant class, bound), then
// catalogue order. Deterministic: the same facts and history give the same ideas.
std::vector<providers::Idea> choose_ideas(const std::vector<providers::Idea>& catalogue, const WorkloadFacts& facts,
                                          const IdeaHistory& history, int count);

// The catalogue idea a candidate tried, from its strategy and origin: "fuse" for an LLM's
// "idea:fuse", "split-tf32" for the builtin seed of that name (origin "builtin-seed");
// "" for anything else (refines, fixes, builtin strategies).
std::string idea_of(const std::string& strategy, const std::string& origin);

// The prompt line for an idea, saying why it was chosen ("Idea to try (the reference's
// time is mostly pool kernels, memory-bound): ...").
std::string idea_hint(const providers::Idea& idea, const WorkloadFacts& facts);

}  // namespace kopt::core
