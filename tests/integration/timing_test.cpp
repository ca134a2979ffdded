// Timing through the real binary: `kopt baseline` and `kopt eval --time` on CPU (and on
// the GPU with KOPT_TEST_DEVICE=cuda), with candidates that cheat only while timed.
#include <gtest/gtest.h>

#include "harness.hpp"

using kopt::testing::eval_case;
using kopt::testing::context;
using kopt::testing::KoptRun;

namespace {

std::string rule_status(const KoptRun& run, const std::string& id) {
  for (const auto& r : run.json["rules"])
    if (r["id"] == id) return r["status"];
  return "";
}

#define REQUIRE_GPU() \
  if (!kopt::testing::on_gpu()) GTEST_SKIP() << "needs KOPT_TEST_DEVICE=cuda and a GPU"

}  // namespace

TEST(timing, honest_candidate_is_timed_and_its_timed_outputs_checked) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py", {"--time", "rank"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  const auto& t = run.json["timing"]["candidate"];
  ASSERT_TRUE(t.is_object()) << context(run);
  EXPECT_TRUE(t["ok"].get<bool>());
  EXPECT_GT(t["median_ms"].get<double>(), 0.0);
  EXPECT_LE(t["q1_ms"].get<double>(), t["median_ms"].get<double>());
  EXPECT_GE(t["q3_ms"].get<double>(), t["median_ms"].get<double>());
  EXPECT_GE(t["batches"].get<int>(), 15);
  EXPECT_EQ(rule_status(run, "timed_outputs"), "passed");
}

