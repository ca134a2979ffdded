// kopt optimize through the real binary on the CPU: builtin and replay providers over the
// examples, outcomes recorded, --json, resume after SIGKILL and after SIGINT.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "harness.hpp"

using kopt::testing::case_path;
using kopt::testing::KoptRun;
using kopt::testing::run_kopt;
using kopt::testing::context;
using kopt::testing::exists;
using kopt::testing::read;
using kopt::testing::read_json;
using kopt::testing::records;
using kopt::testing::start_kopt;
using kopt::testing::wait_exit;
using kopt::testing::wait_for;

namespace {

std::string example(const std::string& name) { return std::string(KOPT_EXAMPLES_DIR) + "/" + name; }

std::string temp_dir() { return kopt::testing::temp_dir("kopt-optimize-test"); }

long long mtime_ns(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
}

void copy(const std::string& from, const std::string& to) {
  std::ofstream(to) << read(from);
}

// A replay folder: `files` maps a name in the folder to a case file.
std::string replay_folder(const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string dir = temp_dir();
  for (const auto& [name, source] : files) copy(source, dir + "/" + name);
  return dir;
}

const std::vector<std::pair<std::string, std::string>> kHonestFour = {
    {"a.py", example("linear_gelu_candidate.py")},
    {"b.py", example("linear_gelu_candidate.py")},
    {"c.py", example("linear_gelu_candidate.py")},
    {"d.py", example("linear_gelu_candidate.py")}};

}  // namespace

