// What kopt optimize says about a run's figures, and the pieces of text its prompts are
// made of: a candidate's distance to the speed-of-light bound, the best baseline's headroom,
// a ranking speedup's quartile range, the target GPU, the profile tables, the baseline's
// bound line.
#include <gtest/gtest.h>

#include <string>

#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/core/timing.hpp"
#include "core/timing/eval_timing.hpp"

// The bound a ranked candidate's refine prompt measures it against: the run's baseline
// bound (softmax_rows of the quality run, H200: 2 GiB moved, 0.4474 ms at 4.8 TB/s) with
// the fractions of the candidate's own time. Ranking used to leave it out altogether.
TEST(sol_at, a_candidates_fractions_come_from_the_runs_bound_and_its_own_time) {
  const nlohmann::json bound = {{"seconds", 0.00044739242666666664}, {"memory_seconds", 0.00044739242666666664},
                                {"compute_seconds", 0.0}, {"bytes", 2147483648.0}, {"flops", 0.0},
                                {"bound", "memory"}, {"precision", "fp32"}, {"fraction_of_light", 0.608},
                                {"achieved_bandwidth_fraction", 0.608}};
  const auto j = kopt::core::sol_at(bound, 0.5696);
  ASSERT_TRUE(j.is_object());
  EXPECT_NEAR(j["fraction_of_light"].get<double>(), 0.7855, 1e-4);
  EXPECT_NEAR(j["achieved_bandwidth_fraction"].get<double>(), 0.7855, 1e-4);
  EXPECT_FALSE(j.contains("achieved_compute_fraction"));
  EXPECT_EQ(j["bytes"], 2147483648.0);
  EXPECT_EQ(j["bound"], "memory");
  // With flops, the compute fraction too.
  auto gemm = bound;
  gemm["flops"] = 1.37e11;
  gemm["compute_seconds"] = 1.37e11 / 67e12;
  EXPECT_NEAR(kopt::core::sol_at(gemm, 2.8)["achieved_compute_fraction"].get<double>(), 1.37e11 / 67e12 / 2.8e-3, 1e-9);
  // No bound (a CPU run, an unknown GPU), a damaged one, or no time: nothing.
  EXPECT_TRUE(kopt::core::sol_at(nullptr, 0.5).is_null());
  EXPECT_TRUE(kopt::core::sol_at({{"seconds", "soon"}}, 0.5).is_null());
  EXPECT_TRUE(kopt::core::sol_at(bound, 0.0).is_null());
}

// The most any implementation could gain over the best baseline: elementwise_chain of the
// quality run (H200: 1.61 GB moved, 0.3355 ms at 4.8 TB/s; compile:default 0.3775 ms) can
// be at most 1.125x faster; a compute bound says at which peak.
TEST(headroom, the_ceiling_is_the_best_baselines_distance_to_the_bound) {
  const nlohmann::json bound = {{"seconds", 0.00033554432}, {"memory_seconds", 0.00033554432}, {"compute_seconds", 0.0},
                                {"bytes", 1610612736.0}, {"flops", 0.0}, {"bound", "memory"}, {"precision", "fp32"}};
  const auto h = kopt::core::headroom(bound, "compile:default", 0.377496);
  ASSERT_TRUE(h.is_object());
  EXPECT_EQ(h["baseline"], "compile:default");
  EXPECT_NEAR(h["fraction_of_light"].get<double>(), 0.8889, 1e-4);
  EXPECT_NEAR(h["ceiling"].get<double>(), 1.1250, 1e-4);
  EXPECT_EQ(kopt::core::headroom_text(h),
            "speed of light 0.3355 ms (memory-bound, fp32): compile:default is at 88.9% of it, so at most 1.13x is left");
  auto gemm = bound;
  gemm["bound"] = "compute";
  EXPECT_NE(kopt::core::headroom_text(kopt::core::headroom(gemm, "eager", 0.5)).find("at most 1.49x is left at the fp32 peak"),
            std::string::npos);
  // A baseline under the bound: no ceiling (the bound is wrong, not the baseline).
  const auto under = kopt::core::headroom(bound, "compile:default", 0.30);
  EXPECT_TRUE(under.value("below_light", false));
  EXPECT_FALSE(under.contains("ceiling"));
  EXPECT_NE(kopt::core::headroom_text(under).find("faster than the bound"), std::string::npos);
  // No bound, a damaged one, no time: nothing, and no text.
  EXPECT_TRUE(kopt::core::headroom(nullptr, "eager", 0.5).is_null());
  EXPECT_TRUE(kopt::core::headroom({{"seconds", "soon"}}, "eager", 0.5).is_null());
  EXPECT_TRUE(kopt::core::headroom(bound, "eager", 0.0).is_null());
}

