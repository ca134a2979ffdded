// kopt optimize's run directories across stops, through the real binary on the CPU: a
// suite resumed from its own directory (killed mid-way, or with a workload that could
// not be baselined), damaged or foreign run files as one-line errors, and what an
// interrupted candidate leaves in its record and in kopt report.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "harness.hpp"

using kopt::testing::case_path;
using kopt::testing::context;
using kopt::testing::exists;
using kopt::testing::honest_replay;
using kopt::testing::KoptRun;
using kopt::testing::read;
using kopt::testing::read_json;
using kopt::testing::records;
using kopt::testing::run_kopt;
using kopt::testing::start_kopt;
using kopt::testing::wait_exit;
using kopt::testing::wait_for;

namespace {

std::string temp_dir() { return kopt::testing::temp_dir("kopt-resume-test"); }

void copy(const std::string& from, const std::string& to) { std::ofstream(to) << read(from); }

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

long long mtime_ns(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
}

std::map<std::string, long long> verify_mtimes(const std::string& run_dir) {
  std::map<std::string, long long> out;
  for (const auto& [id, r] : records(run_dir)) {
    const std::string path = run_dir + "/candidates/000" + std::to_string(id) + "/verify.json";
    if (r["status"] == "done") out[path] = mtime_ns(path);
  }
  return out;
}

std::vector<std::string> phase_names(const nlohmann::json& record) {
  std::vector<std::string> names;
  if (record.contains("phases") && record["phases"].is_array())
    for (const auto& p : record["phases"]) names.push_back(p.value("name", ""));
  return names;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The error kopt printed: exactly one line "kopt: error: ...", no library exception.
void expect_one_line_error(const KoptRun& run, const std::string& file, const std::string& field) {
  EXPECT_EQ(run.exit_code, 2) << context(run);
  EXPECT_EQ(run.err.rfind("kopt: error: ", 0), 0u) << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find(file + ": "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("\"" + field + "\""), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("json.exception"), std::string::npos) << run.err;
}

}  // namespace

TEST(optimize_suite_resume, a_suite_killed_in_its_second_workload_resumes_from_the_suite_directory) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/suite";
  copy(case_path("w_elementwise.py"), dir + "/first.py");
  copy(case_path("w_elementwise.py"), dir + "/second.py");
  const pid_t pid = start_kopt({"optimize", dir + "/first.py", dir + "/second.py", "--provider", "replay", "--from",
                                honest_replay(dir, 2), "--out", out, "-n", "2", "-j", "1", "--final-top", "0"},
                               dir);
  ASSERT_TRUE(wait_for(out + "/second/candidates/0001/verify.json", 240, 50)) << read(dir + "/stderr");
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  // The suite folder may move (copied to another machine): its runs are found inside it.
  const std::string moved = dir + "/moved";
  ASSERT_EQ(std::rename(out.c_str(), moved.c_str()), 0);
  const auto first_done = verify_mtimes(moved + "/first");
  ASSERT_EQ(first_done.size(), 2u) << "the first workload finished before the kill";

  const auto resumed = run_kopt({"optimize", "--resume", moved, "--json"});
  ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 3) << context(resumed);
  ASSERT_EQ(resumed.json["runs"].size(), 2u) << context(resumed);
  for (const auto& r : resumed.json["runs"]) EXPECT_EQ(r["status"], "finished") << r.dump();
  EXPECT_EQ(resumed.json["runs"][0]["counts"]["correct"], 2) << "the first's results are kept";
  const auto second = records(moved + "/second");
  ASSERT_EQ(second.size(), 2u);
  for (const auto& [id, r] : second) {
    EXPECT_EQ(r["status"], "done") << id;
    EXPECT_EQ(r["outcome"], "correct") << id;
  }
  for (const auto& [path, mtime] : first_done) EXPECT_EQ(mtime_ns(path), mtime) << path << " was evaluated again";
  EXPECT_EQ(read_json(moved + "/first/run.json")["sessions"].size(), 2u);
  EXPECT_EQ(read_json(moved + "/second/run.json")["status"], "finished");
  EXPECT_FALSE(exists(out)) << "nothing written where the suite was";
}

