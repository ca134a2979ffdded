// kopt eval through the real binary and real Python workers (CPU): a candidate's process
// failures and the workload's own faults are verdicts, and the rule list is complete.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "harness.hpp"
#include "verdicts.hpp"

using kopt::testing::eval_case;
using kopt::testing::expect_verdict;
using kopt::testing::KoptRun;
using kopt::testing::rule_status;

// ---- processes: every failure is a verdict within its deadline ---------------------

TEST(eval_process, exception_at_import_is_a_compile_error) {
  expect_verdict(eval_case("w_elementwise.py", "c_raise_import.py"), 1, "compile_error", "process");
}

TEST(eval_process, failed_extension_build_names_the_compiler_error_in_the_reason) {
  // torch's build error ends with ninja's "build stopped: subcommand failed."; the reason
  // must carry the compiler's line instead, and the report the build log's tail.
  const auto run = eval_case("w_elementwise.py", "c_load_inline_missing_header.py");
  expect_verdict(run, 1, "compile_error", "process");
  const std::string reason = run.json["reason"].get<std::string>();
  EXPECT_NE(reason.find("kopt_no_such_header.h: No such file or directory"), std::string::npos) << reason;
  EXPECT_NE(run.json["candidate_log_tail"].get<std::string>().find("ninja: build stopped"), std::string::npos)
      << run.json["candidate_log_tail"];
}

TEST(eval_process, candidate_without_modelnew_is_a_compile_error) {
  expect_verdict(eval_case("w_elementwise.py", "c_no_modelnew.py"), 1, "compile_error", "process");
}

TEST(eval_process, os_exit_at_import_is_a_crash) {
  expect_verdict(eval_case("w_elementwise.py", "c_os_exit_import.py"), 1, "crashed", "process");
}

TEST(eval_process, sys_exit_in_forward_is_a_crash) {
  expect_verdict(eval_case("w_elementwise.py", "c_sys_exit_forward.py"), 1, "crashed", "process");
}

TEST(eval_process, os_exit_in_forward_is_a_crash) {
  expect_verdict(eval_case("w_elementwise.py", "c_os_exit_forward.py"), 1, "crashed", "process");
}

TEST(eval_process, segfault_is_a_crash_with_the_signal) {
  const auto run = eval_case("w_elementwise.py", "c_segfault.py");
  expect_verdict(run, 1, "crashed", "process");
  EXPECT_NE(run.json["reason"].get<std::string>().find("SIGSEGV"), std::string::npos);
}

TEST(eval_process, infinite_loop_times_out_at_the_call_deadline) {
  const auto run = eval_case("w_elementwise.py", "c_infinite_loop.py", {"--call-timeout", "3"});
  expect_verdict(run, 1, "timed_out", "process");
  EXPECT_LT(run.seconds, 60.0);
}

TEST(eval_process, hang_at_import_times_out_at_the_import_deadline) {
  const auto run = eval_case("w_elementwise.py", "c_hang_import.py", {"--import-timeout", "3"});
  expect_verdict(run, 1, "timed_out", "process");
  EXPECT_LT(run.seconds, 60.0);
}

TEST(eval_process, child_left_behind_is_rejected_and_reaped) {
  const auto run = eval_case("w_elementwise.py", "c_child_left_behind.py");
  expect_verdict(run, 1, "tampered", "stray_work");
  EXPECT_FALSE(kopt::testing::process_running("sleep 987654"));
}

TEST(eval_process, threads_growing_between_calls_are_rejected) {
  expect_verdict(eval_case("w_elementwise.py", "c_threads_grow.py"), 1, "tampered", "stray_work");
}

TEST(eval_process, output_flood_is_a_verdict) {
  const auto run = eval_case("w_elementwise.py", "c_output_flood.py");
  expect_verdict(run, 1, "crashed", "process");
  EXPECT_LT(run.out.size(), 64u * 1024u);
}

