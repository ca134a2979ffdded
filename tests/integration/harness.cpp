#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kopt::testing {

bool on_gpu() {
  const char* device = std::getenv("KOPT_TEST_DEVICE");
  return device && std::string(device) == "cuda";
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
      const ssize_t n = read(fds[k].fd, buf, sizeof buf);
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
  waitpid(pid, &status, 0);
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

}  // namespace kopt::testing
