// kopt optimize --provider files through the real binary on the CPU: prompts written to
// the inbox, replies dropped in by the test (as a person or a script would), outcomes
// recorded, feedback in the next prompts, waiting with a reply timeout, SIGINT and
// SIGKILL while waiting, kopt report. A small workload (w_elementwise) keeps each
// evaluation to a few seconds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
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

std::string temp_dir() { return kopt::testing::temp_dir("kopt-files-test"); }

// Writes a reply as a script should: a dot-named temporary file renamed into place.
void write_reply(const std::string& inbox, const std::string& name, const std::string& text) {
  const std::string tmp = inbox + "/." + name + ".tmp";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), (inbox + "/" + name).c_str()), 0) << name;
}

std::string id_name(int id) {
  char name[16];
  std::snprintf(name, sizeof name, "%04d", id);
  return name;
}

// kopt optimize on the small workload with the files provider, no final gate.
std::vector<std::string> files_run(const std::string& out, std::vector<std::string> extra) {
  std::vector<std::string> args = {"optimize", case_path("w_elementwise.py"), "--provider", "files", "--out", out,
                                   "--device", "cpu", "--final-top", "0", "--patience", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

const std::string kSyntaxErrorReply =
    "Here is a faster version:\n\n```python\nimport torch\nimport torch.nn as nn\n\n"
    "class ModelNew(nn.Module:\n    def forward(self, x):\n        return x\n```\n";
const std::string kNoCodeReply = "I would fuse the sigmoid into the subtraction, but I have no code for you today.\n";

}  // namespace

TEST(optimize_files, a_no_wait_run_writes_the_exact_prompts_saves_state_and_exits_4) {
  const std::string out = temp_dir() + "/run";
  const auto run = run_kopt(files_run(out, {"--no-wait", "-n", "2", "--max-candidates", "4", "--json"}));
  ASSERT_EQ(run.exit_code, 4) << context(run);
  ASSERT_TRUE(run.json.is_object()) << context(run);
  EXPECT_EQ(run.json["exit_code"], 4);
  const auto& r = run.json["runs"][0];
  EXPECT_EQ(r["status"], "waiting");
  EXPECT_EQ(r["pending"], 2);
  ASSERT_EQ(r["waiting_prompts"].size(), 2u) << r.dump();
  EXPECT_EQ(r["waiting_prompts"][0]["path"], out + "/inbox/0001.prompt.md");
  for (int id : {1, 2}) {
    const std::string cand = out + "/candidates/" + id_name(id);
    const std::string system = read(cand + "/system.md"), user = read(cand + "/prompt.md");
    ASSERT_FALSE(system.empty());
    ASSERT_FALSE(user.empty());
    const std::string expected =
        "# System\n\n" + system + "\n\n# User\n\n" + user + (user.back() == '\n' ? "" : "\n");
    EXPECT_EQ(read(out + "/inbox/" + id_name(id) + ".prompt.md"), expected) << id;
    EXPECT_NE(user.find("torch.sigmoid(x) * 3.0 - x"), std::string::npos) << "the workload is in the prompt";
  }
  EXPECT_FALSE(exists(out + "/inbox/0003.prompt.md")) << "-n 2: two prompts";
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 2u);
  for (const auto& [id, rec] : recs) EXPECT_EQ(rec["status"], "pending") << id;
  const auto state = read_json(out + "/run.json");
  EXPECT_EQ(state["status"], "waiting");
  EXPECT_EQ(state["provider"]["kind"], "files");

  const auto report = run_kopt({"report", out, "--json"});
  ASSERT_EQ(report.exit_code, 0) << context(report);
  EXPECT_EQ(report.json["runs"][0]["waiting_prompts"].size(), 2u) << report.out;
  const auto text = run_kopt({"report", out});
  EXPECT_NE(text.out.find("0002.prompt.md"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("kopt optimize --resume " + out), std::string::npos) << text.out;
}

// --ncu with a stand-in for Nsight Compute (tests/cases/fake_ncu.sh): the baseline's
// per-kernel metrics reach the first prompts, a correct candidate's reach its refine.
TEST(optimize_files, ncu_metrics_of_the_baseline_and_of_a_correct_candidate_reach_the_prompts) {
  const std::string out = temp_dir() + "/run";
  const std::vector<std::string> ncu{"--no-wait", "-n", "1", "--ncu-path", case_path("fake_ncu.sh")};
  const auto run = run_kopt(files_run(out, ncu));
  ASSERT_EQ(run.exit_code, 4) << context(run);
  const std::string user = read(out + "/candidates/0001/prompt.md");
  const auto at = user.find("Nsight Compute, eager reference, per call");
  ASSERT_NE(at, std::string::npos) << user;
  EXPECT_NE(user.find("12.35 us x1  DRAM 55.5%", at), std::string::npos) << user;
  EXPECT_TRUE(read_json(out + "/baseline.json")["ncu"]["ok"].get<bool>());

  write_reply(out + "/inbox", "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  std::vector<std::string> resume{"optimize", "--resume", out};
  resume.insert(resume.end(), ncu.begin(), ncu.end());
  const auto resumed = run_kopt(resume);
  ASSERT_EQ(resumed.exit_code, 4) << context(resumed);
  const auto recs = records(out);
  ASSERT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_TRUE(recs.at(1)["ncu"]["ok"].get<bool>()) << recs.at(1).dump();
  ASSERT_EQ(recs.at(2)["strategy"], "refine");
  const std::string refine = read(out + "/candidates/0002/prompt.md");
  const auto cand = refine.find("Nsight Compute, this candidate, per call");
  ASSERT_NE(cand, std::string::npos) << refine;
  EXPECT_NE(refine.find("fake_kernel", cand), std::string::npos) << refine;
}

TEST(optimize_files, each_reply_becomes_an_outcome_and_the_next_prompts_carry_the_failure) {
  const std::string out = temp_dir() + "/run";
  // Four first attempts need four ideas that fit an elementwise workload on the CPU; the
  // catalogue has three (fuse, one-pass-memory, algebraic), so the user adds one.
  const std::string prompts = temp_dir() + "/prompts";
  std::filesystem::create_directories(prompts);
  std::ofstream(prompts + "/ideas.json")
      << R"({"ideas": [{"id": "vectorize", "text": "Process several elements a thread.", "classes": ["elementwise"]}]})";
  const auto first =
      run_kopt(files_run(out, {"--no-wait", "-n", "4", "--max-candidates", "8", "--prompts", prompts}));
  ASSERT_EQ(first.exit_code, 4) << context(first);
  const std::string inbox = out + "/inbox";
  write_reply(inbox, "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  write_reply(inbox, "0002.reply.md", kSyntaxErrorReply);
  write_reply(inbox, "0003.reply.md", kNoCodeReply);
  write_reply(inbox, "0004.reply.md", "\n  \n");

  const auto resumed = run_kopt({"optimize", "--resume", out, "--no-wait", "--json", "--prompts", prompts});
  ASSERT_EQ(resumed.exit_code, 4) << "round 2's prompts wait\n" << context(resumed);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 8u) << context(resumed);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.at(2)["outcome"], "compile_error") << recs.at(2).dump();
  EXPECT_EQ(recs.at(3)["outcome"], "no_candidate") << recs.at(3).dump();
  EXPECT_EQ(recs.at(4)["outcome"], "provider_error") << recs.at(4).dump();
  EXPECT_NE(recs.at(4)["reason"].get<std::string>().find("empty"), std::string::npos);
  for (int id = 1; id <= 4; ++id) EXPECT_EQ(recs.at(id)["status"], "done") << id;
  for (int id = 5; id <= 8; ++id) EXPECT_EQ(recs.at(id)["status"], "pending") << id;
  EXPECT_TRUE(recs.at(1)["tokens"]["estimated"].get<bool>());
  EXPECT_GT(recs.at(1)["tokens"]["output"].get<long long>(), 0);

  const auto& r = resumed.json["runs"][0];
  EXPECT_EQ(r["counts"]["correct"], 1);
  EXPECT_EQ(r["counts"]["compile_error"], 1);
  EXPECT_TRUE(r["tokens"]["estimated"].get<bool>());
  EXPECT_TRUE(read_json(out + "/run.json")["tokens"]["estimated"].get<bool>());
  EXPECT_NE(read(out + "/report.md").find("estimated"), std::string::npos);
  EXPECT_NE(read(out + "/report.md").find("no_candidate"), std::string::npos);

  // Round 2: a refine of the correct one and one of the syntax error, with its error.
  EXPECT_EQ(recs.at(5)["strategy"], "refine");
  EXPECT_EQ(recs.at(5)["parent"], 1);
  EXPECT_EQ(recs.at(6)["strategy"], "refine");
  EXPECT_EQ(recs.at(6)["parent"], 2);
  const std::string refine = read(inbox + "/0006.prompt.md");
  EXPECT_NE(refine.find("compile_error"), std::string::npos) << refine.substr(0, 2000);
  EXPECT_NE(refine.find("SyntaxError"), std::string::npos) << refine.substr(0, 4000);
  EXPECT_NE(refine.find("class ModelNew(nn.Module:"), std::string::npos) << "the failed candidate is quoted";
  EXPECT_EQ(resumed.json["runs"][0]["waiting_prompts"].size(), 4u);
  // First attempts record their idea; round 2's bring none that failed in round 1 (the
  // syntax error's, the reply without code's), and none twice.
  for (int id : {1, 2, 3, 4})
    EXPECT_EQ(recs.at(id)["strategy"].get<std::string>().rfind("idea:", 0), 0u) << recs.at(id)["strategy"];
  // The request that failed (0004) never reached a writer: its idea is asked again first.
  EXPECT_EQ(recs.at(7)["strategy"], recs.at(4)["strategy"]);
  for (int id : {7, 8}) {
    for (int failed : {2, 3}) EXPECT_NE(recs.at(id)["strategy"], recs.at(failed)["strategy"]) << id << " repeats " << failed;
    EXPECT_EQ(read(inbox + "/000" + std::to_string(id) + ".prompt.md").find("Tile the main loop"), std::string::npos)
        << "a CUDA idea on the CPU";
  }
  EXPECT_NE(recs.at(7)["strategy"], recs.at(8)["strategy"]);
  // With the ideas that fit used up, the last asks for the writer's own and names what failed.
  if (recs.at(8)["strategy"] == "first_attempt") {
    const std::string own = read(inbox + "/0008.prompt.md");
    const std::string failed = recs.at(2)["strategy"].get<std::string>().substr(5);
    EXPECT_NE(own.find("Choose your own approach. Ideas already tried on this workload without a speedup:"),
              std::string::npos) << own.substr(0, 3000);
    EXPECT_NE(own.find(failed), std::string::npos) << own.substr(0, 3000);
  }
}

// A resume before any reply came asks nothing new: another round of prompts would spend
// the run's candidates on requests nobody has answered (found preparing issue 23's suite).
TEST(optimize_files, a_resume_with_no_reply_yet_keeps_waiting_and_writes_no_new_prompts) {
  const std::string out = temp_dir() + "/run";
  const auto first = run_kopt(files_run(out, {"--no-wait", "-n", "2", "--max-candidates", "6"}));
  ASSERT_EQ(first.exit_code, 4) << context(first);
  const auto again = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(again.exit_code, 4) << context(again);
  EXPECT_EQ(records(out).size(), 2u) << "no round 2 while round 1 waits";
  EXPECT_FALSE(exists(out + "/inbox/0003.prompt.md"));
  EXPECT_EQ(again.json["runs"][0]["waiting_prompts"].size(), 2u) << again.out;
  EXPECT_NE(again.json["runs"][0]["stop_reason"].get<std::string>().find("no reply yet"), std::string::npos) << again.out;
  // One reply of two: it is evaluated, and round 2 still waits for the other's result.
  write_reply(out + "/inbox", "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto partly = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(partly.exit_code, 4) << context(partly);
  auto recs = records(out);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.size(), 2u) << "no round 2 while 0002 waits";
  EXPECT_NE(partly.json["runs"][0]["stop_reason"].get<std::string>().find("no reply yet to 1 of the 2"), std::string::npos)
      << partly.out;
  // Both answered: round 2 is asked.
  write_reply(out + "/inbox", "0002.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto resumed = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(resumed.exit_code, 4) << context(resumed);
  recs = records(out);
  EXPECT_EQ(recs.at(2)["outcome"], "correct") << recs.at(2).dump();
  EXPECT_EQ(recs.size(), 4u) << "round 2 asked once every reply came";
}

// A round whose one request was answered at once and whose other waits (on the GPU, the
// builtin split-tf32 seed beside the writer's prompt) ends the session: the H100 suite's
// start had gone on to round 2's prompts with round 1's still unanswered, spending a
// round of 3 before the writer's first answer was seen.
TEST(optimize_files, a_round_with_a_request_still_pending_waits_before_the_next_round) {
  const std::string out = temp_dir() + "/run";
  std::filesystem::create_directories(out + "/inbox");
  write_reply(out + "/inbox", "0002.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto first = run_kopt(files_run(out, {"--no-wait", "-n", "2", "--max-candidates", "6", "--json"}));
  ASSERT_EQ(first.exit_code, 4) << context(first);
  auto recs = records(out);
  ASSERT_EQ(recs.size(), 2u) << "no round 2 prompts while 0001 waits\n" << context(first);
  EXPECT_EQ(recs.at(1)["status"], "pending") << recs.at(1).dump();
  EXPECT_EQ(recs.at(2)["outcome"], "correct") << recs.at(2).dump();
  EXPECT_FALSE(exists(out + "/inbox/0003.prompt.md"));
  EXPECT_EQ(first.json["runs"][0]["waiting_prompts"].size(), 1u) << first.out;
  write_reply(out + "/inbox", "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto resumed = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(resumed.exit_code, 4) << context(resumed);
  recs = records(out);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.size(), 4u) << "round 2 asked with round 1 answered";
}

// Issue 26: a --no-wait exit does not run the final gate (it used to, at every exit);
// the run that finishes does.
TEST(optimize_files, the_final_gate_runs_when_the_run_finishes_not_at_each_waiting_exit) {
  const std::string out = temp_dir() + "/run";
  const std::vector<std::string> args = {"optimize", case_path("w_elementwise.py"), "--provider", "files", "--out", out,
                                         "--device", "cpu", "--final-top", "1", "--patience", "0", "--no-wait",
                                         "-n", "1", "--max-candidates", "2"};
  const auto first = run_kopt(args);
  ASSERT_EQ(first.exit_code, 4) << context(first);
  write_reply(out + "/inbox", "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto waiting = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(waiting.exit_code, 4) << context(waiting);
  auto recs = records(out);
  ASSERT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_TRUE(!recs.at(1).contains("claim") || recs.at(1)["claim"].is_null()) << "no gate at a waiting exit: " << recs.at(1).dump();

  write_reply(out + "/inbox", "0002.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto finished = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_TRUE(finished.exit_code == 0 || finished.exit_code == 3) << context(finished);
  recs = records(out);
  const bool gated = (recs.at(1).contains("claim") && recs.at(1)["claim"].is_object()) ||
                     (recs.at(2).contains("claim") && recs.at(2)["claim"].is_object());
  EXPECT_TRUE(gated) << "the finished run gates its best: " << recs.at(1).dump() << "\n" << recs.at(2).dump();

  // A finished run gets another round when resumed with a larger budget (the quality
  // benchmark's third round was written so, on a machine without the GPU): the next
  // prompt is written and the run waits; the claims it has are kept, not timed again.
  const nlohmann::json claim1 = recs.at(1)["claim"], claim2 = recs.at(2)["claim"];
  const auto more = run_kopt({"optimize", "--resume", out, "--no-wait", "--max-candidates", "3"});
  ASSERT_EQ(more.exit_code, 4) << context(more);
  EXPECT_TRUE(exists(out + "/inbox/0003.prompt.md")) << context(more);
  write_reply(out + "/inbox", "0003.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto again = run_kopt({"optimize", "--resume", out, "--no-wait"});
  ASSERT_TRUE(again.exit_code == 0 || again.exit_code == 3) << context(again);
  recs = records(out);
  EXPECT_EQ(recs.at(3)["outcome"], "correct") << recs.at(3).dump();
  EXPECT_EQ(recs.at(1)["claim"], claim1);
  EXPECT_EQ(recs.at(2)["claim"], claim2);
}

TEST(optimize_files, a_waiting_run_takes_replies_written_meanwhile_and_times_out_the_rest) {
  const std::string out = temp_dir() + "/run";
  const std::string inbox = out + "/inbox";
  std::thread writer([&] {
    if (!wait_for(inbox + "/0002.prompt.md", 120)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    write_reply(inbox, "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  });
  const auto start = std::chrono::steady_clock::now();
  const auto run = run_kopt(files_run(out, {"-n", "2", "--max-candidates", "2", "--reply-timeout", "6s", "--json"}));
  writer.join();
  ASSERT_TRUE(run.exit_code == 0 || run.exit_code == 3) << context(run);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 2u) << context(run);
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(recs.at(2)["outcome"], "provider_error") << recs.at(2).dump();
  EXPECT_NE(recs.at(2)["reason"].get<std::string>().find("no reply to 0002.prompt.md after 6s"), std::string::npos)
      << recs.at(2)["reason"];
  EXPECT_NE(run.err.find("Waiting for replies."), std::string::npos) << run.err;
  EXPECT_EQ(read_json(out + "/run.json")["provider"]["reply_timeout_s"], 6.0);
  EXPECT_EQ(run.json["runs"][0]["waiting_prompts"].size(), 0u);
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6)) << "it waited";
}

TEST(optimize_files, sigint_and_sigkill_while_waiting_lose_nothing_and_resume_takes_the_reply) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/run";
  const std::string inbox = out + "/inbox";
  const std::string prompt = inbox + "/0001.prompt.md";

  // Ctrl-C while waiting: state saved, exit 130, the request pending.
  pid_t pid = start_kopt(files_run(out, {"-n", "1", "--max-candidates", "1"}), dir);
  ASSERT_TRUE(wait_for(prompt, 120)) << read(dir + "/stderr");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid), 130) << read(dir + "/stderr");
  EXPECT_EQ(read_json(out + "/run.json")["status"], "interrupted");
  ASSERT_EQ(records(out).size(), 1u);
  EXPECT_EQ(records(out).at(1)["status"], "pending");
  const std::string prompt_text = read(prompt);

  // Resumed, it waits again for the same prompt; kill -9 there.
  pid = start_kopt({"optimize", "--resume", out}, dir);
  // Waiting once its session is in run.json (a fixed sleep was too short on a loaded machine).
  for (int k = 0; k < 600 && read_json(out + "/run.json")["sessions"].size() < 2; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(waitpid(pid, nullptr, WNOHANG), 0) << "still waiting\n" << read(dir + "/stderr");
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
  EXPECT_EQ(read(prompt), prompt_text) << "the prompt is still there, unchanged";
  EXPECT_EQ(records(out).at(1)["status"], "pending");

  // The reply comes while nothing runs; the next resume takes it.
  write_reply(inbox, "0001.reply.py", read(case_path("c_elementwise_honest.py")));
  const auto resumed = run_kopt({"optimize", "--resume", out, "--json"});
  ASSERT_TRUE(resumed.exit_code == 0 || resumed.exit_code == 3) << context(resumed);
  const auto recs = records(out);
  ASSERT_EQ(recs.size(), 1u) << "nothing added twice";
  EXPECT_EQ(recs.at(1)["status"], "done");
  EXPECT_EQ(recs.at(1)["outcome"], "correct") << recs.at(1).dump();
  EXPECT_EQ(read_json(out + "/run.json")["status"], "finished");
  EXPECT_EQ(read_json(out + "/run.json")["sessions"].size(), 3u);
}

// --max-tokens-total holds over every session of a run: it is saved in run.json, and a
// resumed session counts what the earlier ones spent (each session used to start from 0,
// so a run resumed three times could spend its budget three times). Round 1's replies
// are long (about 100k tokens each, counted from the text) and round 2's shorter (25k):
// the limit, 250k, is above either round alone and below both.
TEST(optimize_files, the_token_budget_counts_the_tokens_of_earlier_sessions) {
  const std::string out = temp_dir() + "/run";
  const auto first = run_kopt(files_run(out, {"--no-wait", "-n", "2", "--max-candidates", "8", "--max-tokens-total",
                                              "250000"}));
  ASSERT_EQ(first.exit_code, 4) << context(first);
  EXPECT_EQ(read_json(out + "/run.json")["options"]["max_tokens_total"], 250000);
  const std::string code = "```python\n" + read(case_path("c_elementwise_honest.py")) + "\n```\n";
  const std::string inbox = out + "/inbox";
  for (int id : {1, 2}) write_reply(inbox, id_name(id) + ".reply.md", std::string(400'000, 'x') + "\n\n" + code);
  const auto second = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  ASSERT_EQ(second.exit_code, 4) << "round 2 asked within the budget\n" << context(second);
  auto recs = records(out);
  ASSERT_EQ(recs.size(), 4u) << context(second);
  long long round1 = 0;
  for (int id : {1, 2})
    round1 += recs.at(id)["tokens"]["input"].get<long long>() + recs.at(id)["tokens"]["output"].get<long long>();
  ASSERT_GT(round1, 200'000);
  ASSERT_LT(round1, 230'000);
  for (int id : {3, 4}) write_reply(inbox, id_name(id) + ".reply.md", std::string(100'000, 'y') + "\n\n" + code);
  const auto third = run_kopt({"optimize", "--resume", out, "--no-wait", "--json"});
  EXPECT_EQ(third.exit_code, 3) << context(third);
  recs = records(out);
  EXPECT_EQ(recs.size(), 4u) << "no round 3 past the budget\n" << context(third);
  for (int id : {3, 4}) EXPECT_EQ(recs.at(id)["status"], "done") << recs.at(id).dump(1);
  EXPECT_NE(third.json["runs"][0]["stop_reason"].get<std::string>().find("token budget reached"), std::string::npos)
      << third.out;
}
