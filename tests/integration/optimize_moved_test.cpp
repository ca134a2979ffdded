// kopt optimize runs moved to another device, through the real binary on the CPU: a
// resume there stops before anything is verified or timed, and --rebaseline carries the
// run over. On a CPU the device is the host CPU's model; the tests move a run by editing
// run.json's baseline.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "harness.hpp"

using kopt::testing::case_path;
using kopt::testing::context;
using kopt::testing::copy_file;
using kopt::testing::exists;
using kopt::testing::honest_replay;
using kopt::testing::read;
using kopt::testing::read_json;
using kopt::testing::records;
using kopt::testing::run_kopt;

namespace {

std::string temp_dir() { return kopt::testing::temp_dir("kopt-moved-test"); }

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A replay run of `candidates` evaluated candidates in `out`, then "moved": run.json's
// baseline says it was timed on another CPU model. Returns this machine's CPU model
// (empty where it names none).
std::string moved_run(const std::string& dir, const std::string& out, int candidates) {
  const std::string workload = dir + "/w.py";
  copy_file(case_path("w_elementwise.py"), workload);
  const auto first = run_kopt({"optimize", workload, "--provider", "replay", "--from", honest_replay(dir, 2), "--out", out,
                               "--max-candidates", std::to_string(candidates), "--final-top", "0"});
  EXPECT_EQ(first.exit_code, 3) << context(first);
  nlohmann::json run = read_json(out + "/run.json");
  const std::string here = run["baseline"]["device"].value("host_cpu", "");
  EXPECT_EQ(read_json(out + "/baseline.json")["device"]["host_cpu"], here);
  run["baseline"]["device"]["host_cpu"] = "Another CPU 9000";
  write(out + "/run.json", run.dump(2));
  return here;
}

}  // namespace

// Resumed on another device than the one its baselines were timed on (a run started on an
// H200 resumed on an H100 ranked the H100's candidates against the H200's baselines): the
// candidate is not run, the run stops and says which devices, and resumes where it began.
// On a CPU the device is the host CPU's model; the test moves the run by editing run.json.
TEST(optimize_resume, a_run_resumed_on_another_device_stops_before_timing_anything_there) {
  const std::string dir = temp_dir(), out = dir + "/run";
  const std::string here = moved_run(dir, out, 1);
  if (here.empty()) GTEST_SKIP() << "this machine names no CPU model";
  const auto elsewhere = run_kopt({"optimize", "--resume", out, "--max-candidates", "2", "--final-top", "0"});
  EXPECT_EQ(elsewhere.exit_code, 130) << context(elsewhere);
  EXPECT_NE(elsewhere.out.find("resumed on another device: this is " + here +
                               ", the run's baselines were measured on Another CPU 9000"),
            std::string::npos)
      << elsewhere.out;
  EXPECT_NE(elsewhere.out.find("`kopt optimize --resume " + out + " --rebaseline` times the baselines and the candidates again here"),
            std::string::npos)
      << elsewhere.out;
  auto recs = records(out);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs.at(2)["status"], "interrupted") << recs.at(2).dump(1);
  EXPECT_FALSE(exists(out + "/candidates/0002/timing.json")) << "nothing timed on the other device";
  nlohmann::json run = read_json(out + "/run.json");
  run["baseline"]["device"]["host_cpu"] = here;
  write(out + "/run.json", run.dump(2));
  const auto back = run_kopt({"optimize", "--resume", out, "--max-candidates", "2", "--final-top", "0"});
  EXPECT_EQ(back.exit_code, 3) << context(back);
  EXPECT_EQ(records(out).at(2)["outcome"], "correct") << records(out).at(2).dump(1);
}

// --rebaseline carries a run to the device at hand: the baselines are timed again there
// and every evaluated candidate is evaluated again; the earlier device's baseline and
// reports are kept beside, and nothing is proposed again.
TEST(optimize_resume, rebaseline_times_a_moved_run_again_on_this_device_and_keeps_the_earlier_figures) {
  const std::string dir = temp_dir(), out = dir + "/run";
  const std::string here = moved_run(dir, out, 2);
  if (here.empty()) GTEST_SKIP() << "this machine names no CPU model";
  const auto before = records(out);
  const std::string old_verify = read(out + "/candidates/0001/verify.json");
  ASSERT_FALSE(old_verify.empty());

  EXPECT_EQ(run_kopt({"optimize", out, "--rebaseline"}).exit_code, 2) << "--rebaseline without --resume";
  const auto moved = run_kopt({"optimize", "--resume", out, "--rebaseline", "--max-candidates", "2", "--final-top", "0",
                               "--json"});
  EXPECT_EQ(moved.exit_code, 3) << context(moved);
  const nlohmann::json run = read_json(out + "/run.json");
  EXPECT_EQ(run["baseline"]["device"]["host_cpu"], here) << "timed again here";
  ASSERT_EQ(run["earlier_baselines"].size(), 1u) << run.dump(1).substr(0, 2000);
  EXPECT_EQ(run["earlier_baselines"][0]["device"]["host_cpu"], "Another CPU 9000");
  const auto after = records(out);
  ASSERT_EQ(after.size(), 2u) << "nothing proposed again";
  for (int id : {1, 2}) {
    EXPECT_EQ(after.at(id)["outcome"], "correct") << after.at(id).dump(1);
    EXPECT_EQ(after.at(id)["strategy"], before.at(id)["strategy"]);
    EXPECT_GT(after.at(id)["times"]["verify_start"].get<double>(), before.at(id)["times"]["verify_end"].get<double>())
        << "evaluated again";
  }
  EXPECT_EQ(read(out + "/candidates/0001/before-rebaseline/verify.json"), old_verify);
  // The summary, report.md and kopt report say so.
  const std::string said = "timed again on this device (--rebaseline); before: eager ";
  EXPECT_NE(moved.out.find("\"earlier_baselines\""), std::string::npos) << moved.out.substr(0, 3000);
  EXPECT_NE(read(out + "/report.md").find("Baselines " + said), std::string::npos) << read(out + "/report.md");
  EXPECT_NE(read(out + "/report.md").find(" ms on Another CPU 9000."), std::string::npos) << read(out + "/report.md");
  const auto report = run_kopt({"report", out});
  EXPECT_NE(report.out.find(said), std::string::npos) << report.out;
  EXPECT_TRUE(exists(out + "/candidates/0001/verify.json"));
  // A later plain resume is on the same device as the new baselines.
  const auto again = run_kopt({"optimize", "--resume", out, "--max-candidates", "2", "--final-top", "0"});
  EXPECT_EQ(again.exit_code, 3) << context(again);
}
