// kopt report and kopt show through the real binary, over run directories written by the
// tests (report_fixtures.cpp) and one recorded from a real CPU run (tests/fixtures/runs).
#include <gtest/gtest.h>

#include <fstream>

#include "harness.hpp"
#include "report_fixtures.hpp"

using namespace kopt::testing;

namespace {

std::string root() { return temp_dir("kopt-report-test"); }

std::string recorded_run() { return std::string(KOPT_FIXTURES_DIR) + "/runs/linear_gelu_cpu"; }

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

// Every rendering of `dirs` succeeds; returns {text, md, html, json}.
struct Rendered {
  std::string text, md, html;
  nlohmann::json json;
};
Rendered render_all(const std::vector<std::string>& dirs) {
  Rendered out;
  for (const char* format : {"text", "md", "html", "json"}) {
    std::vector<std::string> args = {"report"};
    args.insert(args.end(), dirs.begin(), dirs.end());
    args.insert(args.end(), {"--format", format});
    const auto run = run_kopt(args);
    EXPECT_EQ(run.exit_code, 0) << format << ": " << context(run);
    EXPECT_TRUE(run.err.empty()) << format << ": " << run.err;
    if (std::string(format) == "text") out.text = run.out;
    if (std::string(format) == "md") out.md = run.out;
    if (std::string(format) == "html") out.html = run.out;
    if (std::string(format) == "json") out.json = run.json;
  }
  return out;
}

void expect_one_line_error(const KoptRun& run, const std::string& needle) {
  EXPECT_EQ(run.exit_code, 2) << context(run);
  if (run.json.is_object())  // --format json: stdout holds the error as JSON, stderr its line
    EXPECT_EQ(run.json.value("exit_code", 0), 2) << run.out;
  else
    EXPECT_TRUE(run.out.empty()) << run.out;
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "more than one line: " << run.err;
  EXPECT_EQ(run.err.rfind("kopt: error: ", 0), 0u) << run.err;
  EXPECT_TRUE(has(run.err, needle)) << run.err;
}

}  // namespace

TEST(report_render, a_recorded_cpu_run_renders_in_every_format_with_its_figures) {
  const auto r = render_all({recorded_run()});
  EXPECT_TRUE(has(r.text, "no candidate beat eager; best.py is eager")) << r.text;
  EXPECT_TRUE(has(r.md, "| 0002 | 1 | - | b.py | wrong_result | close |")) << r.md;
  EXPECT_TRUE(has(r.html, "<svg class=\"plot\"")) << "plots inline";
  EXPECT_TRUE(has(r.html, "aria-label=\"best speedup over candidates\""));
  EXPECT_TRUE(has(r.html, "aria-label=\"candidate time by round\""));
  EXPECT_TRUE(has(r.html, "<details class=\"cand\"><summary>0003 ")) << "each candidate has a collapsed section";
  EXPECT_TRUE(has(r.html, "</summary>\n<dl id=\"c-r0-0003\">")) << "whose body the links point at";
  EXPECT_TRUE(has(r.html, "<a href=\"#c-r0-0003\">0003</a>")) << "the table links to it";
  EXPECT_TRUE(has(r.html, "aten::addmm")) << "top kernels";
  EXPECT_TRUE(has(r.html, "torch <span class=\"code\">1.13.0a0</span>")) << "versions";
  ASSERT_TRUE(r.json.is_object());
  EXPECT_EQ(r.json["kopt_report"], 2);
  const auto& run = r.json["runs"][0];
  EXPECT_EQ(run["records"].size(), 4u);
  EXPECT_EQ(run["records"][1]["rule_detail"].get<std::string>().rfind("output: normwise error", 0), 0u) << run["records"][1];
  EXPECT_GT(run["baseline_timing"][0]["iqr_ms"].get<double>(), 0) << "baselines carry their spread";
  EXPECT_EQ(run["best_detail"]["id"], 4);
  EXPECT_FALSE(r.json.contains("suite")) << "one run is no suite";
}

