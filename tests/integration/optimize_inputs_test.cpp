// kopt optimize's inputs and folders through the real binary on the CPU: bad arguments and
// interpreters, a workload whose forward raises, a replay folder given relative to the
// working directory, runs started together and workloads of one name, the time budget, a
// run stopped before its baselines.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using kopt::testing::case_path;
using kopt::testing::context;
using kopt::testing::copy_file;
using kopt::testing::exists;
using kopt::testing::read;
using kopt::testing::read_json;
using kopt::testing::run_kopt;
using kopt::testing::start_kopt;
using kopt::testing::wait_exit;

namespace {

std::string example(const std::string& name) { return std::string(KOPT_EXAMPLES_DIR) + "/" + name; }

std::string temp_dir() { return kopt::testing::temp_dir("kopt-optimize-test"); }

}  // namespace

TEST(optimize_usage, bad_arguments_are_usage_errors_without_running_anything) {
  EXPECT_EQ(run_kopt({"optimize"}).exit_code, 2);
  EXPECT_EQ(run_kopt({"optimize", "/nonexistent/w.py"}).exit_code, 2);
  EXPECT_EQ(run_kopt({"optimize", example("linear_gelu.py"), "--provider", "replay"}).exit_code, 2);
  EXPECT_EQ(run_kopt({"optimize", example("linear_gelu.py"), "--time-budget", "soon"}).exit_code, 2);
  EXPECT_EQ(run_kopt({"optimize", example("linear_gelu.py"), "--shard", "3/2"}).exit_code, 2);
  EXPECT_EQ(run_kopt({"optimize", "--resume", "/nonexistent-run"}).exit_code, 2);
  // A named interpreter that cannot run is kopt's setting, not an unusable workload.
  const auto python = run_kopt({"optimize", example("linear_gelu.py"), "--python", "/nonexistent/python3"});
  EXPECT_EQ(python.exit_code, 2);
  EXPECT_NE(python.err.find("--python /nonexistent/python3 is not an executable file"), std::string::npos) << python.err;
  EXPECT_EQ(python.out.find("unusable"), std::string::npos) << python.out;
}

// A workload whose forward raises: the baseline cannot run it and the candidate that finds
// it unusable ends the run as an input error, with no best.py (it used to finish "best.py
// is eager", a Model that raises, because another candidate failed to compile first).
TEST(optimize_builtin, a_workload_whose_forward_raises_is_unusable_and_gets_no_best_py) {
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt({"optimize", case_path("w_forward_raises.py"), "--out", out, "--max-candidates", "2",
                             "--final-top", "0", "--json"});
  EXPECT_EQ(run.exit_code, 2) << context(run);
  ASSERT_EQ(run.json["runs"].size(), 1u) << context(run);
  const auto& r = run.json["runs"][0];
  EXPECT_EQ(r["status"], "input_error") << r.dump();
  EXPECT_NE(r["stop_reason"].get<std::string>().find("forward is broken"), std::string::npos) << r.dump();
  EXPECT_TRUE(r["best_py"].is_null()) << r.dump();
  EXPECT_FALSE(exists(out + "/best.py"));
}

// --time-budget limits the search, not the baselines' measurement: under
// --workloads-at-once a workload's baselines wait for the others' timing, and on the H200
// (sixteenth session) one workload spent its 120 s there and got no candidate at all.
TEST(optimize_builtin, the_time_budget_starts_after_the_baselines) {
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt({"optimize", case_path("w_slow_import.py"), "--out", out, "--time-budget", "2s", "-n", "1",
                             "--max-candidates", "1", "--final-top", "0", "--json"});
  ASSERT_EQ(run.json["runs"].size(), 1u) << context(run);
  const auto& r = run.json["runs"][0];
  const auto header = read_json(out + "/run.json");
  ASSERT_GT(header["baseline"].value("seconds", 0.0), 2.0) << header["baseline"].dump();  // longer than the budget
  EXPECT_EQ(r["candidates"], 1) << r.dump();
  EXPECT_EQ(r["stop_reason"], "reached --max-candidates 1") << r.dump();
}