TEST(optimize_suite_resume, a_suite_whose_first_workload_could_not_be_baselined_resumes_and_reports_it) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/suite";
  copy(case_path("w_get_inputs_raises.py"), dir + "/broken.py");
  copy(case_path("w_elementwise.py"), dir + "/works.py");
  const std::vector<std::string> args = {"optimize",  dir + "/broken.py", dir + "/works.py", "--provider",
                                         "replay",    "--from",          honest_replay(dir, 1), "--out",
                                         out,         "--final-top",     "0",               "--json"};
  const auto run = run_kopt(args);
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  ASSERT_EQ(run.json["runs"].size(), 2u) << context(run);
  EXPECT_EQ(run.json["runs"][0]["status"], "input_error") << run.json["runs"][0].dump();
  const auto works_done = verify_mtimes(out + "/works");
  ASSERT_EQ(works_done.size(), 1u);

  const auto resumed = run_kopt({"optimize", "--resume", out, "--json"});
  ASSERT_EQ(resumed.exit_code, run.exit_code) << context(resumed);
  ASSERT_EQ(resumed.json["runs"].size(), 2u) << context(resumed);
  const auto& broken = resumed.json["runs"][0];
  EXPECT_EQ(broken["status"], "input_error") << broken.dump();
  EXPECT_FALSE(broken["baselines"]["ok"].get<bool>()) << broken.dump();
  EXPECT_NE(broken["baselines"]["error"].get<std::string>().find("no inputs today"), std::string::npos) << broken.dump();
  EXPECT_NE(broken["stop_reason"].get<std::string>().find("unusable"), std::string::npos) << broken.dump();
  EXPECT_EQ(resumed.json["runs"][1]["status"], "finished");
  EXPECT_EQ(records(out + "/broken").size(), 1u) << "nothing more tried on an unusable workload";
  EXPECT_TRUE(broken["best_py"].is_null()) << "no best.py is written, so none is named";
  EXPECT_FALSE(exists(out + "/broken/best.py"));
  EXPECT_EQ(broken["verdict"], "the workload is unusable; no best.py");
  for (const auto& [path, mtime] : works_done) EXPECT_EQ(mtime_ns(path), mtime) << path << " was evaluated again";

  const auto report = run_kopt({"report", out});
  ASSERT_EQ(report.exit_code, 0) << context(report);
  EXPECT_NE(report.out.find("broken.py: input_error"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("no inputs today"), std::string::npos) << report.out;
  // kopt optimize left the suite's page (and each run's) at its stop.
  const std::string page = read(out + "/report.html");
  EXPECT_NE(page.find("<h2>Suite: 2 workload(s)</h2>"), std::string::npos) << page.substr(0, 2000);
  EXPECT_NE(page.find("<span style=\"color:#cf222e\">failed</span>"), std::string::npos) << "the failed baseline";
  EXPECT_TRUE(exists(out + "/works/report.html"));
}

// A resumed run verifies against the workload its first session did (the run's copy): an
// edited file is refused (it used to be used silently, mixing two references' verdicts),
// a deleted one is replaced by the copy (it used to be "cannot read the workload").
TEST(optimize_resume, an_edited_workload_is_refused_and_a_deleted_one_is_replaced_by_the_runs_copy) {
  const std::string dir = temp_dir();
  const std::string workload = dir + "/w.py", out = dir + "/run";
  copy(case_path("w_elementwise.py"), workload);
  const auto first = run_kopt({"optimize", workload, "--provider", "replay", "--from", honest_replay(dir, 1), "--out",
                               out, "--final-top", "0"});
  ASSERT_EQ(first.exit_code, 3) << context(first);
  write(workload, read(workload) + "\n# edited\n");
  const auto edited = run_kopt({"optimize", "--resume", out, "--max-candidates", "2"});
  EXPECT_EQ(edited.exit_code, 2) << context(edited);
  EXPECT_NE((edited.out + edited.err).find("changed since this run started"), std::string::npos) << context(edited);
  EXPECT_EQ(records(out).size(), 1u) << "nothing evaluated against the edited workload";
  std::remove(workload.c_str());
  const auto gone = run_kopt({"optimize", "--resume", out, "--max-candidates", "1", "--final-top", "0"});
  EXPECT_EQ(gone.exit_code, 3) << context(gone);
  EXPECT_NE(gone.err.find("using the run's copy"), std::string::npos) << gone.err;
}

