#include "files_provider.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kopt/providers/accounting.hpp"
#include "kopt/providers/files.hpp"
#include "kopt/util/text.hpp"

namespace kopt::providers {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kMaxReply = 8 << 20;

// "300ms", "1.5s", "45s", "30m", "2m5s", "1h30m".
std::string format_wait(milliseconds wait) {
  const long long ms = wait.count();
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", ms);
  } else if (ms < 60'000 && ms % 1000 != 0) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else {
    const long long s = ms / 1000, h = s / 3600, m = s / 60 % 60, sec = s % 60;
    std::string out;
    if (h) out += std::to_string(h) + "h";
    if (m) out += std::to_string(m) + "m";
    if (sec || out.empty()) out += std::to_string(sec) + "s";
    return out;
  }
  return buf;
}

double wall_age_s(const struct timespec& then) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec - then.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec - then.tv_nsec);
}

// The whole file, if it is a regular file within the size limit. Failure kind "io".
Result<std::string> read_text(const std::string& path, size_t limit) {
  // O_NONBLOCK: a FIFO under a reply's name must not block kopt; it fails the check below.
  // O_NOFOLLOW: a link under a reply's name would copy whatever kopt can read (/etc/shadow,
  // /proc/self/environ) into the run; whoever writes the inbox may propose candidates only.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ELOOP) return Failure{"io", path + " is a symbolic link: a reply must be a file written into the inbox"};
  if (fd < 0) return Failure{"io", "cannot open " + path + ": " + std::strerror(errno)};
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Failure{"io", path + " is not a regular file"};
  }
  if (static_cast<size_t>(st.st_size) > limit) {
    close(fd);
    return Failure{"io", path + " is " + std::to_string(st.st_size) + " bytes, over the " +
                             std::to_string(limit >> 20) + " MiB limit"};
  }
  std::string text;
  char buf[65536];
  while (text.size() <= limit) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return Failure{"io", "cannot read " + path + ": " + std::strerror(err)};
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (text.size() > limit) return Failure{"io", path + " grew over the " + std::to_string(limit >> 20) + " MiB limit"};
  return text;
}

// Writes `text` to a dot-named temporary file in the same folder, then renames it over
// `path`, so a watcher never sees half a prompt. Failure kind "io".
Status write_atomically(const std::string& dir, const std::string& name, const std::string& text) {
  static std::atomic<unsigned> counter{0};
  const std::string path = dir + "/" + name;
  const std::string tmp =
      dir + "/." + name + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter.fetch_add(1));
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Failure{"io", "cannot write " + tmp + ": " + std::strerror(errno)};
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return Failure{"io", "cannot write " + tmp + ": " + std::strerror(err)};
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return Failure{"io", "cannot rename " + tmp + ": " + std::strerror(err)};
  }
  return {};
}

// A ```python fence longer than any backtick run in `code`, so extraction finds it whole.
std::string fence_python(const std::string& code) {
  size_t longest = 0, run = 0;
  for (const char c : code) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(std::max<size_t>(3, longest + 1), '`');
  std::string text = fence + "python\n" + code;
  if (!code.empty() && code.back() != '\n') text.push_back('\n');
  return text + fence + "\n";
}

bool blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

// What one look at a reply file found.
enum class Look { absent, settling, ready };

// Our last sight of a reply file, for "unchanged for the settle interval".
struct Sighting {
  bool seen = false;
  off_t size = 0;
  struct timespec mtime {};
  ino_t inode = 0;
  Clock::time_point since{};
};

class FilesProvider : public Provider {
 public:
  FilesProvider(const ProviderOptions& o, std::vector<std::string> secrets)
      : m_inbox(o.inbox), m_secrets(std::move(secrets)), m_model(o.model), m_wait(o.wait), m_reply_timeout(o.reply_timeout), m_settle(o.settle),
        m_poll(std::max(o.poll_interval, milliseconds(1))), m_status_interval(o.status_interval),
        m_should_stop(o.should_stop), m_on_waiting(o.on_waiting) {
    // inotify tells a reply renamed into place (complete at once) from one being written
    // (wait until it settles). Without it every reply waits out the settle interval.
    m_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (m_inotify >= 0 &&
        inotify_add_watch(m_inotify, m_inbox.c_str(), IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_MODIFY | IN_DELETE) < 0) {
      close(m_inotify);
      m_inotify = -1;
    }
    if (m_inotify < 0) spdlog::debug("Inbox not watched. [inbox: {}, reason: {}]", m_inbox, std::strerror(errno));
  }
  ~FilesProvider() override {
    if (m_inotify >= 0) close(m_inotify);
  }

