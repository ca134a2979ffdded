// Bad input at the command line, through the real binary (found by trying kopt as a new
// user would): kopt ask's workload and --out, --json errors, a resume whose command line
// differs from its run.json, option values CLI11 alone let through, and names that hold
// terminal escapes. Each is one line and exit 2, before anything is asked or run.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

using kopt::testing::case_path;
using kopt::testing::context;
using kopt::testing::exists;
using kopt::testing::read;
using kopt::testing::run_kopt;

namespace {

std::string example(const std::string& name) { return std::string(KOPT_EXAMPLES_DIR) + "/" + name; }

std::string temp_dir() { return kopt::testing::temp_dir("kopt-cli-test"); }

// An "LLM" for kopt ask --provider exec that answers every prompt with one candidate.
std::string answering_script(const std::string& dir) {
  const std::string path = dir + "/llm.sh";
  std::ofstream(path) << "#!/bin/sh\ncat >/dev/null\nprintf '```python\\nimport torch\\nclass ModelNew(torch.nn.Module):\\n"
                         "    def forward(self, x):\\n        return x\\n```\\n'\n";
  chmod(path.c_str(), 0755);
  return path;
}

// A copy of the recorded CPU run (fixtures/runs/linear_gelu_cpu), to resume.
std::string fixture_run(const std::string& dir) {
  const std::string run = dir + "/run";
  std::filesystem::copy(std::string(KOPT_FIXTURES_DIR) + "/runs/linear_gelu_cpu", run,
                        std::filesystem::copy_options::recursive);
  return run;
}

void expect_one_line_usage_error(const kopt::testing::KoptRun& run, const std::string& words) {
  EXPECT_EQ(run.exit_code, 2) << context(run);
  EXPECT_NE(run.err.find("kopt: error: "), std::string::npos) << context(run);
  EXPECT_NE(run.err.find(words), std::string::npos) << context(run);
}

}  // namespace

TEST(ask_input, a_folder_or_a_file_that_is_no_workload_is_refused_before_any_request) {
  const auto dir = temp_dir();
  const auto llm = answering_script(dir);
  const auto folder = run_kopt({"ask", dir, "--provider", "exec", "--command", llm, "--out", dir + "/a"});
  expect_one_line_usage_error(folder, "(a folder)");
  EXPECT_FALSE(exists(dir + "/a")) << "nothing was asked, nothing was written";
  const auto not_workload = run_kopt({"ask", llm, "--provider", "exec", "--command", llm, "--out", dir + "/b"});
  expect_one_line_usage_error(not_workload, "is not a workload");
  EXPECT_FALSE(exists(dir + "/b"));
  const auto hint = run_kopt({"ask", example("swish.py"), "--provider", "exec", "--command", llm, "--hint-file", dir,
                              "--out", dir + "/c"});
  expect_one_line_usage_error(hint, "cannot read the hint file");
}

TEST(ask_input, an_out_folder_holding_an_earlier_ask_is_never_written_over) {
  const auto dir = temp_dir();
  const auto llm = answering_script(dir);
  const auto first = run_kopt({"ask", example("swish.py"), "--provider", "exec", "--command", llm, "--out", dir + "/a"});
  ASSERT_EQ(first.exit_code, 0) << context(first);
  const std::string summary = read(dir + "/a/summary.json");
  const std::string response = read(dir + "/a/requests/0001.response.json");
  ASSERT_FALSE(summary.empty());
  const auto again = run_kopt({"ask", example("swish.py"), "--provider", "exec", "--command", llm, "--out", dir + "/a"});
  expect_one_line_usage_error(again, "already holds files");
  EXPECT_EQ(read(dir + "/a/summary.json"), summary);
  EXPECT_EQ(read(dir + "/a/requests/0001.response.json"), response);
}