// Resumed where the reference cannot start or import although its baseline ran (a machine
// without the GPU, a module gone): no verdict for the candidate, the run stops, resumable
// (a resumed copy of the quality run on the CPU turned its queued candidates into
// input_error verdicts, spending them).
TEST(optimize_resume, a_reference_that_cannot_start_here_stops_the_run_without_judging_the_candidate) {
  const std::string dir = temp_dir();
  const std::string workload = dir + "/w.py", out = dir + "/run";
  copy(case_path("w_needs_env.py"), workload);
  const std::map<std::string, std::string> here = {{"KOPT_TEST_WORKLOAD_OK", "1"}};
  const auto first = run_kopt({"optimize", workload, "--provider", "replay", "--from", honest_replay(dir, 2), "--out", out,
                               "--max-candidates", "1", "--final-top", "0"},
                              here);
  ASSERT_EQ(first.exit_code, 3) << context(first);
  const auto elsewhere = run_kopt({"optimize", "--resume", out, "--max-candidates", "2", "--final-top", "0"});
  EXPECT_EQ(elsewhere.exit_code, 130) << context(elsewhere);
  EXPECT_NE(elsewhere.out.find("could not start here although its baseline ran"), std::string::npos) << elsewhere.out;
  auto recs = records(out);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs.at(2)["status"], "interrupted") << recs.at(2).dump(1);
  const auto back = run_kopt({"optimize", "--resume", out, "--max-candidates", "2", "--final-top", "0"}, here);
  EXPECT_EQ(back.exit_code, 3) << context(back);
  recs = records(out);
  EXPECT_EQ(recs.at(2)["outcome"], "correct") << recs.at(2).dump(1);
}

