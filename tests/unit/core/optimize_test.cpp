// Pure pieces of kopt optimize: durations, shards, idle share, suite summary, run state
// round trip, builtin strategies.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdlib.h>

#include "kopt/core/generator.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/sandbox/isolation.hpp"

using namespace kopt::core;

TEST(parse_duration, accepts_seconds_minutes_hours_and_combinations) {
  EXPECT_DOUBLE_EQ(*parse_duration("90"), 90);
  EXPECT_DOUBLE_EQ(*parse_duration("90s"), 90);
  EXPECT_DOUBLE_EQ(*parse_duration("20m"), 1200);
  EXPECT_DOUBLE_EQ(*parse_duration("1h"), 3600);
  EXPECT_DOUBLE_EQ(*parse_duration("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(*parse_duration("1.5h"), 5400);
}

TEST(parse_duration, rejects_what_is_not_a_duration) {
  for (const char* bad : {"", "soon", "20x", "-5m", "m", "1h30", "1e999"}) {
    auto r = parse_duration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.failure().kind, "usage");
    }
  }
}

TEST(parse_shard, takes_index_over_count) {
  EXPECT_EQ(*parse_shard("0/4"), std::make_pair(0, 4));
  EXPECT_EQ(*parse_shard("3/4"), std::make_pair(3, 4));
  for (const char* bad : {"4/4", "1", "/4", "1/", "a/b", "-1/4", "1/0"}) EXPECT_FALSE(parse_shard(bad).ok()) << bad;
}

TEST(select_shard, shards_are_disjoint_and_cover_the_sorted_list) {
  const std::vector<std::string> all = {"e.py", "a.py", "d.py", "b.py", "c.py"};
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i)
    for (const auto& w : select_shard(all, i, 3)) seen.push_back(w);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a.py", "b.py", "c.py", "d.py", "e.py"}));
  EXPECT_EQ(select_shard(all, 0, 3), (std::vector<std::string>{"a.py", "d.py"}));
}

TEST(shard_index_from_env, prefers_slurm_then_kubernetes_and_ignores_junk) {
  EXPECT_EQ(shard_index_from_env({"SLURM_ARRAY_TASK_ID=2", "JOB_COMPLETION_INDEX=5"}), 2);
  EXPECT_EQ(shard_index_from_env({"JOB_COMPLETION_INDEX=5"}), 5);
  EXPECT_EQ(shard_index_from_env({"SLURM_ARRAY_TASK_ID=x"}), std::nullopt);
  EXPECT_EQ(shard_index_from_env({}), std::nullopt);
}

TEST(workload_stem, drops_folders_and_the_py_suffix) {
  EXPECT_EQ(workload_stem("a/b/linear_gelu.py"), "linear_gelu");
  EXPECT_EQ(workload_stem("model"), "model");
}

TEST(idle_share, counts_waiting_time_not_covered_by_timing) {
  EXPECT_DOUBLE_EQ(idle_share({{0, 10}}, {}), 1.0);
  EXPECT_DOUBLE_EQ(idle_share({{0, 10}}, {{0, 10}}), 0.0);
  EXPECT_DOUBLE_EQ(idle_share({{0, 10}, {5, 20}}, {{15, 20}}), 0.75);  // overlaps merged
  EXPECT_DOUBLE_EQ(idle_share({{0, 10}}, {{8, 30}, {9, 12}}), 0.8);   // clipped to the window
  EXPECT_DOUBLE_EQ(idle_share({}, {{0, 1}}), 0.0);
}