// Bytes that are not UTF-8 in the candidate's output (it lands in the report's log tail)
// used to end kopt with the JSON library's exception and no verdict.
TEST(eval_process, output_that_is_not_utf8_keeps_the_verdict) {
  const auto run = eval_case("w_elementwise.py", "c_prints_latin1.py");
  expect_verdict(run, 0, "correct");
  EXPECT_EQ(run.err.find("json.exception"), std::string::npos) << run.err;
}

// Numbers a deadline or a limit cannot hold are usage errors, not verdicts: --call-timeout
// 1e10 used to overflow into a deadline already passed ("the workload is unusable"), NaN
// passed CLI11's check, and --candidate-max-memory 1e30 made every candidate "crashed".
TEST(eval_input, timeouts_and_limits_out_of_range_are_usage_errors) {
  const std::string w = kopt::testing::case_path("w_elementwise.py"), c = kopt::testing::case_path("c_elementwise_honest.py");
  for (const auto& [option, value, says] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--call-timeout", "1e10", "at most 1000000 seconds"},
           {"--import-timeout", "nan", "at most 1000000 seconds"},
           {"--call-timeout", "0", "more than 0"},
           {"--candidate-max-memory", "1e30", "at most 1048576 GiB"}}) {
    const auto run = kopt::testing::run_kopt({"eval", w, c, option, value});
    EXPECT_EQ(run.exit_code, 2) << option << " " << value << ": " << run.err;
    EXPECT_NE(run.err.find(option + ": must be "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(says), std::string::npos) << run.err;
  }
}

// A path that is not UTF-8 cannot reach a Python worker through JSON: one line, not a
// wrong verdict about what the file holds.
TEST(eval_input, a_path_that_is_not_utf8_is_an_input_error) {
  const auto run = eval_case("w_elementwise.py", "c\xff.py");
  expect_verdict(run, 2, "input_error");
  EXPECT_NE(run.json["reason"].get<std::string>().find("not valid UTF-8"), std::string::npos) << run.out;
}

// ---- the workload's own faults are input errors (exit 2) ---------------------------

TEST(eval_input, missing_file_is_a_usage_error) {
  const auto run = eval_case("does_not_exist.py", "c_elementwise_honest.py");
  expect_verdict(run, 2, "input_error");
  EXPECT_NE(run.json["reason"].get<std::string>().find("does not exist"), std::string::npos);
}

TEST(eval_input, workload_without_model_is_an_input_error) {
  const auto run = eval_case("w_no_model.py", "c_elementwise_honest.py");
  expect_verdict(run, 2, "input_error");
  EXPECT_NE(run.json["reason"].get<std::string>().find("Model"), std::string::npos);
}

// Issue 26: running out of memory is reported as what it is, which process and what it
// asked for, not as a broken workload.
TEST(eval_input, reference_out_of_memory_is_named_as_memory) {
  const auto run = eval_case("w_needs_too_much_memory.py", "c_elementwise_honest.py");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(run.json["outcome"], "input_error") << run.out;
  EXPECT_EQ(run.json["check"], "memory") << run.out;
  const std::string reason = run.json["reason"];
  EXPECT_NE(reason.find("reference worker ran out of memory"), std::string::npos) << reason;
  // The CPU allocator names the bytes, CUDA's the GiB (32 TiB asked for either way).
  EXPECT_TRUE(reason.find("35184372088832") != std::string::npos || reason.find("32768.00 GiB") != std::string::npos)
      << "what it asked for: " << reason;
}

