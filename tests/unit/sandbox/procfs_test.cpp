// procfs: descendants, thread counts, killing process trees, reaping orphans.
#include "kopt/sandbox/procfs.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "kopt/sandbox/process.hpp"
#include "process_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using kopt::sandbox::Child;
using kopt::sandbox::SpawnSpec;

SpawnSpec shell(const std::string& script) {
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  return spec;
}

bool contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

TEST(procfs, descendants_of_finds_a_grandchild) {
  auto child = Child::spawn(shell("sleep 30 & echo $!; wait"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const pid_t grandchild = std::stoi(kopt::test::read_line(child->stdout_fd()));
  const auto found = kopt::sandbox::descendants_of(child->pid());
  EXPECT_TRUE(contains(found, grandchild));
  EXPECT_FALSE(contains(found, child->pid()));
  EXPECT_TRUE(contains(kopt::sandbox::descendants_of(getpid()), grandchild));
  // Only the direct children: the shell's sleep, not the shell's parent's other children.
  EXPECT_EQ(kopt::sandbox::children_of(child->pid()), std::vector<pid_t>{grandchild});
  EXPECT_TRUE(contains(kopt::sandbox::children_of(getpid()), child->pid()));
  EXPECT_FALSE(contains(kopt::sandbox::children_of(getpid()), grandchild));
  child->terminate(0ms);
  EXPECT_TRUE(kopt::test::dies_within(grandchild));
}

TEST(procfs, thread_count_of_a_live_and_a_gone_process) {
  EXPECT_GE(kopt::sandbox::thread_count(getpid()), 1);
  pid_t gone;
  {
    auto child = Child::spawn(shell("exit 0"));
    ASSERT_TRUE(child.ok());
    gone = child->pid();
    ASSERT_TRUE(child->wait_for(5s));
  }
  EXPECT_EQ(kopt::sandbox::thread_count(gone), 0);
}

TEST(procfs, kill_processes_kills_and_reaps_children) {
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child.ok());
  kopt::sandbox::kill_processes({child->pid()});
  EXPECT_TRUE(kopt::test::dies_within(child->pid()));
}

// harden_self makes this test process a child subreaper for the rest of the run; the
// helpers of the other tests reap orphans that re-parent to it.
TEST(procfs, reap_orphans_kills_a_daemonised_grandchild) {
  kopt::sandbox::harden_self();
  auto child = Child::spawn(shell("setsid sleep 30 & echo $!"));
  ASSERT_TRUE(child.ok()) << child.failure().message;
  const pid_t daemon = std::stoi(kopt::test::read_line(child->stdout_fd()));
  ASSERT_TRUE(child->wait_for(5s));
  // Wait until the grandchild has left the process group (setsid runs after the fork).
  for (int i = 0; i < 1000 && getsid(daemon) != daemon; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(getsid(daemon), daemon);
  // Killing the worker's group misses it; it is now our child.
  child->terminate(0ms);
  ASSERT_TRUE(kopt::test::alive(daemon));
  EXPECT_TRUE(contains(kopt::sandbox::descendants_of(getpid()), daemon));

  const int found = kopt::sandbox::reap_orphans({});
  EXPECT_GE(found, 1);
  EXPECT_EQ(kopt::test::process_state(daemon), 0);  // killed and reaped, not a zombie
  int status;
  EXPECT_EQ(waitpid(daemon, &status, WNOHANG), -1);
}

// A shell that exec's kopt with `2> >(tee log)` leaves tee as kopt's child: not an orphan.
TEST(procfs, reap_orphans_leaves_children_kopt_inherited) {
  kopt::sandbox::harden_self();
  kopt::sandbox::reap_orphans({});  // leftovers of other tests, re-parented to this process
  const pid_t inherited = fork();
  ASSERT_GE(inherited, 0);
  if (inherited == 0) {
    pause();
    _exit(0);
  }
  kopt::sandbox::note_inherited_children();
  EXPECT_EQ(kopt::sandbox::reap_orphans({}), 0);
  EXPECT_TRUE(kopt::sandbox::survivors({}, {}, 0ms).empty());
  EXPECT_TRUE(kopt::test::alive(inherited));
  kill(inherited, SIGKILL);
  int status;
  EXPECT_EQ(waitpid(inherited, &status, 0), inherited);
}

TEST(procfs, reap_orphans_leaves_children_it_is_told_to_keep) {
  kopt::sandbox::harden_self();
  kopt::sandbox::reap_orphans({});  // leftovers of other tests, re-parented to this process
  auto child = Child::spawn(shell("exec sleep 30"));
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(kopt::sandbox::reap_orphans({child->pid()}), 0);
  EXPECT_TRUE(kopt::test::alive(child->pid()));
}

}  // namespace

// A process reaped between read_stat's open and its read fails the read with ESRCH;
// libstdc++'s filebuf threw on that, and kopt died of an uncaught exception in CI.
// Reading a child's stat while it exits and is reaped hits that window within a few
// dozen children here (500 bound it; posix_spawn keeps each one cheap).
TEST(procfs, read_stat_of_a_process_reaped_meanwhile_is_no_stat_not_a_throw) {
  std::atomic<pid_t> current{0};
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::thread reader([&] {
    while (!done) {
      const pid_t pid = current;
      if (pid <= 0) continue;
      (void)kopt::sandbox::read_stat(pid);
      ++reads;
    }
  });
  char true_path[] = "/bin/true";
  char* argv[] = {true_path, nullptr};
  int spawned = 0;
  for (; spawned < 500; ++spawned) {
    pid_t pid = -1;
    if (posix_spawn(&pid, true_path, nullptr, nullptr, argv, nullptr) != 0) break;
    current = pid;
    waitpid(pid, nullptr, 0);
  }
  done = true;
  reader.join();  // before any assertion: a joinable thread's destructor would terminate
  EXPECT_EQ(spawned, 500);
  EXPECT_GT(reads.load(), 0);
}