namespace {
// An fp32 memory bound of `seconds` for `bytes`, with a copy test's figures.
nlohmann::json memory_bound_with_copy(double seconds, double bytes, double copy_bandwidth, double copy_fraction) {
  return {{"seconds", seconds}, {"memory_seconds", seconds}, {"compute_seconds", 0.0},
          {"bytes", bytes},     {"flops", 0.0},              {"bound", "memory"},
          {"precision", "fp32"}, {"copy_bandwidth", copy_bandwidth}, {"copy_fraction", copy_fraction}};
}
}  // namespace

// A memory bound carries the baseline's copy test (copy_fraction: what a plain copy reached
// of the peak bandwidth): the practical ceiling is the best baseline's distance to that.
// elementwise_chain on the H100 (1.611 GB, 0.4808 ms at 3.35 TB/s; compile:default 0.5276
// ms), with a copy at 92% of the peak (a figure for the test, not a measurement).
TEST(headroom, a_copy_test_gives_the_practical_ceiling_beside_the_datasheets) {
  const nlohmann::json bound = memory_bound_with_copy(0.00048077, 1610612736.0, 3.082e12, 0.92);
  const auto h = kopt::core::headroom(bound, "compile:default", 0.5276);
  ASSERT_TRUE(h.is_object());
  EXPECT_NEAR(h["ceiling"].get<double>(), 0.5276 / 0.48077, 1e-4);
  EXPECT_NEAR(h["practical_ceiling"].get<double>(), 0.92 * 0.5276 / 0.48077, 1e-4);
  EXPECT_EQ(kopt::core::headroom_text(h),
            "speed of light 0.4808 ms (memory-bound, fp32): compile:default is at 91.1% of it, so at most 1.10x is left; "
            "a plain copy on this GPU moves 3.08 TB/s, 92.0% of the peak bandwidth, so about 1.01x is practical");
  // A compute bound, a damaged figure or none: the datasheet's ceiling alone.
  auto gemm = bound;
  gemm["bound"] = "compute";
  EXPECT_FALSE(kopt::core::headroom(gemm, "eager", 0.5).contains("practical_ceiling"));
  for (const nlohmann::json& bad : {nlohmann::json("fast"), nlohmann::json(-1), nlohmann::json(7.0), nlohmann::json()}) {
    auto damaged = bound;
    damaged["copy_fraction"] = bad;
    const auto d = kopt::core::headroom(damaged, "compile:default", 0.5276);
    EXPECT_FALSE(d.contains("practical_ceiling")) << bad;
    EXPECT_EQ(kopt::core::headroom_text(d).find("practical"), std::string::npos) << bad;
  }
}