TEST(optimize_builtin, a_cpu_run_leaves_a_complete_run_directory_and_one_json_document) {
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt({"optimize", example("linear_gelu.py"), "--out", out, "--max-candidates", "1",
                             "--final-top", "1", "--final-trials", "2", "--json"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  ASSERT_TRUE(run.json.is_object()) << context(run);
  EXPECT_EQ(run.json["exit_code"], run.exit_code);
  ASSERT_EQ(run.json["runs"].size(), 1u);
  const auto& r = run.json["runs"][0];
  EXPECT_EQ(r["status"], "finished");
  EXPECT_EQ(r["candidates"], 1);
  for (const char* key : {"baselines", "best", "counts", "evaluated_per_minute", "gpu_idle_share", "stop_reason",
                          "run_dir", "tokens", "cost_usd", "faster"})
    EXPECT_TRUE(r.contains(key)) << key;
  for (const char* key : {"geomean_speedup", "fast_p", "workloads"}) EXPECT_TRUE(run.json["suite"].contains(key)) << key;
  for (const char* file : {"run.json", "report.md", "report.html", "workload.py", "baseline.json", "candidates/0001/candidate.py",
                           "candidates/0001/prompt.md", "candidates/0001/record.json", "candidates/0001/verify.json",
                           "candidates/0001/log"})
    EXPECT_TRUE(exists(out + "/" + file)) << file;
  const auto state = read_json(out + "/run.json");
  ASSERT_TRUE(state.is_object());
  EXPECT_EQ(state["candidates"].size(), 1u);
  EXPECT_EQ(state["candidates"][0]["origin"], "builtin");
  EXPECT_GT(state["candidates"][0]["times"]["verify_end"].get<double>(), 0);
  // Each baseline's opening sleep is recorded for ranking (none on a CPU: 0 µs).
  ASSERT_TRUE(state["baseline"]["eager"]["head_us"].is_number()) << state["baseline"].dump();
  EXPECT_EQ(state["baseline"]["eager"]["head_us"].get<double>(), 0.0);
  // The builtin candidate on the CPU (torch.compile may be missing) is jit-trace: correct.
  if (r["counts"].contains("correct")) {
    const std::string best = read(out + "/best.py");
    EXPECT_EQ(best.rfind("# kopt:", 0), 0u);
    EXPECT_NE(best.find("class ModelNew"), std::string::npos);
    EXPECT_NE(best.find("get_init_inputs"), std::string::npos);  // self-contained: the workload is embedded
  }
}

TEST(optimize_replay, wrong_crashing_and_broken_candidates_are_recorded_with_their_outcomes) {
  const std::string from = replay_folder({{"1_honest.py", case_path("c_gelu_addmm_erf.py")},
                                          {"2_one_wrong.py", case_path("c_gelu_one_wrong.py")},
                                          {"3_segfault.py", case_path("c_segfault.py")},
                                          {"4_raise_import.py", case_path("c_raise_import.py")}});
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt({"optimize", case_path("w_linear_gelu.py"), "--provider", "replay", "--from", from,
                             "--out", out, "-n", "4", "-j", "2", "--final-top", "0", "--json"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 4u) << context(run);
  EXPECT_EQ(recs.at(1)["outcome"], "correct");
  // Its ranking speedup comes with the quartile range of the two timings, around it.
  ASSERT_TRUE(recs.at(1)["speedup_low"].is_number()) << recs.at(1).dump(1);
  EXPECT_LE(recs.at(1)["speedup_low"].get<double>(), recs.at(1)["speedup"].get<double>());
  EXPECT_GE(recs.at(1)["speedup_high"].get<double>(), recs.at(1)["speedup"].get<double>());
  EXPECT_NE(run.json["runs"][0]["best"].value("ranking_low", 0.0), 0.0) << run.json["runs"][0]["best"].dump();
  EXPECT_EQ(recs.at(2)["outcome"], "wrong_result");
  EXPECT_EQ(recs.at(3)["outcome"], "crashed");
  EXPECT_EQ(recs.at(4)["outcome"], "compile_error");
  for (const auto& [id, r] : recs) {
    EXPECT_EQ(r["status"], "done");
    // Each record says how its candidate was confined.
    ASSERT_TRUE(r["isolation"].is_object()) << r;
    for (const char* layer : {"user", "network", "filesystem", "processes", "limits", "gpu_memory"})
      EXPECT_TRUE(r["isolation"].contains(layer)) << layer << " in " << r;
  }
  EXPECT_NE(recs.at(2)["strategy"].get<std::string>().find("one_wrong"), std::string::npos);
  const auto& counts = run.json["runs"][0]["counts"];
  EXPECT_EQ(counts["correct"], 1);
  EXPECT_EQ(counts["crashed"], 1);
  EXPECT_NE(read(out + "/report.md").find("wrong_result"), std::string::npos);
  // Without the final gate nothing is confirmed faster: best.py is the baseline, not the
  // honest candidate.
  EXPECT_EQ(read(out + "/best.py").find("addmm"), std::string::npos);
  EXPECT_EQ(run.json["runs"][0]["best_py"]["source"], "baseline");
}

TEST(optimize_replay, when_no_candidate_is_confirmed_faster_best_py_is_the_baseline_and_runs_as_a_drop_in) {
  const std::string from = replay_folder({{"1_slow.py", case_path("c_gelu_slow.py")}});
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt({"optimize", case_path("w_linear_gelu.py"), "--provider", "replay", "--from", from,
                             "--out", out, "-n", "1", "--final-top", "1", "--final-trials", "2", "--json"});
  ASSERT_EQ(run.exit_code, 3) << context(run);  // not faster
  const auto& r = run.json["runs"][0];
  const auto rec = records(out).at(1);
  ASSERT_EQ(rec["outcome"], "correct") << context(run);
  // Every timed candidate is profiled after its ranking timing (torch.profiler; CPU
  // operators here), for the next round's refine prompt.
  ASSERT_TRUE(rec["profile"].is_object()) << rec.dump(1);
  ASSERT_TRUE(rec["profile"]["kernels"].is_array()) << rec["profile"].dump(1);
  EXPECT_FALSE(rec["profile"]["kernels"].empty()) << rec["profile"].dump(1);
  EXPECT_EQ(r["faster"], false);
  EXPECT_EQ(r["best_py"]["source"], "baseline");
  const std::string baseline = r["baselines"]["best"].get<std::string>();
  const std::string verdict = "no candidate beat " + baseline + "; best.py is " + baseline;
  EXPECT_EQ(r["verdict"], verdict);
  EXPECT_NE(read(out + "/report.md").find(verdict), std::string::npos);
  const std::string best = read(out + "/best.py");
  EXPECT_NE(best.find("# kopt: " + verdict), std::string::npos) << best;
  EXPECT_EQ(best.find("range(7)"), std::string::npos) << "the slower candidate was recommended";
  const auto text = run_kopt({"optimize", "--resume", out});
  EXPECT_NE(text.out.find(verdict), std::string::npos) << context(text);
  // best.py is a drop-in: kopt eval verifies it against the workload.
  const auto eval = run_kopt({"eval", case_path("w_linear_gelu.py"), out + "/best.py", "--json"});
  EXPECT_EQ(eval.exit_code, 0) << context(eval);
  EXPECT_EQ(eval.json["outcome"], "correct") << context(eval);
}

TEST(optimize_resume, a_run_killed_with_sigkill_resumes_without_redoing_or_losing_candidates) {
  const std::string from = replay_folder(kHonestFour);
  const std::string dir = temp_dir();
  const std::string out = dir + "/run";
  const pid_t pid = start_kopt({"optimize", example("linear_gelu.py"), "--provider", "replay", "--from", from,
                                "--out", out, "-n", "4", "-j", "1", "--final-top", "0"},
                               dir);
  ASSERT_TRUE(wait_for(out + "/candidates/0002/verify.json", 240, 100)) << read(dir + "/stderr");
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(kopt::testing::process_running(out + "/")) << "a worker outlived kopt";
  std::map<int, long long> finished;
  for (const auto& [id, r] : records(out))
    if (r["status"] == "done") finished[id] = mtime_ns(out + "/candidates/000" + std::to_string(id) + "/verify.json");
  ASSERT_GE(finished.size(), 2u);

  const auto resumed = run_kopt({"optimize", "--resume", out, "--json"});
  ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 3) << context(resumed);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 4u) << "no candidate lost, none added twice";
  for (const auto& [id, r] : recs) EXPECT_EQ(r["outcome"], "correct") << id;
  for (const auto& [id, mtime] : finished)
    EXPECT_EQ(mtime_ns(out + "/candidates/000" + std::to_string(id) + "/verify.json"), mtime) << "candidate " << id << " was redone";
  const auto state = read_json(out + "/run.json");
  EXPECT_EQ(state["sessions"].size(), 2u);
  EXPECT_EQ(state["status"], "finished");
}

TEST(optimize_interrupt, sigint_saves_state_exits_130_and_the_run_resumes) {
  const std::string from = replay_folder(kHonestFour);
  const std::string dir = temp_dir();
  const std::string out = dir + "/run";
  const pid_t pid = start_kopt({"optimize", example("linear_gelu.py"), "--provider", "replay", "--from", from,
                                "--out", out, "-n", "4", "-j", "1", "--final-top", "0", "--json"},
                               dir);
  ASSERT_TRUE(wait_for(out + "/candidates/0001/verify.json", 240, 100)) << read(dir + "/stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the next one is in flight
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  const auto doc = read_json(dir + "/stdout");
  ASSERT_TRUE(doc.is_object()) << read(dir + "/stdout");
  EXPECT_EQ(doc["exit_code"], 130);
  EXPECT_EQ(doc["runs"][0]["status"], "interrupted");
  EXPECT_TRUE(exists(out + "/report.md"));
  EXPECT_EQ(read_json(out + "/run.json")["status"], "interrupted");
  EXPECT_FALSE(kopt::testing::process_running(out + "/")) << "a worker outlived the interrupt";

  const auto resumed = run_kopt({"optimize", "--resume", out, "--json"});
  ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 3) << context(resumed);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 4u);
  for (const auto& [id, r] : recs) EXPECT_EQ(r["status"], "done") << id;
}

