#include "kopt/sandbox/process.hpp"
#include "kopt/sandbox/procfs.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "process_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using kopt::sandbox::Child;
using kopt::sandbox::ExitInfo;
using kopt::sandbox::SpawnSpec;
using kopt::test::alive;
using kopt::test::dies_within;
using kopt::test::read_line;
using kopt::test::read_until_eof;

const std::vector<std::string> k_env = {"PATH=/usr/bin:/bin", "LC_ALL=C"};

SpawnSpec shell(const std::string& script) {
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = k_env;
  return spec;
}

TEST(child, a_sigkill_kopt_did_not_send_is_named_by_the_out_of_memory_killers_count) {
  ExitInfo oom{false, 0, SIGKILL, false, 2048 * 1024};
  oom.oom_kills = 1;
  EXPECT_NE(oom.describe().find("the kernel's out-of-memory killer, which killed 1 process"), std::string::npos)
      << oom.describe();
  EXPECT_NE(oom.describe().find("2048 MiB"), std::string::npos) << oom.describe();
  ExitInfo stranger = oom;
  stranger.oom_kills = 0;
  EXPECT_NE(stranger.describe().find("sent neither by kopt nor by the kernel's OOM killer"), std::string::npos)
      << stranger.describe();
  EXPECT_EQ(stranger.describe().find("out-of-memory"), std::string::npos) << stranger.describe();
  ExitInfo unknown = oom;
  unknown.oom_kills = -1;
  EXPECT_NE(unknown.describe().find("most likely the kernel's out-of-memory killer"), std::string::npos)
      << unknown.describe();
  ExitInfo ours{false, 0, SIGKILL, true, 2048 * 1024};
  EXPECT_EQ(ours.describe().find("out-of-memory"), std::string::npos) << ours.describe();
}

TEST(child, a_child_killed_from_outside_is_not_kopts_doing) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child) << child.failure().message;
  kill(child->pid(), SIGKILL);  // a stranger's signal: the OOM killer's count does not move
  auto info = child->wait_for(std::chrono::milliseconds(5000));
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->signal_from_kopt);
  EXPECT_GT(info->max_rss_kb, 0);
  if (kopt::sandbox::oom_kill_count() >= 0) {
    EXPECT_EQ(info->oom_kills, 0) << info->describe();
  }
  auto other = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(other);
  const auto term = other->terminate(std::chrono::milliseconds(100));
  EXPECT_TRUE(term.signal_from_kopt);
  EXPECT_EQ(term.oom_kills, -1);
}

// An interrupt stops every worker through kill_processes, not through the Child: the
// death is still kopt's doing, not a stranger's signal.
TEST(child, a_child_killed_through_kill_processes_is_kopts_doing) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child) << child.failure().message;
  kopt::sandbox::kill_processes({child->pid()});
  auto info = child->wait_for(std::chrono::milliseconds(5000));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->signal, SIGKILL);
  EXPECT_TRUE(info->signal_from_kopt) << info->describe();
  EXPECT_EQ(info->describe().find("not sent by kopt"), std::string::npos) << info->describe();
}

TEST(child, runs_with_exactly_the_given_environment) {
  SpawnSpec spec;
  spec.argv = {"/usr/bin/env"};
  spec.env = {"A=1", "B=two words"};
  auto child = Child::spawn(spec);
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(child->stdout_fd()), "A=1\nB=two words\n");
  const auto info = child->wait_for(5s);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->exited);
  EXPECT_EQ(info->code, 0);
}

TEST(child, argv_is_passed_verbatim_without_a_shell) {
  SpawnSpec spec = shell("printf '[%s]' \"$@\"");
  spec.argv.insert(spec.argv.end(), {"sh", "a b", "$HOME", "*", ";echo x", ""});
  auto child = Child::spawn(spec);
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(child->stdout_fd()), "[a b][$HOME][*][;echo x][]");
}

TEST(child, stdin_is_dev_null) {
  // Give this process a pipe as stdin while spawning, so an inherited stdin would show.
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const int saved = dup(0);
  ASSERT_GE(dup2(fds[0], 0), 0);
  auto child = Child::spawn(shell("readlink /proc/self/fd/0; cat; echo \"cat: $?\""));
  dup2(saved, 0);
  close(saved);
  close(fds[0]);
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(child->stdout_fd()), "/dev/null\ncat: 0\n");
  close(fds[1]);
}

TEST(child, stdout_and_stderr_are_separate_pipes) {
  auto child = Child::spawn(shell("echo out; echo err >&2"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(child->stdout_fd()), "out\n");
  EXPECT_EQ(read_until_eof(child->stderr_fd()), "err\n");
}

TEST(child, runs_in_the_given_working_directory) {
  SpawnSpec spec = shell("pwd");
  spec.cwd = "/tmp";
  auto child = Child::spawn(spec);
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(child->stdout_fd()), "/tmp\n");
}

TEST(child, leads_its_own_process_group) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(getpgid(child->pid()), child->pid());
  EXPECT_NE(getpgid(child->pid()), getpgrp());
}