// A replay run started with a relative --from resumes from another working directory
// (run.json kept "--from replay" as typed: "--from replay is not a folder").
TEST(optimize_replay, a_relative_from_folder_is_saved_absolute_and_the_run_resumes_from_anywhere) {
  const std::string dir = temp_dir();
  mkdir((dir + "/replay").c_str(), 0755);
  copy_file(case_path("c_elementwise_honest.py"), dir + "/replay/1_honest.py");
  const std::string out = dir + "/run";
  const pid_t pid = start_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", "replay",
                                "--out", out, "--final-top", "0", "--max-candidates", "1"},
                               dir, dir);
  ASSERT_EQ(wait_exit(pid), 3) << read(dir + "/stderr");
  EXPECT_EQ(read_json(out + "/run.json")["provider"]["from"], dir + "/replay");
  const auto resumed = run_kopt({"optimize", "--resume", out, "--max-candidates", "1", "--final-top", "0"});
  EXPECT_EQ(resumed.exit_code, 3) << context(resumed);
  // With --resume, --from is a candidate id; one too long for a number is one line, not "stoll".
  const auto bad = run_kopt({"optimize", "--resume", out, "--from", "99999999999999999999"});
  EXPECT_EQ(bad.exit_code, 2) << context(bad);
  EXPECT_NE(bad.err.find("--from takes a candidate id"), std::string::npos) << bad.err;
}

// Two runs started at once in one folder without --out (a CI matrix) each get their own
// kopt-runs/ folder (the second used to refuse: "already holds a run"); a suite's
// workloads of the same name get their own run folders too (they shared one).
TEST(optimize_suite, runs_started_together_and_workloads_of_one_name_get_folders_of_their_own) {
  const std::string dir = temp_dir();
  for (const char* sub : {"/a", "/b", "/one", "/two"}) mkdir((dir + sub).c_str(), 0755);
  copy_file(case_path("w_elementwise.py"), dir + "/a/w.py");
  copy_file(case_path("w_elementwise.py"), dir + "/b/w.py");
  const std::vector<std::string> args = {"optimize", dir + "/a/w.py", "--max-candidates", "1", "--final-top", "0"};
  const pid_t one = start_kopt(args, dir + "/one", dir), two = start_kopt(args, dir + "/two", dir);
  EXPECT_EQ(wait_exit(one), 3) << read(dir + "/one/stderr");
  EXPECT_EQ(wait_exit(two), 3) << read(dir + "/two/stderr");
  int runs = 0;
  if (DIR* d = opendir((dir + "/kopt-runs").c_str())) {
    while (const dirent* e = readdir(d)) runs += exists(dir + "/kopt-runs/" + e->d_name + "/run.json");
    closedir(d);
  }
  EXPECT_EQ(runs, 2);
  const auto suite = run_kopt({"optimize", dir + "/a/w.py", dir + "/b/w.py", "--out", dir + "/suite", "--max-candidates",
                               "1", "--final-top", "0", "--json"});
  EXPECT_EQ(suite.exit_code, 3) << context(suite);
  EXPECT_TRUE(exists(dir + "/suite/w/run.json"));
  EXPECT_TRUE(exists(dir + "/suite/w-2/run.json"));
}

// A command line kopt refuses leaves no folder behind: a bad --time-budget, or a replay
// without --from, used to leave an empty kopt-runs/w-TIME (a suite's folder with only
// suite.json) for every typo. A folder the user named and that holds files stays as it was.
TEST(optimize_inputs, a_refused_command_line_leaves_no_run_folder_behind) {
  const std::string dir = temp_dir();
  const std::string w = case_path("w_elementwise.py");
  const std::vector<std::vector<std::string>> refused = {
      {"optimize", w, "--device", "cpu", "--time-budget", "5x"},
      {"optimize", w, "--device", "cpu", "--provider", "replay"},
      {"optimize", w, "--device", "cpu", "--provider", "files", "--reply-timeout", "99999999999999h"},
      {"optimize", w, w, "--device", "cpu", "--provider", "replay"},
      {"optimize", w, w, "--device", "cpu", "--provider", "replay", "--out", "suite"},
  };
  int n = 0;
  for (const auto& args : refused) {
    const std::string logs = dir + "/log" + std::to_string(++n);
    mkdir(logs.c_str(), 0755);
    EXPECT_EQ(wait_exit(start_kopt(args, logs, dir)), 2) << read(logs + "/stderr");
    EXPECT_NE(read(logs + "/stderr").find("kopt: error:"), std::string::npos) << read(logs + "/stderr");
  }
  EXPECT_FALSE(exists(dir + "/kopt-runs")) << "an empty run folder was left";
  EXPECT_FALSE(exists(dir + "/suite")) << "a suite folder holding only suite.json was left";
  // The user's own folder with a file in it is kept.
  mkdir((dir + "/mine").c_str(), 0755);
  copy_file(w, dir + "/mine/notes.py");
  const std::string logs = dir + "/log-mine";
  mkdir(logs.c_str(), 0755);
  EXPECT_EQ(wait_exit(start_kopt({"optimize", w, w, "--device", "cpu", "--provider", "replay", "--out", "mine"}, logs, dir)),
            2);
  EXPECT_TRUE(exists(dir + "/mine/notes.py"));
  EXPECT_FALSE(exists(dir + "/mine/suite.json"));
  // A suite's folder is never planned over (its suite.json was overwritten).
  copy_file(w, dir + "/mine/suite.json");
  const auto again = run_kopt({"optimize", w, w, "--device", "cpu", "--out", dir + "/mine"});
  EXPECT_EQ(again.exit_code, 2) << context(again);
  EXPECT_NE(again.err.find("already holds a suite: continue it with --resume"), std::string::npos) << again.err;
  EXPECT_EQ(read(dir + "/mine/suite.json"), read(w));
}

