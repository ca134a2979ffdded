// Pure pieces of `kopt optimize`: durations, shards, the suite summary, the idle share.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kopt/core/optimize.hpp"
#include "kopt/util/json.hpp"

namespace kopt::core {

Result<double> parse_duration(const std::string& text) {
  const Failure bad{"usage", "not a duration: \"" + text + "\" (examples: 90, 90s, 20m, 1h, 1h30m)"};
  if (text.empty()) return bad;
  double total = 0;
  size_t pos = 0;
  bool any = false;
  while (pos < text.size()) {
    size_t used = 0;
    double value = 0;
    const std::string rest = text.substr(pos);
    if (!std::isdigit(static_cast<unsigned char>(rest[0])) && rest[0] != '.') return bad;
    try {
      value = std::stod(rest, &used);
    } catch (...) {
      return bad;
    }
    if (!std::isfinite(value) || value < 0) return bad;
    pos += used;
    double unit = 1;
    if (pos < text.size()) {
      const char u = text[pos++];
      if (u == 's') unit = 1;
      else if (u == 'm') unit = 60;
      else if (u == 'h') unit = 3600;
      else if (u == 'd') unit = 86400;
      else return bad;
    } else if (any) {
      return bad;  // "1h30" is ambiguous
    }
    total += value * unit;
    any = true;
  }
  return total;
}

Result<std::pair<int, int>> parse_shard(const std::string& text) {
  const Failure bad{"usage", "--shard takes I/N with 0 <= I < N, not \"" + text + "\""};
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return bad;
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 9 && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (!digits(a) || !digits(b)) return bad;
  const int i = std::atoi(a.c_str()), n = std::atoi(b.c_str());
  if (n < 1 || i >= n) return bad;
  return std::make_pair(i, n);
}

std::optional<int> shard_index_from_env(const std::vector<std::string>& env) {
  for (const char* name : {"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}) {
    const std::string prefix = std::string(name) + "=";
    for (const auto& e : env) {
      if (e.rfind(prefix, 0) != 0) continue;
      const std::string v = e.substr(prefix.size());
      if (v.empty() || v.size() > 8 || !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        continue;
      return std::atoi(v.c_str());
    }
  }
  return std::nullopt;
}

std::vector<std::string> select_shard(std::vector<std::string> workloads, int index, int count) {
  std::sort(workloads.begin(), workloads.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < workloads.size(); ++i)
    if (count > 0 && static_cast<int>(i % static_cast<size_t>(count)) == index) out.push_back(workloads[i]);
  return out;
}

std::string workload_stem(const std::string& path) {
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".py") == 0) name.resize(name.size() - 3);
  return name.empty() ? "workload" : name;
}

nlohmann::json suite_summary(const std::vector<WorkloadResult>& results) {
  nlohmann::json rows = nlohmann::json::array();
  double log_sum = 0;
  int with_speedup = 0;
  std::map<std::string, int> fast;
  const std::vector<std::pair<std::string, double>> ps = {{"1.0", 1.0}, {"1.5", 1.5}, {"2.0", 2.0}};
  for (const auto& r : results) {
    rows.push_back({{"workload", r.workload},
                    {"run_dir", r.run_dir},
                    {"status", r.status},
                    {"best_speedup", r.best_speedup ? nlohmann::json(*r.best_speedup) : nlohmann::json(nullptr)},
                    {"faster", r.faster},
                    {"exit_code", r.exit_code}});
    if (r.best_speedup && *r.best_speedup > 0) {
      log_sum += std::log(*r.best_speedup);
      ++with_speedup;
    }
    // fast_p: correct and faster than p x the best baseline; for p = 1 the final gate's
    // "faster" verdict (interval above 1) is required, not just a median above 1.
    for (const auto& [name, p] : ps)
      if (r.best_speedup && *r.best_speedup > p && (p > 1.0 || r.faster)) ++fast[name];
  }
  nlohmann::json fast_p = nlohmann::json::object();
  for (const auto& [name, p] : ps)
    fast_p[name] = results.empty() ? 0.0 : static_cast<double>(fast[name]) / static_cast<double>(results.size());
  return {{"workloads", rows},
          {"geomean_speedup", with_speedup ? nlohmann::json(std::exp(log_sum / with_speedup)) : nlohmann::json(nullptr)},
          {"workloads_with_speedup", with_speedup},
          {"fast_p", fast_p}};
}

namespace {

using Intervals = std::vector<std::pair<double, double>>;

Intervals merged(Intervals v) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& [a, b] : v) {
    if (b <= a) continue;
    if (!out.empty() && a <= out.back().second) out.back().second = std::max(out.back().second, b);
    else out.push_back({a, b});
  }
  return out;
}

}  // namespace

