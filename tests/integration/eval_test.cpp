// kopt eval through the real binary and real Python workers (CPU).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>
#include <utility>
#include <string>

#include "harness.hpp"
#include "verdicts.hpp"

using kopt::testing::eval_case;
using kopt::testing::KoptRun;

using kopt::testing::expect_correct;
using kopt::testing::expect_verdict;
using kopt::testing::rule_status;

// ---- honest candidates pass --------------------------------------------------------

TEST(eval_honest, same_maths_written_differently_passes) {
  const auto run = eval_case("w_linear_gelu.py", "c_gelu_addmm_erf.py");
  expect_correct(run);
  EXPECT_GT(run.json["errors"]["normwise"].get<double>(), 0.0);
  EXPECT_LT(run.json["errors"]["normwise_ratio"].get<double>(), 1.0);
  EXPECT_EQ(run.json["trials"]["planned"], 10);
  for (const char* phase : {"total", "reference_start", "candidate_import", "trials"})
    EXPECT_TRUE(run.json["phase_seconds"].contains(phase)) << phase;
}

// kopt's builtin split-tf32 engine (tests/cases/c_builtin_split_tf32.py, the generator's
// output for this workload): nn.Linear through 3xTF32 products keeps fp32 accuracy. With
// the remainder products taken out, what is left is a TF32-precision product (on the CPU
// the same numbers as a TF32 matmul): far outside the bound (120x on the CPU), rejected.
// So the engine does catch the Linear, and the bound tells 3xTF32 from plain TF32.
TEST(eval_honest, builtin_split_tf32_passes_and_its_plain_tf32_part_alone_does_not) {
  expect_correct(eval_case("w_linear_gelu.py", "c_builtin_split_tf32.py"));
  std::ifstream in(kopt::testing::case_path("c_builtin_split_tf32.py"));
  std::string code((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"        out = op(ah, bl)\n", "        out = op(ah, bh) * 0\n"}, {"        out += op(al, bh)\n", ""}}) {
    const auto at = code.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    code.replace(at, from.size(), to);
  }
  const std::string path = kopt::testing::temp_dir("kopt-eval-test") + "/c_hi_only.py";
  std::ofstream(path) << code;
  const auto run = kopt::testing::run_kopt({"eval", kopt::testing::case_path("w_linear_gelu.py"), path, "--json", "--time",
                                            "none", "--device", kopt::testing::on_gpu() ? "cuda" : "cpu"});
  expect_verdict(run, 1, "wrong_result", "close");
}

TEST(eval_honest, float64_accumulating_reduction_passes) { expect_correct(eval_case("w_sum.py", "c_sum_fp64.py")); }

TEST(eval_honest, reordered_float32_sum_passes) { expect_correct(eval_case("w_sum.py", "c_sum_reordered.py")); }

TEST(eval_honest, load_inline_extension_passes) {
  expect_correct(eval_case("w_elementwise.py", kopt::testing::on_gpu() ? "c_load_inline_cuda.py" : "c_load_inline_cpu.py"));
}

TEST(eval_honest, triton_kernel_passes) {
  if (!kopt::testing::on_gpu()) GTEST_SKIP() << "Triton kernels need KOPT_TEST_DEVICE=cuda";
  expect_correct(eval_case("w_elementwise.py", "c_triton_elementwise.py"));
}

TEST(eval_honest, candidate_reading_environment_sees_no_secrets) {
  const auto run = eval_case("w_elementwise.py", "c_env_reader.py", {},
                             {{"OPENAI_API_KEY", "sk-PLANTED-0123456789"},
                              {"ANTHROPIC_API_KEY", "PLANTED-anthropic"},
                              {"MY_SERVICE_TOKEN", "PLANTED-token"},
                              {"DB_PASSWORD", "PLANTED-password"},
                              {"HTTPS_PROXY", "http://PLANTED.invalid:3128"}});
  expect_correct(run);
  EXPECT_EQ(run.json["candidate_log_tail"].get<std::string>().find("LEAK"), std::string::npos);
  EXPECT_EQ(run.out.find("PLANTED"), std::string::npos);
  EXPECT_EQ(run.err.find("PLANTED"), std::string::npos);
}

