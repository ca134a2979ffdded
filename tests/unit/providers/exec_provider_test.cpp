// The exec provider: a program without a shell, prompt on stdin, reply on stdout, a
// deadline, a scrubbed environment.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "kopt/providers/factory.hpp"
#include "unit/providers/test_env.hpp"

namespace pv = kopt::providers;

namespace {

class ExecProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = std::filesystem::temp_directory_path() / ("kopt-exec-test-" + std::to_string(getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::string script(const std::string& name, const std::string& body) {
    const auto path = (m_dir / name).string();
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  std::unique_ptr<pv::Provider> provider(const std::string& command, int deadline_ms = 2000) {
    pv::ProviderOptions o;
    o.kind = "exec";
    o.command = command;
    o.model = "local-model";
    o.timeout = std::chrono::milliseconds(deadline_ms);
    auto p = pv::make_provider(o, kopt::testing::test_env());
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.failure().message);
    return std::move(p.value());
  }

  std::filesystem::path m_dir;
};

}  // namespace

TEST_F(ExecProviderTest, a_script_that_answers_gets_the_prompt_on_stdin_and_its_stdout_is_the_reply) {
  const auto path = script("answer.sh",
                           "input=$(cat)\n"
                           "printf 'got:%s|model:%s|arg:%s\\n' \"$input\" \"$KOPT_MODEL\" \"$1\"\n"
                           "echo 'some log line' >&2\n");
  const auto reply = provider(path + " 'two words'")->complete({1, "SYS", "USER"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, "got:SYS\n\nUSER|model:local-model|arg:two words\n");
  EXPECT_EQ(reply.exchange["response"]["stderr"], "some log line\n");
  EXPECT_EQ(reply.exchange["response"]["exit"], "exit status 0");
}

TEST_F(ExecProviderTest, the_command_gets_no_secrets_in_its_environment) {
  const auto path = script("env.sh", "cat >/dev/null\nenv\n");
  const auto reply = provider(path)->complete({1, "s", "u"});
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(reply.text.find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_EQ(reply.text.find("ANTHROPIC_API_KEY"), std::string::npos);
  EXPECT_EQ(reply.text.find("hunter2hunter2"), std::string::npos);
  EXPECT_NE(reply.text.find("PATH=/usr/bin:/bin"), std::string::npos);
}

TEST_F(ExecProviderTest, a_script_that_hangs_past_the_deadline_is_killed_and_timed_out) {
  const auto path = script("hang.sh", "sleep 30\n");
  const auto start = std::chrono::steady_clock::now();
  const auto reply = provider(path, 300)->complete({1, "s", "u"});
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::timed_out);
  EXPECT_NE(reply.message.find("did not answer within"), std::string::npos);
  EXPECT_LT(elapsed, 1.5);
}

TEST_F(ExecProviderTest, a_script_that_closes_stdout_but_keeps_running_still_meets_the_deadline) {
  const auto path = script("linger.sh", "exec >&- 2>&-\nsleep 30\n");
  const auto reply = provider(path, 300)->complete({1, "s", "u"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::timed_out);
}

// A program that answers and exits but leaves a child holding its stdout: the reply is
// what it printed (it waited for the deadline and was lost as "did not answer").
TEST_F(ExecProviderTest, a_script_that_answers_and_leaves_a_child_behind_keeps_its_reply) {
  const auto path = script("fork.sh", "cat >/dev/null\necho 'the reply'\n(sleep 30) &\nexit 0\n");
  const auto start = std::chrono::steady_clock::now();
  const auto reply = provider(path, 10000)->complete({1, "s", "u"});
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::ok) << reply.message;
  EXPECT_EQ(reply.text, "the reply\n");
  EXPECT_LT(elapsed, 5.0);
}

TEST_F(ExecProviderTest, a_script_that_fails_is_exec_failed_with_its_stderr) {
  const auto path = script("fail.sh", "echo 'model not found: x' >&2\nexit 3\n");
  const auto reply = provider(path)->complete({1, "s", "u"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::exec_failed);
  EXPECT_NE(reply.message.find("exit status 3"), std::string::npos) << reply.message;
  EXPECT_NE(reply.message.find("model not found: x"), std::string::npos) << reply.message;
}

TEST_F(ExecProviderTest, a_script_that_prints_nothing_is_an_empty_reply) {
  const auto path = script("silent.sh", "cat >/dev/null\n");
  EXPECT_EQ(provider(path)->complete({1, "s", "u"}).outcome, pv::ReplyOutcome::empty);
}

TEST_F(ExecProviderTest, a_large_prompt_reaches_the_script_whole) {
  const auto path = script("count.sh", "wc -c\n");
  const std::string big(2 << 20, 'x');
  const auto reply = provider(path)->complete({1, "", big});
  ASSERT_EQ(reply.outcome, pv::ReplyOutcome::ok);
  EXPECT_EQ(std::stoul(reply.text), big.size() + 2);
}

TEST_F(ExecProviderTest, a_program_that_cannot_run_is_exec_failed) {
  const auto path = (m_dir / "not-executable").string();
  std::ofstream(path) << "text";
  const auto reply = provider(path)->complete({1, "s", "u"});
  EXPECT_EQ(reply.outcome, pv::ReplyOutcome::exec_failed);
  EXPECT_NE(reply.message.find("cannot start"), std::string::npos) << reply.message;
}

TEST(exec_provider, needs_a_command_that_can_be_found) {
  pv::ProviderOptions o;
  o.kind = "exec";
  EXPECT_EQ(pv::make_provider(o, kopt::testing::test_env()).failure().kind, "usage");
  o.command = "no-such-program-kopt --x";
  auto p = pv::make_provider(o, kopt::testing::test_env());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.failure().message.find("no-such-program-kopt"), std::string::npos);
  o.command = "sh -c 'unterminated";
  EXPECT_FALSE(pv::make_provider(o, kopt::testing::test_env()).ok());
}

TEST(exec_provider, finds_a_bare_program_name_on_path) {
  pv::ProviderOptions o;
  o.kind = "exec";
  o.command = "cat";
  auto p = pv::make_provider(o, kopt::testing::test_env());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->complete({1, "a", "b"}).text, "a\n\nb");
}