// The H200's logsumexp_rows as `round.sh copytest` measured it (twenty-fifth session):
// compile:default at 92.6% of the peak bandwidth, a plain copy at 87.4%. A practical
// ceiling under 1 would say compile cannot run as fast as it does: it is 1, and the text
// says why.
TEST(headroom, a_baseline_past_the_copy_has_no_practical_room_left) {
  const nlohmann::json bound = memory_bound_with_copy(0.00044742, 2147614720.0, 4.1969e12, 0.87436);
  const auto h = kopt::core::headroom(bound, "compile:default", 0.4830);
  ASSERT_TRUE(h.is_object());
  EXPECT_NEAR(h["ceiling"].get<double>(), 0.4830 / 0.44742, 1e-4);
  EXPECT_EQ(h["practical_ceiling"].get<double>(), 1.0);
  EXPECT_EQ(h["past_copy"], true);
  EXPECT_EQ(kopt::core::headroom_text(h),
            "speed of light 0.4474 ms (memory-bound, fp32): compile:default is at 92.6% of it, so at most 1.08x is left; "
            "a plain copy on this GPU moves 4.20 TB/s, 87.4% of the peak bandwidth, and compile:default already moves "
            "more, so little room is practical");
  // A summary stored by a kopt before past_copy (the ratio itself, 0.944): read the same way.
  auto stored = h;
  stored.erase("past_copy");
  stored["practical_ceiling"] = 0.944;
  EXPECT_EQ(kopt::core::headroom_text(stored), kopt::core::headroom_text(h));
  // A slower baseline on the same GPU: under the copy, its ratio stands.
  const auto slower = kopt::core::headroom(bound, "eager", 0.60);
  EXPECT_FALSE(slower.contains("past_copy"));
  EXPECT_NEAR(slower["practical_ceiling"].get<double>(), 0.87436 * 0.60 / 0.44742, 1e-4);
}

// The H200's logsumexp_rows: the run's baseline read compile:default under the bound
// (0.4371 ms against 0.4474), the gate 0.4799 ms. Where the gate did not reproduce the
// best baseline, the distance to the bound comes from the gate's figure.
TEST(headroom, where_the_gate_did_not_reproduce_the_best_baseline_its_figure_stands) {
  const nlohmann::json bound = {{"seconds", 0.0004474}, {"memory_seconds", 0.0004474}, {"compute_seconds", 0.0},
                                {"bytes", 2.148e9}, {"flops", 0.0}, {"bound", "memory"}, {"precision", "fp32"}};
  const auto run = kopt::core::headroom(bound, "compile:default", 0.4371);
  ASSERT_TRUE(run.value("below_light", false));
  const nlohmann::json drift = nlohmann::json::array(
      {{{"baseline", "compile:default"}, {"run_ms", 0.4371}, {"gate_ms", 0.4799}, {"change", 0.098}, {"limit", 0.03}}});
  const auto gate = kopt::core::headroom_after_drift(run, drift, bound, "compile:default");
  EXPECT_EQ(gate["timed_by"], "gate");
  EXPECT_NEAR(gate["fraction_of_light"].get<double>(), 0.4474 / 0.4799, 1e-6);
  EXPECT_EQ(kopt::core::headroom_text(gate),
            "speed of light 0.4474 ms (memory-bound, fp32): compile:default as the final gate timed it is at 93.2% of it, "
            "so at most 1.07x is left");
  // Drift of another baseline, or none: the run's figure stays.
  EXPECT_EQ(kopt::core::headroom_after_drift(run, drift, bound, "eager"), run);
  EXPECT_EQ(kopt::core::headroom_after_drift(run, nlohmann::json::array(), bound, "compile:default"), run);
  EXPECT_EQ(kopt::core::headroom_after_drift(run, nullptr, bound, "compile:default"), run);
  EXPECT_EQ(kopt::core::headroom_text(nullptr), "");
}

// A ranking speedup is printed with the spread of the two timings behind it (the gate gives
// the confidence interval); a record from before kopt kept the quartiles says "ranking".
TEST(ranking_speedup_text, the_ranking_figure_carries_its_quartile_range) {
  kopt::core::CandidateRecord r;
  EXPECT_EQ(kopt::core::ranking_speedup_text(r), "");
  r.speedup = 1.1261;
  EXPECT_EQ(kopt::core::ranking_speedup_text(r), ", speedup: 1.126x (ranking)");
  r.speedup_low = 1.1015;
  r.speedup_high = 1.1512;
  EXPECT_EQ(kopt::core::ranking_speedup_text(r), ", speedup: 1.126x (ranking quartiles 1.101-1.151)");
  EXPECT_EQ(kopt::core::ranking_range_text({{"ranking_low", 0.98}, {"ranking_high", 1.02}}), "quartiles 0.980-1.020; ");
  EXPECT_EQ(kopt::core::ranking_range_text({{"ranking_low", 1.2}, {"ranking_high", 1.1}}), "") << "a damaged range";
  EXPECT_EQ(kopt::core::ranking_range_text(nullptr), "");
}

