#include "kopt/sandbox/python.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <sstream>

#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/process.hpp"
#include "kopt/util/text.hpp"

namespace kopt::sandbox {

bool executable_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

Result<std::string> probe_python(const std::string& path, int timeout_seconds) {
  if (!executable_file(path)) return Failure{"python", path + " is not an executable file"};
  SpawnSpec spec;
  // find_spec, not import: importing torch costs about a second; the workers report
  // its version (and any import failure) themselves.
  spec.argv = {path, "-c",
               "import importlib.util as u, sys\n"
               "s = u.find_spec('torch')\n"
               "sys.stdout.write(s.origin if s and s.origin else '') if s else sys.exit('No module named torch')"};
  spec.env = scrubbed_environment(current_environment(), {});
  auto child = Child::spawn(spec);
  if (!child) return Failure{"python", child.failure().message};
  std::string out, err;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (child->stdout_fd() >= 0 || child->stderr_fd() >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      child->terminate(std::chrono::milliseconds(0));
      return Failure{"python", path + ": importing torch took over " + std::to_string(timeout_seconds) + " s"};
    }
    pollfd fds[2] = {{child->stdout_fd(), POLLIN, 0}, {child->stderr_fd(), POLLIN, 0}};
    if (poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 200))) <= 0) continue;
    char buf[4096];
    for (int k = 0; k < 2; ++k) {
      const int fd = k == 0 ? child->stdout_fd() : child->stderr_fd();
      if (fd < 0 || !fds[k].revents) continue;
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        std::string& dst = k == 0 ? out : err;
        if (dst.size() < 65536) dst.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        if (k == 0) child->close_stdout(); else child->close_stderr();
      }
    }
  }
  const auto info = child->wait_for(std::chrono::seconds(5));
  if (!info || !info->exited || info->code != 0 || out.empty()) {
    std::string why = util::tail_lines(util::strip_control(err), 1);
    if (why.empty()) why = info ? info->describe() : "did not exit";
    return Failure{"python", path + " cannot import torch (" + why + ")"};
  }
  return out;
}

Result<PythonChoice> find_python(
    const std::string& flag, const std::string& env_value, const std::string& path_env,
    const std::function<Result<std::string>(const std::string&)>& probe) {
  auto chosen = [&](const std::string& path, const std::string& source) -> Result<PythonChoice> {
    auto version = probe(path);
    if (!version) return Failure{"python", "the interpreter from " + source + " is unusable: " + version.failure().message};
    return PythonChoice{path, version.value(), source, {}};
  };
  if (!flag.empty()) return chosen(flag, "--python");
  if (!env_value.empty()) return chosen(env_value, "KOPT_PYTHON");

  std::vector<std::string> skipped;
  std::vector<std::string> candidates;
  std::stringstream dirs(path_env);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string path = dir + "/python3";
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0)
      candidates.push_back(path);
  }
  candidates.push_back("/usr/bin/python3");
  std::vector<std::string> tried;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string& path = candidates[i];
    char resolved[4096];
    const std::string real = realpath(path.c_str(), resolved) ? resolved : path;
    bool seen = false;
    for (const auto& t : tried) seen = seen || t == real;
    if (seen) continue;
    tried.push_back(real);
    auto version = probe(path);
    if (version) {
      return PythonChoice{path, version.value(), i + 1 == candidates.size() ? "/usr/bin/python3" : "PATH", skipped};
    }
    skipped.push_back(version.failure().message);
  }
  std::string message = "no python3 that can import torch was found (install python3-torch, or name one with --python or KOPT_PYTHON)";
  for (const auto& s : skipped) message += "; " + s;
  return Failure{"python", message};
}

}  // namespace kopt::sandbox
