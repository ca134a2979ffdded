#include "cmd_doctor.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "kopt/measure/ncu.hpp"
#include "kopt/sandbox/confine.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/isolation.hpp"
#include "kopt/sandbox/process.hpp"
#include "kopt/sandbox/python.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::cli {

namespace {

// One line of the report. `needed`: kopt cannot run its main job without it.
struct Check {
  std::string name;
  std::string status;  // ok | missing | warning | info
  std::string detail;
  std::string fix;     // empty when nothing to do
  bool needed = false;
};

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

std::string on_path(const std::string& name) {
  std::stringstream dirs(getenv_str("PATH"));
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && executable(dir + "/" + name)) return dir + "/" + name;
  return "";
}

// What torch says about itself and the GPU, from the chosen interpreter (JSON on one line).
const char* k_torch_probe = R"(import json, os, sys
info = {"python": sys.version.split()[0]}
try:
    import torch
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    info["cuda_available"] = bool(torch.cuda.is_available())
    if info["cuda_available"]:
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = p.name
        info["gpus"] = torch.cuda.device_count()
        info["capability"] = "%d.%d" % (p.major, p.minor)
    from torch.utils import cpp_extension
    inc = cpp_extension.include_paths()
    info["pybind11_headers"] = any(os.path.exists(os.path.join(d, "pybind11", "pybind11.h")) for d in inc + ["/usr/include", "/usr/local/include"])
    import sysconfig
    info["python_headers"] = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
    info["cuda_home"] = cpp_extension.CUDA_HOME or ""
except Exception as exc:
    info["error"] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(info))
)";

nlohmann::json torch_facts(const std::string& python) {
  sandbox::SpawnSpec spec;
  spec.argv = {python, "-c", k_torch_probe};
  spec.env = sandbox::scrubbed_environment(sandbox::current_environment(), {});
  auto got = sandbox::run_captured(spec, std::chrono::seconds(180));
  if (!got) return {{"error", got.failure().message}};
  try {
    return nlohmann::json::parse(got->out);
  } catch (const std::exception&) {
    const std::string why = util::strip_control(util::tail_lines(got->err, 1));
    return {{"error", why.empty() ? got->exit.describe() : why}};
  }
}

void python_checks(const DoctorCommand& cmd, std::vector<Check>& checks, nlohmann::json& facts) {
  auto python = sandbox::find_python(cmd.python, getenv_str("KOPT_PYTHON"), getenv_str("PATH"),
                                     [](const std::string& p) { return sandbox::probe_python(p); });
  if (!python) {
    checks.push_back({"python", "missing", python.failure().message,
                      "apt-get install python3-torch (or --python / KOPT_PYTHON naming an interpreter with torch)", true});
    return;
  }
  facts = torch_facts(python->path);
  if (facts.contains("error")) {
    checks.push_back({"python", "missing", python->path + ": " + facts["error"].get<std::string>(),
                      "reinstall torch for " + python->path, true});
    return;
  }
  checks.push_back({"python", "ok", python->path + " (from " + python->source + "), Python " +
                                        facts.value("python", "") + ", torch " + facts.value("torch", ""), "", true});
  if (facts.value("cuda_available", false)) {
    checks.push_back({"cuda", "ok", facts.value("gpu", "") + " (compute capability " + facts.value("capability", "") +
                                        ", " + std::to_string(facts.value("gpus", 0)) + " device(s)), torch built for CUDA " +
                                        facts.value("torch_cuda", std::string("?")), ""});
  } else if (facts["torch_cuda"].is_null()) {
    checks.push_back({"cuda", "warning", "torch " + facts.value("torch", "") + " is a CPU-only build: --device cpu only",
                      "install a CUDA build of torch (pip install torch) for --device cuda"});
  } else {
    checks.push_back({"cuda", "warning", "torch is built for CUDA " + facts.value("torch_cuda", "") + " but sees no GPU",
                      "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES"});
  }
  const bool pybind = facts.value("pybind11_headers", false), headers = facts.value("python_headers", false);
  checks.push_back({"pybind11", pybind && headers ? "ok" : "warning",
                    std::string(pybind ? "pybind11 headers found" : "no pybind11 headers") +
                        (headers ? ", Python.h found" : ", no Python.h") + " (load_inline builds need both)",
                    pybind && headers ? "" : "apt-get install pybind11-dev python3-dev"});
}

void tool_checks(const nlohmann::json& facts, std::vector<Check>& checks) {
  const std::string cxx = executable("/usr/bin/c++") ? "/usr/bin/c++" : on_path("c++");
  const std::string ninja = on_path("ninja");
  checks.push_back({"c++ and ninja", !cxx.empty() && !ninja.empty() ? "ok" : "warning",
                    (cxx.empty() ? "no c++" : cxx) + ", " + (ninja.empty() ? "no ninja" : ninja) + " (load_inline builds)",
                    !cxx.empty() && !ninja.empty() ? "" : "apt-get install g++ ninja-build"});
  std::string nvcc = on_path("nvcc");
  const std::string cuda_home = facts.value("cuda_home", getenv_str("CUDA_HOME"));
  if (nvcc.empty() && !cuda_home.empty() && executable(cuda_home + "/bin/nvcc")) nvcc = cuda_home + "/bin/nvcc";
  if (nvcc.empty() && executable("/usr/local/cuda/bin/nvcc")) nvcc = "/usr/local/cuda/bin/nvcc";
  checks.push_back({"nvcc", nvcc.empty() ? "warning" : "ok",
                    nvcc.empty() ? "no nvcc: CUDA load_inline candidates cannot build" : nvcc,
                    nvcc.empty() ? "install the CUDA toolkit (apt-get install nvidia-cuda-toolkit) or set CUDA_HOME" : ""});
  const auto ncu = measure::find_ncu("", getenv_str("KOPT_NCU"), getenv_str("PATH"));
  checks.push_back({"ncu", ncu ? "ok" : "warning", ncu ? *ncu : "no Nsight Compute: --ncu is unavailable",
                    ncu ? "" : "install Nsight Compute and put ncu on PATH (or KOPT_NCU)"});
}

