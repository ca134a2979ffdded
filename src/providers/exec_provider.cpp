#include "exec_provider.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "kopt/sandbox/process.hpp"
#include "kopt/util/text.hpp"

namespace kopt::providers {

namespace {

constexpr size_t kMaxStdout = 8 << 20;
constexpr size_t kMaxStderr = 256 << 10;
constexpr auto kGrace = std::chrono::milliseconds(500);

// The prompt as an unlinked in-memory file: the child reads it as stdin at its own
// pace, and kopt never blocks writing a large prompt into a pipe.
int prompt_fd(const std::string& text) {
  const int fd = memfd_create("kopt-prompt", MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

// Reads what is available from `fd` into `out` (up to `cap`); false at EOF or error.
bool drain(int fd, std::string& out, size_t cap) {
  char buf[65536];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      const size_t room = cap > out.size() ? cap - out.size() : 0;
      out.append(buf, std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

class ExecProvider : public Provider {
 public:
  ExecProvider(std::vector<std::string> argv, std::string model, std::vector<std::string> env,
               std::chrono::milliseconds deadline, std::vector<std::string> secrets)
      : m_argv(std::move(argv)), m_model(std::move(model)), m_env(std::move(env)), m_deadline(deadline),
        m_secrets(std::move(secrets)) {}

  std::string name() const override { return "exec"; }
  std::string model() const override { return m_model; }

  Reply complete(const Request& request) override {
    Reply reply;
    reply.index = request.index;
    reply.attempts = 1;
    const std::string input = request.system + "\n\n" + request.user;
    reply.exchange["request"] = {{"argv", m_argv}, {"stdin", input}};
    const auto start = std::chrono::steady_clock::now();
    std::string out, err;
    run(input, reply, out, err);
    reply.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string clean_err = util::redact(util::strip_control(err), m_secrets);
    if (!clean_err.empty())
      spdlog::debug("Command stderr. [index: {}]\n{}", request.index, util::tail_lines(clean_err, 40));
    reply.exchange["response"]["stdout"] = out;
    reply.exchange["response"]["stderr"] = clean_err;
    if (reply.outcome == ReplyOutcome::exec_failed && !clean_err.empty())
      reply.message += ": " + util::tail_lines(clean_err, 3);
    if (reply.outcome == ReplyOutcome::ok) {
      reply.text = out;
      if (out.find_first_not_of(" \t\r\n") == std::string::npos) {
        reply.outcome = ReplyOutcome::empty;
        reply.message = "the command printed nothing on stdout";
      }
    }
    spdlog::debug("Reply received. [index: {}, outcome: {}, elapsed: {}]", request.index,
                  reply_outcome_name(reply.outcome), util::format_seconds(reply.elapsed_s));
    return reply;
  }

 private:
  void run(const std::string& input, Reply& reply, std::string& out, std::string& err) const {
    const int in = prompt_fd(input);
    if (in < 0) {
      reply.outcome = ReplyOutcome::exec_failed;
      reply.message = std::string("cannot hold the prompt in memory: ") + strerror(errno);
      return;
    }
    sandbox::SpawnSpec spec;
    spec.argv = m_argv;
    spec.env = m_env;
    spec.stdin_fd = in;
    auto child = sandbox::Child::spawn(spec);
    close(in);
    if (!child) {
      reply.outcome = ReplyOutcome::exec_failed;
      reply.message = child.failure().message;
      return;
    }
    spdlog::debug("Command spawned. [pid: {}, argv: {}]", child->pid(),
                  util::redact(fmt::format("{}", fmt::join(m_argv, " ")), m_secrets));
    const auto deadline = std::chrono::steady_clock::now() + m_deadline;
    bool timed_out = false;
    // Once the program has exited, a child it left behind may still hold its stdout: what
    // was printed within kAfterExit of the exit is the reply (it used to wait for the
    // deadline and lose a complete reply as "did not answer").
    constexpr auto kAfterExit = std::chrono::milliseconds(1000);
    std::chrono::steady_clock::time_point read_until{};
    while (child->stdout_fd() >= 0 || child->stderr_fd() >= 0) {
      const auto now = std::chrono::steady_clock::now();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      if (child->reaped() && now >= read_until) break;
      pollfd fds[2] = {{child->stdout_fd(), POLLIN, 0}, {child->stderr_fd(), POLLIN, 0}};
      const int r = poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), child->reaped() ? 100 : 1000)));
      if (r < 0 && errno != EINTR) break;
      if (fds[0].fd >= 0 && fds[0].revents && !drain(fds[0].fd, out, kMaxStdout)) child->close_stdout();
      if (fds[1].fd >= 0 && fds[1].revents && !drain(fds[1].fd, err, kMaxStderr)) child->close_stderr();
      if (!child->reaped() && child->try_wait()) read_until = std::chrono::steady_clock::now() + kAfterExit;
    }
    if (child->reaped()) child->signal_group(SIGKILL);  // what it left behind
    std::optional<sandbox::ExitInfo> exit;
    if (child->reaped()) {
      exit = child->exit_info();
    } else if (!timed_out) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      exit = child->wait_for(std::max(left, std::chrono::milliseconds(0)));
    }
    if (!exit) {
      child->terminate(kGrace);
      reply.outcome = ReplyOutcome::timed_out;
      reply.message = m_argv[0] + " did not answer within " + util::format_seconds(m_deadline.count() / 1000.0);
      reply.exchange["response"]["exit"] = "timed out";
      return;
    }
    reply.exchange["response"]["exit"] = exit->describe();
    if (!exit->exited || exit->code != 0) {
      reply.outcome = ReplyOutcome::exec_failed;
      reply.message = m_argv[0] + " ended with " + exit->describe();
      return;
    }
    reply.outcome = ReplyOutcome::ok;
  }

  std::vector<std::string> m_argv;
  std::string m_model;
  std::vector<std::string> m_env;
  std::chrono::milliseconds m_deadline;
  std::vector<std::string> m_secrets;
};

}  // namespace

std::unique_ptr<Provider> make_exec_provider(std::vector<std::string> argv, std::string model,
                                             std::vector<std::string> env, std::chrono::milliseconds deadline,
                                             std::vector<std::string> secrets) {
  return std::make_unique<ExecProvider>(std::move(argv), std::move(model), std::move(env), deadline,
                                        std::move(secrets));
}

}  // namespace kopt::providers