TEST(optimize_suite, several_workloads_with_a_shard_give_a_suite_summary) {
  const std::string out = temp_dir() + "/suite";
  // Two workloads, shard 1 of 2 (sorted: linear_gelu.py, softmax.py): softmax only.
  const auto run = run_kopt({"optimize", example("linear_gelu.py"), example("softmax.py"), "--shard", "1/2", "--out",
                             out, "--max-candidates", "1", "--final-top", "0", "--json"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  ASSERT_EQ(run.json["runs"].size(), 1u);
  EXPECT_NE(run.json["runs"][0]["workload"].get<std::string>().find("softmax.py"), std::string::npos);
  EXPECT_TRUE(exists(out + "/run.json") || exists(out + "/softmax/run.json"));
}

// --workloads-at-once 2: the suite's two runs are open at the same time (each one's span in
// run.json overlaps the other's; run one after the other they cannot), results and run
// directories stay in the suite's order, and their timing never overlaps: one gate for both.
TEST(optimize_suite, workloads_at_once_run_side_by_side_and_time_one_at_a_time) {
  const std::string out = temp_dir() + "/suite";
  const auto run = run_kopt({"optimize", example("linear_gelu.py"), example("softmax.py"), "--out", out,
                             "--workloads-at-once", "2", "-j", "1", "--max-candidates", "2", "-n", "2",
                             "--final-top", "0", "--json"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  ASSERT_EQ(run.json["runs"].size(), 2u) << context(run);
  EXPECT_NE(run.json["runs"][0]["workload"].get<std::string>().find("linear_gelu.py"), std::string::npos);
  EXPECT_NE(run.json["runs"][1]["workload"].get<std::string>().find("softmax.py"), std::string::npos);
  const auto a = read_json(out + "/linear_gelu/run.json");
  const auto b = read_json(out + "/softmax/run.json");
  for (const auto* r : {&a, &b}) EXPECT_EQ((*r)["status"], "finished") << r->dump().substr(0, 400);
  const double a0 = a["created"].get<double>(), a1 = a0 + a["elapsed_s"].get<double>();
  const double b0 = b["created"].get<double>(), b1 = b0 + b["elapsed_s"].get<double>();
  EXPECT_LT(std::max(a0, b0), std::min(a1, b1)) << "the runs did not overlap: " << a0 << "-" << a1 << ", " << b0 << "-" << b1;
  // Every timed span of one run is disjoint from every timed span of the other.
  std::vector<std::pair<double, double>> spans[2];
  int k = 0;
  for (const auto* r : {&a, &b}) {
    for (const auto& c : (*r)["candidates"])
      if (c.contains("times") && c["times"].contains("timing_start") && c["times"].contains("timing_end"))
        spans[k].emplace_back(c["times"]["timing_start"].get<double>(), c["times"]["timing_end"].get<double>());
    ++k;
  }
  ASSERT_FALSE(spans[0].empty());
  ASSERT_FALSE(spans[1].empty());
  for (const auto& x : spans[0])
    for (const auto& y : spans[1])
      EXPECT_TRUE(x.second <= y.first || y.second <= x.first)
          << "timing overlapped: " << x.first << "-" << x.second << " and " << y.first << "-" << y.second;
}

namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
    closedir(d);
  }
  return names;
}

}  // namespace

// Prestarted workers (prestart.hpp): while one candidate is verified the next one's workers
// start. Each candidate still gets its own sandbox and processes, a wrong candidate is still
// caught, and no sandbox is left behind, whether the prestarts were used or not.
TEST(optimize_prestart, later_candidates_find_their_workers_started_and_nothing_is_left_behind) {
  const std::string dir = temp_dir();
  chmod(dir.c_str(), 0711);  // the sandbox user (root runs candidates as nobody) passes through
  const std::string work = dir + "/work";
  mkdir(work.c_str(), 0755);
  const std::string from = replay_folder({{"1_honest.py", case_path("c_elementwise_honest.py")},
                                          {"2_counts.py", case_path("c_counts_calls.py")},
                                          {"3_honest.py", case_path("c_elementwise_honest.py")}});
  // A candidate that names torch.compile gets a fresh candidate worker (dynamo is imported
  // before the tripwire's snapshot), its prestarted reference kept.
  std::ofstream(from + "/4_compile.py") << read(case_path("c_elementwise_honest.py"))
                                        << "\n# on torch 2 this would be wrapped in torch.compile(...)\n";
  const auto run = run_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                             "--out", dir + "/run", "--work-dir", work, "-j", "1", "--final-top", "0",
                             "--max-candidates", "4"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  const auto recs = records(dir + "/run");
  ASSERT_EQ(recs.size(), 4u) << context(run);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.at(2)["outcome"], "wrong_result") << recs.at(2).dump();
  EXPECT_EQ(recs.at(3)["outcome"], "correct") << recs.at(3).dump();
  EXPECT_EQ(recs.at(4)["outcome"], "correct") << recs.at(4).dump();
  for (const char* id : {"0001", "0002", "0003", "0004"}) {
    const auto verify = read_json(dir + "/run/candidates/" + id + "/verify.json");
    EXPECT_TRUE(verify["environment"].value("prestarted", false)) << id << " " << verify["environment"].dump();
    const auto& phases = verify["phase_seconds"];
    for (const char* phase : {"prestart_setup", "prestart_reference_start", "prestart_candidate_start", "prestart_wait"})
      EXPECT_TRUE(phases.contains(phase)) << id << " " << phase << " " << phases.dump();
    EXPECT_FALSE(phases.contains("reference_start")) << "the reference was not started again: " << phases.dump();
  }
  EXPECT_TRUE(entries(work).empty()) << "sandboxes left: " << entries(work).size();

  // --no-prestart: each candidate's workers start when it is evaluated.
  const std::string from1 = replay_folder({{"1_honest.py", case_path("c_elementwise_honest.py")}});
  const auto plain = run_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from1,
                               "--out", dir + "/plain", "--work-dir", work, "--final-top", "0", "--no-prestart"});
  ASSERT_TRUE(plain.exit_code == 0 || plain.exit_code == 3) << context(plain);
  const auto verify = read_json(dir + "/plain/candidates/0001/verify.json");
  EXPECT_FALSE(verify["environment"].value("prestarted", false));
  EXPECT_TRUE(verify["phase_seconds"].contains("reference_start")) << verify["phase_seconds"].dump();
  EXPECT_EQ(verify["outcome"], "correct");
}