// A ranked record gets its distance to the bound once, from the run's bound and its own
// ranking time: at ranking, and on resume for records ranked before kopt kept it (the
// quality run's round-2 records: their round-3 refine prompts had no "Speed of light").
TEST(bound_ranked_profile, fills_in_a_ranked_profiles_distance_and_leaves_the_rest_alone) {
  const nlohmann::json bound = {{"seconds", 0.00044739242666666664}, {"memory_seconds", 0.00044739242666666664},
                                {"compute_seconds", 0.0}, {"bytes", 2147483648.0}, {"flops", 0.0},
                                {"bound", "memory"}, {"precision", "fp32"}};
  kopt::core::CandidateRecord r;
  r.median_ms = 0.5518;
  r.profile = {{"kernels", nlohmann::json::array({{{"name", "softmax_rows_kernel"}, {"share", 1.0}}})}};
  kopt::core::bound_ranked_profile(r, bound);
  ASSERT_TRUE(r.profile.contains("sol"));
  EXPECT_NEAR(r.profile["sol"]["fraction_of_light"].get<double>(), 0.8108, 1e-4);
  // A distance it already has (the claim's, from its own measurement) is kept.
  r.profile["sol"]["fraction_of_light"] = 0.5;
  kopt::core::bound_ranked_profile(r, bound);
  EXPECT_EQ(r.profile["sol"]["fraction_of_light"], 0.5);
  // No ranking time, a failed profile, no profile, or no bound: nothing added.
  kopt::core::CandidateRecord unranked;
  unranked.profile = {{"kernels", nlohmann::json::array()}};
  kopt::core::bound_ranked_profile(unranked, bound);
  EXPECT_FALSE(unranked.profile.contains("sol"));
  kopt::core::CandidateRecord failed;
  failed.median_ms = 0.6;
  failed.profile = {{"error", "profiler failed"}};
  kopt::core::bound_ranked_profile(failed, bound);
  EXPECT_FALSE(failed.profile.contains("sol"));
  kopt::core::CandidateRecord bare;
  bare.median_ms = 0.6;
  kopt::core::bound_ranked_profile(bare, bound);
  EXPECT_TRUE(bare.profile.is_null());
  kopt::core::CandidateRecord cpu = failed;
  cpu.profile = {{"kernels", nlohmann::json::array()}};
  kopt::core::bound_ranked_profile(cpu, nullptr);
  EXPECT_FALSE(cpu.profile.contains("sol"));
}