TEST(eval_honest, random_workload_is_detected_and_compared_under_the_same_seed) {
  const auto run = eval_case("w_dropout.py", "c_dropout_honest.py");
  expect_correct(run);
  EXPECT_TRUE(run.json["random_workload"].get<bool>());
  EXPECT_NE(run.json["notes"].dump().find("--eval"), std::string::npos);
}

TEST(eval_honest, eval_mode_makes_a_dropout_workload_deterministic) {
  const auto run = eval_case("w_dropout.py", "c_dropout_honest.py", {"--eval"});
  expect_correct(run);
  EXPECT_FALSE(run.json["random_workload"].get<bool>());
}

TEST(eval_honest, parameters_created_in_another_order_are_loaded_from_the_reference) {
  expect_correct(eval_case("w_batchnorm.py", "c_batchnorm_honest.py"));
}

TEST(eval_honest, integer_outputs_match_exactly) { expect_correct(eval_case("w_argmax.py", "c_argmax_honest.py")); }

TEST(eval_honest, mutating_inputs_like_the_reference_passes) {
  expect_correct(eval_case("w_mutates_input.py", "c_mutates_like_reference.py"));
}

TEST(eval_honest, precision_option_accepts_a_declared_bf16_matmul) {
  expect_correct(eval_case("w_linear_gelu.py", "c_gelu_bf16.py", {"--precision", "bf16"}));
}

// ---- wrong results ------------------------------------------------------------------

TEST(eval_wrong, wrong_shape_is_rejected) {
  expect_verdict(eval_case("w_linear_gelu.py", "c_gelu_wrong_shape.py"), 1, "wrong_result", "structure");
}

TEST(eval_wrong, wrong_dtype_is_rejected) {
  const auto run = eval_case("w_linear_gelu.py", "c_gelu_wrong_dtype.py");
  expect_verdict(run, 1, "wrong_result", "structure");
  EXPECT_NE(run.json["reason"].get<std::string>().find("dtype"), std::string::npos);
}

TEST(eval_wrong, wrong_number_of_outputs_is_rejected) {
  expect_verdict(eval_case("w_linear_gelu.py", "c_gelu_wrong_count.py"), 1, "wrong_result", "structure");
}

TEST(eval_wrong, nan_where_the_reference_is_finite_is_rejected) {
  expect_verdict(eval_case("w_linear_gelu.py", "c_gelu_nan.py"), 1, "wrong_result", "finite");
}

TEST(eval_wrong, one_wrong_element_among_many_is_rejected) {
  const auto run = eval_case("w_linear_gelu.py", "c_gelu_one_wrong.py");
  expect_verdict(run, 1, "wrong_result", "close");
}

TEST(eval_wrong, quietly_lowered_bf16_precision_is_rejected) {
  expect_verdict(eval_case("w_linear_gelu.py", "c_gelu_bf16.py"), 1, "wrong_result", "close");
}

TEST(eval_wrong, quietly_lowered_fp16_matmul_is_rejected) {
  expect_verdict(eval_case("w_matmul.py", "c_matmul_fp16.py"), 1, "wrong_result", "close");
}

TEST(eval_wrong, identity_right_only_inside_the_clamp_range_fails_a_stress_trial) {
  const auto run = eval_case("w_clamp.py", "c_clamp_identity.py");
  expect_verdict(run, 1, "wrong_result", "close");
  EXPECT_NE(run.json["reason"].get<std::string>().find("stress"), std::string::npos);
}

TEST(eval_wrong, memoised_output_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_memoise.py"), 1, "wrong_result", "memo");
}

TEST(eval_wrong, output_correct_only_for_the_first_calls_is_rejected) {
  const auto run = eval_case("w_elementwise.py", "c_first_calls_only.py");
  expect_verdict(run, 1, "wrong_result", "memo");
  EXPECT_NE(run.json["reason"].get<std::string>().find("then wrong on checked call"), std::string::npos);
}

// Issue 22: right for its first 12 calls, then torch.empty. Ten checked trials alone
// would pass it; the unchecked calls kopt draws between them (0..3 before each) make
// the total unpredictable: it passes only if all nine draws sum to 2 or less (55 of
// 262,144 draws).
TEST(eval_wrong, output_correct_for_a_fixed_number_of_calls_is_rejected) {
  const auto run = eval_case("w_elementwise.py", "c_counts_calls.py");
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_EQ(run.json["outcome"], "wrong_result") << run.out;
  EXPECT_GT(run.json["trials"]["unchecked_calls"].get<int>(), 0) << run.out;
}