void isolation_checks(std::vector<Check>& checks) {
  // Every evaluation makes its sandbox there (--work-dir's default).
  const std::string root = sandbox::temp_root();
  if (auto made = sandbox::make_temp_dir(root, "kopt-doctor-")) {
    ::rmdir(made->c_str());
    checks.push_back({"work folder", "ok", root + " (sandboxes are made there; --work-dir chooses another)", ""});
  } else {
    checks.push_back({"work folder", "missing", made.failure().message,
                      "set TMPDIR to a writable folder, or give kopt eval / optimize --work-dir", true});
  }
  const auto user = sandbox::candidate_user();
  if (user) {
    checks.push_back({"isolation: user", "ok", "candidates run as " + user->name + " (uid " + std::to_string(user->uid) + ")", ""});
  } else if (geteuid() == 0) {
    checks.push_back({"isolation: user", "warning", "kopt runs as root but has no unprivileged user for candidates",
                      "create the user nobody, or name one in KOPT_SANDBOX_USER"});
  } else {
    checks.push_back({"isolation: user", "info", "kopt runs as an ordinary user: candidates run as that user", ""});
  }
  const auto bwrap = sandbox::probe_bwrap(user);
  const std::string fix = bwrap.path.empty() || !executable(bwrap.path) ? "apt-get install bubblewrap"
                          : "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)";
  if (bwrap.works) {
    checks.push_back({"isolation: network", "ok", "bubblewrap (" + bwrap.path + ") made a network namespace", ""});
    checks.push_back({"isolation: filesystem", "ok", "bubblewrap: / read-only, home hidden, only the sandbox (and /dev/shm) writable", ""});
    if (bwrap.pid_namespace)
      checks.push_back({"isolation: processes", "ok", "bubblewrap made a PID namespace with a /proc of its own", ""});
    else
      checks.push_back({"isolation: processes", "warning", bwrap.pid_why + ": candidates can read other processes' command lines",
                        "run kopt outside a container that masks /proc, or keep keys out of command lines"});
  } else {
    checks.push_back({"isolation: network", "warning", bwrap.why, fix});
    checks.push_back({"isolation: filesystem", "warning", bwrap.why, fix});
    checks.push_back({"isolation: processes", "warning", bwrap.why, fix});
  }
  // Limits are set in the child before exec: tried here on a real child.
  sandbox::SpawnSpec spec;
  spec.argv = {"/bin/true"};
  spec.limits = {{RLIMIT_CORE, 0}, {RLIMIT_FSIZE, 1u << 30}, {RLIMIT_CPU, 60}};
  auto got = sandbox::run_captured(spec, std::chrono::seconds(10));
  const bool limits = got && got->exit.exited && got->exit.code == 0;
  checks.push_back({"isolation: limits", limits ? "ok" : "warning",
                    limits ? "processes, file size, CPU time, core dumps; address space on cpu"
                           : "setrlimit failed in a child: " + (got ? got->exit.describe() : got.failure().message),
                    limits ? "" : "check the hard limits (ulimit -H -a)"});
  checks.push_back({"isolation: gpu_memory", "info",
                    "on cuda, a candidate's torch allocator is capped at --candidate-gpu-memory of the device (a tripwire)", ""});
}

void provider_checks(std::vector<Check>& checks) {
  for (const char* key : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}) {
    const bool set = !getenv_str(key).empty();
    checks.push_back({std::string("provider: ") + key, set ? "ok" : "info",
                      set ? "set (value not shown)" : "not set: only needed for that provider (builtin and replay run offline)",
                      ""});
  }
}

}  // namespace

CLI::App* add_doctor_command(CLI::App& app, DoctorCommand& cmd) {
  auto* sub = app.add_subcommand("doctor", "Check this machine: Python and torch, CUDA, build tools, ncu, isolation, providers");
  sub->add_flag("--json", cmd.json, "Print one JSON document on stdout");
  return sub;
}

int run_doctor(const DoctorCommand& cmd) {
  std::vector<Check> checks;
  nlohmann::json facts = nlohmann::json::object();
  python_checks(cmd, checks, facts);
  tool_checks(facts, checks);
  isolation_checks(checks);
  provider_checks(checks);
  bool ok = true;
  for (const auto& c : checks) ok = ok && !(c.needed && c.status == "missing");
  if (cmd.json) {
    nlohmann::json out = {{"ok", ok}, {"checks", nlohmann::json::array()}};
    for (const auto& c : checks)
      out["checks"].push_back({{"name", c.name}, {"status", c.status}, {"detail", c.detail}, {"fix", c.fix}, {"needed", c.needed}});
    std::cout << util::dump_json(out, 2) << std::endl;
  } else {
    for (const auto& c : checks) {
      std::cout << (c.status == "ok" ? "ok      " : c.status == "info" ? "info    " : c.status == "missing" ? "MISSING " : "warning ")
                << c.name << ": " << c.detail << "\n";
      if (!c.fix.empty()) std::cout << "        fix: " << c.fix << "\n";
    }
    std::cout << (ok ? "kopt can run here." : "kopt cannot run here: fix what is MISSING.") << std::endl;
  }
  return ok ? 0 : 1;
}

}  // namespace kopt::cli