// A real GPU run (kopt optimize on an H200, 8 replayed candidates on the 2 GiB AvgPool1d,
// -j 2, final gate; recorded by benchmarks/scale_round.sh optimize): the parts a CPU run
// has not, the GPU's state while timing and the speed-of-light bound, and the time plot's
// labels on the same scale as its marks.
TEST(report_render, a_recorded_gpu_run_shows_the_gpu_state_and_the_speed_of_light_bound) {
  const auto r = render_all({std::string(KOPT_FIXTURES_DIR) + "/runs/avgpool1d_2g_h200"});
  EXPECT_TRUE(has(r.text, "no candidate beat compile:default; best.py is compile:default")) << r.text;
  EXPECT_TRUE(has(r.html, "cuda (NVIDIA H200)")) << "the device";
  EXPECT_TRUE(has(r.html, "<th>SM MHz</th>")) << "the GPU during timing";
  EXPECT_TRUE(has(r.html, "Speed-of-light bound 894.79 µs (memory-bound); the best baseline runs at 54.7% of it."));
  // The headroom, which this run's summary (written before kopt recorded it) lacks: from run.json's baseline.
  const std::string room = "speed of light 0.8948 ms (memory-bound, fp32): compile:default is at 54.7% of it, so at most 1.83x is left";
  EXPECT_TRUE(has(r.text, "  " + room + "\n")) << r.text;
  EXPECT_TRUE(has(r.md, "Headroom: " + room + ".")) << r.md;
  EXPECT_TRUE(has(r.html, "<p>Headroom: " + room + ".</p>"));
  EXPECT_NEAR(r.json["runs"][0]["headroom"]["ceiling"].get<double>(), 1.83, 0.005);
  EXPECT_TRUE(has(r.html, "95% interval 0.630")) << "the final gate's interval";
  // The best candidate's kernels against the bound: a ranking's timing.json has none, so
  // the figures are its final gate's (claim.json), 2.61 ms against the 0.895 ms bound.
  EXPECT_TRUE(has(r.html, "Speed-of-light bound 894.79 µs (memory-bound); the candidate runs at 34.3% of it."))
      << "the best candidate's column";
  EXPECT_EQ(r.json["runs"][0]["best_detail"]["sol"]["bound"], "memory");
  // compile:default, 1.6364 ms, sits between the plot's labels 0 and 6.55 (ms).
  const auto plot = r.html.substr(r.html.find("aria-label=\"candidate time by round\""));
  auto y_of = [&](const std::string& needle) {
    const auto at = plot.find(needle);
    if (at == std::string::npos) return -1.0;
    const auto y = plot.rfind(" y=\"", at);
    return std::stod(plot.substr(y + 4));
  };
  auto base_at = plot.find("class=\"base\"");
  ASSERT_NE(base_at, std::string::npos);
  const double base_y = std::stod(plot.substr(plot.rfind("y1=\"", base_at) + 4));
  const double zero_y = y_of(">0</text>"), next_y = y_of(">6.55</text>");
  ASSERT_GT(zero_y, 0);
  ASSERT_GT(next_y, 0);
  EXPECT_LT(base_y, zero_y - 4) << "1.64 ms is above the 0 label";
  EXPECT_GT(base_y, zero_y - (zero_y - next_y) * 0.5) << "and below half way to 6.55";
}

TEST(report_render, a_finished_run_says_best_py_is_the_candidate_confirmed_faster) {
  const auto dir = finished_run(root());
  const auto r = render_all({dir});
  EXPECT_TRUE(has(r.html, "best.py is candidate 0003 (confirmed faster by the final gate)")) << r.html;
  EXPECT_TRUE(has(r.html, "95% interval 1.700–2.100")) << "the confirmed interval";
  EXPECT_TRUE(has(r.html, "<td><a href=\"#c-r0-0001\">0001</a></td>")) << "0003's parent links to 0001";
  EXPECT_TRUE(has(r.md, "| 0003 | 2 | 0001 |")) << r.md;
  EXPECT_EQ(r.json["runs"][0]["best_py"]["source"], "candidate");
  EXPECT_EQ(r.json["runs"][0]["records"][2]["claim"]["low"], 1.7);
}

