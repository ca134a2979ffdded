#include <fcntl.h>
#include <poll.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <thread>

#include "kopt/sandbox/process.hpp"
#include "kopt/sandbox/procfs.hpp"

namespace kopt::sandbox {

std::string ExitInfo::describe() const {
  if (exited) return "exit status " + std::to_string(code);
  const char* name = sigabbrev_np(signal);
  std::string text = "killed by signal " + std::to_string(signal) + (name ? std::string(" (SIG") + name + ")" : "");
  if (signal != SIGKILL || signal_from_kopt) return text;
  const std::string peak = max_rss_kb > 0 ? " (peak resident " + std::to_string(max_rss_kb / 1024) + " MiB)" : "";
  if (oom_kills > 0)
    return text + ", not sent by kopt: the kernel's out-of-memory killer, which killed " + std::to_string(oom_kills) +
           (oom_kills == 1 ? " process" : " processes") + " on this machine meanwhile" + peak;
  if (oom_kills == 0)
    // Worded so that core's out_of_memory() does not take it for a lack of memory.
    return text + ", sent neither by kopt nor by the kernel's OOM killer (its count did not move): by the process "
                  "itself or another one" + peak;
  return text + ", not sent by kopt: most likely the kernel's out-of-memory killer" + peak;
}

long long oom_kill_count() {
  std::ifstream in("/proc/vmstat");
  std::string key;
  long long value = 0;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return -1;
}

namespace {

long long oom_kills_since(long long at_spawn) {
  if (at_spawn < 0) return -1;
  const long long now = oom_kill_count();
  return now < 0 ? -1 : std::max(0LL, now - at_spawn);
}

ExitInfo decode_status(int status, const struct rusage& usage, bool signalled, long long oom_kills_at_spawn) {
  ExitInfo info;
  info.max_rss_kb = usage.ru_maxrss;
  info.signal_from_kopt = signalled;
  if (WIFEXITED(status)) {
    info.exited = true;
    info.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
  }
  // A worker under bubblewrap dies as bubblewrap's exit status 128 + 9 (Worker::payload_exit).
  const bool sigkill = info.signal == SIGKILL || (info.exited && info.code == 128 + SIGKILL);
  if (sigkill && !signalled) info.oom_kills = oom_kills_since(oom_kills_at_spawn);
  return info;
}

// In the child after fork: only async-signal-safe calls until exec. Reports errno on
// `err_fd` (close-on-exec) when something fails, then _exits.
[[noreturn]] void child_fail(int err_fd, int stage) {
  int payload[2] = {stage, errno};
  ssize_t ignored = write(err_fd, payload, sizeof payload);
  (void)ignored;
  _exit(127);
}

// Marks every descriptor from `first` up close-on-exec (async-signal-safe: runs between
// fork and exec): close_range(2) where the kernel has it (5.11+), else one by one.
void close_on_exec_from(int first) {
#ifdef SYS_close_range
  constexpr unsigned kCloexec = 1u << 2;  // CLOSE_RANGE_CLOEXEC
  if (syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, kCloexec) == 0) return;
#endif
  rlimit files{};
  const long top = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                       ? static_cast<long>(std::min<rlim_t>(files.rlim_cur, 1u << 20))
                       : 65536;
  for (long fd = first; fd < top; ++fd) {
    const int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0) fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
}

}  // namespace

