#include "kopt/sandbox/worker.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <climits>
#include <fstream>

#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::sandbox {

std::string encode_frame(const Message& msg) {
  nlohmann::json header = msg.header;
  header["payload"] = msg.payload.size();
  const std::string text = util::dump_json(header);
  const uint32_t n = static_cast<uint32_t>(text.size());
  std::string out;
  out.reserve(4 + text.size() + msg.payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += text;
  out += msg.payload;
  return out;
}

Result<std::optional<Message>> decode_frame(std::string& buffer, size_t max_header,
                                            uint64_t max_payload) {
  if (buffer.size() < 4) return std::optional<Message>{};
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint32_t>(static_cast<unsigned char>(buffer[i])) << (8 * i);
  if (n > max_header) return Failure{"protocol", "frame header of " + std::to_string(n) + " bytes exceeds the cap"};
  if (buffer.size() < 4 + static_cast<size_t>(n)) return std::optional<Message>{};
  Message msg;
  try {
    msg.header = nlohmann::json::parse(buffer.begin() + 4, buffer.begin() + 4 + n);
  } catch (const std::exception& e) {
    return Failure{"protocol", "malformed frame header"};
  }
  if (!msg.header.is_object()) return Failure{"protocol", "frame header is not an object"};
  uint64_t payload = 0;
  if (msg.header.contains("payload")) {
    const auto& p = msg.header["payload"];
    if (!p.is_number_unsigned()) return Failure{"protocol", "frame payload size is not an unsigned integer"};
    payload = p.get<uint64_t>();
  }
  if (payload > max_payload) return Failure{"protocol", "frame payload of " + std::to_string(payload) + " bytes exceeds the cap"};
  if (buffer.size() < 4 + n + payload) {
    // Room for the whole frame at once: growing by doubling would copy a payload of
    // hundreds of megabytes several times, into fresh pages each time. The size is the
    // worker's claim (under the cap); if the memory is not there, the buffer grows as
    // bytes arrive instead.
    try {
      buffer.reserve(4 + n + payload);
    } catch (const std::exception&) {
    }
    return std::optional<Message>{};
  }
  if (buffer.size() == 4 + n + payload) {
    // The usual case, one frame in the buffer: its payload is moved, not copied.
    buffer.erase(0, 4 + n);
    msg.payload = std::move(buffer);
    buffer = std::string();
  } else {
    msg.payload = buffer.substr(4 + n, payload);
    buffer.erase(0, 4 + n + payload);
  }
  return std::optional<Message>(std::move(msg));
}

Result<std::unique_ptr<Worker>> Worker::start(const WorkerSpec& spec) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return Failure{"spawn", std::string("socketpair: ") + strerror(errno)};
  SpawnSpec spawn;
  spawn.argv = spec.argv;
  spawn.env = spec.env;
  spawn.cwd = spec.cwd;
  spawn.uid = spec.uid;
  spawn.gid = spec.gid;
  spawn.control_fd = pair[1];
  spawn.limits = spec.limits;
  auto child = Child::spawn(spawn);
  close(pair[1]);
  if (!child) {
    close(pair[0]);
    return child.failure();
  }
  fcntl(pair[0], F_SETFL, O_NONBLOCK);
  spdlog::debug("Worker spawned. [pid: {}, argv: {}]", child->pid(), fmt::join(spec.argv, " "));
  return std::unique_ptr<Worker>(new Worker(std::move(child.value()), pair[0], spec));
}

Worker::Worker(Child child, int control, WorkerSpec spec)
    : m_child(std::move(child)), m_control(control), m_spec(std::move(spec)) {}

Worker::~Worker() { stop(std::chrono::milliseconds(0)); }

namespace {

// The lowest-numbered direct child of `parent`, or -1.
pid_t first_child(pid_t parent) {
  const auto children = children_of(parent);
  return children.empty() ? -1 : children.front();
}

// The binary a process runs (/proc/PID/exe); where that cannot be read, its name.
std::string exe_of(pid_t pid) {
  char buf[PATH_MAX];
  const ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? name : "comm:" + name;
}

}  // namespace

pid_t Worker::main_pid() {
  if (!m_spec.runs_as_child) return pid();
  if (m_main_pid > 0) return m_main_pid;
  // bwrap forks the worker, or (with a PID namespace) an init of its own that forks it:
  // the worker is the first child down the chain that is not bwrap itself. The binary
  // (/proc/PID/exe) tells, not the name, which a candidate could set.
  const std::string bwrap = exe_of(pid());
  pid_t at = pid();
  for (int depth = 0; depth < 3; ++depth) {
    at = first_child(at);
    if (at < 0) break;
    const std::string exe = exe_of(at);
    if (bwrap.empty() || (exe != bwrap && exe != "comm:bwrap")) {
      m_main_pid = at;
      break;
    }
  }
  return m_main_pid > 0 ? m_main_pid : pid();
}

std::string Worker::log() const {
  std::string text = util::redact(util::strip_control(m_log), m_spec.secrets);
  if (m_log_total > m_log.size())
    text += "\n[kopt: output truncated, " + std::to_string(m_log_total) + " bytes in all]\n";
  return text;
}

// Reads what is available from a log pipe; returns false once over the cap.
bool Worker::read_log(int& fd) {
  char buf[65536];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      m_log_total += static_cast<size_t>(n);
      const size_t room = m_spec.max_log_bytes > m_log.size() ? m_spec.max_log_bytes - m_log.size() : 0;
      m_log.append(buf, std::min(room, static_cast<size_t>(n)));
      if (m_log_total > m_spec.max_log_bytes) return false;
      continue;
    }
    if (n == 0) {
      if (fd == m_child.stdout_fd()) m_child.close_stdout(); else m_child.close_stderr();
      fd = -1;
    }
    return true;  // EAGAIN or closed
  }
}

