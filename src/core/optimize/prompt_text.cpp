// The run's measurements as prompt text: the target GPU, a profile's kernel table, the
// baseline's timings without their kernel block (declared in include/kopt/core/optimize.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kopt/core/optimize.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/util/json.hpp"

namespace kopt::core {

using util::json_field;

namespace {

// 4.8e12 -> "4.8", 4.947e14 / 1e12 -> "495": three significant figures, no exponent.
std::string figure(double v) {
  std::string s = fmt::format("{:.3g}", v);
  if (s.find('e') != std::string::npos) s = fmt::format("{:.0f}", v);
  return s;
}

}  // namespace

std::string profile_table(const nlohmann::json& profile, const std::string& whose) {
  const auto& kernels = json_field(profile, "kernels");
  if (!profile.is_object() || !profile.contains("kernels") || !kernels.is_array() || kernels.empty()) return "";
  std::string out = "torch.profiler, " + whose + ", per call (us, share of its time, launches, kernel):\n";
  int n = 0;
  for (const auto& k : kernels) {
    if (!k.is_object() || ++n > 8) break;
    out += fmt::format("  {:9.2f} us  {:5.1f}%  x{:.0f}  {}\n", util::json_number(k, "us_per_call"),
                       100 * util::json_number(k, "share"), util::json_number(k, "launches_per_call"),
                       util::json_string(k, "name").substr(0, 160));
  }
  const double bytes = util::json_number(profile, "bytes"), flops = util::json_number(profile, "flops");
  if (bytes > 0 || flops > 0) {
    out += "Work per call (inputs, outputs and parameters, each moved once):";
    if (bytes > 0) out += fmt::format(" {} GB", figure(bytes / 1e9));
    if (flops > 0) out += fmt::format("{} {} GFLOP", bytes > 0 ? "," : "", figure(flops / 1e9));
    out += ".\n";
  }
  if (json_field(profile, "math").is_object()) {
    const auto& m = json_field(profile, "math");
    auto flag = [&](const char* key, const char* what) -> std::string {
      if (!json_field(m, key).is_boolean()) return "";
      return std::string(what) + (json_field(m, key).get<bool>() ? " allowed" : " not allowed");
    };
    std::string cudnn = flag("cudnn_allow_tf32", "TF32 in cuDNN convolutions");
    std::string matmul = flag("matmul_allow_tf32", "TF32 in matmuls");
    if (!cudnn.empty() || !matmul.empty())
      out += "PyTorch's math settings in " + whose + ": " + cudnn + (cudnn.empty() || matmul.empty() ? "" : ", ") + matmul +
             ".\n";
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
  const std::string name = util::json_string(d, "name"), cap = util::json_string(d, "capability");
  const std::string torch = util::json_string(d, "torch");
  std::string software = "torch " + (torch.empty() ? std::string("(unknown)") : torch);
  if (const auto cuda = util::json_string(d, "cuda"); !cuda.empty()) software += ", CUDA " + cuda;
  if (const auto driver = util::json_string(d, "driver"); !driver.empty()) software += ", driver " + driver;
  if (const auto py = util::json_string(d, "python"); !py.empty()) software += ", Python " + py;
  if (name.empty()) return "CPU (no GPU): " + software + ".";
  std::string out = name;
  if (!cap.empty()) {
    // The arch kopt builds extensions for (TORCH_CUDA_ARCH_LIST): "9.0a" -> "sm_90a".
    std::string sm = measure::cuda_arch(cap);
    sm.erase(std::remove(sm.begin(), sm.end(), '.'), sm.end());
    out += fmt::format(", compute capability {} (extensions are built for sm_{})", cap, sm);
  }
  const nlohmann::json t =
      json_field(d, "target").is_object() ? json_field(d, "target") : nlohmann::json::object();
  if (const double sms = util::json_number(d, "sm_count"); sms > 0) out += fmt::format(", {:.0f} SMs", sms);
  if (const double mem = util::json_number(d, "memory_bytes"); mem > 0) out += fmt::format(", {:.0f} GiB memory", mem / 1073741824.0);
  if (const double l2 = util::json_number(d, "l2_bytes"); l2 > 0) out += fmt::format(", {:.0f} MiB L2", l2 / 1048576.0);
  if (const double smem = util::json_number(t, "smem_per_sm_bytes"); smem > 0)
    out += fmt::format(", {:.0f} KiB shared memory per SM", smem / 1024.0);
  out += ".\n";
  if (json_field(t, "peak_ops").is_object()) {
    const auto& p = json_field(t, "peak_ops");
    std::vector<std::string> peaks;
    if (const double bw = util::json_number(t, "memory_bandwidth"); bw > 0) peaks.push_back("memory " + figure(bw / 1e12) + " TB/s");
    const std::vector<std::pair<std::string, std::vector<const char*>>> kinds = {
        {"fp32 (CUDA cores)", {"fp32"}}, {"tf32", {"tf32"}}, {"fp16/bf16", {"fp16", "bf16"}}, {"fp8/int8", {"fp8", "int8"}}};
    for (const auto& [label, keys] : kinds) {
      const double v = util::json_number(p, keys[0]);
      if (v > 0) peaks.push_back(label + " " + figure(v / 1e12) + " TFLOP/s");
    }
    if (!peaks.empty()) {
      std::string desc = util::json_string(t, "description");
      out += "Peaks (dense" + (desc.empty() ? std::string() : ", the " + desc + " preset") + "):";
      for (size_t i = 0; i < peaks.size(); ++i) out += (i ? ", " : " ") + peaks[i];
      out += ".\n";
    }
  }
  out += software + ".\n";
  if (json_field(d, "gpu_state").is_object()) {
    const auto& g = json_field(d, "gpu_state");
    std::vector<std::string> state;
    if (const double sm = util::json_number(g, "sm_clock_mhz"); sm > 0) state.push_back(fmt::format("SM clock {:.0f} MHz", sm));
    if (const double mem = util::json_number(g, "mem_clock_mhz"); mem > 0) state.push_back(fmt::format("memory clock {:.0f} MHz", mem));
    if (const auto thr = util::json_string(g, "throttle"); !thr.empty()) state.push_back("throttled: " + thr);
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