TEST(json_errors, every_command_given_json_prints_its_error_as_json_on_stdout) {
  const auto dir = temp_dir();
  const std::vector<std::vector<std::string>> lines = {
      {"optimize", "/nonexistent/w.py", "--device", "cpu", "--json"},
      {"optimize", "--resume", dir + "/nothing", "--json"},
      {"report", dir + "/nothing", "--json"},
      {"report", dir + "/nothing", "--format", "json"},
      {"ask", "/nonexistent/w.py", "--provider", "exec", "--command", "/bin/true", "--json"},
      {"doctor", "--json", "--no-such-flag"},
      {"optimize", example("swish.py"), "--json", "--temperature", "NaN"},
  };
  for (const auto& line : lines) {
    const auto run = run_kopt(line);
    const std::string shown = line[0] + " " + line[1];
    EXPECT_EQ(run.exit_code, 2) << shown << "\n" << context(run);
    ASSERT_TRUE(run.json.is_object()) << shown << ": stdout is not one JSON document\n" << context(run);
    EXPECT_EQ(run.json["exit_code"], 2) << shown;
    EXPECT_FALSE(run.json.value("error", "").empty()) << shown;
  }
  // Without --json, stdout stays empty: the error is stderr's one line.
  const auto plain = run_kopt({"report", dir + "/nothing"});
  EXPECT_EQ(plain.exit_code, 2);
  EXPECT_TRUE(plain.out.empty()) << plain.out;
}

TEST(resume_input, what_a_run_fixes_given_otherwise_on_the_command_line_is_refused_not_dropped) {
  const auto dir = temp_dir();
  const auto run = fixture_run(dir);
  const std::string before = read(run + "/run.json");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"optimize", "--resume", run, "--device", "cuda"}, "--device (run.json: \"cpu\")"},
      {{"optimize", "--resume", run, "--trials", "50"}, "--trials (run.json: "},
      {{"optimize", "--resume", run, "--precision", "bf16"}, "--precision"},
      {{"optimize", "--resume", run, "--out", dir + "/elsewhere"}, "--out"},
      {{"optimize", "--resume", run, example("mlp.py")}, "the workload arguments"},
  };
  for (const auto& [line, words] : cases) {
    const auto got = run_kopt(line);
    expect_one_line_usage_error(got, "a resumed run keeps what its run.json fixes");
    EXPECT_NE(got.err.find(words), std::string::npos) << context(got);
  }
  EXPECT_EQ(read(run + "/run.json"), before) << "a refused resume changes nothing";
  EXPECT_FALSE(exists(dir + "/elsewhere"));
}

TEST(option_values, nan_empty_and_missing_values_are_refused_with_their_option_named) {
  const auto dir = temp_dir();
  const std::string w = example("swish.py");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"optimize", w, "--temperature", "NaN"}, "--temperature"},
      {{"ask", w, "--temperature", "nan"}, "--temperature"},
      {{"optimize", w, "--candidate-gpu-memory", "nan"}, "--candidate-gpu-memory"},
      {{"eval", w, case_path("c_elementwise_honest.py"), "--candidate-gpu-memory", "NaN"}, "--candidate-gpu-memory"},
      {{"optimize", w, "--work-dir", dir + "/missing"}, "no such folder"},
      {{"eval", w, case_path("c_elementwise_honest.py"), "--work-dir", dir + "/missing"}, "no such folder"},
      {{"baseline", w, "--work-dir", dir + "/missing"}, "no such folder"},
      {{"optimize", w, "--compile-mode", ""}, "--compile-mode"},
      {{"baseline", w, "--compile-modes", "max-autotune-typo"}, "--compile-modes"},
  };
  for (const auto& [line, words] : cases) {
    const auto got = run_kopt(line);
    EXPECT_EQ(got.exit_code, 2) << line[0] << " " << words << "\n" << context(got);
    EXPECT_NE(got.err.find(words), std::string::npos) << context(got);
  }
}

TEST(report_input, a_run_folder_named_twice_is_one_run) {
  const std::string run = std::string(KOPT_FIXTURES_DIR) + "/runs/linear_gelu_cpu";
  const auto twice = run_kopt({"report", run, run + "/", run + "/../linear_gelu_cpu", "--json"});
  ASSERT_EQ(twice.exit_code, 0) << context(twice);
  EXPECT_EQ(twice.json["runs"].size(), 1u) << twice.out.substr(0, 400);
  EXPECT_FALSE(twice.json.contains("suite"));
}