TEST(eval_honest, unchecked_calls_are_drawn_between_checked_trials) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py");
  expect_verdict(run, 0, "correct");
  EXPECT_GE(run.json["trials"]["unchecked_calls"].get<int>(), 0);
  EXPECT_NE(run.json["rules"].dump().find("unchecked calls between them"), std::string::npos) << run.out;
}

// Issue 22: one tensor, written by every call and returned: a caller that keeps call 1's
// output sees it change at call 2.
TEST(eval_wrong, one_buffer_returned_by_every_call_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_reused_buffer.py"), 1, "wrong_result", "reuse");
}

TEST(eval_wrong, unwritten_output_memory_cannot_inherit_correct_values) {
  expect_verdict(eval_case("w_elementwise.py", "c_stale_empty.py"), 1, "wrong_result");
}

TEST(eval_wrong, output_changed_by_a_background_thread_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_background_writer.py"), 1, "wrong_result", "background");
}

TEST(eval_wrong, output_filled_later_by_a_background_thread_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_background_filler.py"), 1, "wrong_result");
}

TEST(eval_wrong, inputs_modified_in_place_are_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_mutates_input.py"), 1, "wrong_result", "inputs");
}

TEST(eval_wrong, not_mutating_inputs_the_reference_mutates_is_rejected) {
  expect_verdict(eval_case("w_mutates_input.py", "c_no_mutation_when_reference_mutates.py"), 1, "wrong_result",
                 "inputs");
}

TEST(eval_wrong, skipped_batchnorm_running_statistics_are_rejected) {
  const auto run = eval_case("w_batchnorm.py", "c_batchnorm_skips_stats.py");
  expect_verdict(run, 1, "wrong_result", "close");
  EXPECT_NE(run.json["reason"].get<std::string>().find("running_mean"), std::string::npos);
}

TEST(eval_wrong, tensor_subclass_output_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_tensor_subclass.py"), 1, "wrong_result", "structure");
}

TEST(eval_wrong, output_requiring_grad_is_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_requires_grad.py"), 1, "wrong_result", "structure");
}

// ---- reference data stays out of reach ---------------------------------------------

TEST(eval_isolation, candidate_finds_no_reference_data_in_memory_or_files) {
  const auto run = eval_case("w_elementwise.py", "c_reads_reference.py");
  expect_verdict(run, 1, "wrong_result", "close");
  EXPECT_EQ(run.json["candidate_log_tail"].get<std::string>().find("LEAK"), std::string::npos)
      << run.json["candidate_log_tail"];
}

TEST(eval_isolation, replaying_well_known_seeds_finds_nothing) {
  expect_verdict(eval_case("w_elementwise.py", "c_seed_replay.py"), 1, "wrong_result", "close");
}

TEST(eval_isolation, forged_verdicts_on_stdout_change_nothing) {
  const auto run = eval_case("w_elementwise.py", "c_forged_verdict.py");
  expect_verdict(run, 1, "wrong_result", "close");
  EXPECT_EQ(run.json["verdict"], "incorrect");
  // The candidate's escape sequences never reach kopt's output.
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(run.err.find('\x1b'), std::string::npos);
}

TEST(eval_isolation, text_output_strips_the_candidates_escape_sequences) {
  const auto run = kopt::testing::run_kopt({"eval", kopt::testing::case_path("w_elementwise.py"),
                                            kopt::testing::case_path("c_forged_verdict.py")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out.rfind("NOT CORRECT", 0), 0u) << run.out;
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos);
}

// ---- tampering ----------------------------------------------------------------------

TEST(eval_tamper, patched_timer_at_import_is_tampered) {
  expect_verdict(eval_case("w_elementwise.py", "c_tamper_timer_import.py"), 1, "tampered", "tamper");
}

TEST(eval_tamper, patched_torch_functions_while_running_are_tampered) {
  const auto run = eval_case("w_elementwise.py", "c_tamper_allclose_runtime.py");
  expect_verdict(run, 1, "tampered", "tamper");
  EXPECT_NE(run.json["reason"].get<std::string>().find("torch.allclose"), std::string::npos);
}

