#include "kopt/measure/target.hpp"

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace kopt::measure {

namespace {

constexpr double k_kib = 1024.0;
constexpr double k_mib = 1024.0 * 1024.0;
constexpr double k_gib = 1024.0 * 1024.0 * 1024.0;

// Peaks are dense (no 2:4 sparsity), in operations per second. memory_bytes is the
// capacity as the device reports it (binary units: an "80GB" H100 reads about 79.6 GiB),
// so compare_target's 10% check is against what torch sees, not the marketing figure.
std::vector<Target> make_targets() {
  std::vector<Target> all;

  // NVIDIA H100 datasheet and Hopper whitepaper (SXM5 column; the datasheet's tensor
  // figures are with sparsity, halved here). Dense table also in
  // glennklockwood.com/garden/processors/h100.
  Target h100;
  h100.name = "h100";
  h100.description = "NVIDIA H100 SXM5 80GB";
  h100.capability = "9.0";
  h100.sm_count = 132;
  h100.memory_bandwidth = 3.35e12;
  h100.memory_bytes = 80 * k_gib;
  h100.l2_bytes = 50 * k_mib;
  h100.smem_per_sm_bytes = 228 * k_kib;
  h100.peak_ops = {{"fp64", 67e12},      {"fp32", 67e12},      {"tf32", 494.7e12},
                   {"fp16", 989.4e12},   {"bf16", 989.4e12},   {"fp8", 1978.9e12},
                   {"int8", 1978.9e12}};
  h100.name_patterns = {"H100"};
  all.push_back(h100);

  // NVIDIA H200 datasheet: the H100's GH100 with 141 GB of HBM3e at 4.8 TB/s; compute
  // figures identical to H100 SXM.
  Target h200 = h100;
  h200.name = "h200";
  h200.description = "NVIDIA H200 SXM 141GB";
  h200.memory_bandwidth = 4.8e12;
  h200.memory_bytes = 141 * k_gib;
  h200.name_patterns = {"H200"};
  all.push_back(h200);

  // NVIDIA A100 datasheet (SXM4 80GB column) and Ampere whitepaper: 108 SMs, 40 MB L2,
  // 164 KB shared memory per SM, 2,039 GB/s. No fp8.
  Target a100;
  a100.name = "a100";
  a100.description = "NVIDIA A100 SXM4 80GB";
  a100.capability = "8.0";
  a100.sm_count = 108;
  a100.memory_bandwidth = 2.039e12;
  a100.memory_bytes = 80 * k_gib;
  a100.l2_bytes = 40 * k_mib;
  a100.smem_per_sm_bytes = 164 * k_kib;
  a100.peak_ops = {{"fp64", 19.5e12}, {"fp32", 19.5e12}, {"tf32", 156e12},
                   {"fp16", 312e12},  {"bf16", 312e12},  {"int8", 624e12}};
  a100.name_patterns = {"A100"};
  all.push_back(a100);

  // NVIDIA L40S datasheet (dense figures; the sheet lists sparse ones with *), Ada
  // tuning guide for 100 KB shared memory per SM. fp64 (1:64 of fp32) is not on the
  // datasheet: third-party spec databases, approximate.
  Target l40s;
  l40s.name = "l40s";
  l40s.description = "NVIDIA L40S 48GB";
  l40s.capability = "8.9";
  l40s.sm_count = 142;
  l40s.memory_bandwidth = 864e9;
  l40s.memory_bytes = 45 * k_gib;
  l40s.l2_bytes = 96 * k_mib;
  l40s.smem_per_sm_bytes = 100 * k_kib;
  l40s.peak_ops = {{"fp64", 1.4e12},  {"fp32", 91.6e12}, {"tf32", 183e12},
                   {"fp16", 362e12},  {"bf16", 362e12},  {"fp8", 733e12},
                   {"int8", 733e12}};
  l40s.name_patterns = {"L40S"};
  all.push_back(l40s);

  // NVIDIA HGX/DGX B200 datasheets (per GPU, dense = half the sparse figures): 8 TB/s,
  // 2.25 PF fp16/bf16, 4.5 PF fp8/int8, 1.1 PF tf32. 148 SMs and 126 MB of L2 as
  // measured by Chips and Cheese ("Nvidia's B200: Keeping the CUDA Juggernaut Rolling").
  // fp32 and fp64 figures vary between NVIDIA's sheets (fp64 37-40 TF): approximate.
  Target b200;
  b200.name = "b200";
  b200.description = "NVIDIA B200 180GB (datasheet, approximate)";
  b200.capability = "10.0";
  b200.sm_count = 148;
  b200.memory_bandwidth = 8e12;
  b200.memory_bytes = 180 * k_gib;
  b200.l2_bytes = 126 * k_mib;
  b200.smem_per_sm_bytes = 228 * k_kib;
  b200.peak_ops = {{"fp64", 40e12},   {"fp32", 80e12},   {"tf32", 1.1e15},
                   {"fp16", 2.25e15}, {"bf16", 2.25e15}, {"fp8", 4.5e15},
                   {"int8", 4.5e15}};
  b200.name_patterns = {"B200"};
  all.push_back(b200);

  return all;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// "NVIDIA A100-SXM4-80GB" -> {"NVIDIA", "A100", "SXM4", "80GB"}. Matching whole tokens
// keeps "GH200" from matching h200 and "L40" from matching l40s.
std::vector<std::string> name_tokens(const std::string& name) {
  std::vector<std::string> tokens;
  std::string current;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      current += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else if (!current.empty()) {
      tokens.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(current);
  return tokens;
}

bool matches(const Target& target, const std::vector<std::string>& tokens) {
  for (const auto& pattern : target.name_patterns) {
    if (std::find(tokens.begin(), tokens.end(), upper(pattern)) != tokens.end()) return true;
  }
  return false;
}

std::string gib(double bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f GiB", bytes / k_gib);
  return buffer;
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = make_targets();
  return all;
}

std::optional<Target> find_target(const std::string& name) {
  const std::string wanted = upper(name);
  for (const auto& target : targets()) {
    if (upper(target.name) == wanted) return target;
  }
  return std::nullopt;
}

std::optional<Target> match_device(const DeviceInfo& device) {
  const auto tokens = name_tokens(device.name);
  for (const auto& target : targets()) {
    if (matches(target, tokens)) return target;
  }
  return std::nullopt;
}

std::vector<std::string> compare_target(const Target& target, const DeviceInfo& device) {
  std::vector<std::string> warnings;
  const std::string who = "target " + target.name + " (" + target.description + ")";
  if (!device.name.empty()) {
    const auto tokens = name_tokens(device.name);
    if (!matches(target, tokens)) {
      warnings.push_back("the device, " + device.name + ", is another model than " + who +
                         ": bounds use the target's datasheet figures");
    } else if (std::find(tokens.begin(), tokens.end(), "PCIE") != tokens.end() &&
               upper(target.description).find("PCIE") == std::string::npos) {
      warnings.push_back("the device, " + device.name + ", is a PCIe card: its memory bandwidth and "
                         "clocks are below " + who + "'s");
    }
  }
  if (device.sm_count > 0 && device.sm_count != target.sm_count) {
    warnings.push_back("the device has " + std::to_string(device.sm_count) + " SMs, " + who +
                       " has " + std::to_string(target.sm_count));
  }
  if (device.memory_bytes > 0 && target.memory_bytes > 0 &&
      std::fabs(device.memory_bytes - target.memory_bytes) > 0.10 * target.memory_bytes) {
    warnings.push_back("the device has " + gib(device.memory_bytes) + " of memory, " + who +
                       " has " + gib(target.memory_bytes));
  }
  if (!device.capability.empty() && device.capability != target.capability) {
    warnings.push_back("the device has compute capability " + device.capability + ", " + who +
                       " has " + target.capability);
  }
  return warnings;
}

nlohmann::json target_json(const Target& target) {
  nlohmann::json peaks = nlohmann::json::object();
  for (const auto& [precision, ops] : target.peak_ops) peaks[precision] = ops;
  return {{"name", target.name},
          {"description", target.description},
          {"capability", target.capability},
          {"sm_count", target.sm_count},
          {"memory_bandwidth", target.memory_bandwidth},
          {"memory_bytes", target.memory_bytes},
          {"l2_bytes", target.l2_bytes},
          {"smem_per_sm_bytes", target.smem_per_sm_bytes},
          {"peak_ops", peaks},
          {"name_patterns", target.name_patterns}};
}

SpeedOfLight speed_of_light(const Target& target, double bytes, double ops,
                            const std::string& precision) {
  SpeedOfLight sol;
  double peak = 0;
  if (auto it = target.peak_ops.find(precision); it != target.peak_ops.end() && it->second > 0) {
    sol.precision = precision;
    peak = it->second;
  } else if (auto fp32 = target.peak_ops.find("fp32"); fp32 != target.peak_ops.end()) {
    sol.precision = "fp32";
    peak = fp32->second;
  }
  sol.memory_seconds = target.memory_bandwidth > 0 ? std::max(bytes, 0.0) / target.memory_bandwidth : 0;
  sol.compute_seconds = peak > 0 ? std::max(ops, 0.0) / peak : 0;
  sol.seconds = std::max(sol.memory_seconds, sol.compute_seconds);
  sol.bound = sol.compute_seconds > sol.memory_seconds ? "compute" : "memory";
  return sol;
}

nlohmann::json sol_json(const SpeedOfLight& sol) {
  return {{"seconds", sol.seconds},
          {"memory_seconds", sol.memory_seconds},
          {"compute_seconds", sol.compute_seconds},
          {"bound", sol.bound},
          {"precision", sol.precision}};
}

std::string cuda_arch(const std::string& capability) {
  if (capability.empty()) return "";
  return capability + (std::atoi(capability.c_str()) >= 9 ? "a" : "");
}

std::string kernel_class(const std::string& name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto has = [&](const char* part) { return n.find(part) != std::string::npos; };
  // Order matters: cuDNN names convolutions "implicit_gemm"/"fprop", attention kernels
  // contain "gemm" too, pooling and norms contain "reduce".
  if (has("conv") || has("fprop") || has("dgrad") || has("wgrad") || has("implicit_gemm") || has("winograd"))
    return "conv";
  if (has("attention") || has("flash") || has("fmha") || has("sdpa") || has("efficient_attention")) return "attention";
  if (has("pool")) return "pool";
  // GroupNorm's and LayerNorm's statistics kernels (RowwiseMomentsCUDAKernel, Welford).
  if (has("norm") || has("moments") || has("welford")) return "norm";
  if (has("gemm") || has("aten::mm") || has("aten::addmm") || has("aten::bmm") || has("aten::matmul") ||
      has("aten::linear") || has("cutlass") || has("cublas") || has("matmul"))
    return "gemm";
  if (has("reduce") || has("softmax") || has("aten::sum") || has("aten::mean") || has("aten::max") ||
      has("aten::amax") || has("logsumexp") || has("aten::argmax") || has("aten::cumsum") || has("aten::var"))
    return "reduction";
  if (has("elementwise") || has("vectorized") || has("unrolled") || has("triton_poi") || has("aten::add") ||
      has("aten::mul") || has("aten::relu") || has("aten::gelu") || has("aten::sigmoid") || has("aten::tanh") ||
      has("aten::clamp") || has("aten::sub") || has("aten::div") || has("aten::exp") || has("aten::copy_") ||
      has("nchwtonhwc") || has("nhwctonchw") || has("transpose"))  // layout copies are elementwise passes too
    return "elementwise";
  return "other";
}

PeakChoice choose_peak(const std::string& workload_precision, const std::vector<std::string>& classes,
                       const MathModes& modes) {
  if (workload_precision != "fp32")
    return {workload_precision, "the workload computes in " + workload_precision};
  const bool conv = std::find(classes.begin(), classes.end(), "conv") != classes.end();
  const bool gemm = std::find(classes.begin(), classes.end(), "gemm") != classes.end();
  // The bound is a floor: where any of the work may run on TF32 tensor cores, its peak.
  if (conv && modes.cudnn_allow_tf32)
    return {"tf32", "convolutions run in TF32 (torch.backends.cudnn.allow_tf32 is True, PyTorch's default)"};
  if (gemm && modes.matmul_allow_tf32)
    return {"tf32", "matmuls run in TF32 (torch.backends.cuda.matmul.allow_tf32 is True)"};
  if (conv) return {"fp32", "fp32 FMA: convolutions without TF32 (torch.backends.cudnn.allow_tf32 is False)"};
  if (gemm) return {"fp32", "fp32 FMA: matmuls without TF32 (torch.backends.cuda.matmul.allow_tf32 is False)"};
  return {"fp32", "fp32 FMA: no convolution or matmul kernels"};
}

std::string bound_warning(const SpeedOfLight& sol, const PeakChoice& peak, double measured_seconds,
                          const std::string& what) {
  if (measured_seconds <= 0 || sol.seconds <= 0 || measured_seconds >= sol.seconds) return "";
  char head[200];
  std::snprintf(head, sizeof head, "%s (%.4f ms) is faster than the speed-of-light bound (%.4f ms, %s-bound at the %s peak)",
                what.c_str(), measured_seconds * 1000, sol.seconds * 1000, sol.bound.c_str(), sol.precision.c_str());
  std::string cause;
  if (sol.bound == "compute" && sol.precision == "fp32")
    cause = "the work likely runs on tensor cores (TF32 or lower) while the bound assumes fp32 FMA (" + peak.why + ")";
  else if (sol.bound == "compute")
    cause = "the flop count (torch's FlopCounterMode) overstates the work, or the work runs below " + sol.precision +
            " precision";
  else
    cause = "the bytes counted (inputs, outputs and parameters once each, from DRAM) overstate the traffic: "
            "the data fits in L2 or a tensor is not read whole";
  return std::string(head) + ": the bound is wrong, not the time; likely cause: " + cause;
}

}  // namespace kopt::measure