// A candidate's frames are capped at one chunk (64 MiB) except the timed output read back
// on the host path, which may carry the whole output (80 MiB here): it is checked, not
// refused as an oversized frame.
TEST(timing, a_timed_output_larger_than_a_chunk_is_read_back_and_checked) {
  const auto run = eval_case("w_large_output.py", "c_large_output_honest.py", {"--time", "rank", "--trials", "2"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_EQ(run.json["outcome"], "correct") << context(run);
  EXPECT_EQ(rule_status(run, "timed_outputs"), "passed") << context(run);
}

TEST(timing, untimed_eval_says_timed_outputs_not_applicable) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py");
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_TRUE(run.json["timing"].is_null());
  EXPECT_EQ(rule_status(run, "timed_outputs"), "not_applicable");
}

TEST(timing, candidate_wrong_only_after_verification_is_caught_while_timed) {
  const auto run = eval_case("w_elementwise.py", "c_time_garbage_after.py", {"--time", "rank"});
  ASSERT_EQ(run.exit_code, 1) << context(run);
  EXPECT_EQ(run.json["outcome"], "wrong_result");
  EXPECT_EQ(run.json["check"], "timed_outputs") << context(run);
}

TEST(timing, timers_patched_behind_the_tripwire_disagree_with_kopts_clock) {
  const auto run = eval_case("w_elementwise.py", "c_time_evasive_timer.py", {"--time", "rank"});
  ASSERT_EQ(run.exit_code, 1) << context(run);
  EXPECT_EQ(run.json["outcome"], "tampered");
  EXPECT_EQ(run.json["check"], "tamper") << context(run);
}

TEST(timing, cache_keyed_by_input_content_never_hits_and_stays_correct) {
  const auto run = eval_case("w_elementwise.py", "c_time_content_cache.py", {"--time", "rank"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_EQ(rule_status(run, "timed_outputs"), "passed");
}

TEST(timing, claim_times_abab_against_eager_with_intervals) {
  const auto run = eval_case("w_linear_gelu.py", "c_gelu_addmm_erf.py", {"--time", "claim", "--pairs", "4"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  const auto& t = run.json["timing"];
  ASSERT_TRUE(t.contains("speedup")) << context(run);
  const auto& s = t["speedup"]["vs_eager"];
  EXPECT_EQ(s["pairs"], 4);
  EXPECT_LE(s["low"].get<double>(), s["median"].get<double>());
  EXPECT_GE(s["high"].get<double>(), s["median"].get<double>());
  EXPECT_TRUE(t["eager"]["ok"].get<bool>());
  EXPECT_TRUE(t["candidate"]["ok"].get<bool>());
  EXPECT_GE(t["null_spread"].get<double>(), 0.0);
  EXPECT_TRUE(t.contains("faster"));
  // Both sides of every ratio run batches of one size (docs/measurement.md).
  EXPECT_EQ(t["eager"]["calls_per_batch"], t["candidate"]["calls_per_batch"]) << context(run);
}

TEST(timing, baseline_times_eager_and_reports_compile_availability) {
  std::vector<std::string> args{"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--json", "--device",
                                kopt::testing::on_gpu() ? "cuda" : "cpu"};
  const auto run = kopt::testing::run_kopt(args);
  ASSERT_EQ(run.exit_code, 0) << context(run);
  ASSERT_TRUE(run.json.is_object()) << context(run);
  EXPECT_TRUE(run.json["eager"]["ok"].get<bool>());
  EXPECT_GT(run.json["eager"]["median_ms"].get<double>(), 0.0);
  EXPECT_TRUE(run.json["compiled"].contains("compile:default"));
  EXPECT_FALSE(run.json["best"].get<std::string>().empty());
  EXPECT_FALSE(run.json["profile"]["kernels"].empty()) << context(run);
  // The worker's host side of every batch: queueing time, and no garbage collection
  // inside a timed region.
  const auto& host = run.json["eager"]["detail"]["host"];
  ASSERT_TRUE(host.is_object()) << context(run);
  EXPECT_GT(host["enqueue_per_call_ms"].get<double>(), 0.0);
  EXPECT_EQ(host["gc_collections"].get<int>(), 0);
  // The copy test: what a plain copy moves on the device. On a GPU, held against the
  // target's peak bandwidth (a copy reaches most of it, never much more).
  const auto& copy = run.json["profile"]["copy"];
  ASSERT_TRUE(copy.is_object()) << context(run);
  ASSERT_TRUE(copy.value("ok", false)) << copy.dump();
  EXPECT_GE(copy["bytes"].get<double>(), kopt::testing::on_gpu() ? 256.0 * (1 << 20) : 64.0 * (1 << 20)) << copy.dump();
  EXPECT_NEAR(copy["bytes_per_second"].get<double>(), 2 * copy["bytes"].get<double>() / copy["seconds"].get<double>(), 1.0);
  if (kopt::testing::on_gpu()) {
    ASSERT_TRUE(run.json["sol"].is_object()) << context(run);
    EXPECT_GT(run.json["sol"].value("copy_fraction", 0.0), 0.5) << run.json["sol"].dump();
    EXPECT_LT(run.json["sol"].value("copy_fraction", 0.0), 1.05) << run.json["sol"].dump();
  }
}

// On a CPU the copy test is kept but not held against a GPU's datasheet (--target h100):
// the bound has no copy_fraction there.
TEST(timing, a_cpu_copy_test_is_not_held_against_a_gpus_peak) {
  if (kopt::testing::on_gpu()) GTEST_SKIP() << "the CPU's case";
  const auto run = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--json", "--device",
                                            "cpu", "--compile-modes", "none", "--target", "h100"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  ASSERT_TRUE(run.json["sol"].is_object()) << context(run);
  EXPECT_FALSE(run.json["sol"].contains("copy_fraction")) << run.json["sol"].dump();
  EXPECT_TRUE(run.json["profile"]["copy"].value("ok", false)) << run.json["profile"].dump();
}

// --ncu with a stand-in for Nsight Compute (tests/cases/fake_ncu.sh): the reference runs
// in a fresh worker under it, through its options, and its CSV log becomes the report's.
TEST(timing, baseline_runs_the_reference_under_ncu_and_reads_its_log) {
  const auto run = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--json", "--device",
                                            "cpu", "--compile-modes", "none", "--ncu-path",
                                            kopt::testing::case_path("fake_ncu.sh")});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  const auto& ncu = run.json["ncu"];
  ASSERT_TRUE(ncu["ok"].get<bool>()) << context(run);
  ASSERT_EQ(ncu["kernels"].size(), 1u);
  EXPECT_EQ(ncu["kernels"][0]["name"], "fake_kernel");
  EXPECT_NEAR(ncu["kernels"][0]["us_per_call"].get<double>(), 12.345, 1e-9);
  EXPECT_NEAR(ncu["kernels"][0]["dram_pct"].get<double>(), 55.5, 1e-9);
}

TEST(timing, ncus_own_error_is_the_reports_one_line_and_the_baseline_stands) {
  const auto run = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--device", "cpu",
                                            "--compile-modes", "none", "--ncu-path", kopt::testing::case_path("fake_ncu.sh")},
                                           {{"FAKE_NCU_FAIL", "1"}});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_NE(run.out.find("ncu (eager): none: ncu: ERR_NVGPUCTRPERM"), std::string::npos) << context(run);
  EXPECT_NE(run.out.find("median"), std::string::npos) << context(run);
  // ncu refusing before the program starts: the worker's failure and ncu's own line.
  const auto refused = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--device",
                                                "cpu", "--compile-modes", "none", "--ncu-path",
                                                kopt::testing::case_path("fake_ncu.sh")},
                                               {{"FAKE_NCU_FAIL", "2"}});
  ASSERT_EQ(refused.exit_code, 0) << context(refused);
  EXPECT_NE(refused.out.find("ncu (eager): none: the worker under ncu: "), std::string::npos) << context(refused);
  EXPECT_NE(refused.out.find("; ncu: The application returned an error code (1)."), std::string::npos) << context(refused);
}

