#include "kopt/sandbox/confine.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <gtest/gtest.h>

#include "kopt/sandbox/process.hpp"
#include "kopt/sandbox/worker.hpp"

namespace {

using kopt::sandbox::bwrap_prefix;
using kopt::sandbox::ConfineSpec;

long index_of(const std::vector<std::string>& argv, const std::vector<std::string>& seq) {
  auto it = std::search(argv.begin(), argv.end(), seq.begin(), seq.end());
  return it == argv.end() ? -1 : static_cast<long>(it - argv.begin());
}

TEST(bwrap_prefix, cuts_the_network_and_mounts_the_root_read_only) {
  const auto argv = bwrap_prefix("/usr/bin/bwrap", {});
  EXPECT_EQ(argv.front(), "/usr/bin/bwrap");
  EXPECT_GE(index_of(argv, {"--unshare-net"}), 0);
  EXPECT_GE(index_of(argv, {"--die-with-parent"}), 0);
  EXPECT_GE(index_of(argv, {"--ro-bind", "/", "/"}), 0);
  EXPECT_GE(index_of(argv, {"--dev-bind", "/dev", "/dev"}), 0);
  EXPECT_GE(index_of(argv, {"--tmpfs", "/tmp"}), 0);
  EXPECT_GE(index_of(argv, {"--remount-ro", "/run"}), 0);
}

TEST(bwrap_prefix, binds_the_sandboxs_tmp_as_tmp_when_given) {
  ConfineSpec spec;
  spec.tmp = "/tmp/sandbox/tmp";
  const auto argv = bwrap_prefix("bwrap", spec);
  EXPECT_GE(index_of(argv, {"--bind", "/tmp/sandbox/tmp", "/tmp"}), 0);
  EXPECT_LT(index_of(argv, {"--tmpfs", "/tmp"}), 0);
}

TEST(bwrap_prefix, binds_the_sandbox_writable_on_top_of_a_hidden_read_only_home) {
  ConfineSpec spec;
  spec.hidden = {"/tmp"};  // a directory that exists everywhere
  spec.readable = {"/tmp/harness"};
  spec.writable = "/tmp/sandbox";
  const auto argv = bwrap_prefix("bwrap", spec);
  const long hide = index_of(argv, {"--tmpfs", "/tmp"});
  const long read = index_of(argv, {"--ro-bind", "/tmp/harness", "/tmp/harness"});
  const long write = index_of(argv, {"--bind", "/tmp/sandbox", "/tmp/sandbox"});
  const long seal = index_of(argv, {"--remount-ro", "/tmp"});
  ASSERT_GE(hide, 0);
  EXPECT_LT(hide, read);
  EXPECT_LT(read, write);
  EXPECT_LT(write, seal);
}

TEST(bwrap_prefix, skips_a_hidden_directory_that_does_not_exist) {
  ConfineSpec spec;
  spec.hidden = {"/nonexistent/kopt-home"};
  const auto argv = bwrap_prefix("bwrap", spec);
  EXPECT_LT(index_of(argv, {"/nonexistent/kopt-home"}), 0);
}

TEST(bwrap_prefix, loosened_for_cuda_binds_what_was_loosened_and_nothing_else) {
  ConfineSpec spec;
  spec.proc_sys_rw = true;
  auto argv = bwrap_prefix("bwrap", spec);
  EXPECT_GE(index_of(argv, {"--ro-bind", "/", "/"}), 0);
  EXPECT_GE(index_of(argv, {"--dev-bind", "/proc", "/proc"}), 0);
  EXPECT_GE(index_of(argv, {"--dev-bind", "/sys", "/sys"}), 0);
  EXPECT_GE(index_of(argv, {"--tmpfs", "/tmp"}), 0);
  EXPECT_LT(index_of(argv, {"--unshare-pid"}), 0);  // the host's /proc shows the host's processes
  spec = {};
  spec.host_pids = true;
  argv = bwrap_prefix("bwrap", spec);
  EXPECT_LT(index_of(argv, {"--unshare-pid"}), 0);
  EXPECT_LT(index_of(argv, {"--proc", "/proc"}), 0);
  EXPECT_GE(index_of(argv, {"--ro-bind", "/", "/"}), 0);
  spec = {};
  spec.host_tmp = true;
  spec.tmp = "/tmp/sandbox/tmp";
  argv = bwrap_prefix("bwrap", spec);
  EXPECT_GE(index_of(argv, {"--bind", "/tmp", "/tmp"}), 0);
  EXPECT_LT(index_of(argv, {"--bind", "/tmp/sandbox/tmp", "/tmp"}), 0);
  EXPECT_LT(index_of(argv, {"--dev-bind", "/proc", "/proc"}), 0);
  spec = {};
  spec.writable_root = true;
  argv = bwrap_prefix("bwrap", spec);
  EXPECT_GE(index_of(argv, {"--dev-bind", "/", "/"}), 0);
  EXPECT_LT(index_of(argv, {"--ro-bind", "/", "/"}), 0);
  EXPECT_GE(index_of(argv, {"--unshare-net"}), 0);
  EXPECT_GE(index_of(argv, {"--tmpfs", "/tmp"}), 0);
  EXPECT_GE(index_of(argv, {"--unshare-pid", "--proc", "/proc"}), 0);
}

TEST(bwrap_prefix, the_standard_sandbox_has_its_own_pid_namespace_and_proc_over_the_root) {
  const auto argv = bwrap_prefix("bwrap", ConfineSpec{});
  const long pid = index_of(argv, {"--unshare-pid", "--proc", "/proc"});
  ASSERT_GE(pid, 0);
  EXPECT_GT(pid, index_of(argv, {"--ro-bind", "/", "/"}));  // mounted on top of the root's /proc
}

TEST(fit_bwrap_to_cuda, keeps_the_standard_sandbox_when_cuda_fails_outside_bubblewrap_too) {
  // This machine has no CUDA driver: cuInit cannot succeed anywhere, so bubblewrap is
  // not to blame and nothing is loosened.
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  if (access("/dev/nvidiactl", F_OK) == 0) GTEST_SKIP() << "this machine has an NVIDIA driver";
  ConfineSpec base;
  base.hidden = {"/nonexistent/kopt-home"};
  const auto fit = kopt::sandbox::fit_bwrap_to_cuda("/usr/bin/bwrap", base, std::nullopt, "/usr/bin/python3",
                                                    {"PATH=/usr/bin:/bin"});
  EXPECT_TRUE(fit.works);
  EXPECT_EQ(fit.loosened, "");
  EXPECT_FALSE(fit.spec.writable_root || fit.spec.host_tmp || fit.spec.proc_sys_rw || fit.spec.host_pids);
  EXPECT_EQ(fit.spec.hidden, base.hidden);
}

TEST(child_limits, a_child_starts_with_the_given_resource_limits) {
  kopt::sandbox::SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "ulimit -f; ulimit -c"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.limits = {{RLIMIT_FSIZE, 1u << 20}, {RLIMIT_CORE, 0}};
  auto got = kopt::sandbox::run_captured(spec, std::chrono::seconds(10));
  ASSERT_TRUE(got.ok()) << got.failure().message;
  EXPECT_EQ(got->out, "2048\n0\n");  // ulimit -f counts 512-byte blocks
}

TEST(tasks_of_user, counts_at_least_this_process) {
  EXPECT_GE(kopt::sandbox::tasks_of_user(getuid()), 1);
  EXPECT_EQ(kopt::sandbox::tasks_of_user(static_cast<uid_t>(4000000000u)), 0);
}

}  // namespace

namespace {

TEST(bwrap_exit, a_worker_run_as_a_child_reports_the_signal_from_bwraps_exit_status) {
  kopt::sandbox::WorkerSpec spec;
  spec.argv = {"/bin/sh", "-c", "exit 139"};  // what bwrap does when its child dies of SIGSEGV
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.runs_as_child = true;
  auto worker = kopt::sandbox::Worker::start(spec);
  ASSERT_TRUE(worker.ok()) << worker.failure().message;
  const auto info = (*worker)->stop(std::chrono::milliseconds(5000));
  EXPECT_FALSE(info.exited);
  EXPECT_EQ(info.signal, 11);
}

TEST(bwrap_exit, an_ordinary_worker_keeps_its_exit_status) {
  kopt::sandbox::WorkerSpec spec;
  spec.argv = {"/bin/sh", "-c", "exit 139"};
  spec.env = {"PATH=/usr/bin:/bin"};
  auto worker = kopt::sandbox::Worker::start(spec);
  ASSERT_TRUE(worker.ok()) << worker.failure().message;
  const auto info = (*worker)->stop(std::chrono::milliseconds(5000));
  EXPECT_TRUE(info.exited);
  EXPECT_EQ(info.code, 139);
}

}  // namespace