// The target GPU as the quality run's prompts should read it (run.json baseline.device of
// conv_gn_relu, H200): a few lines a kernel writer uses, not 50 lines of JSON with process
// ids and power draw.
TEST(target_summary, names_the_gpu_its_peaks_and_the_arch_extensions_are_built_for) {
  const nlohmann::json device = {
      {"capability", "9.0"}, {"cuda", "13.0"}, {"driver", "580.159.04"}, {"free_bytes", 149557477376.0},
      {"gpu_state", {{"mem_clock_mhz", 3201}, {"power_mw", 117899}, {"processes", {1335}}, {"sm_clock_mhz", 1980},
                     {"temperature_c", 36}, {"throttle", ""}}},
      {"l2_bytes", 62914560.0}, {"memory_bytes", 150109880320.0}, {"name", "NVIDIA H200"}, {"python", "3.12.3"},
      {"sm_count", 132},
      {"target", {{"description", "NVIDIA H200 SXM 141GB"}, {"memory_bandwidth", 4.8e12}, {"smem_per_sm_bytes", 233472.0},
                  {"peak_ops", {{"fp32", 67e12}, {"tf32", 494.7e12}, {"bf16", 989.4e12}, {"fp16", 989.4e12},
                                {"fp8", 1978.9e12}, {"int8", 1978.9e12}}}}},
      {"torch", "2.11.0+cu130"}};
  const std::string t = kopt::core::target_summary(device);
  EXPECT_NE(t.find("NVIDIA H200, compute capability 9.0 (extensions are built for sm_90a), 132 SMs, 140 GiB memory, "
                   "60 MiB L2, 228 KiB shared memory per SM."),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("Peaks (dense, the NVIDIA H200 SXM 141GB preset): memory 4.8 TB/s, fp32 (CUDA cores) 67 TFLOP/s, "
                   "tf32 495 TFLOP/s, fp16/bf16 989 TFLOP/s, fp8/int8 1979 TFLOP/s."),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("torch 2.11.0+cu130, CUDA 13.0, driver 580.159.04, Python 3.12.3."), std::string::npos) << t;
  EXPECT_NE(t.find("When the baselines ran: SM clock 1980 MHz, memory clock 3201 MHz."), std::string::npos) << t;
  EXPECT_EQ(t.find("1335"), std::string::npos) << "no process ids";
  EXPECT_EQ(t.find('{'), std::string::npos) << "no JSON";
  // An Ampere GPU's builds have no arch-specific suffix; a throttled clock is said.
  auto a100 = device;
  a100["name"] = "NVIDIA A100-SXM4-80GB";
  a100["capability"] = "8.0";
  a100["gpu_state"]["throttle"] = "hw_slowdown";
  const std::string a = kopt::core::target_summary(a100);
  EXPECT_NE(a.find("(extensions are built for sm_80)"), std::string::npos) << a;
  EXPECT_NE(a.find("throttled: hw_slowdown"), std::string::npos) << a;
  // The CPU (linear_gelu_cpu's run.json), nothing, or a damaged document.
  const nlohmann::json cpu = {{"capability", ""}, {"cuda", nullptr}, {"l2_bytes", 0.0}, {"memory_bytes", 0.0},
                              {"name", ""}, {"python", "3.11.2"}, {"sm_count", 0}, {"torch", "1.13.0a0"}};
  EXPECT_EQ(kopt::core::target_summary(cpu), "CPU (no GPU): torch 1.13.0a0, Python 3.11.2.");
  EXPECT_EQ(kopt::core::target_summary(nullptr), "Not measured.");
  EXPECT_NE(kopt::core::target_summary({{"name", 7}, {"sm_count", "many"}, {"target", "h200"}}).find("CPU"),
            std::string::npos);
}