TEST(timing, eval_runs_a_correct_candidate_under_ncu_without_touching_its_verdict) {
  const std::vector<std::string> ncu{"--ncu-path", kopt::testing::case_path("fake_ncu.sh"), "--time", "none"};
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py", ncu);
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_EQ(run.json["outcome"], "correct");
  ASSERT_TRUE(run.json["ncu"]["ok"].get<bool>()) << context(run);
  EXPECT_EQ(run.json["ncu"]["kernels"][0]["name"], "fake_kernel");
  // ncu failing is the profile's news, not the candidate's.
  const auto failed = eval_case("w_elementwise.py", "c_elementwise_honest.py", ncu, {{"FAKE_NCU_FAIL", "1"}});
  ASSERT_EQ(failed.exit_code, 0) << context(failed);
  EXPECT_EQ(failed.json["outcome"], "correct");
  EXPECT_FALSE(failed.json["ncu"]["ok"].get<bool>());
  EXPECT_NE(failed.json["ncu"]["error"].get<std::string>().find("ERR_NVGPUCTRPERM"), std::string::npos);
  // A wrong candidate is not profiled.
  const auto wrong = eval_case("w_elementwise.py", "c_clamp_identity.py", ncu);
  EXPECT_EQ(wrong.exit_code, 1) << context(wrong);
  EXPECT_TRUE(wrong.json["ncu"].is_null()) << context(wrong);
}

TEST(timing, an_ncu_that_is_not_there_is_a_usage_error) {
  const auto run = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_linear_gelu.py"), "--device", "cpu",
                                            "--ncu-path", "/nonexistent/ncu"});
  EXPECT_EQ(run.exit_code, 2) << context(run);
  EXPECT_NE(run.err.find("no Nsight Compute found"), std::string::npos) << context(run);
}

TEST(timing, baseline_of_a_broken_workload_is_an_input_error) {
  const auto run = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_syntax_error.py"), "--json", "--device", "cpu"});
  EXPECT_EQ(run.exit_code, 2) << context(run);
  EXPECT_FALSE(run.json["ok"].get<bool>());
}

// ---- GPU only -----------------------------------------------------------------------

TEST(timing_gpu, pointer_keyed_cache_is_caught_while_timed) {
  REQUIRE_GPU();
  const auto run = eval_case("w_elementwise.py", "c_time_pointer_cache.py", {"--time", "rank"});
  EXPECT_EQ(run.exit_code, 1) << context(run);
  EXPECT_EQ(run.json["check"], "timed_outputs") << context(run);
}

TEST(timing_gpu, stale_cuda_graph_replay_is_caught_while_timed) {
  REQUIRE_GPU();
  const auto run = eval_case("w_elementwise.py", "c_time_graph_stale.py", {"--time", "rank"});
  EXPECT_EQ(run.exit_code, 1) << context(run);
  EXPECT_EQ(run.json["check"], "timed_outputs") << context(run);
}

TEST(timing_gpu, work_hidden_on_a_side_stream_is_timed_and_claims_nothing) {
  REQUIRE_GPU();
  const auto run = eval_case("w_elementwise.py", "c_time_side_stream_async.py", {"--time", "claim"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_FALSE(run.json["timing"]["speedup"]["vs_eager"]["faster"].get<bool>()) << context(run);
}

TEST(timing_gpu, claim_reports_the_device_and_gpu_state) {
  REQUIRE_GPU();
  const auto run = eval_case("w_elementwise.py", "c_load_inline_cuda.py", {"--time", "claim"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_FALSE(run.json["timing"]["device"]["name"].get<std::string>().empty());
  EXPECT_EQ(run.json["timing"]["gpu"]["nvml"], "ok") << context(run);
}