Result<Child> Child::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Failure{"spawn", "empty argv"};
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2], exec_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Failure{"spawn", std::string("pipe: ") + strerror(errno)};
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]); close(out_pipe[1]);
    return Failure{"spawn", std::string("pipe: ") + strerror(errno)};
  }
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]); close(out_pipe[1]); close(err_pipe[0]); close(err_pipe[1]);
    return Failure{"spawn", std::string("pipe: ") + strerror(errno)};
  }
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const long long oom_kills_at_spawn = oom_kill_count();

  auto registry = lock_child_registry();
  const pid_t pid = fork();
  if (pid > 0) register_child_locked(pid);
  if (pid != 0) registry.unlock();
  if (pid < 0) {
    const int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0], exec_pipe[1], devnull})
      if (fd >= 0) close(fd);
    return Failure{"spawn", std::string("fork: ") + strerror(e)};
  }
  if (pid == 0) {
    const int err_fd = exec_pipe[1];
    // A session of its own (so a group of its own too): no controlling terminal, so a
    // candidate cannot open /dev/tty to write to the user's terminal or push keystrokes
    // into the shell that started kopt (TIOCSTI).
    if (setsid() < 0) child_fail(err_fd, 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    const int in_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : devnull;
    if (in_fd < 0 || (in_fd != 0 && dup2(in_fd, 0) < 0)) child_fail(err_fd, 2);
    if (dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0) child_fail(err_fd, 3);
    if (spec.control_fd >= 0) {
      if (spec.control_fd == 3) {
        int flags = fcntl(3, F_GETFD);
        if (flags < 0 || fcntl(3, F_SETFD, flags & ~FD_CLOEXEC) < 0) child_fail(err_fd, 4);
      } else if (dup2(spec.control_fd, 3) < 0) {
        child_fail(err_fd, 4);
      }
    }
    // Nothing else kopt holds or inherited from its caller (a shell's `7<secret`, a test
    // runner's pipes) reaches the child: every descriptor above 0-2 (and 3, the control
    // socket) closes at exec, the error pipe included.
    close_on_exec_from(spec.control_fd >= 0 ? 4 : 3);
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0) child_fail(err_fd, 5);
    for (const auto& limit : spec.limits) {
      rlimit value{limit.value, limit.value};
      rlimit now{};
      // Never above the hard limit already in force (only root may raise it).
      if (getrlimit(limit.resource, &now) == 0 && now.rlim_max != RLIM_INFINITY && value.rlim_max > now.rlim_max)
        value.rlim_cur = value.rlim_max = now.rlim_max;
      if (setrlimit(limit.resource, &value) != 0) child_fail(err_fd, 9);
    }
    if (spec.gid) {
      if (setgroups(0, nullptr) != 0 || setgid(*spec.gid) != 0) child_fail(err_fd, 6);
    }
    if (spec.uid && setuid(*spec.uid) != 0) child_fail(err_fd, 7);
    // Dies with kopt even if kopt is killed with SIGKILL (set after setuid, which clears it).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], argv.data(), envp.data());
    child_fail(err_fd, 8);
  }

  close(out_pipe[1]);
  close(err_pipe[1]);
  close(exec_pipe[1]);
  if (devnull >= 0) close(devnull);
  // No setpgid from this side: the child must not lead a group before its setsid().
  // A signal sent before that reaches the child itself (signal_group's second kill).

  Child child;
  child.m_pid = pid;
  child.m_oom_kills_at_spawn = oom_kills_at_spawn;
  child.m_stdout = out_pipe[0];
  child.m_stderr = err_pipe[0];
  fcntl(child.m_stdout, F_SETFL, O_NONBLOCK);
  fcntl(child.m_stderr, F_SETFL, O_NONBLOCK);

  int payload[2] = {0, 0};
  ssize_t n;
  do {
    n = read(exec_pipe[0], payload, sizeof payload);
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof payload)) {
    static const char* stages[] = {"", "setsid", "stdin", "stdout/stderr", "control fd",
                                   "chdir", "setgid", "setuid", "exec", "setrlimit"};
    const int stage = payload[0] >= 0 && payload[0] <= 9 ? payload[0] : 0;
    child.wait_for(std::chrono::milliseconds(1000));
    return Failure{"spawn", std::string("cannot start ") + spec.argv[0] + ": " + stages[stage] +
                                ": " + strerror(payload[1])};
  }
  return child;
}

