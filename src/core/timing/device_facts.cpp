// The device a timing report describes: its facts from the reference worker's hello, the
// target preset they are judged against, NVML for its GPU, and the speed-of-light figures
// (declared in eval_timing.hpp).
#include "core/timing/eval_timing.hpp"

#include "kopt/util/json.hpp"

namespace kopt::core {

namespace {

measure::DeviceInfo device_info(const nlohmann::json& hello) {
  measure::DeviceInfo info;
  info.name = hello.value("device_name", "");
  info.capability = hello.value("capability", "");
  info.sm_count = hello.value("sm_count", 0);
  info.memory_bytes = hello.value("memory_bytes", 0.0);
  info.l2_bytes = hello.value("l2_bytes", 0.0);
  return info;
}

}  // namespace

std::optional<measure::Target> resolve_target(const nlohmann::json& hello, const std::string& target_name,
                                              std::vector<std::string>* warnings) {
  const auto info = device_info(hello);
  std::optional<measure::Target> target;
  if (!target_name.empty()) {
    target = measure::find_target(target_name);
    if (!target && warnings) warnings->push_back("unknown --target " + target_name);
  } else if (!info.name.empty()) {
    target = measure::match_device(info);
  }
  if (target && warnings && !info.name.empty())
    for (auto& w : measure::compare_target(*target, info)) warnings->push_back(w);
  return target;
}

nlohmann::json device_facts(const nlohmann::json& hello, const std::string& target_name,
                            std::vector<std::string>& warnings) {
  const auto info = device_info(hello);
  nlohmann::json d = {{"name", info.name}, {"capability", info.capability}, {"sm_count", info.sm_count},
                      {"memory_bytes", info.memory_bytes}, {"l2_bytes", info.l2_bytes},
                      {"torch", hello.value("torch", "")}, {"cuda", hello.value("cuda", nlohmann::json(nullptr))}};
  if (hello.contains("free_bytes")) d["free_bytes"] = hello["free_bytes"];
  d["host_cpu"] = hello.value("host_cpu", "");
  if (const auto target = resolve_target(hello, target_name, &warnings)) d["target"] = measure::target_json(*target);
  return d;
}

std::unique_ptr<measure::Nvml> open_nvml(const std::string& device, const nlohmann::json& hello, nlohmann::json& info) {
  if (device != "cuda") return nullptr;
  std::string why;
  auto nvml = measure::Nvml::open(why);
  if (!nvml) {
    info["nvml"] = "unavailable: " + why;
    return nullptr;
  }
  if (!nvml->select(hello.value("uuid", ""), hello.value("pci", ""))) {
    info["nvml"] = "no NVML device matches the worker's GPU";
    return nullptr;
  }
  info["nvml"] = "ok";
  info["driver"] = nvml->driver_version();
  return nvml;
}

nlohmann::json sol_figures(const measure::Target& target, double bytes, double flops,
                           const std::string& precision, double time_ms) {
  const auto sol = measure::speed_of_light(target, bytes, flops, precision);
  auto j = measure::sol_json(sol);
  j["bytes"] = bytes;
  j["flops"] = flops;
  j["flops_known"] = flops > 0;
  if (time_ms > 0 && sol.seconds > 0) {
    const double s = time_ms / 1000.0;
    j["fraction_of_light"] = sol.seconds / s;
    j["achieved_bandwidth_fraction"] = sol.memory_seconds / s;
    if (flops > 0) j["achieved_compute_fraction"] = sol.compute_seconds / s;
  }
  return j;
}

measure::PeakChoice reference_peak(const nlohmann::json& profile, const std::string& precision) {
  std::vector<std::string> classes;
  if (profile.is_object() && profile.contains("kernels") && profile["kernels"].is_array())
    for (const auto& k : util::json_field(profile, "kernels"))
      if (k.is_object() && k.contains("name") && k["name"].is_string())
        classes.push_back(measure::kernel_class(k["name"].get<std::string>()));
  measure::MathModes modes;
  if (profile.is_object() && profile.contains("math") && profile["math"].is_object()) {
    const auto& math = util::json_field(profile, "math");
    // From a worker (untrusted for nothing here, but a damaged record may be read back).
    if (math.contains("cudnn_allow_tf32") && math["cudnn_allow_tf32"].is_boolean())
      modes.cudnn_allow_tf32 = math["cudnn_allow_tf32"].get<bool>();
    if (math.contains("matmul_allow_tf32") && math["matmul_allow_tf32"].is_boolean())
      modes.matmul_allow_tf32 = math["matmul_allow_tf32"].get<bool>();
  }
  return measure::choose_peak(precision, classes, modes);
}

}  // namespace kopt::core
