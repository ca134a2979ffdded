// Choosing ideas for first attempts from the reference's measurements and the run's
// history (include/kopt/core/ideas.hpp).
#include "kopt/core/ideas.hpp"

#include <algorithm>
#include <cstdio>

#include "kopt/core/optimize.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/util/json.hpp"

namespace kopt::core {

using util::json_field;
using util::json_number;

namespace {

// A class counts as present from this share of the reference's time.
constexpr double kPresentShare = 0.15;
// Launch-bound: at least this many kernels a call, averaging under kShortKernelUs each.
constexpr double kManyLaunches = 6;
constexpr double kShortKernelUs = 15;
// On a CPU, an operator with less of the call's time than this is not counted as a kernel.
constexpr double kCpuWrapperShare = 0.02;

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Whether any of `classes` takes `share` of the reference's time or more.
bool any_present(const std::vector<std::string>& classes, const WorkloadFacts& facts, double share = kPresentShare) {
  for (const auto& c : classes) {
    const auto it = facts.class_share.find(c);
    if (it != facts.class_share.end() && it->second >= share) return true;
  }
  return false;
}

// Whether the idea's favoured classes together hold the time it is for, in enough kernels:
// a GroupNorm, a bias add and a ReLU taking 60% beside a convolution are fusion's case
// even though the convolution is the largest single class.
bool favoured(const providers::Idea& idea, const WorkloadFacts& facts) {
  if (idea.favour.empty()) return false;
  double share = 0, launches = 0;
  for (const auto& c : idea.favour) {
    if (const auto it = facts.class_share.find(c); it != facts.class_share.end()) share += it->second;
    if (const auto it = facts.class_launches.find(c); it != facts.class_launches.end()) launches += it->second;
  }
  return share >= idea.favour_share && launches >= idea.favour_launches;
}

}  // namespace

WorkloadFacts workload_facts(const nlohmann::json& profile, const nlohmann::json& sol, const std::string& device) {
  WorkloadFacts f;
  f.cuda = device == "cuda";
  double us = 0;
  if (profile.is_object() && json_field(profile, "kernels").is_array()) {
    for (const auto& k : json_field(profile, "kernels")) {
      if (!k.is_object() || !json_field(k, "name").is_string()) continue;
      const auto cls = measure::kernel_class(json_field(k, "name").get<std::string>());
      const double share = json_number(k, "share");
      f.class_share[cls] += share;
      // On a CPU the rows are operators, and one that only calls another (aten::softmax
      // around aten::_softmax: 3 us of 819) is no kernel of its own: counted, it made a
      // one-kernel softmax look like two and brought "replace several operations with one
      // library operation".
      if (!f.cuda && share < kCpuWrapperShare) continue;
      f.class_launches[cls] += json_number(k, "launches_per_call");
      f.launches_per_call += json_number(k, "launches_per_call");
      us += json_number(k, "us_per_call");
    }
  }
  double best = 0;
  for (const auto& [cls, share] : f.class_share)
    if (share > best) {
      best = share;
      f.dominant_class = cls;
    }
  if (profile.is_object() && json_field(profile, "math").is_object()) {
    const auto& m = json_field(profile, "math");
    f.fp32_matmuls = m.contains("matmul_allow_tf32") && json_field(m, "matmul_allow_tf32").is_boolean() &&
                     !json_field(m, "matmul_allow_tf32").get<bool>();
  }
  if (sol.is_object() && json_field(sol, "bound").is_string())
    f.bound = json_field(sol, "bound").get<std::string>();
  f.light = json_number(sol, "fraction_of_light");
  f.copy = copy_fraction(sol);
  f.launch_bound = f.launches_per_call >= kManyLaunches && us / f.launches_per_call < kShortKernelUs;
  return f;
}

std::vector<providers::Idea> choose_ideas(const std::vector<providers::Idea>& catalogue, const WorkloadFacts& facts,
                                          const IdeaHistory& history, int count) {
  struct Scored {
    int score;
    size_t order;
    const providers::Idea* idea;
  };
  std::vector<Scored> fit;
  const bool profiled = !facts.dominant_class.empty();
  for (size_t i = 0; i < catalogue.size(); ++i) {
    const auto& idea = catalogue[i];
    const auto h = history.find(idea.id);
    if (h != history.end() && h->second != "worked") continue;  // failed or still in flight
    if (idea.cuda && !facts.cuda) continue;
    // Hand-tiling a GEMM that cuBLAS already runs at 73% of the peak is not where the time is.
    if (idea.below_light > 0 && facts.light >= idea.below_light) continue;
    if (idea.launch_overhead && profiled && !facts.launch_bound) continue;
    // The best baseline already moves what a plain copy moves (the H200's logsumexp_rows:
    // torch.compile at 92.6% of the peak bandwidth, a copy at 87.4%; on the H100 the
    // one-pass and fusion candidates of the three such workloads gated at 0.96-0.99x).
    if (idea.below_copy && facts.copy > 0 && facts.light >= facts.copy) continue;
    // One library kernel already (softmax_rows: cunn_SoftMaxForward at 100%): no library
    // call can take more of the forward over.
    if (idea.min_kernels > 0 && profiled && facts.launches_per_call < idea.min_kernels) continue;
    if (idea.fp32_matmuls && !facts.fp32_matmuls) continue;
    int score = 0;
    if (!idea.classes.empty()) {
      if (profiled) {
        // Another workload's idea.
        if (!has(idea.classes, facts.dominant_class) && !any_present(idea.classes, facts)) continue;
        // A companion the idea needs (scaled_dot_product_attention for a GEMM-dominated
        // profile only when a softmax or an attention kernel runs beside the matmuls).
        if (!idea.with.empty() && !any_present(idea.with, facts, idea.with_share)) continue;
        score += has(idea.classes, facts.dominant_class) ? 4 : 2;
        if (idea.classes.size() <= 2) score += 2;  // written for this kind of kernel, not a broad family
        if (!idea.with.empty()) score += 3;        // its pattern (matmuls with a softmax) was measured
      } else {
        score -= 1;  // not profiled: general ideas first
      }
    }
    if (!facts.bound.empty() && idea.bound != "any") score += idea.bound == facts.bound ? 2 : -2;
    if (idea.launch_overhead && facts.launch_bound) score += 8;  // the measured problem comes first
    if (profiled && favoured(idea, facts)) score += 6;
    if (h != history.end()) score -= 100;  // worked already: refine prompts carry it on
    fit.push_back({score, i, &idea});
  }
  std::stable_sort(fit.begin(), fit.end(), [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.order < b.order;
  });
  std::vector<providers::Idea> out;
  for (const auto& s : fit) {
    if (static_cast<int>(out.size()) >= count) break;
    out.push_back(*s.idea);
  }
  return out;
}

std::string idea_of(const std::string& strategy, const std::string& origin) {
  if (strategy.rfind("idea:", 0) == 0) return strategy.substr(5);
  return origin == "builtin-seed" ? strategy : "";
}

std::string idea_hint(const providers::Idea& idea, const WorkloadFacts& facts) {
  std::string why;
  if (!facts.dominant_class.empty()) {
    // Every class that holds a real share, largest first: "34% norm, 33% conv, 27% elementwise".
    std::vector<std::pair<double, std::string>> shares;
    for (const auto& [cls, share] : facts.class_share)
      if (share >= kPresentShare || cls == facts.dominant_class) shares.emplace_back(share, cls);
    std::stable_sort(shares.begin(), shares.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    why = "the reference's time is";
    for (size_t i = 0; i < shares.size() && i < 3; ++i) {
      char buf[80];
      std::snprintf(buf, sizeof buf, "%s %.0f%% %s", i ? "," : "", 100 * shares[i].first, shares[i].second.c_str());
      why += buf;
    }
    why += " kernels";
  }
  if (!facts.bound.empty()) why += (why.empty() ? "" : ", ") + facts.bound + "-bound";
  if (!facts.bound.empty() && facts.light > 0) {
    char buf[80];
    std::snprintf(buf, sizeof buf, ", the best baseline at %.0f%% of that bound", 100 * facts.light);
    why += buf;
    if (facts.copy > 0) {
      std::snprintf(buf, sizeof buf, " (a plain copy reaches %.0f%%)", 100 * facts.copy);
      why += buf;
    }
  }
  if (facts.launch_bound) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "%.0f short kernels a call", facts.launches_per_call);
    why += (why.empty() ? "" : ", ") + std::string(buf);
  }
  return "Idea to try" + (why.empty() ? std::string() : " (" + why + ")") + ": " + idea.text;
}

}  // namespace kopt::core