// A candidate's final-gate claim runs in the sandbox its ranking built it in (the same
// paths), so an extension build is found, not redone: ninja has no work, and the claim's
// import takes seconds, not the build's minute (torch 2's load_inline writes its sources
// only when they changed; the case file does the same through load on torch 1.13). Only
// the --final-top fastest correct candidates' sandboxes wait for their claim; the rest,
// and a wrong candidate's, are removed at once, and none is left when the run ends.
TEST(optimize_gate, a_claim_reuses_its_candidates_build_and_no_sandbox_is_left_behind) {
  const std::string dir = temp_dir();
  chmod(dir.c_str(), 0711);
  const std::string work = dir + "/work";
  mkdir(work.c_str(), 0755);
  const std::string from = replay_folder({{"1_built.py", case_path("c_load_cpu_cached.py")},
                                          {"2_honest.py", case_path("c_elementwise_honest.py")},
                                          {"3_wrong.py", case_path("c_counts_calls.py")}});
  std::ofstream(from + "/4_slow.py") << "import time\nimport torch\nimport torch.nn as nn\n\n\n"
                                        "class ModelNew(nn.Module):\n    def forward(self, x):\n"
                                        "        time.sleep(0.005)\n        return torch.sigmoid(x) * 3.0 - x\n";
  const auto run = run_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                             "--out", dir + "/run", "--work-dir", work, "-j", "1", "--final-top", "2",
                             "--final-trials", "4", "--max-candidates", "4"});
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  const auto recs = records(dir + "/run");
  ASSERT_EQ(recs.size(), 4u) << context(run);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.at(3)["outcome"], "wrong_result") << recs.at(3).dump();
  const std::string built = dir + "/run/candidates/0001/";
  const auto verify = read_json(built + "verify.json");
  ASSERT_TRUE(recs.at(1)["claim"].is_object()) << "the extension candidate is among the two fastest correct ones: "
                                               << recs.at(1).dump();
  const auto claim = read_json(built + "claim.json");
  EXPECT_EQ(claim["outcome"], "correct") << claim.dump();
  // The gate's own medians of the baselines are kept, for the summary to hold against the
  // run's baseline (baseline_drift: a list, empty when they agree).
  EXPECT_GT(recs.at(1)["claim"]["baselines_ms"].value("eager", 0.0), 0.0) << recs.at(1)["claim"].dump();
  EXPECT_TRUE(recs.at(1)["claim"].contains("null_spread")) << recs.at(1)["claim"].dump();
  const auto summary = read_json(dir + "/run/run.json")["summary"];
  EXPECT_TRUE(summary["baseline_drift"].is_array());
  // The summary's best carries the gate's own times beside the gate's speedup.
  ASSERT_TRUE(summary["best"].is_object()) << summary.dump();
  const auto& best = summary["best"];
  const auto& best_claim = recs.at(best.value("id", 0))["claim"];
  EXPECT_DOUBLE_EQ(best.value("gate_ms", 0.0), best_claim.value("candidate_ms", -1.0)) << best.dump();
  EXPECT_EQ(best.value("gate_baseline", ""), best_claim.value("best_baseline", "?")) << best.dump();
  EXPECT_GT(best.value("gate_baseline_ms", 0.0), 0.0) << best.dump();
  EXPECT_FALSE(verify["environment"].value("reused_builds", false));
  // Prestarted workers still serve the ranking when builds are kept for the gate.
  EXPECT_TRUE(read_json(dir + "/run/candidates/0002/verify.json")["environment"].value("prestarted", false))
      << read_json(dir + "/run/candidates/0002/verify.json")["environment"].dump();
  EXPECT_TRUE(claim["environment"].value("reused_builds", false)) << claim["environment"].dump();
  EXPECT_EQ(read(built + "log").find("ninja: no work to do"), std::string::npos) << "the ranking built it";
  EXPECT_NE(claim.value("candidate_log_tail", "").find("ninja: no work to do"), std::string::npos)
      << claim.value("candidate_log_tail", "");
  // The slow candidate ranks last: no claim, its sandbox removed when it left the top two.
  EXPECT_TRUE(recs.at(4)["claim"].is_null()) << recs.at(4).dump();
  EXPECT_TRUE(entries(work).empty()) << "sandboxes left: " << entries(work).size();
}

