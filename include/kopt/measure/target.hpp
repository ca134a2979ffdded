#pragma once
// The hardware model: datasheet presets for --target and the device actually present.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kopt::measure {

struct Target {
  std::string name;         // "h100"
  std::string description;  // "NVIDIA H100 SXM5 80GB"
  std::string capability;   // "9.0"
  int sm_count = 0;
  double memory_bandwidth = 0;  // bytes per second (datasheet)
  double memory_bytes = 0;
  double l2_bytes = 0;
  double smem_per_sm_bytes = 0;
  // Dense peak operations per second by precision: "fp64", "fp32" (non-tensor),
  // "tf32", "fp16", "bf16", "fp8", "int8" (tensor cores). Absent: not supported.
  std::map<std::string, double> peak_ops;
  // Model tokens of the device name this preset matches, whole and case-insensitive:
  // "H100" matches "NVIDIA H100 80GB HBM3" and "NVIDIA H100 PCIe", not "NVIDIA GH100".
  std::vector<std::string> name_patterns;
};

// The device as read at run time (from the worker's hello).
struct DeviceInfo {
  std::string name;        // torch.cuda.get_device_properties(0).name
  std::string capability;  // "9.0"
  int sm_count = 0;
  double memory_bytes = 0;
  double l2_bytes = 0;  // 0 when the torch at hand does not say
};

// All presets: at least h100, h200, a100, l40s, b200.
const std::vector<Target>& targets();
std::optional<Target> find_target(const std::string& name);
// The preset whose patterns match the device's name (none for an unknown device).
std::optional<Target> match_device(const DeviceInfo& device);
// Warnings (one line each) where the named target and the device differ: another
// model, SM count, memory size, capability. Empty when they agree.
std::vector<std::string> compare_target(const Target& target, const DeviceInfo& device);
nlohmann::json target_json(const Target& target);

// Speed of light: the least time any implementation could take, from the bytes it must
// move (inputs read, outputs written, parameters read) and the operations it must do.
struct SpeedOfLight {
  double seconds = 0;          // max(memory_seconds, compute_seconds)
  double memory_seconds = 0;   // bytes / bandwidth
  double compute_seconds = 0;  // ops / peak at the precision
  std::string bound;           // "memory" or "compute"
  std::string precision;       // the peak used
};
// precision: the workload's compute precision ("fp32", "tf32", "fp16", "bf16", ...);
// a precision the target lacks falls back to fp32's peak.
SpeedOfLight speed_of_light(const Target& target, double bytes, double ops, const std::string& precision);
nlohmann::json sol_json(const SpeedOfLight& sol);

// The CUDA arch kopt builds extensions for on a device of compute capability `capability`
// ("9.0" -> "9.0a", "10.0" -> "10.0a": arch-specific from Hopper on, so builds target the
// exact device and may use wgmma and TMA; "8.0" -> "8.0"): TORCH_CUDA_ARCH_LIST's value.
std::string cuda_arch(const std::string& capability);

// The class of a kernel or operator from its profiler name: "conv", "gemm", "attention",
// "pool", "norm", "reduction", "elementwise" or "other". cuDNN's implicit-GEMM
// convolution kernels are "conv", not "gemm".
std::string kernel_class(const std::string& name);

// The TF32 switches the reference ran with (torch.backends.cudnn.allow_tf32, PyTorch's
// default True; torch.backends.cuda.matmul.allow_tf32, default False).
struct MathModes {
  bool cudnn_allow_tf32 = true;
  bool matmul_allow_tf32 = false;
};

// The peak a bound uses and why. For an fp32 workload: "tf32" when its kernels include a
// convolution and cuDNN may use TF32, or a matmul and cuBLAS may; else "fp32". Another
// workload precision is kept. `classes`: kernel_class of the reference's kernels.
struct PeakChoice {
  std::string precision;
  std::string why;  // "convolutions run in TF32 (torch.backends.cudnn.allow_tf32 is True)"
};
PeakChoice choose_peak(const std::string& workload_precision, const std::vector<std::string>& classes,
                       const MathModes& modes);

// A warning naming the likely cause when a measured time is below the bound (empty when
// it is not): the bound is a floor, so a time under it means the bound's inputs are wrong.
std::string bound_warning(const SpeedOfLight& sol, const PeakChoice& peak, double measured_seconds,
                          const std::string& what);

}  // namespace kopt::measure
