#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace kopt::testing {

bool on_gpu() {
  const char* device = std::getenv("KOPT_TEST_DEVICE");
  return device && std::string(device) == "cuda";
}

bool can_make_memory_cgroup() {
  const std::string probe = "/sys/fs/cgroup/memory/kopt-test-probe-" + std::to_string(getpid());
  if (mkdir(probe.c_str(), 0755) != 0) return false;
  const bool limits = access((probe + "/memory.limit_in_bytes").c_str(), W_OK) == 0;
  rmdir(probe.c_str());
  return limits;
}

void remove_test_cgroups() {
  const std::string root = "/sys/fs/cgroup/memory";
  DIR* dir = opendir(root.c_str());
  if (!dir) return;
  while (const dirent* entry = readdir(dir))
    if (std::string(entry->d_name).rfind("kopt-test-oom-", 0) == 0) rmdir((root + "/" + entry->d_name).c_str());
  closedir(dir);
}

std::string test_python() {
  const char* named = std::getenv("KOPT_TEST_PYTHON");
  return named && *named ? named : "/usr/bin/python3";
}

std::string test_bwrap() {
  const char* named = std::getenv("KOPT_BWRAP");
  return named && *named ? named : "/usr/bin/bwrap";
}

std::string case_path(const std::string& name) { return std::string(KOPT_CASES_DIR) + "/" + name; }

KoptRun run_kopt(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv_s = {KOPT_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (!env.count(name)) env_s.push_back(entry);
  }
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return {};
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    close(out[0]); close(err[0]); close(out[1]); close(err[1]);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  KoptRun run;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int k = 0; k < 2; ++k) {
      if (fds[k].fd < 0 || !fds[k].revents) continue;
      const ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
      if (n > 0) {
        (k == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[k].fd);
        fds[k].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  run.max_rss_kb = usage.ru_maxrss;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  try {
    run.json = nlohmann::json::parse(run.out);
  } catch (...) {
    run.json = nullptr;
  }
  return run;
}

KoptRun eval_case(const std::string& workload, const std::string& candidate,
                  const std::vector<std::string>& extra, const std::map<std::string, std::string>& env) {
  std::vector<std::string> args = {"eval", case_path(workload), case_path(candidate), "--json"};
  if (on_gpu()) {
    args.push_back("--device");
    args.push_back("cuda");
  }
  // Verification cases are not timed unless a test asks (--time): timing has its own tests.
  if (std::find(extra.begin(), extra.end(), "--time") == extra.end()) {
    args.push_back("--time");
    args.push_back("none");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return run_kopt(args, env);
}

bool process_running(const std::string& needle) {
  DIR* dir = opendir("/proc");
  if (!dir) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string cmd = ss.str();
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) found = true;
  }
  closedir(dir);
  return found;
}

std::string context(const KoptRun& run) { return "stdout:\n" + run.out + "\nstderr:\n" + run.err; }

std::string temp_dir(const std::string& prefix) {
  std::string pattern = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) + "/" +
                        prefix + "-XXXXXX";
  return mkdtemp(pattern.data()) ? pattern : "";
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void copy_file(const std::string& from, const std::string& to) { std::ofstream(to) << read(from); }

std::string honest_replay(const std::string& dir, int count) {
  const std::string from = dir + "/replay";
  mkdir(from.c_str(), 0755);
  for (int i = 1; i <= count; ++i) copy_file(case_path("c_elementwise_honest.py"), from + "/" + std::to_string(i) + ".py");
  return from;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read(path));
  } catch (...) {
    return nullptr;
  }
}

bool wait_for(const std::string& path, double seconds, int poll_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return exists(path);
}

bool wait_for_text(const std::string& path, const std::string& text, double seconds, int poll_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (read(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return read(path).find(text) != std::string::npos;
}

pid_t start_kopt(const std::vector<std::string>& args, const std::string& dir, const std::string& cwd) {
  std::vector<std::string> argv_s = {KOPT_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open((dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::map<int, nlohmann::json> records(const std::string& run_dir) {
  std::map<int, nlohmann::json> out;
  for (int id = 1; id < 100; ++id) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d", id);
    const auto j = read_json(run_dir + "/candidates/" + name + "/record.json");
    if (j.is_object()) out[id] = j;
  }
  return out;
}

}  // namespace kopt::testing
