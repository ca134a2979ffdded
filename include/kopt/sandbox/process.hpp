#pragma once
// Supervised child processes: explicit argv and environment, own process group,
// stdin from /dev/null or a given descriptor, stdout/stderr as pipes for the caller's
// poll loop, an optional control socket as fd 3, optional drop to an unprivileged user.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "kopt/sandbox/confine.hpp"
#include "kopt/util/result.hpp"

namespace kopt::sandbox {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] must be a path; no PATH search, no shell
  std::vector<std::string> env;   // exactly the child's environment, "NAME=value"
  std::string cwd;                // empty: inherit
  std::optional<uid_t> uid;       // if set (kopt is root), drop to this user before exec
  std::optional<gid_t> gid;
  int control_fd = -1;            // if >= 0, dup'ed to fd 3 in the child
  int stdin_fd = -1;              // if >= 0, dup'ed to fd 0 in the child; else /dev/null
  std::vector<ResourceLimit> limits;  // setrlimit in the child before exec (before the drop to uid)
};

// How a process ended.
struct ExitInfo {
  bool exited = false;  // normal exit (code valid)
  int code = 0;
  int signal = 0;       // terminating signal when !exited
  bool signal_from_kopt = false;  // kopt itself signalled the process (deadline, teardown)
  long max_rss_kb = 0;            // peak resident set, from the kernel's rusage at reaping
  // For a SIGKILL kopt did not send: how many processes the kernel's out-of-memory killer
  // killed on this machine while this one lived (/proc/vmstat's oom_kill); -1 unknown.
  long long oom_kills = -1;
  // "exit status 3", "killed by signal 11 (SIGSEGV)". A SIGKILL kopt did not send is
  // named the out-of-memory killer's where its count rose meanwhile (with the peak
  // resident set), a sender's other than kopt and that killer's where it did not, and
  // most likely that killer's where the count cannot be read.
  std::string describe() const;
};

// One child process leading its own process group. Not thread-safe. The destructor
// kills the whole group and reaps the child, so a forgotten Child never leaks.
class Child {
 public:
  // Failure kinds: "spawn" (fork/pipe failed, or exec failed in the child).
  static Result<Child> spawn(const SpawnSpec& spec);

  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return m_pid; }
  int stdout_fd() const { return m_stdout; }  // non-blocking read end, -1 once closed
  int stderr_fd() const { return m_stderr; }
  void close_stdout();
  void close_stderr();

  // Sends `sig` to the whole process group (and the leader, should it have left it).
  void signal_group(int sig) const;
  // Reaps the child if it has exited; never blocks.
  std::optional<ExitInfo> try_wait();
  // Blocks until the child exits or `timeout` passes.
  std::optional<ExitInfo> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM to the group, up to `grace` to exit, then SIGKILL; always reaps.
  ExitInfo terminate(std::chrono::milliseconds grace);
  bool reaped() const { return m_exit.has_value(); }
  const std::optional<ExitInfo>& exit_info() const { return m_exit; }

 private:
  Child() = default;
  void release();
  pid_t m_pid = -1;
  int m_stdout = -1;
  int m_stderr = -1;
  std::optional<ExitInfo> m_exit;
  mutable bool m_signalled = false;  // signal_group was called: a later death is kopt's doing
  long long m_oom_kills_at_spawn = -1;  // /proc/vmstat's oom_kill when the child started; -1 unknown
};

// The kernel's count of processes its out-of-memory killer has killed on this machine
// (/proc/vmstat's oom_kill: every kill, a cgroup's included), or -1 where it cannot be read.
long long oom_kill_count();

// What a short-lived command printed and how it ended (run_captured).
struct Captured {
  std::string out;  // stdout, up to 64 KiB
  std::string err;  // stderr, up to 64 KiB
  ExitInfo exit;
};

// Runs `spec` to its end, capturing its output; kills it after `timeout`.
// Failure kinds: "spawn", "timeout".
Result<Captured> run_captured(const SpawnSpec& spec, std::chrono::milliseconds timeout);

}  // namespace kopt::sandbox