TEST(optimize_suite_resume, damaged_run_and_suite_files_are_one_line_errors_naming_the_file_and_field) {
  const std::string dir = temp_dir();
  const std::string run = dir + "/run";
  mkdir(run.c_str(), 0755);
  const std::string run_json = run + "/run.json";
  const std::string workload = case_path("w_elementwise.py");

  // The shape kopt writes, with one field broken at a time.
  const nlohmann::json good = {{"kopt_optimize", 1}, {"workload", workload}, {"workload_name", "w_elementwise.py"},
                               {"device", "cpu"}, {"options", {{"device", "cpu"}, {"trials", 2}}},
                               {"provider", {{"kind", "builtin"}}}, {"sessions", nlohmann::json::array()},
                               {"status", "interrupted"}};
  const std::vector<std::pair<std::string, nlohmann::json>> broken = {
      {"workload", nullptr}, {"baseline", nullptr}, {"options", "fast"}, {"sessions", 3}};
  for (const auto& [field, value] : broken) {
    nlohmann::json j = good;
    j[field] = value;
    write(run_json, j.dump());
    SCOPED_TRACE(field);
    expect_one_line_error(run_kopt({"optimize", "--resume", run}), run_json, field);
    expect_one_line_error(run_kopt({"report", run}), run_json, field);
  }
  nlohmann::json nested = good;
  nested["options"]["trials"] = "six";
  write(run_json, nested.dump());
  expect_one_line_error(run_kopt({"optimize", "--resume", run}), run_json, "options.trials");
  // Values out of range: every later candidate would be an error about kopt's settings.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"device", "tpu"}, {"precision", "fp8"}, {"trials", -5}, {"call_timeout", -1.0}, {"import_timeout", 1e30}}) {
    nlohmann::json j = good;
    j["options"][key] = value;
    write(run_json, j.dump());
    SCOPED_TRACE(key);
    expect_one_line_error(run_kopt({"optimize", "--resume", run}), run_json, "options." + key);
  }
  nlohmann::json foreign = good;
  foreign.erase("workload");
  write(run_json, foreign.dump());
  expect_one_line_error(run_kopt({"optimize", "--resume", run}), run_json, "workload");
  write(run_json, "{\"workload\": ");
  const auto torn = run_kopt({"optimize", "--resume", run});
  EXPECT_EQ(torn.exit_code, 2);
  EXPECT_NE(torn.err.find(run_json + ": not valid JSON"), std::string::npos) << torn.err;
  EXPECT_EQ(torn.err.find("json.exception"), std::string::npos) << torn.err;

  // A candidate's record.json: edited or foreign, it is an error, not a candidate skipped.
  write(run_json, good.dump());
  mkdir((run + "/candidates").c_str(), 0755);
  mkdir((run + "/candidates/0001").c_str(), 0755);
  const std::string record = run + "/candidates/0001/record.json";
  write(record, nlohmann::json({{"id", 1}, {"status", "done"}, {"median_ms", "fast"}}).dump());
  expect_one_line_error(run_kopt({"optimize", "--resume", run}), record, "median_ms");
  write(record, nlohmann::json({{"id", 1}}).dump());
  expect_one_line_error(run_kopt({"report", run}), record, "status");
  // A claim that says "faster" without the interval behind it (best.py used to become the
  // candidate, its header "0.000x (95% interval 0.000-0.000): faster").
  nlohmann::json claimed = {{"id", 1}, {"status", "done"}, {"outcome", "correct"}, {"median_ms", 0.5},
                            {"claim", {{"outcome", "correct"}, {"faster", true}, {"speedup", nlohmann::json::object()}}}};
  write(record, claimed.dump());
  expect_one_line_error(run_kopt({"optimize", "--resume", run}), record, "claim.speedup.vs_best.median");
  claimed["claim"]["speedup"]["vs_best"] = {{"median", 1.02}, {"low", 0.97}, {"high", 1.05}, {"pairs", 10}};
  write(record, claimed.dump());
  expect_one_line_error(run_kopt({"report", run}), record, "claim.faster");
  // A record.json that is a folder, candidates/ that is a file: damage, not "no candidates"
  // (a resume evaluated everything again and replaced best.py).
  std::remove(record.c_str());
  mkdir(record.c_str(), 0755);
  for (const char* command : {"optimize", "report"}) {
    const auto folder = command == std::string("optimize") ? run_kopt({command, "--resume", run}) : run_kopt({command, run});
    EXPECT_EQ(folder.exit_code, 2) << context(folder);
    EXPECT_NE(folder.err.find(record + " is not a regular file"), std::string::npos) << folder.err;
  }
  rmdir(record.c_str());
  rmdir((run + "/candidates/0001").c_str());
  rmdir((run + "/candidates").c_str());
  write(run + "/candidates", "not a folder");
  const auto file = run_kopt({"optimize", "--resume", run});
  EXPECT_EQ(file.exit_code, 2) << context(file);
  EXPECT_NE(file.err.find(run + "/candidates is not a folder"), std::string::npos) << file.err;
  std::remove((run + "/candidates").c_str());

  // suite.json
  const std::string suite = dir + "/suite";
  mkdir(suite.c_str(), 0755);
  const std::string suite_json = suite + "/suite.json";
  for (const auto& [text, field] : std::vector<std::pair<std::string, std::string>>{
           {"{}", "workloads"},
           {"{\"workloads\": {\"a\": 1}}", "workloads"},
           {"{\"workloads\": [{\"workload\": \"/w.py\"}]}", "workloads[0].run"},
           // A run outside the suite: resuming would rewrite another run's files.
           {"{\"workloads\": [{\"workload\": \"/w.py\", \"run\": \"../run\"}]}", "workloads[0].run"},
           {"{\"workloads\": [{\"workload\": \"/w.py\", \"run\": \"" + run + "\"}]}", "workloads[0].run"},
           {"{\"kopt_suite\": 2, \"workloads\": [{\"workload\": \"/w.py\", \"run\": \"a\"}]}", "kopt_suite"},
           {"{\"runs\": [\"a\", 3]}", "runs"}}) {
    write(suite_json, text);
    SCOPED_TRACE(text);
    expect_one_line_error(run_kopt({"optimize", "--resume", suite}), suite_json, field);
    expect_one_line_error(run_kopt({"report", suite}), suite_json, field);
  }
}

