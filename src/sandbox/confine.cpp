#include "kopt/sandbox/confine.hpp"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "kopt/sandbox/process.hpp"
#include "kopt/util/text.hpp"

namespace kopt::sandbox {

namespace {

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// $KOPT_BWRAP names the binary (a path that does not exist turns bubblewrap off);
// else the usual places, then PATH.
std::string find_bwrap() {
  if (const char* env = std::getenv("KOPT_BWRAP"); env && *env) return env;
  for (const char* p : {"/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"})
    if (executable(p)) return p;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && dir[0] == '/' && executable(dir + "/bwrap")) return dir + "/bwrap";
  return "";
}

BwrapProbe run_probe(const std::optional<UserIds>& user) {
  BwrapProbe probe;
  probe.path = find_bwrap();
  if (probe.path.empty()) {
    probe.why = "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)";
    return probe;
  }
  if (!executable(probe.path)) {
    probe.why = "bubblewrap at " + probe.path + " cannot be run (KOPT_BWRAP, or apt-get install bubblewrap)";
    return probe;
  }
  SpawnSpec s;
  s.argv = bwrap_prefix(probe.path, {});
  s.argv.push_back("/bin/true");
  s.env = {"PATH=/usr/bin:/bin"};
  s.cwd = "/";
  if (user) {
    s.uid = user->uid;
    s.gid = user->gid;
  }
  auto child = Child::spawn(s);
  if (!child) {
    probe.why = "bubblewrap could not be started: " + child.failure().message;
    return probe;
  }
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::optional<ExitInfo> info;
  char buf[512];
  while (!(info = child->try_wait()) && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = read(child->stderr_fd(), buf, sizeof buf);
    if (n > 0 && err.size() < 2000) err.append(buf, static_cast<size_t>(n));
    usleep(2000);
  }
  if (!info) info = child->terminate(std::chrono::milliseconds(0));
  for (ssize_t n; (n = read(child->stderr_fd(), buf, sizeof buf)) > 0 && err.size() < 2000;)
    err.append(buf, static_cast<size_t>(n));
  if (info->exited && info->code == 0) {
    probe.works = true;
    return probe;
  }
  err = util::strip_control(util::tail_lines(err, 1));
  probe.why = "bubblewrap cannot create namespaces here (" + (err.empty() ? info->describe() : err) +
              "): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
              "user.max_user_namespaces > 0; on Ubuntu an AppArmor profile for bwrap)";
  return probe;
}

}  // namespace

BwrapProbe probe_bwrap(const std::optional<UserIds>& user) {
  static std::mutex mutex;
  static std::map<std::string, BwrapProbe> probed;
  const std::string key = (user ? std::to_string(user->uid) : std::string("self")) + '\0' + find_bwrap();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = probed.find(key); it != probed.end()) return it->second;
  return probed[key] = run_probe(user);
}

std::vector<std::string> bwrap_prefix(const std::string& bwrap, const ConfineSpec& spec) {
  std::vector<std::string> argv = {bwrap, "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/",
                                   "--dev-bind", "/dev", "/dev"};
  // /tmp on disk inside the sandbox, not in memory: a tmpfs would let a candidate fill
  // the host's memory with files (bubblewrap's --size is too new for Ubuntu 22.04).
  if (spec.tmp.empty()) {
    argv.insert(argv.end(), {"--tmpfs", "/tmp"});
  } else {
    argv.insert(argv.end(), {"--bind", spec.tmp, "/tmp"});
  }
  argv.insert(argv.end(), {"--tmpfs", "/run"});  // sockets of system services
  std::vector<std::string> hidden = {"/run"};
  for (const auto& dir : spec.hidden) {
    struct stat st;
    if (stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      argv.insert(argv.end(), {"--tmpfs", dir});
      hidden.push_back(dir);
    }
  }
  // Mounts that come later sit on top: what must stay visible inside a hidden directory
  // (or /tmp) is bound again, the sandbox last and writable.
  for (const auto& dir : spec.readable) argv.insert(argv.end(), {"--ro-bind", dir, dir});
  if (!spec.writable.empty()) argv.insert(argv.end(), {"--bind", spec.writable, spec.writable});
  // A hidden directory stays empty and read-only (the mounts on top of it keep theirs):
  // a write there fails as it would on the host, instead of landing in a throw-away tmpfs.
  for (const auto& dir : hidden) argv.insert(argv.end(), {"--remount-ro", dir});
  return argv;
}

long tasks_of_user(uid_t uid) {
  long tasks = 0;
  DIR* dir = opendir("/proc");
  if (!dir) return 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream status("/proc/" + std::string(entry->d_name) + "/status");
    long real_uid = -1, threads = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) == 0) real_uid = std::atol(line.c_str() + 4);
      if (line.rfind("Threads:", 0) == 0) threads = std::atol(line.c_str() + 8);
    }
    if (real_uid == static_cast<long>(uid)) tasks += threads;
  }
  closedir(dir);
  return tasks;
}

std::vector<std::string> private_homes() {
  std::vector<std::string> homes;
  auto add = [&](const std::string& dir) {
    char resolved[PATH_MAX];
    if (dir.empty() || !realpath(dir.c_str(), resolved)) return;
    const std::string real = resolved;
    if (real == "/") return;
    for (const auto& h : homes)
      if (h == real) return;
    homes.push_back(real);
  };
  if (const char* home = std::getenv("HOME")) add(home);
  if (const passwd* pw = getpwuid(getuid())) add(pw->pw_dir);
  return homes;
}

}  // namespace kopt::sandbox