TEST(eval_tamper, patched_functional_op_is_tampered) {
  expect_verdict(eval_case("w_linear_gelu.py", "c_tamper_functional.py"), 1, "tampered", "tamper");
}

TEST(eval_tamper, patched_harness_function_is_tampered) {
  expect_verdict(eval_case("w_elementwise.py", "c_tamper_harness_honest.py"), 1, "tampered", "tamper");
}

TEST(eval_tamper, disabling_the_harness_checks_does_not_change_kopts_verdict) {
  expect_verdict(eval_case("w_elementwise.py", "c_tamper_harness.py"), 1, "wrong_result", "close");
}

// ---- GPU only (KOPT_TEST_DEVICE=cuda) ------------------------------------------------

#define REQUIRE_GPU() \
  if (!kopt::testing::on_gpu()) GTEST_SKIP() << "needs KOPT_TEST_DEVICE=cuda and a GPU"

TEST(eval_gpu, cuda_kernel_writing_half_its_output_is_rejected) {
  REQUIRE_GPU();
  expect_verdict(eval_case("w_elementwise.py", "c_load_inline_cuda_partial.py"), 1, "wrong_result", "finite");
}

TEST(eval_gpu, tf32_matmul_is_rejected_at_fp32_precision) {
  REQUIRE_GPU();
  expect_verdict(eval_case("w_matmul.py", "c_matmul_tf32.py"), 1, "wrong_result", "close");
}

TEST(eval_gpu, tf32_matmul_passes_when_tf32_is_allowed) {
  REQUIRE_GPU();
  expect_correct(eval_case("w_matmul.py", "c_matmul_tf32.py", {"--precision", "tf32"}));
}

TEST(eval_gpu, torch_compile_candidate_passes_without_false_tamper) {
  REQUIRE_GPU();
  expect_correct(eval_case("w_elementwise.py", "c_torch_compile.py"));
}

TEST(eval_gpu, work_on_a_side_stream_is_waited_for) {
  REQUIRE_GPU();
  expect_correct(eval_case("w_elementwise.py", "c_side_stream.py"));
}

TEST(eval_gpu, harness_reports_the_device) {
  REQUIRE_GPU();
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py");
  expect_correct(run);
  EXPECT_FALSE(run.json["environment"]["device_name"].get<std::string>().empty());
}

TEST(eval_tamper, forged_control_frame_is_a_verdict_not_a_kopt_error) {
  expect_verdict(eval_case("w_elementwise.py", "c_forged_frame.py"), 1, "tampered", "process");
}

// A frame claiming gigabytes is refused at its header: kopt's memory stays far below what
// the candidate sent (1 GiB of a claimed 3 GiB), and the verdict comes without waiting out
// the call's timeout.
TEST(eval_tamper, a_forged_frame_claiming_gigabytes_is_refused_before_kopt_buffers_it) {
  auto run = eval_case("w_elementwise.py", "c_forged_huge_frame.py");
  expect_verdict(run, 1, "crashed", "process");
  EXPECT_NE(run.json["reason"].get<std::string>().find("exceeds the cap"), std::string::npos) << run.json["reason"];
  EXPECT_LT(run.seconds, 60) << context(run);
  // The resident set counts the workers kopt waited for too: a CUDA worker alone may pass
  // the bound, so it is checked on the CPU.
  if (!kopt::testing::on_gpu()) {
    EXPECT_LT(run.max_rss_kb, 768L << 10) << "kopt or a worker it waited for held " << run.max_rss_kb << " KiB";
  }
}

// Fields of the wrong JSON type are caught where replies are received (malformed_reply),
// named in the verdict, and the evaluation ends normally (teardown, report).
TEST(eval_tamper, forged_field_types_are_a_verdict_naming_the_field) {
  auto run = eval_case("w_elementwise.py", "c_forged_types.py");
  expect_verdict(run, 1, "tampered", "process");
  EXPECT_NE(run.json["reason"].get<std::string>().find("reply field"), std::string::npos) << run.json["reason"];
  EXPECT_EQ(run.json["reason"].get<std::string>().find("json.exception"), std::string::npos) << run.json["reason"];
}