// A later session's claim reuses the build too (the quality suite's claims rebuilt for
// 77-81 s on the GPU where the candidate had been built in an earlier session). Stopped at
// the final gate, the run keeps the candidate's sandbox and its record names it; resumed,
// the claim runs in it and finds its build; then nothing is left. A record naming some
// other folder gets nothing removed or reused.
TEST(optimize_gate, a_later_sessions_claim_reuses_the_build_an_earlier_session_kept) {
  const std::string dir = temp_dir();
  chmod(dir.c_str(), 0711);
  const std::string work = dir + "/work";
  mkdir(work.c_str(), 0755);
  const std::string from = replay_folder({{"1_built.py", case_path("c_load_cpu_cached.py")}});
  // One candidate, its run stopped by SIGINT once its final gate has begun (logs in `logs`).
  auto stop_at_the_gate = [&](const std::string& run, const std::string& logs) {
    mkdir(logs.c_str(), 0755);
    const pid_t pid = start_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                                  "--out", run, "--work-dir", work, "-j", "1", "--final-top", "1", "--final-trials", "4",
                                  "--max-candidates", "1"},
                                 logs, dir);
    // Up to 180 s: the ranking builds the extension first.
    const bool in_gate = kopt::testing::wait_for_text(logs + "/stderr", "Final gate:", 180);
    kill(pid, SIGINT);
    const int code = wait_exit(pid);
    return in_gate && code == 130 ? std::string() : "exit " + std::to_string(code) + ": " + read(logs + "/stderr");
  };
  const std::string stopped = stop_at_the_gate(dir + "/run", dir + "/logs1");
  ASSERT_EQ(stopped, "");
  auto rec = records(dir + "/run").at(1);
  const std::string kept = rec.value("build_sandbox", "");
  ASSERT_FALSE(kept.empty()) << rec.dump();
  EXPECT_EQ(kept.rfind(work + "/kopt-eval-", 0), 0u) << kept;
  EXPECT_TRUE(exists(kept + "/candidate/cache")) << kept;
  EXPECT_TRUE(rec["claim"].is_null());
  const auto again = run_kopt({"optimize", "--resume", dir + "/run", "--work-dir", work});
  ASSERT_TRUE(again.exit_code == 0 || again.exit_code == 3) << context(again);
  rec = records(dir + "/run").at(1);
  ASSERT_TRUE(rec["claim"].is_object()) << rec.dump();
  const auto claim = read_json(dir + "/run/candidates/0001/claim.json");
  EXPECT_TRUE(claim["environment"].value("reused_builds", false)) << claim["environment"].dump();
  EXPECT_NE(claim.value("candidate_log_tail", "").find("ninja: no work to do"), std::string::npos)
      << claim.value("candidate_log_tail", "");
  EXPECT_EQ(rec.value("build_sandbox", "?"), "");
  EXPECT_TRUE(entries(work).empty()) << "sandboxes left: " << entries(work).size();
  // The same interrupted state with the record edited to name another folder: ignored,
  // that folder untouched.
  const std::string decoy = dir + "/decoy";
  mkdir(decoy.c_str(), 0755);
  std::ofstream(decoy + "/keep.txt") << "mine";
  const std::string run2 = dir + "/run2";
  ASSERT_EQ(stop_at_the_gate(run2, dir + "/logs2"), "");
  auto edited = read_json(run2 + "/candidates/0001/record.json");
  ASSERT_FALSE(edited.value("build_sandbox", "").empty()) << edited.dump();
  edited["build_sandbox"] = decoy;
  std::ofstream(run2 + "/candidates/0001/record.json") << edited.dump(2);
  const auto third = run_kopt({"optimize", "--resume", run2, "--work-dir", work});
  ASSERT_TRUE(third.exit_code == 0 || third.exit_code == 3) << context(third);
  EXPECT_EQ(read(decoy + "/keep.txt"), "mine");
  const auto claim2 = read_json(run2 + "/candidates/0001/claim.json");
  EXPECT_FALSE(claim2["environment"].value("reused_builds", false)) << claim2["environment"].dump();
  EXPECT_EQ(records(run2).at(1).value("build_sandbox", "?"), "");
  // The sandbox the edit orphaned is all that is left in the work folder.
  EXPECT_EQ(entries(work).size(), 1u);
}