// A run summarised before kopt held the gate's baselines against the run's: the report
// reads them from the best candidate's claim.json (the H200's logsumexp_rows: the run's
// compile:default 0.4371 ms, the gate's 0.4799; here eager 2.0 ms against 2.3).
TEST(report_render, a_gate_that_timed_a_baseline_apart_from_the_runs_measurement_is_noted) {
  const auto dir = finished_run(root());
  std::ofstream(dir + "/candidates/0003/claim.json")
      << nlohmann::json({{"timing", {{"eager", {{"median_ms", 2.3}}}, {"candidate", {{"median_ms", 1.1}}}, {"null_spread", 0.01}}}})
             .dump();
  // A memory bound of 1.9 ms: the run's eager (2.0 ms) is at 95% of it, the gate's at 82.6%.
  auto run = read_json(dir + "/run.json");
  run["baseline"]["sol"] = {{"seconds", 0.0019}, {"memory_seconds", 0.0019}, {"compute_seconds", 0.0}, {"bytes", 6.4e9},
                            {"flops", 0.0}, {"bound", "memory"}, {"precision", "fp32"}};
  std::ofstream(dir + "/run.json") << run.dump(2);
  const auto r = render_all({dir});
  const auto& drift = r.json["runs"][0]["baseline_drift"];
  ASSERT_EQ(drift.size(), 1u) << r.json["runs"][0].dump();
  EXPECT_EQ(drift[0]["baseline"], "eager");
  EXPECT_TRUE(has(r.md, "Baselines: the final gate timed eager at 2.3000 ms, 15.0% slower than the run"))
      << r.md;
  EXPECT_TRUE(has(r.html, "the final gate timed eager at 2.3000 ms")) << r.html;
  EXPECT_TRUE(has(r.md, "eager as the final gate timed it is at 82.6% of it")) << r.md;
  // Without a claim.json nothing is said.
  EXPECT_TRUE(render_all({finished_run(root())}).json["runs"][0]["baseline_drift"].empty());
}

TEST(report_render, an_interrupted_run_lists_the_evaluation_that_did_not_finish) {
  const auto r = render_all({interrupted_run(root())});
  EXPECT_TRUE(has(r.text, "interrupted: candidate 0002 (2.py) after 2.51 s: setup 10.0 ms, trials 2.50 s")) << r.text;
  EXPECT_TRUE(has(r.html, "<li>interrupted 0002 (2.py): setup 10.0 ms, trials 2.50 s</li>")) << r.html;
  EXPECT_TRUE(has(r.html, "<span class=\"badge\" style=\"background:#6e7781\">interrupted</span>"));
  EXPECT_EQ(r.json["runs"][0]["unfinished"].size(), 1u);
}

TEST(report_render, a_run_killed_before_its_summary_still_counts_its_candidates) {
  const auto r = render_all({killed_run(root())});
  EXPECT_TRUE(has(r.text, "running: candidate 0002")) << r.text;
  EXPECT_EQ(r.json["runs"][0]["counts"]["correct"], 1);
  EXPECT_EQ(r.json["runs"][0]["not_evaluated"], 1);
  EXPECT_TRUE(has(r.html, "1 not evaluated")) << r.html;
  // Its finished correct candidate is the fastest so far (it used to read "no correct candidate").
  EXPECT_EQ(r.json["runs"][0]["best"]["id"], 1) << r.json["runs"][0].dump(1);
  EXPECT_FALSE(r.json["runs"][0]["best"]["confirmed"].get<bool>());
  EXPECT_EQ(r.json["runs"][0]["evaluated"], 1);
  EXPECT_TRUE(has(r.text, "fastest candidate: 0001")) << r.text;
  EXPECT_TRUE(has(r.text, "(ranking only, not confirmed)")) << r.text;
  EXPECT_FALSE(has(r.text, "no correct candidate")) << r.text;
}

TEST(report_render, a_run_waiting_for_replies_lists_its_prompts) {
  const auto dir = waiting_run(root());
  const auto r = render_all({dir});
  EXPECT_TRUE(has(r.html, "Waiting for replies (2)")) << r.html;
  EXPECT_TRUE(has(r.html, dir + "/inbox/0003.prompt.md"));
  EXPECT_TRUE(has(r.html, "1200 tokens in, 300 out (estimated from the text)"));
  EXPECT_TRUE(has(r.md, "waiting for a reply: `" + dir + "/inbox/0002.prompt.md`")) << r.md;
  EXPECT_EQ(r.json["runs"][0]["waiting_prompts"].size(), 2u);
}