// The reference's profile in a prompt: the same table as a candidate's (so the two compare
// line by line), full kernel names up to 160 characters, the work and the math settings of
// the process profiled (a candidate's are its own: it may have turned TF32 on).
TEST(profile_table, renders_the_kernels_the_work_and_the_math_settings) {
  const nlohmann::json profile = {
      {"bytes", 402949632}, {"flops", 77309411328.0},
      {"kernels",
       {{{"launches_per_call", 1.0}, {"name", "sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw"},
         {"share", 0.32651}, {"us_per_call", 410.2313}},
        {{"launches_per_call", 2.0}, {"name", "void cudnn::engines_precompiled::nchwToNhwcKernel<float>"},
         {"share", 0.0679}, {"us_per_call", 85.2807}}}},
      {"math", {{"cudnn_allow_tf32", true}, {"matmul_allow_tf32", false}}}};
  const std::string t = kopt::core::profile_table(profile, "the reference (eager)");
  EXPECT_EQ(t.rfind("torch.profiler, the reference (eager), per call (us, share of its time, launches, kernel):\n", 0), 0u) << t;
  EXPECT_NE(t.find("     410.23 us   32.7%  x1  sm80_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("      85.28 us    6.8%  x2  void cudnn::engines_precompiled::nchwToNhwcKernel<float>\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("Work per call (inputs, outputs and parameters, each moved once): 0.403 GB, 77.3 GFLOP.\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("PyTorch's math settings in the reference (eager): TF32 in cuDNN convolutions allowed, TF32 in "
                   "matmuls not allowed.\n"),
            std::string::npos)
      << t;
  // A memory-bound workload's profile has no FLOP count (softmax_rows: flops 0).
  const nlohmann::json softmax = {{"bytes", 2147483648.0}, {"flops", 0}, {"kernels", {{{"name", "cunn_SoftMaxForward"}, {"share", 1.0}}}}};
  EXPECT_NE(kopt::core::profile_table(softmax, "x").find("Work per call (inputs, outputs and parameters, each moved once): 2.15 GB.\n"),
            std::string::npos);
  // No kernels, no table; fields of the wrong type are absent, not an exception.
  EXPECT_EQ(kopt::core::profile_table({{"kernels", nlohmann::json::array()}}, "x"), "");
  EXPECT_EQ(kopt::core::profile_table(nullptr, "x"), "");
  const nlohmann::json damaged = {{"bytes", "many"}, {"kernels", {{{"name", 5}, {"share", "most"}}}}, {"math", 3}};
  EXPECT_NE(kopt::core::profile_table(damaged, "x").find("       0.00 us    0.0%  x0  \n"), std::string::npos);
}

TEST(baseline_without_kernels, drops_the_kernel_block_and_keeps_what_follows) {
  const std::string text =
      "device: NVIDIA H200 (sm 9.0), torch 2.11.0+cu130\n"
      "  eager                        median    0.8219 ms  IQR   0.0170 ms\n"
      "best: compile:default at 0.7355 ms\n"
      "top kernels (eager, per call):\n"
      "    790.61 us  100.0%  void at::native::cunn_SoftMaxForward<4, float>\n"
      "     12.00 us    1.0%  void at::native::vectorized_elementwise_kernel<4>\n"
      "note: the reference's outputs are constant\n";
  EXPECT_EQ(kopt::core::baseline_without_kernels(text),
            "device: NVIDIA H200 (sm 9.0), torch 2.11.0+cu130\n"
            "  eager                        median    0.8219 ms  IQR   0.0170 ms\n"
            "best: compile:default at 0.7355 ms\n"
            "note: the reference's outputs are constant\n");
  EXPECT_EQ(kopt::core::baseline_without_kernels("best: eager at 1.0 ms"), "best: eager at 1.0 ms");
  EXPECT_EQ(kopt::core::baseline_without_kernels(""), "");
}

// The baseline's bound line (kopt baseline, and the prompts' baseline timings) in units a
// kernel writer compares with: it read "(memory-bound; 2147483648 bytes, 0 flops unknown;
// fp32 peak)" until the fourteenth session. Figures from the quality run's run.json (H200).
TEST(baseline_text, the_bound_line_says_what_it_is_made_of) {
  kopt::core::BaselineReport r;
  r.ok = true;
  r.best = "compile:default";
  r.best_ms = 2.8157;
  r.device = {{"name", "NVIDIA H200"}, {"capability", "9.0"}, {"torch", "2.11.0+cu130"}};
  r.sol = {{"bound", "compute"}, {"bytes", 201342976.0}, {"compute_seconds", 0.002051327663761194},
           {"flops", 137438953472.0}, {"flops_known", true}, {"fraction_of_light", 0.7285289411357668},
           {"memory_seconds", 4.194645333333333e-05}, {"precision", "fp32"}, {"seconds", 0.002051327663761194},
           {"peak_why", "fp32 FMA: matmuls without TF32"}};
  const std::string gemm = kopt::core::baseline_text(r);
  EXPECT_NE(gemm.find("speed of light: 2.0513 ms (compute-bound: 137 GFLOP at the fp32 peak, 67 TFLOP/s; 0.201 GB "
                      "moved at 4.8 TB/s); best is at 72.9% of it\n"),
            std::string::npos)
      << gemm;
  EXPECT_NE(gemm.find("  peak: fp32 FMA: matmuls without TF32\n"), std::string::npos) << gemm;
  r.sol = {{"bound", "memory"}, {"bytes", 2147483648.0}, {"compute_seconds", 0.0}, {"flops", 0.0},
           {"flops_known", false}, {"fraction_of_light", 0.6082866771997809},
           {"memory_seconds", 0.00044739242666666664}, {"precision", "fp32"}, {"seconds", 0.00044739242666666664}};
  const std::string softmax = kopt::core::baseline_text(r);
  EXPECT_NE(softmax.find("speed of light: 0.4474 ms (memory-bound: 2.15 GB moved at 4.8 TB/s; FLOPs not counted); "
                         "best is at 60.8% of it\n"),
            std::string::npos)
      << softmax;
  EXPECT_EQ(softmax.find("  peak:"), std::string::npos) << "the FLOP peak does not bound memory-bound work";
  EXPECT_EQ(softmax.find("  copy:"), std::string::npos) << "no copy test, no line";
  // With the baseline's copy test (4.4 TB/s, 91.7% of 4.8: a figure for the test): what a
  // kernel can practically reach, and the best baseline against it.
  r.sol["copy_bandwidth"] = 4.4e12;
  r.sol["copy_fraction"] = 4.4 / 4.8;
  r.best_ms = 0.5;
  const std::string copied = kopt::core::baseline_text(r);
  EXPECT_NE(copied.find("  copy: a plain copy on this device moves 4.4 TB/s, 91.7% of the peak bandwidth; best moves "
                        "4.29 TB/s, 97.6% of the copy's\n"),
            std::string::npos)
      << copied;
  r.sol["bound"] = "compute";
  EXPECT_EQ(kopt::core::baseline_text(r).find("  copy:"), std::string::npos) << "compute-bound work: no copy line";
  // Damaged figures (a run directory read back) give a line, not an exception.
  r.sol = {{"bound", 3}, {"bytes", "many"}, {"seconds", 0.001}};
  EXPECT_NE(kopt::core::baseline_text(r).find("speed of light: 1.0000 ms"), std::string::npos);
}

// The run's baseline against the final gate's own timing of it (logsumexp_rows, builtin
// suite, H200, sixteenth session): compile:default 0.4371 ms in the run's baseline and
// 0.4799 ms in the gate, null spread 1.4%; eager 3.6896 against 3.6446 (1.2%) agrees.
TEST(earlier_baselines_text, names_each_earlier_device_and_its_best_baseline) {
  const nlohmann::json earlier = nlohmann::json::array(
      {{{"best", "compile:default"}, {"best_ms", 0.48139}, {"device", {{"name", "NVIDIA H200"}}}},
       {{"best", "eager"}, {"best_ms", 2.0}, {"device", {{"name", ""}, {"host_cpu", "AMD EPYC 9654"}}}},
       {{"best", "eager"}, {"best_ms", 1.5}, {"device", nullptr}}});
  EXPECT_EQ(kopt::core::earlier_baselines_text(earlier),
            "timed again on this device (--rebaseline); before: compile:default 0.4814 ms on NVIDIA H200; "
            "eager 2.0000 ms on AMD EPYC 9654; eager 1.5000 ms on another device");
  EXPECT_EQ(kopt::core::earlier_baselines_text(nlohmann::json::array()), "");
  EXPECT_EQ(kopt::core::earlier_baselines_text(nullptr), "");
}

TEST(baseline_drift, a_baseline_the_gate_timed_beyond_its_null_spread_is_named) {
  const nlohmann::json baselines = {
      {"ok", true},
      {"eager", {{"ok", true}, {"median_ms", 3.6896}}},
      {"compiled", {{"compile:default", {{"ok", true}, {"median_ms", 0.4371}}}, {"compile:max-autotune", {{"ok", false}}}}}};
  nlohmann::json claim = {{"baselines_ms", {{"eager", 3.6446}, {"compile:default", 0.4799}}}, {"null_spread", 0.0139}};
  const auto d = kopt::core::baseline_drift(baselines, claim);
  ASSERT_EQ(d.size(), 1u) << d.dump();
  EXPECT_EQ(d[0]["baseline"], "compile:default");
  EXPECT_NEAR(d[0]["change"].get<double>(), 0.0979, 1e-3);
  EXPECT_NEAR(d[0]["limit"].get<double>(), kopt::core::kDriftFloor, 1e-12);  // the floor: the spread is smaller
  const std::string text = kopt::core::baseline_drift_text(d);
  EXPECT_NE(text.find("compile:default at 0.4799 ms, 9.8% slower than the run's baseline (0.4371 ms)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("the gate's speedups stand"), std::string::npos) << text;
  // A wide null spread covers the same change; agreement and missing figures give nothing.
  claim["null_spread"] = 0.12;
  EXPECT_TRUE(kopt::core::baseline_drift(baselines, claim).empty());
  EXPECT_TRUE(kopt::core::baseline_drift(baselines, {{"outcome", "correct"}}).empty());
  EXPECT_TRUE(kopt::core::baseline_drift(nlohmann::json(), claim).empty());
  EXPECT_EQ(kopt::core::baseline_drift_text(nlohmann::json::array()), "");
  // Faster in the gate reads "faster".
  claim = {{"baselines_ms", {{"compile:default", 0.40}}}};
  EXPECT_NE(kopt::core::baseline_drift_text(kopt::core::baseline_drift(baselines, claim)).find("8.5% faster"),
            std::string::npos);
}

// The final gate's bound uses the peak the baseline's does, chosen from the reference's
// profile: the gate had used the workload's fp32 FMA peak for a cuDNN convolution that
// runs in TF32, so a conv candidate could read "below the bound" where the baseline's
// TF32 bound was 7x lower.
TEST(reference_peak, follows_the_reference_profiles_kernels_and_math_modes) {
  const nlohmann::json conv = {
      {"kernels", {{{"name", "sm90_xmma_fprop_implicit_gemm_tf32f32_tf32f32_f32_nhwckrsc_nchw"}, {"share", 0.6}},
                   {{"name", "void at::native::(anonymous namespace)::RowwiseMomentsCUDAKernel<float>"}, {"share", 0.4}}}},
      {"math", {{"cudnn_allow_tf32", true}, {"matmul_allow_tf32", false}}}};
  EXPECT_EQ(kopt::core::reference_peak(conv, "fp32").precision, "tf32");
  auto off = conv;
  off["math"]["cudnn_allow_tf32"] = false;
  EXPECT_EQ(kopt::core::reference_peak(off, "fp32").precision, "fp32");
  const nlohmann::json gemm = {{"kernels", {{{"name", "sm90_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x128x32"}}}},
                               {"math", {{"matmul_allow_tf32", false}}}};
  EXPECT_EQ(kopt::core::reference_peak(gemm, "fp32").precision, "fp32");
  EXPECT_EQ(kopt::core::reference_peak(gemm, "bf16").precision, "bf16");
  // A damaged or missing profile: the defaults, no exception.
  const nlohmann::json damaged = {{"kernels", "none"}, {"math", {{"cudnn_allow_tf32", "yes"}}}};
  EXPECT_EQ(kopt::core::reference_peak(damaged, "fp32").precision, "fp32");
  EXPECT_EQ(kopt::core::reference_peak(nullptr, "fp32").precision, "fp32");
}

// A candidate under the reference's bound: the note names what it means, not "suspect
// the timing" alone (the quality suite's 3xTF32 GEMMs ran 2.3x past the fp32 bound and
// were correct).
TEST(below_light_note, names_tensor_cores_less_work_or_less_traffic) {
  const nlohmann::json compute = {{"bound", "compute"}, {"precision", "fp32"}, {"seconds", 0.0020513}};
  const auto fp32 = kopt::core::below_light_note(compute, 1.1842, "h100");
  EXPECT_NE(fp32.find("below the reference's speed-of-light bound (2.0513 ms, compute-bound at the fp32 peak of h100)"),
            std::string::npos) << fp32;
  EXPECT_NE(fp32.find("tensor cores"), std::string::npos) << fp32;
  EXPECT_NE(fp32.find("or its timing is off"), std::string::npos) << fp32;
  auto tf32 = compute;
  tf32["precision"] = "tf32";
  EXPECT_NE(kopt::core::below_light_note(tf32, 0.1, "h100").find("computes below tf32 precision"), std::string::npos);
  const nlohmann::json memory = {{"bound", "memory"}, {"precision", "fp32"}, {"seconds", 0.00064}};
  EXPECT_NE(kopt::core::below_light_note(memory, 0.5, "h100").find("moves less data"), std::string::npos);
}