double idle_share(const Intervals& waiting, const Intervals& busy) {
  const Intervals w = merged(waiting), g = merged(busy);
  double total = 0, covered = 0;
  for (const auto& [a, b] : w) {
    total += b - a;
    for (const auto& [c, d] : g) covered += std::max(0.0, std::min(b, d) - std::max(a, c));
  }
  if (total <= 0) return 0;
  return std::clamp(1.0 - covered / total, 0.0, 1.0);
}

nlohmann::json sol_at(const nlohmann::json& bound, double median_ms) {
  const double seconds = util::json_number(bound, "seconds");
  if (!bound.is_object() || seconds <= 0 || !(median_ms > 0)) return nullptr;
  nlohmann::json j = bound;
  const double s = median_ms / 1000.0;
  j["fraction_of_light"] = seconds / s;
  j["achieved_bandwidth_fraction"] = util::json_number(bound, "memory_seconds") / s;
  if (util::json_number(bound, "flops") > 0) j["achieved_compute_fraction"] = util::json_number(bound, "compute_seconds") / s;
  else j.erase("achieved_compute_fraction");
  j.erase("below_light");
  return j;
}

void bound_ranked_profile(CandidateRecord& r, const nlohmann::json& bound) {
  if (!r.median_ms || !r.profile.is_object() || r.profile.contains("error") || r.profile.contains("sol")) return;
  if (auto sol = sol_at(bound, *r.median_ms); sol.is_object()) r.profile["sol"] = sol;
}

namespace {

std::string text_of(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

// 4.8e12 -> "4.8", 4.947e14 / 1e12 -> "495": three significant figures, no exponent.
std::string figure(double v) {
  std::string s = fmt::format("{:.3g}", v);
  if (s.find('e') != std::string::npos) s = fmt::format("{:.0f}", v);
  return s;
}

}  // namespace

std::string profile_table(const nlohmann::json& profile, const std::string& whose) {
  if (!profile.is_object() || !profile.contains("kernels") || !profile["kernels"].is_array() || profile["kernels"].empty())
    return "";
  std::string out = "torch.profiler, " + whose + ", per call (us, share of its time, launches, kernel):\n";
  int n = 0;
  for (const auto& k : profile["kernels"]) {
    if (!k.is_object() || ++n > 8) break;
    out += fmt::format("  {:9.2f} us  {:5.1f}%  x{:.0f}  {}\n", util::json_number(k, "us_per_call"),
                       100 * util::json_number(k, "share"), util::json_number(k, "launches_per_call"),
                       text_of(k, "name").substr(0, 160));
  }
  const double bytes = util::json_number(profile, "bytes"), flops = util::json_number(profile, "flops");
  if (bytes > 0 || flops > 0) {
    out += "Work per call (inputs, outputs and parameters, each moved once):";
    if (bytes > 0) out += fmt::format(" {} GB", figure(bytes / 1e9));
    if (flops > 0) out += fmt::format("{} {} GFLOP", bytes > 0 ? "," : "", figure(flops / 1e9));
    out += ".\n";
  }
  if (profile.contains("math") && profile["math"].is_object()) {
    const auto& m = profile["math"];
    auto flag = [&](const char* key, const char* what) -> std::string {
      if (!m.contains(key) || !m[key].is_boolean()) return "";
      return std::string(what) + (m[key].get<bool>() ? " allowed" : " not allowed");
    };
    std::string cudnn = flag("cudnn_allow_tf32", "TF32 in cuDNN convolutions");
    std::string matmul = flag("matmul_allow_tf32", "TF32 in matmuls");
    if (!cudnn.empty() || !matmul.empty())
      out += "PyTorch's math settings in the reference: " + cudnn + (cudnn.empty() || matmul.empty() ? "" : ", ") + matmul + ".\n";
  }
  return out;
}

std::string baseline_without_kernels(const std::string& text) {
  std::string out, line;
  bool in_block = false;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.rfind("top kernels (", 0) == 0) {
      in_block = true;
      continue;
    }
    if (in_block && line.rfind("  ", 0) == 0 && line.find(" us  ") != std::string::npos) continue;
    in_block = false;
    out += line;
    if (nl != std::string::npos) out += '\n';
  }
  return out;
}