TEST(report_render, a_run_whose_candidates_all_failed_escapes_what_they_wrote) {
  const auto r = render_all({all_failed_run(root())});
  EXPECT_TRUE(has(r.html, "No correct candidate.")) << r.html;
  EXPECT_TRUE(has(r.html, "No candidate has a ranking speedup yet"));
  for (const char* outcome : {"compile_error", "wrong_result", "crashed", "timed_out"})
    EXPECT_TRUE(has(r.html, std::string(">") + outcome + "</span>")) << outcome;
  // The reason and the source carry a <script>; the strategy breaks out of an attribute.
  EXPECT_FALSE(has(r.html, "<script")) << "no candidate text becomes markup";
  EXPECT_FALSE(has(r.html, "<img")) << "no candidate text becomes markup";
  EXPECT_TRUE(has(r.html, "build failed: &lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;")) << "the reason, escaped";
  EXPECT_TRUE(has(r.html, "# &lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;\nclass ModelNew")) << "the source, escaped";
  EXPECT_TRUE(has(r.html, "x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_FALSE(has(r.md, "<script")) << r.md;
  EXPECT_TRUE(r.json["runs"][0]["best"].is_null());
}

TEST(report_render, a_suite_with_a_failed_baseline_has_a_row_per_workload_and_fast_p) {
  const auto dir = suite_with_failed_baseline(root());
  const auto r = render_all({dir});
  ASSERT_TRUE(r.json.contains("suite")) << r.json.dump(1);
  const auto& s = r.json["suite"];
  ASSERT_EQ(s["workloads"].size(), 3u);
  EXPECT_EQ(s["workloads"][0]["status"], "input_error");
  EXPECT_FALSE(s["workloads"][0]["baseline_ok"].get<bool>());
  EXPECT_EQ(s["workloads"][0]["baseline_error"], "get_inputs() raised: no inputs today");
  EXPECT_EQ(s["workloads"][2]["status"], "not_started");
  EXPECT_DOUBLE_EQ(s["geomean_speedup"].get<double>(), 2.0);
  EXPECT_NEAR(s["fast_p"]["1.0"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_NEAR(s["fast_p"]["1.5"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(s["fast_p"]["2.0"].get<double>(), 0.0) << "2.0x is not faster than 2.0x";
  EXPECT_EQ(s["counts"]["crashed"], 1);
  EXPECT_TRUE(has(r.html, "geometric-mean speedup 2.000x; fast_1.0 0.33, fast_1.5 0.33, fast_2.0 0.00")) << r.html;
  EXPECT_TRUE(has(r.html, "<span style=\"color:#cf222e\">failed</span> get_inputs() raised: no inputs today"));
  EXPECT_TRUE(has(r.text, "broken.py: input_error")) << r.text;
  EXPECT_TRUE(has(r.text, "fast_1.0 0.33")) << r.text;
  EXPECT_TRUE(has(r.md, "| broken | input_error | failed get_inputs() raised: no inputs today |")) << r.md;
}

TEST(report_render, several_run_directories_merge_into_one_suite) {
  const std::string base = root();
  const auto r = render_all({finished_run(base), all_failed_run(base)});
  ASSERT_EQ(r.json["runs"].size(), 2u);
  ASSERT_EQ(r.json["suite"]["workloads"].size(), 2u);
  EXPECT_NEAR(r.json["suite"]["fast_p"]["1.0"].get<double>(), 0.5, 1e-9);
  EXPECT_TRUE(has(r.html, "<section id=\"run-r1\">")) << "each run has its section";
  EXPECT_TRUE(has(r.html, "<dl id=\"c-r1-0004\">")) << "anchors stay unique across runs";
}

// A suite's ceiling column and geometric mean count the workloads that have a bound only.
TEST(report_render, a_suites_ceiling_counts_the_workloads_with_a_bound) {
  const auto r = render_all({std::string(KOPT_FIXTURES_DIR) + "/runs/avgpool1d_2g_h200", finished_run(root())});
  const auto& s = r.json["suite"];
  EXPECT_NEAR(s["workloads"][0]["ceiling"].get<double>(), 1.83, 0.005);
  EXPECT_TRUE(s["workloads"][1]["ceiling"].is_null()) << "a CPU run has no bound";
  EXPECT_EQ(s["workloads_with_ceiling"], 1);
  EXPECT_TRUE(has(r.text, "ceiling (geometric mean over 1 workload(s) with a bound) 1.83x")) << r.text;
  EXPECT_TRUE(has(r.md, "geometric mean 1.83x over 1 workload(s).")) << r.md;
  EXPECT_TRUE(has(r.html, "<td class=\"num\">1.83x</td>")) << "the HTML suite table's ceiling";
}

TEST(report_render, a_suite_and_one_of_its_own_runs_count_that_run_once) {
  const auto dir = suite_with_failed_baseline(root());
  const auto both = run_kopt({"report", dir, dir + "/relu", dir + "/../suite/broken/", "--json"});
  ASSERT_EQ(both.exit_code, 0) << context(both);
  EXPECT_EQ(both.json["suite"]["workloads"].size(), 3u) << both.out.substr(0, 600);
  EXPECT_EQ(both.json["runs"].size(), run_kopt({"report", dir, "--json"}).json["runs"].size());
}

TEST(report_render, output_goes_to_a_file_with_o) {
  const std::string dir = finished_run(root());
  const auto run = run_kopt({"report", dir, "--format", "html", "-o", dir + "/again.html"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(read(dir + "/again.html").rfind("<!DOCTYPE html>", 0), 0u);
  // Not over the run's own files ("-o RUN/run.json" destroyed the run).
  const std::string before = read(dir + "/run.json");
  const auto over = run_kopt({"report", dir, "-o", dir + "/run.json"});
  EXPECT_EQ(over.exit_code, 2) << context(over);
  EXPECT_NE(over.err.find("would replace a file of a kopt run"), std::string::npos) << over.err;
  EXPECT_EQ(read(dir + "/run.json"), before);
}

TEST(report_errors, bad_directories_and_damaged_files_are_one_line_errors) {
  expect_one_line_error(run_kopt({"report", "/nonexistent/run"}), "/nonexistent/run");
  expect_one_line_error(run_kopt({"show", "/nonexistent/run", "1"}), "/nonexistent/run");
  const std::string base = root();
  const std::string empty = base + "/empty";
  ASSERT_EQ(::system(("mkdir -p " + empty).c_str()), 0);
  expect_one_line_error(run_kopt({"report", empty, "--format", "html"}), "run.json");
  const std::string damaged = finished_run(base);
  std::ofstream(damaged + "/run.json") << "{\"workload\": 3";
  expect_one_line_error(run_kopt({"report", damaged, "--format", "html"}), damaged + "/run.json");
  const std::string record = all_failed_run(base);
  std::ofstream(record + "/candidates/0002/record.json") << R"({"id": 2, "status": "exploded"})";
  expect_one_line_error(run_kopt({"report", record, "--format", "json"}), "status");
  const std::string bad_timing = interrupted_run(base);  // a damaged file that is not checked: its part is empty
  std::ofstream(bad_timing + "/candidates/0001/timing.json") << "{\"candidate\": [1, 2";
  std::ofstream(bad_timing + "/baseline.json") << "{\"eager\": 7, \"profile\": \"x\"}";
  const auto still = run_kopt({"report", bad_timing, "--format", "html"});
  EXPECT_EQ(still.exit_code, 0) << context(still);
  expect_one_line_error(run_kopt({"show", damaged, "1"}), "run.json");
  expect_one_line_error(run_kopt({"show", bad_timing, "9"}), "no candidate 9");
  expect_one_line_error(run_kopt({"show", bad_timing, "x7"}), "candidate id");
  // kopt report still names a candidate from run.json's summary; show says why it cannot.
  const std::string lost = finished_run(base + "/lost");
  ASSERT_EQ(std::remove((lost + "/candidates/0001/record.json").c_str()), 0);
  expect_one_line_error(run_kopt({"show", lost, "1"}), "candidate 1's record.json is missing");
  ASSERT_EQ(::system(("rm -rf " + lost + "/candidates/0002").c_str()), 0);
  expect_one_line_error(run_kopt({"show", lost, "2"}), "its folder is gone, though run.json's summary counts");
}

TEST(report_show, one_candidate_with_outcome_timing_profile_prompt_and_a_diff_against_its_parent) {
  const auto dir = finished_run(root());
  const auto run = run_kopt({"show", dir, "0003"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_TRUE(has(run.out, "candidate 0003 (3.py)")) << run.out;
  EXPECT_TRUE(has(run.out, "round 2, parent 0001")) << run.out;
  EXPECT_TRUE(has(run.out, "final gate: correct, 1.900x (95% interval 1.700-2.100, 10 pairs): faster")) << run.out;
  EXPECT_TRUE(has(run.out, "median 1.0000 ms, Q1 0.9000, Q3 1.1000")) << "timing distribution";
  EXPECT_TRUE(has(run.out, "vectorized_elementwise_kernel<relu>")) << "profile";
  EXPECT_TRUE(has(run.out, "# replay: 3.py")) << "prompt";
  EXPECT_TRUE(has(run.out, "== diff against 0001/candidate.py ==")) << run.out;
  if (has(run.out, "no diff program found")) GTEST_SKIP() << "diff is not installed";
  EXPECT_TRUE(has(run.out, "--- 0001/candidate.py\n+++ 0003/candidate.py\n")) << run.out;
  EXPECT_TRUE(has(run.out, "-    # candidate 1\n+    # candidate 3\n")) << run.out;
}

// What a run folder holds is shown, never obeyed: escape sequences in a record's outcome
// and rule, its claim or verify.json do not reach the terminal.
TEST(report_show, control_characters_in_the_run_folder_are_not_printed) {
  const auto dir = finished_run(root() + "/control");
  const std::string record_path = dir + "/candidates/0003/record.json";
  std::ifstream in(record_path);
  auto record = nlohmann::json::parse(in);
  in.close();
  record["check"] = "close\x1b[2J";
  record["claim"]["outcome"] = "correct\x1b]0;owned\x07";
  std::ofstream(record_path) << record.dump(2);
  std::ofstream(dir + "/candidates/0003/verify.json")
      << nlohmann::json({{"rules", {{{"id", "tripwire\x1b[31m"}, {"status", "failed"}, {"detail", "d"}}}}}).dump();
  const auto run = run_kopt({"show", dir, "3"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_TRUE(has(run.out, "  correct (rule close)\n")) << run.out;
  EXPECT_TRUE(has(run.out, "final gate: correct, 1.900x")) << run.out;
  EXPECT_TRUE(has(run.out, "  failed tripwire: d\n")) << run.out;
  EXPECT_EQ(run.out.find('\x1b'), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find('\x07'), std::string::npos) << run.out;
}

TEST(report_show, a_failed_candidate_shows_its_rule_and_a_diff_against_the_workload) {
  const auto run = run_kopt({"show", recorded_run(), "2"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  EXPECT_TRUE(has(run.out, "wrong_result (rule close)")) << run.out;
  EXPECT_TRUE(has(run.out, "failed close: output: normwise error")) << run.out;
  EXPECT_TRUE(has(run.out, "== diff against workload.py (the reference) ==")) << run.out;
  EXPECT_TRUE(has(run.out, "-class Model(nn.Module):\n-    def __init__(self, in_features, out_features):\n+class ModelNew(nn.Module):\n")) << run.out;
}

TEST(report_render, a_run_of_three_hundred_candidates_stays_one_readable_page) {
  const std::string dir = root() + "/many";
  auto h = run_header("relu.py", "finished");
  std::vector<nlohmann::json> rs;
  const char* failures[] = {"wrong_result", "compile_error", "crashed", "timed_out"};
  for (int id = 1; id <= 300; ++id)
    rs.push_back(id % 3 ? candidate(id, 1 + (id - 1) / 8, failures[id % 4]) : candidate(id, 1 + (id - 1) / 8, "correct", 0.5 + id % 17 * 0.1));
  write_run(dir, h, rs, summary_of(h, rs));
  const auto run = run_kopt({"report", dir, "--format", "html", "-o", dir + "/report.html"});
  ASSERT_EQ(run.exit_code, 0) << context(run);
  const std::string html = read(dir + "/report.html");
  EXPECT_LT(html.size(), 1'500'000u) << "the page grows linearly and stays small";
  EXPECT_EQ(occurrences(html, "<details class=\"cand\">"), 300u);
  EXPECT_EQ(occurrences(html, "<details class=\"cand\" open"), 0u) << "sections start collapsed";
  EXPECT_TRUE(has(html, "<div class=\"scroll\"><table class=\"cands\">")) << "the table scrolls in its box";
  EXPECT_TRUE(has(html, "<a href=\"#c-r0-0300\">0300</a>"));
}