TEST(child, exit_status_is_reported_and_described) {
  auto child = Child::spawn(shell("exit 3"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const auto info = child->wait_for(5s);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->exited);
  EXPECT_EQ(info->code, 3);
  EXPECT_EQ(info->describe(), "exit status 3");
  EXPECT_TRUE(child->reaped());
  ASSERT_TRUE(child->exit_info());
  EXPECT_EQ(child->exit_info()->code, 3);
}

TEST(child, a_crash_is_described_with_the_signal_name) {
  auto child = Child::spawn(shell("kill -s SEGV $$"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const auto info = child->wait_for(5s);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->exited);
  EXPECT_EQ(info->signal, SIGSEGV);
  EXPECT_EQ(info->describe(), "killed by signal 11 (SIGSEGV)");
}

TEST(child, exec_failure_is_a_failure_not_a_crash) {
  SpawnSpec spec;
  spec.argv = {"/nonexistent/kopt-test-program", "x"};
  spec.env = k_env;
  auto child = Child::spawn(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.failure().kind, "spawn");
  EXPECT_NE(child.failure().message.find("/nonexistent/kopt-test-program"), std::string::npos);
  EXPECT_NE(child.failure().message.find("exec"), std::string::npos) << child.failure().message;
  EXPECT_NE(child.failure().message.find("No such file"), std::string::npos) << child.failure().message;
}

TEST(child, a_program_name_is_not_searched_on_path) {
  SpawnSpec spec;
  spec.argv = {"sh", "-c", "true"};
  spec.env = k_env;
  auto child = Child::spawn(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.failure().kind, "spawn");
}

TEST(child, a_missing_working_directory_is_a_failure) {
  SpawnSpec spec = shell("true");
  spec.cwd = "/nonexistent/kopt-test-dir";
  auto child = Child::spawn(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.failure().kind, "spawn");
  EXPECT_NE(child.failure().message.find("chdir"), std::string::npos) << child.failure().message;
}

TEST(child, an_empty_argv_is_a_failure) {
  auto child = Child::spawn(SpawnSpec{});
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.failure().kind, "spawn");
}

TEST(child, try_wait_does_not_block_on_a_running_child) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(child->try_wait());
  EXPECT_FALSE(child->wait_for(50ms));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 2s);
  EXPECT_FALSE(child->reaped());
}

TEST(child, terminate_kills_the_whole_process_group) {
  auto child = Child::spawn(shell("sleep 30 & echo $!; wait"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const pid_t grandchild = std::stoi(read_line(child->stdout_fd()));
  ASSERT_TRUE(alive(grandchild));
  EXPECT_EQ(getpgid(grandchild), child->pid());
  const ExitInfo info = child->terminate(2s);
  EXPECT_FALSE(info.exited);
  EXPECT_EQ(info.signal, SIGTERM);
  EXPECT_TRUE(child->reaped());
  EXPECT_TRUE(dies_within(grandchild));
}

TEST(child, a_child_that_ignores_sigterm_is_killed_after_the_grace) {
  auto child = Child::spawn(shell("trap '' TERM; echo ready; exec sleep 30"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  ASSERT_EQ(read_line(child->stdout_fd()), "ready");
  const auto start = std::chrono::steady_clock::now();
  const ExitInfo info = child->terminate(300ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(info.exited);
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_EQ(info.describe(), "killed by signal 9 (SIGKILL)");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
}

TEST(child, terminate_does_not_wait_out_the_grace_for_a_child_that_obeys) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const auto start = std::chrono::steady_clock::now();
  const ExitInfo info = child->terminate(10s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(info.signal, SIGTERM);
}

TEST(child, terminate_after_exit_returns_the_exit_status_and_kills_stragglers) {
  // The leader exits at once; a grandchild that ignores SIGTERM stays in the group.
  auto child = Child::spawn(shell("trap '' TERM; sleep 30 & echo $!"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const pid_t grandchild = std::stoi(read_line(child->stdout_fd()));
  ASSERT_TRUE(child->wait_for(5s));
  ASSERT_TRUE(alive(grandchild));
  const ExitInfo info = child->terminate(1s);
  EXPECT_TRUE(info.exited);
  EXPECT_EQ(info.code, 0);
  EXPECT_TRUE(dies_within(grandchild));
}

TEST(child, the_destructor_kills_and_reaps_the_group) {
  pid_t pid = -1, grandchild = -1;
  {
    auto child = Child::spawn(shell("sleep 30 & echo $!; wait"));
    ASSERT_TRUE(child.ok()) << child.failure().message;
    pid = child->pid();
    grandchild = std::stoi(read_line(child->stdout_fd()));
    ASSERT_TRUE(alive(grandchild));
  }
  int status;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), -1);  // already reaped: not our child any more
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(kopt::test::process_state(pid), 0);
  EXPECT_TRUE(dies_within(grandchild));
}

TEST(child, a_moved_child_is_owned_by_its_new_holder) {
  auto spawned = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(spawned.ok()) << spawned.failure().message;
  Child first = std::move(spawned.value());
  const pid_t pid = first.pid();
  {
    Child second = std::move(first);
    EXPECT_EQ(second.pid(), pid);
    EXPECT_EQ(first.pid(), -1);  // NOLINT: checking the moved-from state on purpose
    EXPECT_TRUE(alive(pid));
  }
  EXPECT_EQ(kopt::test::process_state(pid), 0);
}

TEST(child, control_fd_appears_as_fd_3_in_the_child) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  SpawnSpec spec = shell("echo hello >&3");
  spec.control_fd = fds[1];
  auto child = Child::spawn(spec);
  close(fds[1]);
  ASSERT_TRUE(child.ok()) << child.failure().message;
  EXPECT_EQ(read_until_eof(fds[0]), "hello\n");
  close(fds[0]);
  const auto info = child->wait_for(5s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->describe(), "exit status 0");
}

}  // namespace