  std::string name() const override { return "files"; }
  std::string model() const override { return m_model; }

  Reply complete(const Request& request) override {
    const auto start = Clock::now();
    Reply reply;
    reply.index = request.index;
    reply.attempts = 1;
    reply.usage.input_tokens = estimate_tokens(request.system) + estimate_tokens(request.user);
    reply.usage.estimated = true;
    const std::string prompt_name = prompt_file_name(request.index);
    const std::string prompt_path = m_inbox + "/" + prompt_name;
    reply.exchange["request"] = {{"prompt_file", prompt_path}, {"system", request.system}, {"user", request.user}};
    const auto finish = [&](ReplyOutcome outcome, std::string message) {
      end_wait(request.index);
      reply.outcome = outcome;
      reply.message = std::move(message);
      reply.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
      spdlog::debug("Reply received. [index: {}, outcome: {}, elapsed: {}]", request.index,
                    reply_outcome_name(reply.outcome), format_wait(std::chrono::duration_cast<milliseconds>(Clock::now() - start)));
      return reply;
    };

    if (Status written = write_prompt(request.index, util::redact(prompt_file_text(request.system, request.user), m_secrets)); !written)
      return finish(ReplyOutcome::connection_failed, written.failure().message);

    const std::string md = reply_md_name(request.index), py = reply_py_name(request.index);
    Sighting md_seen, py_seen;
    while (true) {
      drain_events();
      Look md_look = look(md, md_seen);
      Look py_look = md_look == Look::absent ? look(py, py_seen) : Look::absent;
      if (md_look == Look::ready || py_look == Look::ready) {
        const bool is_md = md_look == Look::ready;
        const std::string path = m_inbox + "/" + (is_md ? md : py);
        forget_rename(is_md ? md : py);
        auto text = read_text(path, kMaxReply);
        if (!text) return finish(ReplyOutcome::malformed, text.failure().message);
        reply.exchange["response"] = {{"reply_file", path}, {"bytes", text->size()}};
        reply.usage.output_tokens = estimate_tokens(*text);
        if (blank(*text)) return finish(ReplyOutcome::empty, path + " is empty");
        reply.text = is_md ? std::move(*text) : fence_python(*text);
        return finish(ReplyOutcome::ok, "");
      }
      const bool present = md_look != Look::absent || py_look != Look::absent;
      const auto waited = Clock::now() - start;
      if (!m_wait && !present) return finish(ReplyOutcome::pending, "no reply yet: waiting for " + md + " or " + py);
      // Without waiting, a reply being written gets one settle interval to finish.
      if (!m_wait && waited >= m_settle + m_poll)
        return finish(ReplyOutcome::pending, "the reply to " + prompt_name + " is still being written");
      if (m_should_stop && m_should_stop())
        return finish(ReplyOutcome::pending, "stopped while waiting for a reply to " + prompt_name);
      if (m_wait && m_reply_timeout.count() > 0 && waited >= m_reply_timeout)
        return finish(ReplyOutcome::timed_out, "no reply to " + prompt_name + " after " + format_wait(m_reply_timeout));
      begin_wait(request.index, prompt_path);
      report_waiting();
      auto nap = m_poll;
      if (m_wait && m_reply_timeout.count() > 0)
        nap = std::min(nap, std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(m_reply_timeout - waited)));
      std::this_thread::sleep_for(nap);
    }
  }

 private:
  // Writes the prompt unless the same text is already there (a resumed run asks again).
  Status write_prompt(int index, const std::string& text) const {
    const std::string name = prompt_file_name(index);
    const std::string path = m_inbox + "/" + name;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) {
      if (static_cast<size_t>(st.st_size) == text.size()) {
        auto existing = read_text(path, text.size());
        if (existing && *existing == text) return {};
      }
      struct stat reply {};
      const bool answered = stat((m_inbox + "/" + reply_md_name(index)).c_str(), &reply) == 0 ||
                            stat((m_inbox + "/" + reply_py_name(index)).c_str(), &reply) == 0;
      spdlog::warn("Prompt rewritten. [file: {}, reason: it differs from the one already there{}]", path,
                   answered ? "; the reply there answers the earlier text" : "");
    }
    if (Status s = write_atomically(m_inbox, name, text); !s) return s;
    spdlog::debug("Prompt written. [file: {}]", path);
    return {};
  }

  // Is the reply `name` there, and complete? Complete: renamed into place (seen by
  // inotify), or unchanged for the settle interval (by its mtime, or by our own watch).
  Look look(const std::string& name, Sighting& seen) const {
    struct stat st {};
    if (stat((m_inbox + "/" + name).c_str(), &st) != 0) {
      seen = {};
      return Look::absent;
    }
    if (!S_ISREG(st.st_mode) || renamed_into_place(name)) return Look::ready;
    const double settle_s = static_cast<double>(m_settle.count()) / 1000.0;
    if (wall_age_s(st.st_mtim) >= settle_s) return Look::ready;
    const auto now = Clock::now();
    if (!seen.seen || seen.size != st.st_size || seen.inode != st.st_ino || seen.mtime.tv_sec != st.st_mtim.tv_sec ||
        seen.mtime.tv_nsec != st.st_mtim.tv_nsec) {
      seen = {true, st.st_size, st.st_mtim, st.st_ino, now};
      return m_settle.count() <= 0 ? Look::ready : Look::settling;
    }
    return now - seen.since >= m_settle ? Look::ready : Look::settling;
  }

  // Reads pending inotify events: a name moved in is complete until it is written again.
  void drain_events() {
    if (m_inotify < 0) return;
    std::lock_guard<std::mutex> lock(m_events_mutex);
    alignas(inotify_event) char buf[16384];
    while (true) {
      const ssize_t n = read(m_inotify, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
        if (event->mask & IN_Q_OVERFLOW) {
          m_renamed.clear();  // events lost: fall back to the settle interval
          continue;
        }
        if (event->len == 0) continue;
        const std::string name = event->name;
        const bool reply_name = name.size() > 9 && (name.compare(name.size() - 9, 9, ".reply.md") == 0 ||
                                                     name.compare(name.size() - 9, 9, ".reply.py") == 0);
        if (!reply_name) continue;
        if (event->mask & IN_MOVED_TO) {
          m_renamed.insert(name);
        } else {
          m_renamed.erase(name);
        }
      }
    }
  }

  bool renamed_into_place(const std::string& name) const {
    std::lock_guard<std::mutex> lock(m_events_mutex);
    return m_renamed.count(name) != 0;
  }

  void forget_rename(const std::string& name) {
    std::lock_guard<std::mutex> lock(m_events_mutex);
    m_renamed.erase(name);
  }

  void begin_wait(int index, const std::string& prompt_path) {
    std::lock_guard<std::mutex> lock(m_wait_mutex);
    if (m_waiting.emplace(index, prompt_path).second) ++m_generation;
  }

  void end_wait(int index) {
    std::lock_guard<std::mutex> lock(m_wait_mutex);
    if (m_waiting.erase(index)) ++m_generation;
  }

  // Calls on_waiting when the waited-for set changed or status_interval passed; one
  // thread at a time, the others skip (they would report the same).
  void report_waiting() {
    if (!m_on_waiting) return;
    std::unique_lock<std::mutex> reporting(m_report_mutex, std::try_to_lock);
    if (!reporting) return;
    std::vector<PendingPrompt> waiting;
    {
      std::lock_guard<std::mutex> lock(m_wait_mutex);
      const auto now = Clock::now();
      const bool due = m_generation != m_reported_generation || m_last_report == Clock::time_point{} ||
                       now - m_last_report >= m_status_interval;
      if (!due || m_waiting.empty()) return;
      m_reported_generation = m_generation;
      m_last_report = now;
      for (const auto& [index, path] : m_waiting) {
        PendingPrompt p;
        p.index = index;
        p.path = path;
        struct stat st {};
        if (stat(path.c_str(), &st) == 0) p.waited_s = std::max(0.0, wall_age_s(st.st_mtim));
        waiting.push_back(std::move(p));
      }
    }
    m_on_waiting(waiting);
  }

  const std::string m_inbox;
  const std::vector<std::string> m_secrets;
  const std::string m_model;
  const bool m_wait;
  const milliseconds m_reply_timeout;
  const milliseconds m_settle;
  const milliseconds m_poll;
  const milliseconds m_status_interval;
  const std::function<bool()> m_should_stop;
  const std::function<void(const std::vector<PendingPrompt>&)> m_on_waiting;
  int m_inotify = -1;

  mutable std::mutex m_events_mutex;
  std::set<std::string> m_renamed;  // names moved into the inbox and not written since

  std::mutex m_wait_mutex;
  std::map<int, std::string> m_waiting;  // index -> prompt path, requests now waiting
  unsigned long m_generation = 0, m_reported_generation = 0;
  Clock::time_point m_last_report{};
  std::mutex m_report_mutex;
};

}  // namespace

std::unique_ptr<Provider> make_files_provider(const ProviderOptions& options, std::vector<std::string> secrets) {
  return std::make_unique<FilesProvider>(options, std::move(secrets));
}

}  // namespace kopt::providers