TEST(suite_summary, geometric_mean_and_fast_p) {
  WorkloadResult a, b, c;
  a.best_speedup = 2.5;
  a.faster = true;
  b.best_speedup = 0.9;
  c.status = "input_error";
  const auto s = suite_summary({a, b, c});
  EXPECT_NEAR(s["geomean_speedup"].get<double>(), std::sqrt(2.5 * 0.9), 1e-12);
  EXPECT_NEAR(s["fast_p"]["1.0"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(s["fast_p"]["2.0"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_EQ(s["workloads"].size(), 3u);
  // No workload has a bound: no ceiling.
  EXPECT_TRUE(s["geomean_ceiling"].is_null());
  EXPECT_TRUE(s["workloads"][0]["ceiling"].is_null());
}

TEST(suite_summary, the_ceiling_is_a_geometric_mean_over_the_workloads_with_a_bound) {
  WorkloadResult a, b, c;
  a.summary = {{"headroom", {{"ceiling", 1.125}}}};
  b.summary = {{"headroom", {{"ceiling", 2.0}}}};
  c.summary = {{"headroom", {{"below_light", true}}}};
  const auto s = suite_summary({a, b, c});
  EXPECT_NEAR(s["geomean_ceiling"].get<double>(), 1.5, 1e-12);
  EXPECT_EQ(s["workloads_with_ceiling"], 2);
  EXPECT_NEAR(s["workloads"][1]["ceiling"].get<double>(), 2.0, 1e-12);
  EXPECT_TRUE(s["workloads"][2]["ceiling"].is_null());
}

TEST(run_state, records_and_run_json_round_trip_through_the_directory) {
  auto dir = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-state-test-");
  ASSERT_TRUE(dir.ok());
  RunState state;
  state.dir = *dir;
  state.header = {{"workload", "w.py"}, {"status", "running"}};
  CandidateRecord r;
  r.id = 7;
  r.round = 2;
  r.status = "done";
  r.strategy = "jit-trace";
  r.origin = "builtin";
  r.outcome = "correct";
  r.median_ms = 1.25;
  r.speedup = 1.5;
  r.claim = {{"outcome", "correct"},
             {"faster", true},
             {"speedup", {{"vs_best", {{"median", 1.5}, {"low", 1.4}, {"high", 1.6}, {"pairs", 10}}}}}};
  r.ncu = {{"ok", true}, {"text", "  12.35 us x1  k\n"}};
  r.verify_start = 100.5;
  r.verify_end = 104.25;
  r.input_tokens = 12;
  r.phases = nlohmann::json::array({{{"name", "reference_start"}, {"seconds", 2.5}, {"end", 103.0}}});
  r.log_tail = "last line of the worker";
  state.candidates[7] = r;
  CandidateRecord p;
  p.id = 8;
  p.status = "pending";
  state.candidates[8] = p;
  ASSERT_TRUE(save_record(state.dir, r).ok());
  ASSERT_TRUE(save_record(state.dir, p).ok());
  ASSERT_TRUE(save_run(state).ok());
  // A candidate folder whose record was never written (killed in between) is ignored.
  ASSERT_TRUE(make_dirs(state.dir + "/candidates/0009").ok());

  auto loaded = load_run(state.dir);
  ASSERT_TRUE(loaded.ok()) << loaded.failure().message;
  EXPECT_EQ(loaded->header["workload"], "w.py");
  ASSERT_EQ(loaded->candidates.size(), 2u);
  EXPECT_EQ(loaded->next_id(), 9);
  const auto& back = loaded->candidates.at(7);
  EXPECT_EQ(record_json(back), record_json(r));
  EXPECT_EQ(back.ncu["text"], "  12.35 us x1  k\n");
  EXPECT_EQ(loaded->candidates.at(8).status, "pending");
  kopt::sandbox::remove_tree(*dir);
}

TEST(run_state, a_folder_without_run_json_is_not_a_run) {
  EXPECT_FALSE(load_run("/nonexistent-kopt-run").ok());
}

TEST(run_state, a_record_of_the_wrong_shape_names_the_field) {
  auto missing = record_from_json({{"id", 3}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.failure().message, "field \"status\" is missing");
  auto typed = record_from_json({{"id", 3}, {"status", "done"}, {"times", {{"verify_end", "late"}}}});
  ASSERT_FALSE(typed.ok());
  EXPECT_EQ(typed.failure().message, "field \"times.verify_end\" must be a number (it is string)");
  auto status = record_from_json({{"id", 3}, {"status", "finished"}});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.failure().message.find("\"status\""), std::string::npos);
  auto phases = record_from_json({{"id", 3}, {"status", "running"}, {"phases", nlohmann::json::array({{{"name", "trials"}}})}});
  ASSERT_FALSE(phases.ok());
  EXPECT_EQ(phases.failure().message, "field \"phases[0].seconds\" is missing");
  // null reads as absent, as kopt's own records may hold it.
  EXPECT_TRUE(record_from_json({{"id", 3}, {"status", "interrupted"}, {"median_ms", nullptr}}).ok());
}

TEST(suite_state, run_directories_are_saved_relative_to_the_suite_and_read_back_from_anywhere) {
  auto dir = kopt::sandbox::make_temp_dir(kopt::sandbox::temp_root(), "kopt-suite-test-");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(make_dirs(*dir + "/a").ok());
  ASSERT_TRUE(save_suite(*dir, {{"/w/a.py", *dir + "/a"}, {"/w/b.py", *dir + "/b"}}).ok());
  const auto saved = nlohmann::json::parse(*read_text(*dir + "/suite.json"));
  EXPECT_EQ(saved["workloads"][1]["run"], "b");
  auto loaded = load_suite(*dir);
  ASSERT_TRUE(loaded.ok()) << loaded.failure().message;
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].workload, "/w/a.py");
  EXPECT_EQ((*loaded)[0].run_dir, *dir + "/a");
  EXPECT_EQ((*loaded)[1].run_dir, *dir + "/b");  // not started yet: still inside the suite
  // An older suite.json: run directories only, as given on the command line.
  ASSERT_TRUE(write_atomic(*dir + "/suite.json", nlohmann::json({{"runs", nlohmann::json::array({*dir + "/a"})}}).dump()).ok());
  loaded = load_suite(*dir);
  ASSERT_TRUE(loaded.ok()) << loaded.failure().message;
  EXPECT_EQ((*loaded)[0].workload, "");
  EXPECT_EQ((*loaded)[0].run_dir, *dir + "/a");
  ASSERT_TRUE(write_atomic(*dir + "/suite.json", "{\"workloads\": []}").ok());
  loaded = load_suite(*dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.failure().message, *dir + "/suite.json: field \"workloads\" is empty");
  kopt::sandbox::remove_tree(*dir);
}

TEST(builtin_strategies, cpu_without_torch_compile_tries_only_what_runs_there) {
  EXPECT_EQ(builtin_strategy_names("cpu", false, "fp32", false), (std::vector<std::string>{"jit-trace"}));
  const auto conv = builtin_strategy_names("cpu", true, "fp32", false);
  EXPECT_NE(std::find(conv.begin(), conv.end(), "eager+channels-last"), conv.end());
}

TEST(builtin_strategies, cuda_tries_every_engine_alone_before_combinations) {
  const auto names = builtin_strategy_names("cuda", true, "fp32", true);
  EXPECT_EQ(names.front(), "compile-default");
  for (const char* n : {"compile-max-autotune", "compile-max-autotune-no-cudagraphs", "compile-fullgraph",
                        "compile-static", "cuda-graph", "eager+cudnn-benchmark", "eager+channels-last",
                        "compile-default+cudnn-benchmark+channels-last"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_EQ(std::find(names.begin(), names.end(), "compile-default+tf32"), names.end());  // fp32 only
  const auto first_combo = std::find_if(names.begin(), names.end(), [](const std::string& s) { return s.find('+') != std::string::npos; });
  for (auto it = first_combo; it != names.end(); ++it) EXPECT_NE(it->find('+'), std::string::npos) << *it;
}

TEST(builtin_strategies, split_tf32_is_tried_second_on_cuda_at_fp32_where_there_are_matmuls) {
  const auto names = builtin_strategy_names("cuda", false, "fp32", true, true);
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[0], "compile-default");
  EXPECT_EQ(names[1], "split-tf32");
  auto has = [](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), "split-tf32") != v.end(); };
  EXPECT_FALSE(has(builtin_strategy_names("cuda", false, "fp32", true, false))) << "no matmuls";
  EXPECT_FALSE(has(builtin_strategy_names("cuda", false, "tf32", true, true))) << "TF32 allowed: the tf32 modifier";
  EXPECT_FALSE(has(builtin_strategy_names("cpu", false, "fp32", false, true))) << "no tensor cores";
}

// The split-tf32 candidate of tests/cases/c_builtin_split_tf32.py is this generator's
// output for w_linear_gelu.py (the integration tests run it through kopt eval). When the
// generator changes, the test writes the new text beside it (.new) to be moved into place.
TEST(builtin_strategies, the_split_tf32_case_file_is_the_generators_output) {
  const std::string dir = KOPT_CASES_DIR;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  auto code = builtin_candidate_source("split-tf32", "w_linear_gelu.py", read(dir + "/w_linear_gelu.py"));
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("class _KoptSplitTF32(torch.overrides.TorchFunctionMode):"), std::string::npos);
  EXPECT_NE(code->find("with _KoptSplitTF32():"), std::string::npos);
  const std::string golden = dir + "/c_builtin_split_tf32.py";
  if (read(golden) != *code) {
    std::ofstream(golden + ".new") << *code;
    FAIL() << golden << " is not the generator's output: compare " << golden << ".new and move it into place";
  }
}

TEST(builtin_strategies, the_candidate_embeds_the_workload_and_subclasses_its_model) {
  const std::string workload = "class Model:\n    s = \"\"\"tricky \\\\ quotes\"\"\"\n";
  auto code = builtin_candidate_source("compile-max-autotune+channels-last", "w.py", workload);
  ASSERT_TRUE(code.ok());
  EXPECT_NE(code->find("class ModelNew(Model):"), std::string::npos);
  EXPECT_NE(code->find("mode=\"max-autotune\""), std::string::npos);
  EXPECT_NE(code->find("channels_last"), std::string::npos);
  EXPECT_NE(code->find("\\\"\\\"\\\"tricky \\\\\\\\ quotes"), std::string::npos);  // escaped, cannot end the literal
  EXPECT_FALSE(builtin_candidate_source("warp-drive", "w.py", workload).ok());
  EXPECT_FALSE(builtin_candidate_source("jit-trace+warp", "w.py", workload).ok());
}

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
  // Damaged figures (a run directory read back) give a line, not an exception.
  r.sol = {{"bound", 3}, {"bytes", "many"}, {"seconds", 0.001}};
  EXPECT_NE(kopt::core::baseline_text(r).find("speed of light: 1.0000 ms"), std::string::npos);
}