// An interrupt while the first candidate runs: the second one's prestarted workers are
// stopped and their sandbox removed with the rest.
TEST(optimize_prestart, an_interrupt_leaves_no_prestarted_sandbox_behind) {
  const std::string dir = temp_dir();
  chmod(dir.c_str(), 0711);
  const std::string work = dir + "/work";
  mkdir(work.c_str(), 0755);
  const std::string from = replay_folder({{"1_sleeps.py", case_path("c_elementwise_sleeps.py")},
                                          {"2_honest.py", case_path("c_elementwise_honest.py")}});
  // The default --final-top (3): evaluations keep their candidate's caches for the gate
  // (keep_builds), and a prestart no candidate took must still leave nothing.
  const pid_t pid = start_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                                "--out", dir + "/run", "--work-dir", work, "-j", "1"},
                               dir);
  bool sleeping = false;
  for (int i = 0; i < 2400 && !sleeping; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto recs = records(dir + "/run");
    if (recs.count(1))
      for (const auto& p : recs.at(1)["phases"]) sleeping = sleeping || p["name"] == "candidate_init";
  }
  if (!sleeping) kill(pid, SIGKILL);
  ASSERT_TRUE(sleeping) << read(dir + "/stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the candidate sleeps in forward; the second's prestart starts
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  EXPECT_TRUE(entries(work).empty()) << "sandboxes left: " << entries(work).size();
}

// Run as root, candidates run as nobody: a --work-dir nobody cannot reach is the
// setting's fault, said as such, not each candidate's crash at start.
TEST(optimize_prestart, a_work_dir_the_sandbox_user_cannot_reach_is_an_input_error) {
  if (geteuid() != 0) GTEST_SKIP() << "only root runs candidates as another user";
  const std::string dir = temp_dir();
  chmod(dir.c_str(), 0700);
  const std::string work = dir + "/work";
  mkdir(work.c_str(), 0755);
  const std::string from = replay_folder({{"1_honest.py", case_path("c_elementwise_honest.py")}});
  const auto run = run_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                             "--out", dir + "/run", "--work-dir", work, "--final-top", "0"});
  const auto recs = records(dir + "/run");
  ASSERT_EQ(recs.size(), 1u) << context(run);
  EXPECT_EQ(recs.at(1)["outcome"], "input_error") << recs.at(1).dump();
  EXPECT_NE(recs.at(1)["reason"].get<std::string>().find("cannot enter " + dir), std::string::npos) << recs.at(1).dump();
  EXPECT_TRUE(entries(work).empty());
}