Child::Child(Child&& other) noexcept { *this = std::move(other); }

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    release();
    m_pid = other.m_pid;
    m_stdout = other.m_stdout;
    m_stderr = other.m_stderr;
    m_exit = other.m_exit;
    m_signalled = other.m_signalled;
    m_oom_kills_at_spawn = other.m_oom_kills_at_spawn;
    other.m_pid = -1;
    other.m_stdout = other.m_stderr = -1;
  }
  return *this;
}

Child::~Child() { release(); }

void Child::release() {
  if (m_pid > 0 && !m_exit) terminate(std::chrono::milliseconds(0));
  close_stdout();
  close_stderr();
  m_pid = -1;
}

void Child::close_stdout() {
  if (m_stdout >= 0) close(m_stdout);
  m_stdout = -1;
}

void Child::close_stderr() {
  if (m_stderr >= 0) close(m_stderr);
  m_stderr = -1;
}

void Child::signal_group(int sig) const {
  if (m_pid <= 0) return;
  m_signalled = true;
  kill(-m_pid, sig);
  if (!m_exit) kill(m_pid, sig);
}

std::optional<ExitInfo> Child::try_wait() {
  if (m_exit) return m_exit;
  if (m_pid <= 0) return std::nullopt;
  int status = 0;
  struct rusage usage {};
  const pid_t r = wait4(m_pid, &status, WNOHANG, &usage);
  if (r == m_pid) {
    m_signalled = take_killed_by_kopt(m_pid) || m_signalled;  // an interrupt's kill_processes
    m_exit = decode_status(status, usage, m_signalled, m_oom_kills_at_spawn);
    unregister_child(m_pid);
  }
  return m_exit;
}

std::optional<ExitInfo> Child::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  while (true) {
    if (auto info = try_wait()) return info;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(10)) pause *= 2;
  }
}

ExitInfo Child::terminate(std::chrono::milliseconds grace) {
  if (auto info = try_wait()) {
    signal_group(SIGKILL);  // stragglers left in the group
    return *info;
  }
  if (grace.count() > 0) {
    signal_group(SIGTERM);
    if (auto info = wait_for(grace)) {
      signal_group(SIGKILL);
      return *info;
    }
  }
  signal_group(SIGKILL);
  int status = 0;
  struct rusage usage {};
  pid_t r;
  do {
    r = wait4(m_pid, &status, 0, &usage);
  } while (r < 0 && errno == EINTR);
  (void)take_killed_by_kopt(m_pid);
  m_exit = r == m_pid ? decode_status(status, usage, true, -1) : ExitInfo{false, 0, SIGKILL, true, 0};
  unregister_child(m_pid);
  return *m_exit;
}

Result<Captured> run_captured(const SpawnSpec& spec, std::chrono::milliseconds timeout) {
  auto child = Child::spawn(spec);
  if (!child) return child.failure();
  Captured got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child->stdout_fd() >= 0 || child->stderr_fd() >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      child->terminate(std::chrono::milliseconds(0));
      return Failure{"timeout", spec.argv[0] + " ran past " + std::to_string(timeout.count() / 1000) + " s"};
    }
    pollfd fds[2] = {{child->stdout_fd(), POLLIN, 0}, {child->stderr_fd(), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 200))) <= 0) continue;
    char buf[4096];
    for (int k = 0; k < 2; ++k) {
      const int fd = k == 0 ? child->stdout_fd() : child->stderr_fd();
      if (fd < 0 || !fds[k].revents) continue;
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        std::string& dst = k == 0 ? got.out : got.err;
        if (dst.size() < 65536) dst.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        if (k == 0) child->close_stdout(); else child->close_stderr();
      }
    }
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto info = child->wait_for(std::max(left, std::chrono::milliseconds(1000)));
  got.exit = info ? *info : child->terminate(std::chrono::milliseconds(0));
  return got;
}

}  // namespace kopt::sandbox