// Stopped while its baselines were still being timed (the workload takes 3 s to import):
// nothing was measured, and the summary and best.py say so instead of "no candidate beat
// eager".
TEST(optimize_interrupt, a_run_stopped_before_its_baselines_says_they_were_not_timed) {
  const std::string dir = kopt::testing::temp_dir("kopt-optimize-test");
  const std::string out = dir + "/run";
  const pid_t pid = start_kopt({"optimize", case_path("w_slow_import.py"), "--device", "cpu", "--out", out,
                                "--max-candidates", "1", "--final-top", "0"},
                               dir);
  ASSERT_TRUE(kopt::testing::wait_for(out + "/run.json", 60, 50)) << read(dir + "/stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  const std::string text = read(dir + "/stdout");
  EXPECT_NE(text.find("the baselines were not timed; best.py is eager, the workload's own Model"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("no candidate beat"), std::string::npos) << text;
  EXPECT_EQ(text.find("()"), std::string::npos) << "empty parentheses: " << text;
  EXPECT_EQ(read(out + "/best.py").rfind("# kopt: the baselines were not timed", 0), 0u) << read(out + "/best.py");
}

// A suite stopped in its first workload: the second, never started, stays in the summary
// (as kopt report shows it), so both count the same workloads.
TEST(optimize_interrupt, a_suites_workload_never_started_stays_in_its_summary) {
  const std::string dir = kopt::testing::temp_dir("kopt-optimize-test");
  copy_file(case_path("w_slow_import.py"), dir + "/first.py");
  copy_file(case_path("w_slow_import.py"), dir + "/second.py");
  const std::string out = dir + "/suite";
  const pid_t pid = start_kopt({"optimize", dir + "/first.py", dir + "/second.py", "--device", "cpu", "--out", out,
                                "--max-candidates", "1", "--final-top", "0", "--json"},
                               dir);
  ASSERT_TRUE(kopt::testing::wait_for(out + "/first/run.json", 60, 50)) << read(dir + "/stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  const auto doc = read_json(dir + "/stdout");
  ASSERT_TRUE(doc.is_object()) << read(dir + "/stdout");
  ASSERT_EQ(doc["runs"].size(), 2u) << doc.dump();
  EXPECT_EQ(doc["runs"][1]["status"], "not_started");
  EXPECT_EQ(doc["runs"][1]["saved_status"], "") << "never started: nothing saved";
  EXPECT_EQ(doc["suite"]["workloads"].size(), 2u) << doc["suite"].dump();
  const auto report = run_kopt({"report", out, "--json"});
  EXPECT_EQ(report.json["suite"]["workloads"].size(), 2u) << report.out.substr(0, 600);
}

// Stopped during its final gate: run.json says only the gate is left (gate_left), so a
// suite side by side starts the run after those still searching; resumed, the gate runs
// and the flag is cleared.
TEST(optimize_interrupt, a_run_stopped_during_its_final_gate_is_marked_gate_left) {
  const std::string dir = kopt::testing::temp_dir("kopt-optimize-test");
  const std::string out = dir + "/run";
  const pid_t pid = start_kopt({"optimize", example("swish.py"), "--device", "cpu", "--out", out, "--max-candidates",
                                "1", "--final-top", "1"},
                               dir);
  ASSERT_TRUE(kopt::testing::wait_for_text(dir + "/stderr", "Final gate:", 120)) << read(dir + "/stderr");
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  auto header = read_json(out + "/run.json");
  ASSERT_TRUE(header.is_object());
  EXPECT_EQ(header["status"], "interrupted");
  EXPECT_EQ(header["gate_left"], true) << header["stop_reason"];
  EXPECT_NE(header["stop_reason"].get<std::string>().find("stopped during the final gate"), std::string::npos);
  const auto again = run_kopt({"optimize", "--resume", out});
  EXPECT_NE(again.exit_code, 130) << context(again);
  header = read_json(out + "/run.json");
  EXPECT_EQ(header["status"], "finished") << context(again);
  EXPECT_EQ(header["gate_left"], false);
}