void Worker::drain_logs() {
  for (int i = 0; i < 50; ++i) {
    int out = m_child.stdout_fd(), err = m_child.stderr_fd();
    if (out < 0 && err < 0) return;
    pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
    if (poll(fds, 2, 20) <= 0) return;
    if (out >= 0 && !read_log(out)) return;
    if (err >= 0 && !read_log(err)) return;
  }
}

Failure Worker::ended_failure() {
  auto info = m_child.wait_for(std::chrono::milliseconds(2000));
  if (!info) info = m_child.terminate(std::chrono::milliseconds(0));
  drain_logs();
  std::string message = "worker ended (" + payload_exit(*info).describe() + ")";
  const std::string tail = util::tail_lines(log(), 1);
  if (!tail.empty()) message += ": " + tail.substr(0, 300);
  return Failure{"exited", message};
}

Status Worker::pump(bool want_write, const std::string& out, size_t& written,
                    std::chrono::steady_clock::time_point deadline, bool& readable) {
  readable = false;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Failure{"timeout", "deadline passed"};
    const int wait_ms = static_cast<int>(
        std::min<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1, 100));
    int out_fd = m_child.stdout_fd(), err_fd = m_child.stderr_fd();
    const bool writing = want_write && written < out.size();
    pollfd fds[3] = {{m_control, static_cast<short>(writing ? POLLOUT : POLLIN), 0},
                     {out_fd, POLLIN, 0},
                     {err_fd, POLLIN, 0}};
    const int r = poll(fds, 3, wait_ms);
    if (r < 0 && errno != EINTR) return Failure{"io", std::string("poll: ") + strerror(errno)};
    if (r <= 0) {
      if (m_child.try_wait()) return ended_failure();
      continue;
    }
    if (fds[1].revents && out_fd >= 0 && !read_log(out_fd)) return Failure{"flood", "worker printed more than " + std::to_string(m_spec.max_log_bytes) + " bytes of output"};
    if (fds[2].revents && err_fd >= 0 && !read_log(err_fd)) return Failure{"flood", "worker printed more than " + std::to_string(m_spec.max_log_bytes) + " bytes of output"};
    if (writing && (fds[0].revents & POLLOUT)) {
      const ssize_t n = ::send(m_control, out.data() + written, out.size() - written, MSG_NOSIGNAL);
      if (n > 0) written += static_cast<size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR) return ended_failure();
      if (written == out.size()) return Status{};
      continue;
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      if (!writing && (fds[0].revents & POLLIN)) { readable = true; return Status{}; }
      return ended_failure();
    }
    if (!writing && (fds[0].revents & POLLIN)) {
      readable = true;
      return Status{};
    }
  }
}

Result<Message> Worker::request(const Message& msg, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (auto st = send(msg, deadline); !st) return st.failure();
  return receive(deadline);
}

Status Worker::send(const Message& msg, std::chrono::steady_clock::time_point deadline) {
  if (m_control < 0) return Failure{"exited", "worker already stopped"};
  const std::string frame = encode_frame(msg);
  size_t written = 0;
  bool readable = false;
  return pump(true, frame, written, deadline, readable);
}

Result<Message> Worker::receive(std::chrono::steady_clock::time_point deadline) {
  if (m_control < 0) return Failure{"exited", "worker already stopped"};
  const std::string nothing;
  size_t written = 0;
  bool readable = false;
  bool eof = false;
  while (true) {
    auto parsed = decode_frame(m_inbox, m_spec.max_header_bytes, m_spec.max_payload_bytes);
    if (!parsed) return parsed.failure();
    if (parsed->has_value()) return std::move(**parsed);
    if (eof) return ended_failure();
    if (auto st = pump(false, nothing, written, deadline, readable); !st) return st.failure();
    static thread_local char buf[1 << 16];
    // At most a few MiB per round before parsing again: a worker that streams frames
    // back to back must not make the inbox hold more than about one of them.
    for (size_t got = 0; got < (4u << 20);) {
      const ssize_t n = recv(m_control, buf, sizeof buf, 0);
      if (n > 0) { m_inbox.append(buf, static_cast<size_t>(n)); got += static_cast<size_t>(n); continue; }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      eof = true;  // closed or broken: parse what arrived first
      break;
    }
  }
}

ExitInfo Worker::stop(std::chrono::milliseconds grace) {
  if (m_control >= 0) {
    close(m_control);
    m_control = -1;
  }
  if (auto info = m_child.try_wait()) {
    m_child.signal_group(SIGKILL);
    drain_logs();
    return payload_exit(*info);
  }
  std::optional<ExitInfo> info;
  if (grace.count() > 0) info = m_child.wait_for(grace);
  if (!info) info = m_child.terminate(std::chrono::milliseconds(grace.count() > 0 ? 200 : 0));
  m_child.signal_group(SIGKILL);
  drain_logs();
  return payload_exit(*info);
}

std::optional<ExitInfo> Worker::exit_info() {
  auto info = m_child.try_wait();
  if (!info) return info;
  return payload_exit(*info);
}

ExitInfo Worker::payload_exit(const ExitInfo& info) const {
  // bubblewrap exits with 128 + the signal that killed the worker.
  if (!m_spec.runs_as_child || !info.exited || info.code <= 128 || info.code >= 128 + NSIG) return info;
  ExitInfo payload = info;  // keeps who signalled, the peak resident set and the OOM kills
  payload.exited = false;
  payload.code = 0;
  payload.signal = info.code - 128;
  return payload;
}

}  // namespace kopt::sandbox