// A reference worker killed by a SIGKILL that neither kopt nor the kernel's OOM killer
// sent (the workload sends it itself): the workload's failure, told as such, one line,
// never "ran out of memory".
TEST(eval_input, reference_killed_by_a_stranger_sigkill_is_not_blamed_on_memory) {
  const auto run = eval_case("w_killed.py", "c_elementwise_honest.py");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(run.json["check"], "reference") << run.out;
  const std::string reason = run.json["reason"];
  EXPECT_NE(reason.find("sent neither by kopt nor by the kernel's OOM killer"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("out of memory"), std::string::npos) << reason;
  EXPECT_EQ(reason.find('\n'), std::string::npos) << reason;
}

// A reference worker the kernel's out-of-memory killer kills for real (inside a memory
// cgroup the workload makes for itself), in eval and in baseline: check "memory", one
// line naming the process, the killer and the peak.
TEST(eval_input, reference_killed_by_the_out_of_memory_killer_is_named_as_memory) {
  if (!kopt::testing::can_make_memory_cgroup())
    GTEST_SKIP() << "needs root and cgroup v1's memory controller to provoke the OOM killer in a small cgroup";
  const auto run = eval_case("w_oom_killed.py", "c_elementwise_honest.py");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_EQ(run.json["check"], "memory") << run.out;
  const std::string reason = run.json["reason"];
  EXPECT_NE(reason.find("reference worker ran out of memory"), std::string::npos) << reason;
  EXPECT_NE(reason.find("the kernel's out-of-memory killer, which killed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("peak resident"), std::string::npos) << reason;
  EXPECT_EQ(reason.find('\n'), std::string::npos) << reason;
  const auto base = kopt::testing::run_kopt({"baseline", kopt::testing::case_path("w_oom_killed.py"), "--json", "--device",
                                             kopt::testing::on_gpu() ? "cuda" : "cpu", "--compile-modes", "none"});
  kopt::testing::remove_test_cgroups();
  ASSERT_TRUE(base.json.is_object()) << base.out << base.err;
  EXPECT_NE(base.exit_code, 0);
  EXPECT_EQ(base.json["check"], "memory") << base.out;
  const std::string error = base.json["error"];
  EXPECT_NE(error.find("reference worker ran out of memory"), std::string::npos) << error;
  EXPECT_NE(error.find("out-of-memory killer"), std::string::npos) << error;
}

TEST(eval_input, get_inputs_raising_is_an_input_error) {
  const auto run = eval_case("w_get_inputs_raises.py", "c_elementwise_honest.py");
  expect_verdict(run, 2, "input_error");
  EXPECT_NE(run.json["reason"].get<std::string>().find("no inputs today"), std::string::npos);
}

TEST(eval_input, workload_syntax_error_is_an_input_error) {
  expect_verdict(eval_case("w_syntax_error.py", "c_elementwise_honest.py"), 2, "input_error");
}

TEST(eval_input, unknown_option_is_a_usage_error) {
  const auto run = kopt::testing::run_kopt({"eval", "--no-such-flag"});
  EXPECT_EQ(run.exit_code, 2);
}

TEST(eval_input, unusable_python_is_named_in_the_error) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py", {"--python", "/bin/false"});
  expect_verdict(run, 2, "input_error");
  EXPECT_NE(run.json["reason"].get<std::string>().find("/bin/false"), std::string::npos);
}

TEST(eval_input, python_from_the_environment_variable_is_used) {
  const std::string python = kopt::testing::test_python();
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py", {}, {{"KOPT_PYTHON", python}});
  expect_correct(run);
  EXPECT_EQ(run.json["environment"]["python"], python);
  EXPECT_EQ(run.json["environment"]["python_source"], "KOPT_PYTHON");
}

// ---- workload sanity and the rule list ----------------------------------------------

TEST(eval_rules, constant_zero_workload_gets_a_warning) {
  const auto run = eval_case("w_zero.py", "c_zero_honest.py");
  expect_correct(run);
  EXPECT_EQ(rule_status(run, "sanity"), "warning");
}

TEST(eval_rules, every_rule_has_a_status_and_none_is_unimplemented) {
  const auto run = eval_case("w_elementwise.py", "c_elementwise_honest.py");
  expect_correct(run);
  ASSERT_GE(run.json["rules"].size(), 12u);
  for (const auto& r : run.json["rules"]) {
    const std::string status = r["status"];
    EXPECT_TRUE(status == "passed" || status == "not_applicable" || status == "warning") << r.dump();
  }
}

