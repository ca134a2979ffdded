// What kopt optimize prints for a suite: one row per workload.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/optimize_output.hpp"

using kopt::core::WorkloadResult;

namespace {

WorkloadResult finished(const std::string& workload, nlohmann::json best) {
  WorkloadResult r;
  r.workload = "examples/" + workload + ".py";
  r.run_dir = "kopt-runs/demo/" + workload;
  r.status = "finished";
  r.summary = {{"baselines", {{"ok", true}, {"best", "eager"}, {"best_ms", 0.5}}},
               {"best", std::move(best)},
               {"candidates", 2}};
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST(suite_table, each_workload_gets_a_row_with_its_baseline_best_candidate_and_verdict) {
  const std::vector<WorkloadResult> results = {
      finished("conv_bn_relu", {{"id", 2}, {"strategy", "eager+channels-last"}, {"median_ms", 0.4}, {"speedup", 1.25},
                                {"confirmed", true}, {"low", 1.2}, {"high", 1.3}, {"faster", true}}),
      finished("softmax", {{"id", 1}, {"strategy", "jit-trace"}, {"median_ms", 0.51}, {"speedup", 0.98},
                           {"confirmed", true}, {"low", 0.95}, {"high", 1.01}, {"faster", false}}),
      finished("layernorm", nullptr)};
  const auto rows = lines(kopt::cli::suite_table(results));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_NE(rows[0].find("workload"), std::string::npos);
  EXPECT_NE(rows[1].find("conv_bn_relu"), std::string::npos);
  EXPECT_NE(rows[1].find("eager 0.5000"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find("0002 eager+channels-last"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find("1.250x"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find("FASTER (95% 1.200-1.300)"), std::string::npos) << rows[1];
  EXPECT_NE(rows[2].find("not shown faster (95% 0.950-1.010)"), std::string::npos) << rows[2];
  EXPECT_NE(rows[3].find("no correct candidate; 2 tried"), std::string::npos) << rows[3];
}

// Where the final gate timed the best, its row and its line show the gate's times of the
// candidate and of the baseline, which the speedup beside them compares; the line keeps the
// ranking's time in parentheses. (A ranking time of 1.5974 ms beside a gate's 1.026x and a
// run's baseline of 1.0041 ms read as a slowdown.)
TEST(suite_table, a_gated_best_shows_the_gates_times_beside_the_gates_speedup) {
  const auto r = finished("swish", {{"id", 1}, {"strategy", "jit-trace"}, {"median_ms", 1.5974}, {"speedup", 1.026},
                                    {"confirmed", true}, {"low", 1.001}, {"high", 1.054}, {"faster", false},
                                    {"gate_ms", 0.7784}, {"gate_baseline", "eager"}, {"gate_baseline_ms", 0.7961}});
  const auto rows = lines(kopt::cli::suite_table({r}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find("eager 0.7961"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find("0.7784"), std::string::npos) << rows[1];
  EXPECT_EQ(rows[1].find("1.5974"), std::string::npos) << rows[1];
  EXPECT_EQ(rows[1].find("0.5000"), std::string::npos) << "the run's baseline, not the gate's: " << rows[1];
  const std::string text = kopt::cli::optimize_text(r);
  EXPECT_NE(text.find("fastest candidate: 0001 (jit-trace) 0.7784 ms against eager 0.7961 ms in the final gate "
                      "(1.5974 ms when ranked), 1.026x the best baseline"),
            std::string::npos)
      << text;
  // Not gated: the ranking's time, as before.
  const auto ranked = finished("mlp", {{"id", 1}, {"strategy", "jit-trace"}, {"median_ms", 0.45}, {"speedup", 1.11}, {"confirmed", false}});
  EXPECT_NE(kopt::cli::optimize_text(ranked).find("fastest candidate: 0001 (jit-trace) 0.4500 ms, 1.110x"), std::string::npos)
      << kopt::cli::optimize_text(ranked);
}

// A summary saved with only some of its fields (an older kopt's, a damaged one) prints what
// it has: a missing field reads as absent (a const json's operator[] on one was undefined
// behaviour, and crashed this test's neighbour in a CI run).
TEST(suite_table, a_summary_missing_its_fields_prints_what_it_has) {
  WorkloadResult r;
  r.workload = "examples/swish.py";
  r.run_dir = "kopt-runs/demo/swish";
  r.status = "finished";
  r.summary = nlohmann::json::object();
  const auto rows = lines(kopt::cli::suite_table({r}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find("no correct candidate; 0 tried"), std::string::npos) << rows[1];
  const std::string text = kopt::cli::optimize_text(r);
  EXPECT_NE(text.find("baselines: not measured"), std::string::npos) << text;
  EXPECT_NE(text.find("best: no correct candidate"), std::string::npos) << text;
  EXPECT_NE(text.find("candidates: 0, 0.00 evaluated per minute"), std::string::npos) << text;
  r.summary = {{"best", {{"id", 4}, {"strategy", "refine"}}}};
  EXPECT_NE(kopt::cli::optimize_text(r).find("fastest candidate: 0004 (refine) (not timed)\n"), std::string::npos)
      << kopt::cli::optimize_text(r);
}

TEST(suite_table, an_unusable_workload_shows_its_error_in_its_row) {
  WorkloadResult r;
  r.workload = "examples/broken.py";
  r.status = "input_error";
  r.error = "workload import: NameError: name 'x' is not defined";
  const auto rows = lines(kopt::cli::suite_table({r}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find("broken"), std::string::npos);
  EXPECT_NE(rows[1].find("input_error: workload import: NameError"), std::string::npos) << rows[1];
}

TEST(suite_table, a_ranking_speedup_is_marked_as_not_confirmed) {
  const auto rows = lines(kopt::cli::suite_table(
      {finished("mlp", {{"id", 1}, {"strategy", "jit-trace"}, {"median_ms", 0.45}, {"speedup", 1.11}, {"confirmed", false}})}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find("ranking only (not confirmed)"), std::string::npos) << rows[1];
}

// Two workloads with one stem (a/softmax.py, b/softmax.py) ran in softmax and softmax-2:
// their rows say which is which, by the run folder's name.
TEST(suite_table, workloads_that_share_a_stem_are_named_by_their_run_folders) {
  auto a = finished("softmax", nullptr), b = finished("softmax", nullptr), c = finished("conv", nullptr);
  a.workload = "a/softmax.py";
  b.workload = "b/softmax.py";
  b.run_dir = "kopt-runs/demo/softmax-2/";
  const auto rows = lines(kopt::cli::suite_table({a, b, c}));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].rfind("  softmax ", 0), 0u) << rows[1];
  EXPECT_EQ(rows[2].rfind("  softmax-2 ", 0), 0u) << rows[2];
  EXPECT_EQ(rows[3].rfind("  conv ", 0), 0u) << rows[3];
  const auto summary = kopt::core::suite_summary({a, b, c});
  EXPECT_EQ(summary["workloads"][1]["name"], "softmax-2");
  EXPECT_EQ(summary["workloads"][2]["name"], "conv");
}

// The ceiling column and line: how much any implementation could gain over the baseline.
TEST(suite_table, a_workload_not_reached_shows_what_its_folder_saved) {
  auto r = finished("mlp3", {{"id", 3}, {"strategy", "refine"}, {"median_ms", 1.18}, {"speedup", 2.1},
                             {"confirmed", true}, {"low", 2.09}, {"high", 2.10}, {"faster", true}});
  r.status = "not_started";
  r.saved_status = "finished";
  auto rows = lines(kopt::cli::suite_table({r}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find("not reached this time, as saved (finished): FASTER (95% 2.090-2.100)"), std::string::npos)
      << rows[1];
  // Without a saved summary: the status alone.
  WorkloadResult bare;
  bare.workload = "examples/new.py";
  bare.status = "not_started";
  rows = lines(kopt::cli::suite_table({bare}));
  EXPECT_NE(rows[1].find("not_started"), std::string::npos) << rows[1];
}

TEST(suite_table, the_ceiling_column_shows_each_workloads_headroom) {
  auto a = finished("softmax", {{"id", 1}, {"strategy", "jit-trace"}, {"median_ms", 0.51}, {"speedup", 0.98},
                                {"confirmed", true}, {"low", 0.95}, {"high", 1.01}, {"faster", false}});
  a.summary["headroom"] = {{"ceiling", 1.126}, {"fraction_of_light", 0.889}, {"bound", "memory"}, {"precision", "fp32"},
                           {"baseline", "eager"}, {"seconds", 0.000444}};
  const auto rows = lines(kopt::cli::suite_table({a, finished("mlp", nullptr)}));
  ASSERT_EQ(rows.size(), 3u);
  const auto column = rows[0].find("ceiling");
  ASSERT_NE(column, std::string::npos);
  EXPECT_EQ(rows[1].substr(column, 7), "  1.13x") << rows[1];
  EXPECT_EQ(rows[2].substr(column, 7), "      -") << rows[2];
  EXPECT_NE(kopt::cli::optimize_text(a).find("  speed of light 0.4440 ms (memory-bound, fp32): eager is at 88.9% of it"),
            std::string::npos);
  const nlohmann::json suite = {{"geomean_speedup", 1.2}, {"fast_p", {{"1.0", 0.5}, {"1.5", 0.0}, {"2.0", 0.0}}},
                                {"geomean_ceiling", 1.126}, {"workloads_with_ceiling", 1}};
  EXPECT_EQ(kopt::cli::suite_line(suite, 2),
            "suite: 2 workload(s), geometric mean speedup 1.200x, fast_1.0 0.50, fast_1.5 0.00, fast_2.0 0.00; "
            "ceiling (geometric mean over 1 workload(s) with a bound) 1.13x\n");
  EXPECT_EQ(kopt::cli::suite_line(nlohmann::json::object(), 0), "suite: 0 workload(s), fast_1.0 0.00, fast_1.5 0.00, fast_2.0 0.00\n");
}