std::string target_summary(const nlohmann::json& d) {
  if (!d.is_object()) return "Not measured.";
  const std::string name = text_of(d, "name"), cap = text_of(d, "capability"), torch = text_of(d, "torch");
  std::string software = "torch " + (torch.empty() ? std::string("(unknown)") : torch);
  if (const auto cuda = text_of(d, "cuda"); !cuda.empty()) software += ", CUDA " + cuda;
  if (const auto driver = text_of(d, "driver"); !driver.empty()) software += ", driver " + driver;
  if (const auto py = text_of(d, "python"); !py.empty()) software += ", Python " + py;
  if (name.empty()) return "CPU (no GPU): " + software + ".";
  std::string out = name;
  if (!cap.empty()) {
    // The arch kopt builds extensions for (TORCH_CUDA_ARCH_LIST, worker_pool.cpp): "9.0a"
    // from Hopper on, so wgmma and TMA are there to use.
    const bool arch_specific = std::atoi(cap.c_str()) >= 9;
    std::string sm = cap;
    sm.erase(std::remove(sm.begin(), sm.end(), '.'), sm.end());
    out += fmt::format(", compute capability {} (extensions are built for sm_{}{})", cap, sm, arch_specific ? "a" : "");
  }
  const nlohmann::json t = d.contains("target") && d["target"].is_object() ? d["target"] : nlohmann::json::object();
  if (const double sms = util::json_number(d, "sm_count"); sms > 0) out += fmt::format(", {:.0f} SMs", sms);
  if (const double mem = util::json_number(d, "memory_bytes"); mem > 0) out += fmt::format(", {:.0f} GiB memory", mem / 1073741824.0);
  if (const double l2 = util::json_number(d, "l2_bytes"); l2 > 0) out += fmt::format(", {:.0f} MiB L2", l2 / 1048576.0);
  if (const double smem = util::json_number(t, "smem_per_sm_bytes"); smem > 0)
    out += fmt::format(", {:.0f} KiB shared memory per SM", smem / 1024.0);
  out += ".\n";
  if (t.contains("peak_ops") && t["peak_ops"].is_object()) {
    const auto& p = t["peak_ops"];
    std::vector<std::string> peaks;
    if (const double bw = util::json_number(t, "memory_bandwidth"); bw > 0) peaks.push_back("memory " + figure(bw / 1e12) + " TB/s");
    const std::vector<std::pair<std::string, std::vector<const char*>>> kinds = {
        {"fp32 (CUDA cores)", {"fp32"}}, {"tf32", {"tf32"}}, {"fp16/bf16", {"fp16", "bf16"}}, {"fp8/int8", {"fp8", "int8"}}};
    for (const auto& [label, keys] : kinds) {
      const double v = util::json_number(p, keys[0]);
      if (v > 0) peaks.push_back(label + " " + figure(v / 1e12) + " TFLOP/s");
    }
    if (!peaks.empty()) {
      std::string desc = text_of(t, "description");
      out += "Peaks (dense" + (desc.empty() ? std::string() : ", the " + desc + " preset") + "):";
      for (size_t i = 0; i < peaks.size(); ++i) out += (i ? ", " : " ") + peaks[i];
      out += ".\n";
    }
  }
  out += software + ".\n";
  if (d.contains("gpu_state") && d["gpu_state"].is_object()) {
    const auto& g = d["gpu_state"];
    std::vector<std::string> state;
    if (const double sm = util::json_number(g, "sm_clock_mhz"); sm > 0) state.push_back(fmt::format("SM clock {:.0f} MHz", sm));
    if (const double mem = util::json_number(g, "mem_clock_mhz"); mem > 0) state.push_back(fmt::format("memory clock {:.0f} MHz", mem));
    if (const auto thr = text_of(g, "throttle"); !thr.empty()) state.push_back("throttled: " + thr);
    if (!state.empty()) {
      out += "When the baselines ran:";
      for (size_t i = 0; i < state.size(); ++i) out += (i ? ", " : " ") + state[i];
      out += ".\n";
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace kopt::core