// A candidate that sleeps in forward is interrupted during its trials: its record kept each
// phase as it ended (while running, for a kill -9) and, once interrupted, the phases and
// the worker's last lines; kopt report shows them.
TEST(optimize_interrupt, an_interrupted_candidate_keeps_its_phase_times_and_log_tail_and_report_shows_them) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/run";
  const std::string from = dir + "/replay";
  mkdir(from.c_str(), 0755);
  copy(case_path("c_elementwise_sleeps.py"), from + "/1_sleeps.py");
  const pid_t pid = start_kopt({"optimize", case_path("w_elementwise.py"), "--provider", "replay", "--from", from,
                                "--out", out, "--final-top", "0"},
                               dir);
  nlohmann::json running;
  for (int i = 0; i < 2400 && !has(phase_names(running), "candidate_init"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto recs = records(out);
    if (recs.count(1)) running = recs.at(1);
  }
  ASSERT_TRUE(has(phase_names(running), "candidate_init")) << running.dump() << read(dir + "/stderr");
  EXPECT_EQ(running["status"], "running");
  // Its workers were started ahead of it (prestart.hpp): those phases say so.
  for (const char* phase : {"prestart_setup", "prestart_reference_start", "prestart_wait", "candidate_import"})
    EXPECT_TRUE(has(phase_names(running), phase)) << phase << " " << running.dump();
  EXPECT_FALSE(has(phase_names(running), "trials")) << "the trials are still running";

  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the candidate sleeps in forward
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  const auto rec = records(out).at(1);
  EXPECT_EQ(rec["status"], "interrupted") << rec.dump();
  const auto names = phase_names(rec);
  for (const char* phase : {"prestart_setup", "prestart_reference_start", "candidate_import", "candidate_init", "trials"})
    EXPECT_TRUE(has(names, phase)) << phase << " " << rec.dump();
  double trials = 0;
  for (const auto& p : rec["phases"]) {
    EXPECT_GE(p["seconds"].get<double>(), 0);
    EXPECT_GT(p["end"].get<double>(), 0);
    if (p["name"] == "trials") trials = p["seconds"].get<double>();
  }
  EXPECT_GT(trials, 1.0) << "the trials ran until the interrupt";
  const std::string tail = rec["log_tail"].get<std::string>();
  EXPECT_NE(tail.find("c_elementwise_sleeps: forward sleeps 60 s"), std::string::npos) << rec.dump();
  EXPECT_NE(read(out + "/candidates/0001/log").find("c_elementwise_sleeps: imported"), std::string::npos);
  EXPECT_EQ(read_json(out + "/run.json")["candidates"][0]["status"], "interrupted");

  const auto report = run_kopt({"report", out});
  ASSERT_EQ(report.exit_code, 0) << context(report);
  EXPECT_NE(report.out.find("interrupted: candidate 0001 (1_sleeps.py)"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("candidate_init"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("trials"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("      c_elementwise_sleeps: forward sleeps 60 s"), std::string::npos) << report.out;
  const auto json = run_kopt({"report", out, "--json"});
  ASSERT_EQ(json.exit_code, 0) << context(json);
  const auto& unfinished = json.json["runs"][0]["unfinished"];
  ASSERT_EQ(unfinished.size(), 1u) << json.out;
  EXPECT_EQ(unfinished[0]["id"], 1);
  EXPECT_EQ(unfinished[0]["phases"].size(), rec["phases"].size());
}
