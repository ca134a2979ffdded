#include "kopt/measure/target.hpp"

#include <gtest/gtest.h>

namespace {

using kopt::measure::compare_target;
using kopt::measure::DeviceInfo;
using kopt::measure::find_target;
using kopt::measure::match_device;
using kopt::measure::sol_json;
using kopt::measure::speed_of_light;
using kopt::measure::target_json;
using kopt::measure::targets;

constexpr double k_gib = 1024.0 * 1024.0 * 1024.0;

std::string matched(const std::string& name) {
  DeviceInfo device;
  device.name = name;
  const auto target = match_device(device);
  return target ? target->name : "none";
}

bool mentions(const std::vector<std::string>& warnings, const std::string& text) {
  for (const auto& w : warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(target, the_five_presets_exist) {
  for (const char* name : {"h100", "h200", "a100", "l40s", "b200"}) {
    EXPECT_TRUE(find_target(name).has_value()) << name;
  }
  EXPECT_GE(targets().size(), 5u);
}

TEST(target, every_preset_has_all_fields_positive) {
  for (const auto& t : targets()) {
    SCOPED_TRACE(t.name);
    EXPECT_FALSE(t.description.empty());
    EXPECT_FALSE(t.capability.empty());
    EXPECT_GT(t.sm_count, 0);
    EXPECT_GT(t.memory_bandwidth, 0);
    EXPECT_GT(t.memory_bytes, 0);
    EXPECT_GT(t.l2_bytes, 0);
    EXPECT_GT(t.smem_per_sm_bytes, 0);
    EXPECT_FALSE(t.name_patterns.empty());
    for (const char* precision : {"fp64", "fp32", "tf32", "fp16", "bf16", "int8"}) {
      ASSERT_EQ(t.peak_ops.count(precision), 1u) << precision;
      EXPECT_GT(t.peak_ops.at(precision), 0) << precision;
    }
    for (const auto& [precision, ops] : t.peak_ops) EXPECT_GT(ops, 0) << precision;
  }
}

TEST(target, datasheet_figures_are_the_ones_cited) {
  const auto h100 = *find_target("h100");
  EXPECT_EQ(h100.sm_count, 132);
  EXPECT_DOUBLE_EQ(h100.memory_bandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(h100.l2_bytes, 50.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(h100.peak_ops.at("bf16"), 989.4e12);
  const auto h200 = *find_target("h200");
  EXPECT_DOUBLE_EQ(h200.memory_bandwidth, 4.8e12);
  EXPECT_EQ(h200.peak_ops, h100.peak_ops);
  const auto a100 = *find_target("a100");
  EXPECT_EQ(a100.peak_ops.count("fp8"), 0u);  // Ampere has no fp8
  EXPECT_EQ(a100.capability, "8.0");
}

TEST(target, find_target_ignores_case_and_rejects_unknown_names) {
  EXPECT_EQ(find_target("H100")->name, "h100");
  EXPECT_FALSE(find_target("v100").has_value());
  EXPECT_FALSE(find_target("").has_value());
}

TEST(target, devices_match_their_preset_by_model_name) {
  EXPECT_EQ(matched("NVIDIA H100 80GB HBM3"), "h100");
  EXPECT_EQ(matched("NVIDIA H200"), "h200");
  EXPECT_EQ(matched("NVIDIA A100-SXM4-80GB"), "a100");
  EXPECT_EQ(matched("NVIDIA L40S"), "l40s");
  EXPECT_EQ(matched("NVIDIA B200"), "b200");
  EXPECT_EQ(matched("NVIDIA H100 PCIe"), "h100");
  EXPECT_EQ(matched("nvidia h100 nvl"), "h100");
}

TEST(target, unknown_and_look_alike_devices_match_none) {
  EXPECT_EQ(matched("Tesla V100-SXM2-16GB"), "none");
  EXPECT_EQ(matched("NVIDIA GH200 480GB"), "none");  // not the H200 token
  EXPECT_EQ(matched("NVIDIA L40"), "none");          // not an L40S
  EXPECT_EQ(matched(""), "none");
}

TEST(target, an_h200_device_under_the_h100_target_is_warned_about) {
  DeviceInfo device{"NVIDIA H200", "9.0", 132, 140 * k_gib, 50.0 * 1024 * 1024};
  const auto warnings = compare_target(*find_target("h100"), device);
  EXPECT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(mentions(warnings, "another model"));
  EXPECT_TRUE(mentions(warnings, "140.0 GiB"));
  EXPECT_FALSE(mentions(warnings, "SMs"));
  EXPECT_FALSE(mentions(warnings, "capability"));
}

TEST(target, a_matching_device_gives_no_warnings) {
  DeviceInfo device{"NVIDIA H100 80GB HBM3", "9.0", 132, 79.1 * k_gib, 50.0 * 1024 * 1024};
  EXPECT_TRUE(compare_target(*find_target("h100"), device).empty());
}

TEST(target, an_h100_pcie_matches_h100_with_sm_and_bandwidth_warnings) {
  DeviceInfo device{"NVIDIA H100 PCIe", "9.0", 114, 79.6 * k_gib, 50.0 * 1024 * 1024};
  ASSERT_EQ(match_device(device)->name, "h100");
  const auto warnings = compare_target(*find_target("h100"), device);
  EXPECT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(mentions(warnings, "114 SMs"));
  EXPECT_TRUE(mentions(warnings, "PCIe card"));
}

TEST(target, capability_and_memory_differences_are_each_warned) {
  DeviceInfo device{"NVIDIA A100-SXM4-40GB", "8.6", 108, 40 * k_gib, 0};
  const auto warnings = compare_target(*find_target("a100"), device);
  EXPECT_EQ(warnings.size(), 2u);
  EXPECT_TRUE(mentions(warnings, "capability 8.6"));
  EXPECT_TRUE(mentions(warnings, "40.0 GiB"));
}

TEST(target, memory_within_ten_percent_is_not_warned) {
  DeviceInfo device{"NVIDIA H200", "9.0", 132, 141 * k_gib * 0.95, 0};
  EXPECT_TRUE(compare_target(*find_target("h200"), device).empty());
}

TEST(target, unknown_device_fields_are_not_compared) {
  DeviceInfo device;  // nothing known
  EXPECT_TRUE(compare_target(*find_target("b200"), device).empty());
}

TEST(target, memory_bound_work_is_bytes_over_bandwidth) {
  const auto sol = speed_of_light(*find_target("h100"), 3.35e9, 1e9, "fp32");
  EXPECT_DOUBLE_EQ(sol.memory_seconds, 1e-3);
  EXPECT_DOUBLE_EQ(sol.compute_seconds, 1e9 / 67e12);
  EXPECT_DOUBLE_EQ(sol.seconds, 1e-3);
  EXPECT_EQ(sol.bound, "memory");
  EXPECT_EQ(sol.precision, "fp32");
}

TEST(target, compute_bound_work_is_ops_over_the_precision_peak) {
  const auto sol = speed_of_light(*find_target("h100"), 3.35e9, 2 * 989.4e12 * 1e-3, "bf16");
  EXPECT_DOUBLE_EQ(sol.compute_seconds, 2e-3);
  EXPECT_DOUBLE_EQ(sol.seconds, 2e-3);
  EXPECT_EQ(sol.bound, "compute");
  EXPECT_EQ(sol.precision, "bf16");
}

TEST(target, a_precision_the_target_lacks_falls_back_to_fp32) {
  const auto sol = speed_of_light(*find_target("a100"), 0, 19.5e12, "fp8");
  EXPECT_EQ(sol.precision, "fp32");
  EXPECT_DOUBLE_EQ(sol.compute_seconds, 1.0);
  EXPECT_EQ(speed_of_light(*find_target("h100"), 0, 1, "fp4").precision, "fp32");
}

TEST(target, no_work_takes_no_time) {
  const auto sol = speed_of_light(*find_target("l40s"), 0, 0, "fp16");
  EXPECT_EQ(sol.seconds, 0);
  EXPECT_EQ(sol.bound, "memory");
}

TEST(target, json_carries_every_field) {
  const auto j = target_json(*find_target("l40s"));
  for (const char* key : {"name", "description", "capability", "sm_count", "memory_bandwidth",
                          "memory_bytes", "l2_bytes", "smem_per_sm_bytes", "peak_ops",
                          "name_patterns"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["sm_count"], 142);
  EXPECT_DOUBLE_EQ(j["peak_ops"]["fp8"].get<double>(), 733e12);
  EXPECT_EQ(j["name_patterns"][0], "L40S");

  const auto s = sol_json(speed_of_light(*find_target("h100"), 3.35e12, 0, "fp16"));
  EXPECT_DOUBLE_EQ(s["seconds"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["memory_seconds"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["compute_seconds"].get<double>(), 0.0);
  EXPECT_EQ(s["bound"], "memory");
  EXPECT_EQ(s["precision"], "fp16");
}

}  // namespace

namespace {

using kopt::measure::bound_warning;
using kopt::measure::choose_peak;
using kopt::measure::kernel_class;
using kopt::measure::MathModes;

}  // namespace

TEST(kernel_class, cudnn_convolutions_are_conv_even_when_named_implicit_gemm) {
  EXPECT_EQ(kernel_class("sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw"), "conv");
  EXPECT_EQ(kernel_class("void cudnn::detail::dgrad_engine<float, 128, 6, 8, 3, 3, 5, false>"), "conv");
  EXPECT_EQ(kernel_class("aten::mkldnn_convolution"), "conv");
  EXPECT_EQ(kernel_class("ampere_sgemm_128x64_tn"), "gemm");
  EXPECT_EQ(kernel_class("aten::addmm"), "gemm");
  EXPECT_EQ(kernel_class("void at::native::(anonymous namespace)::avg_pool2d_out_cuda_frame<float>"), "pool");
  EXPECT_EQ(kernel_class("aten::avg_pool1d"), "pool");
  EXPECT_EQ(kernel_class("void at::native::reduce_kernel<512, 1>"), "reduction");
  EXPECT_EQ(kernel_class("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl>"),
            "elementwise");
  EXPECT_EQ(kernel_class("fmha_cutlassF_f32_aligned_64x64_rf_sm80"), "attention");
  EXPECT_EQ(kernel_class("Memcpy HtoD"), "other");
  // GroupNorm's statistics and cuDNN's layout copies, as the conv + GroupNorm + ReLU
  // workload of the quality run profiled them (H200).
  EXPECT_EQ(kernel_class("void at::native::(anonymous namespace)::RowwiseMomentsCUDAKernel<float>(long, float, float const*)"),
            "norm");
  EXPECT_EQ(kernel_class("void cudnn::engines_precompiled::nchwToNhwcKernel<float, float, float, false, true>"),
            "elementwise");
}

TEST(choose_peak, an_fp32_convolution_under_pytorch_defaults_is_bounded_by_the_tf32_peak) {
  const auto p = choose_peak("fp32", {"conv", "reduction", "elementwise"}, MathModes{});
  EXPECT_EQ(p.precision, "tf32");
  EXPECT_NE(p.why.find("cudnn.allow_tf32"), std::string::npos) << p.why;
}

TEST(choose_peak, a_convolution_with_cudnn_tf32_off_is_bounded_by_fp32) {
  MathModes modes;
  modes.cudnn_allow_tf32 = false;
  EXPECT_EQ(choose_peak("fp32", {"conv"}, modes).precision, "fp32");
}

TEST(choose_peak, an_fp32_matmul_is_fp32_unless_matmul_tf32_is_allowed) {
  EXPECT_EQ(choose_peak("fp32", {"gemm", "elementwise"}, MathModes{}).precision, "fp32");
  MathModes modes;
  modes.matmul_allow_tf32 = true;
  const auto p = choose_peak("fp32", {"gemm"}, modes);
  EXPECT_EQ(p.precision, "tf32");
  EXPECT_NE(p.why.find("matmul.allow_tf32"), std::string::npos) << p.why;
  // cuDNN's switch says nothing about matmuls.
  MathModes cudnn_only;
  cudnn_only.cudnn_allow_tf32 = true;
  EXPECT_EQ(choose_peak("fp32", {"gemm", "pool"}, cudnn_only).precision, "fp32");
}

TEST(choose_peak, a_half_precision_workload_keeps_its_own_peak) {
  EXPECT_EQ(choose_peak("bf16", {"conv"}, MathModes{}).precision, "bf16");
}

TEST(bound_warning, a_baseline_faster_than_an_fp32_compute_bound_names_tensor_cores_as_the_cause) {
  const auto h200 = *find_target("h200");
  // 1 TFLOP of work: 14.9 ms at the fp32 peak (67 TF/s), 2.0 ms at TF32.
  const auto sol = speed_of_light(h200, 1e6, 1e12, "fp32");
  const auto peak = choose_peak("fp32", {"gemm"}, MathModes{});
  const auto w = bound_warning(sol, peak, 0.010, "the best baseline, eager,");
  EXPECT_NE(w.find("faster than the speed-of-light bound"), std::string::npos) << w;
  EXPECT_NE(w.find("tensor cores"), std::string::npos) << w;
  EXPECT_TRUE(bound_warning(sol, peak, 0.020, "eager").empty()) << "a time above the bound is no warning";
  const auto tf32 = speed_of_light(h200, 1e6, 1e12, "tf32");
  EXPECT_TRUE(bound_warning(tf32, choose_peak("fp32", {"conv"}, MathModes{}), 0.010, "eager").empty());
}

TEST(bound_warning, a_baseline_faster_than_a_memory_bound_names_the_byte_count) {
  const auto h200 = *find_target("h200");
  const auto sol = speed_of_light(h200, 4.8e9, 1e6, "fp32");  // 1 ms of traffic
  const auto w = bound_warning(sol, choose_peak("fp32", {"pool"}, MathModes{}), 0.0005, "eager");
  EXPECT_NE(w.find("bytes counted"), std::string::npos) << w;
}

TEST(cuda_arch, is_arch_specific_from_hopper_on) {
  EXPECT_EQ(kopt::measure::cuda_arch("9.0"), "9.0a");
  EXPECT_EQ(kopt::measure::cuda_arch("10.0"), "10.0a");
  EXPECT_EQ(kopt::measure::cuda_arch("8.0"), "8.0");
  EXPECT_EQ(kopt::measure::cuda_arch(""), "");
}
