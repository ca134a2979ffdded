#pragma once
// Helpers for tests that start real child processes.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace kopt::test {

// Reads `fd` until EOF or `timeout`; the fd may be non-blocking.
inline std::string read_until_eof(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    else if (n == 0) break;
  }
  return out;
}

// Reads `fd` until a full line arrived (returned without its newline) or `timeout`.
inline std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char c;
    const ssize_t n = read(fd, &c, 1);
    if (n == 0) break;
    if (n < 0) continue;
    if (c == '\n') return out;
    out.push_back(c);
  }
  return out;
}

// The state letter of /proc/PID/stat, or 0 when the process does not exist.
inline char process_state(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : '?';
}

// True once `pid` is gone or a zombie within `timeout` (a zombie that is our child,
// as orphans are when the test process is a subreaper, is reaped on the way).
inline bool dies_within(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const char state = process_state(pid);
    if (state == 0 || state == 'Z' || state == 'X') {
      int status;
      waitpid(pid, &status, WNOHANG);
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// True while `pid` exists and is not a zombie.
inline bool alive(pid_t pid) {
  const char state = process_state(pid);
  return state != 0 && state != 'Z' && state != 'X';
}

}  // namespace kopt::test