// A key of kopt's environment typed into --command and --hint (as a user might): it never
// goes out in a prompt, never lands in the run folder, is not on kopt's own command line
// (/proc/PID/cmdline, which every process of the machine can read, a candidate's too), and
// a resume asks for --command again rather than running the saved "[REDACTED]".
// What would go wrong rounds later is said before any baseline runs: a prompt template
// with a placeholder kopt has no value for (refine.md is first rendered in round 2), and
// --max-cost for a model without a price.
TEST(optimize_input, a_bad_template_and_an_unpriced_max_cost_are_said_before_anything_runs) {
  const auto dir = temp_dir();
  ASSERT_EQ(::mkdir((dir + "/prompts").c_str(), 0755), 0);
  std::ofstream(dir + "/prompts/refine.md") << "Improve it: {{no_such_value}}\n";
  const auto bad = run_kopt({"optimize", example("swish.py"), "--device", "cpu", "--provider", "exec", "--command",
                             "/bin/true", "--prompts", dir + "/prompts", "--out", dir + "/r1"});
  EXPECT_EQ(bad.exit_code, 2) << context(bad);
  EXPECT_NE(bad.err.find("refine.md"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("no_such_value"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::ifstream(dir + "/r1/run.json").good()) << "nothing ran";
  const auto unpriced = run_kopt({"optimize", example("swish.py"), "--device", "cpu", "--provider", "openai", "--model",
                                  "no-such-model", "--max-cost", "1", "--out", dir + "/r2"},
                                 {{"OPENAI_API_KEY", ""}});
  EXPECT_EQ(unpriced.exit_code, 2) << context(unpriced);  // and no key: refused before anything runs
  EXPECT_NE(unpriced.err.find("No price for model \"no-such-model\": --max-cost cannot limit it."), std::string::npos)
      << unpriced.err;
}

TEST(secrets, a_key_typed_on_the_command_line_reaches_no_prompt_file_or_cmdline) {
  const auto dir = temp_dir();
  const std::string key = "sk-test-SECRET-4242";
  const std::string llm = dir + "/llm.sh";
  std::ofstream(llm) << "#!/bin/sh\ncat > " << dir << "/stdin.txt\n"
                     << "tr '\\0' ' ' < /proc/$PPID/cmdline > " << dir << "/parent_cmdline.txt\n"
                     << "echo '```python'\ncat " << case_path("c_elementwise_honest.py") << "\necho '```'\n";
  chmod(llm.c_str(), 0755);
  const std::string out = dir + "/run";
  const auto run = run_kopt({"optimize", case_path("w_elementwise.py"), "--device", "cpu", "--provider", "exec",
                             "--command", llm + " " + key, "--hint", "use the key " + key, "--out", out, "-n", "1",
                             "--max-candidates", "1", "--final-top", "0", "--no-seeds"},
                            {{"OPENAI_API_KEY", key}});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  EXPECT_NE(read(dir + "/stdin.txt").find("[REDACTED]"), std::string::npos) << "the hint went out";
  EXPECT_EQ(read(dir + "/stdin.txt").find(key), std::string::npos) << "the key went out in the prompt";
  const std::string cmdline = read(dir + "/parent_cmdline.txt");
  EXPECT_NE(cmdline.find("optimize"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find(key), std::string::npos) << "kopt's command line shows the key: " << cmdline;
  EXPECT_EQ(run.out.find(key) + run.err.find(key), 2 * std::string::npos);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
    if (entry.is_regular_file()) {
      EXPECT_EQ(read(entry.path().string()).find(key), std::string::npos) << entry.path();
    }
  }
  const auto report = run_kopt({"report", out, "--json"}, {{"OPENAI_API_KEY", key}});
  EXPECT_EQ(report.out.find(key), std::string::npos);
  const auto resumed = run_kopt({"optimize", "--resume", out}, {{"OPENAI_API_KEY", key}});
  expect_one_line_usage_error(resumed, "give --command again");
}
