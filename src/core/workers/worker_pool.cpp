#include "kopt/core/worker_pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <climits>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "kopt/measure/target.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/python.hpp"
#include "kopt/util/text.hpp"

namespace kopt::embedded {
// Every harness module with its file name (generated from src/CMakeLists.txt's list).
extern const std::vector<std::pair<const char*, std::string_view>> harness_modules;
}

namespace kopt::core {

namespace {

Result<std::string> read_source(const std::string& path, const std::string& what) {
  struct stat st;
  if (!util::valid_utf8(path))
    return Failure{"input", what + " " + util::strip_control(path) + ": the path is not valid UTF-8 (rename it)"};
  if (stat(path.c_str(), &st) != 0) return Failure{"input", what + " " + path + " does not exist"};
  if (!S_ISREG(st.st_mode)) return Failure{"input", what + " " + path + " is not a regular file"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Failure{"input", what + " " + path + " cannot be read"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The interpreter for a --python value (with KOPT_PYTHON and PATH as they are), found
// and logged once per kopt process: `kopt optimize` creates a pool per candidate.
Result<sandbox::PythonChoice> choose_python(const std::string& flag) {
  static std::mutex mutex;
  static std::map<std::string, sandbox::PythonChoice> chosen;
  const std::string env = getenv_str("KOPT_PYTHON"), path = getenv_str("PATH");
  const std::string key = flag + '\0' + env + '\0' + path;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(key); it != chosen.end()) return it->second;
  auto python = sandbox::find_python(flag, env, path, [](const std::string& p) { return sandbox::probe_python(p); });
  if (!python) return python.failure();
  for (const auto& s : python->skipped) spdlog::info("Python skipped. [{}]", s);
  spdlog::info("Using Python {} (from {}; torch at {}).", python->path, python->source, python->torch_origin);
  chosen[key] = python.value();
  return python;
}

bool is_under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

// Whether the sandbox would take `dir` away (its private /tmp, the empty /run, a hidden
// home): what a worker needs from there is bound read-only again.
bool hidden_in(const sandbox::ConfineSpec& confine, const std::string& dir) {
  if (dir == "/") return false;
  bool hidden = is_under(dir, "/tmp") || is_under(dir, "/run");
  for (const auto& h : confine.hidden) hidden = hidden || is_under(dir, h);
  return hidden;
}

// The candidate runs as another user: every folder above its sandbox must let it pass (a
// --work-dir under a 0700 home would fail each candidate's start as a crash).
std::optional<Failure> unreachable(const sandbox::UserIds& user, const std::string& parent) {
  char real[PATH_MAX];
  for (std::string dir = realpath(parent.c_str(), real) ? real : parent; dir.size() > 1; dir = parent_of(dir)) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) continue;
    const bool passes = (st.st_mode & S_IXOTH) || (st.st_uid == user.uid && (st.st_mode & S_IXUSR)) ||
                        (st.st_gid == user.gid && (st.st_mode & S_IXGRP));
    if (!passes)
      return Failure{"input", "the sandbox user " + user.name + " cannot enter " + dir + " (above the work dir " +
                                  parent + "): choose a --work-dir it can reach, or chmod o+x " + dir};
  }
  return std::nullopt;
}

std::string gib_text(double gib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GiB", gib);
  return buf;
}

}  // namespace

void WorkerPool::plan_isolation(const std::string& torch_origin) {
  using sandbox::Layer;
  const auto& lim = m_opt.limits;
  if (m_user) {
    m_layers.push_back({"user", true, "runs as " + m_user->name + " (uid " + std::to_string(m_user->uid) +
                                          "), supplementary groups dropped"});
  } else {
    m_layers.push_back({"user", false, geteuid() == 0 ? "no unprivileged user to run as (KOPT_SANDBOX_USER, nobody)"
                                                      : "kopt does not run as root: the candidate runs as kopt's own user"});
  }
  m_bwrap = sandbox::probe_bwrap(m_user);
  m_confine.writable = m_root + "/candidate";
  m_confine.tmp = m_root + "/candidate/tmp";
  m_confine.hidden = sandbox::private_homes();
  m_confine.readable = {m_root + "/harness"};
  m_confine.host_pids = m_bwrap.works && !m_bwrap.pid_namespace;
  // The interpreter's prefix (a venv) and torch's folder, where a hidden home or the
  // private /tmp would take them away.
  std::vector<std::string> needed = {parent_of(parent_of(m_python))};
  if (!torch_origin.empty()) needed.push_back(parent_of(parent_of(torch_origin)));
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var); v && *v == '/') needed.push_back(v);
  for (const auto& dir : needed)
    if (hidden_in(m_confine, dir)) m_confine.readable.push_back(dir);
  std::string loosened;
  if (m_bwrap.works && m_opt.device == "cuda") {
    // Some machines' CUDA does not initialize in the standard sandbox (an H200 host:
    // cuInit returned CUDA_ERROR_OPERATING_SYSTEM under a read-only /): kopt finds the
    // least loosened sandbox where it does, or runs candidates without bubblewrap.
    const auto env = sandbox::scrubbed_environment(sandbox::current_environment(), sandbox::sandbox_variables(m_confine.writable));
    auto fit = sandbox::fit_bwrap_to_cuda(m_bwrap.path, m_confine, m_user, m_python, env);
    if (!fit.works) {
      m_bwrap.works = false;
      m_bwrap.why = "CUDA does not initialize under bubblewrap on this machine (" + fit.why + "), so candidates run without it";
    } else if (!fit.loosened.empty()) {
      m_confine = fit.spec;
      loosened = "; loosened for CUDA (" + fit.why + " in the standard sandbox): " + fit.loosened;
    }
  }
  if (m_bwrap.works) {
    std::string hidden;
    for (const auto& h : m_confine.hidden) hidden += (hidden.empty() ? "" : ", ") + h;
    m_layers.push_back({"network", true, "a network namespace of its own (bubblewrap --unshare-net): loopback only"});
    const std::string root = m_confine.writable_root ? "/ writable where its user may write" : "/ read-only";
    const std::string tmp = m_confine.host_tmp ? "the host's /tmp" : "/tmp its own (in its sandbox)";
    m_layers.push_back({"filesystem", !m_confine.writable_root,
                        "bubblewrap: " + root + ", " + tmp + ", /run empty, its sandbox " + m_confine.writable +
                            " writable" + (hidden.empty() ? "" : "; hidden: " + hidden) + loosened});
    const bool own_pids = !m_confine.host_pids && !m_confine.proc_sys_rw;
    m_layers.push_back({"processes", own_pids,
                        own_pids ? "a PID namespace and /proc of its own (bubblewrap --unshare-pid): it sees its own "
                                   "processes only, not kopt's or the user's command lines"
                                 : (m_bwrap.pid_namespace ? "the host's PID namespace" + loosened : m_bwrap.pid_why) +
                                       "; it can read other processes' command lines"});
  } else {
    m_layers.push_back({"network", false, m_bwrap.why});
    m_layers.push_back({"filesystem", false, m_bwrap.why + "; it may write wherever its user may"});
    m_layers.push_back({"processes", false, m_bwrap.why + "; it can read other processes' command lines"});
  }
  // Resource limits, set in the child before exec.
  const uid_t uid = m_user ? m_user->uid : getuid();
  std::string what;
  if (uid != 0) {
    const long nproc = sandbox::tasks_of_user(uid) + lim.process_margin;
    m_limits.push_back({RLIMIT_NPROC, static_cast<rlim_t>(nproc)});
    what = "processes and threads " + std::to_string(nproc) + " for uid " + std::to_string(uid);
  } else {
    what = "processes not limited (root ignores RLIMIT_NPROC)";
  }
  m_limits.push_back({RLIMIT_CORE, 0});
  if (lim.max_file_gib > 0) {
    m_limits.push_back({RLIMIT_FSIZE, static_cast<rlim_t>(lim.max_file_gib * 1073741824.0)});
    what += ", files up to " + gib_text(lim.max_file_gib);
  }
  if (lim.cpu_seconds > 0) {
    m_limits.push_back({RLIMIT_CPU, static_cast<rlim_t>(lim.cpu_seconds)});
    what += ", CPU time " + std::to_string(lim.cpu_seconds) + " s";
  }
  what += ", no core dumps";
  if (m_opt.device == "cpu") {
    double gib = lim.max_memory_gib;
    if (gib <= 0)
      gib = 0.75 * static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1073741824.0;
    m_limits.push_back({RLIMIT_AS, static_cast<rlim_t>(gib * 1073741824.0)});
    what += ", address space " + gib_text(gib);
  } else {
    what += ", address space not limited (CUDA reserves large virtual ranges)";
  }
  m_layers.push_back({"limits", true, what});
  if (m_opt.device != "cuda") {
    m_layers.push_back({"gpu_memory", false, "the device is cpu"});
  } else if (lim.gpu_memory_fraction <= 0) {
    m_layers.push_back({"gpu_memory", false, "turned off (--candidate-gpu-memory 0)"});
  } else {
    m_layers.push_back({"gpu_memory", false, "not confirmed by the candidate's harness yet"});
  }
}

nlohmann::json WorkerPool::isolation() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& layer : m_layers) out[layer.name] = {{"active", layer.active}, {"detail", layer.detail}};
  return out;
}

Result<std::unique_ptr<WorkerPool>> WorkerPool::create(const EvalOptions& options, bool candidate_later) {
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  pool->m_opt = options;
  auto ref = read_source(options.reference, "workload");
  if (!ref) return ref.failure();
  // A baseline run has no candidate; a prestarted one gets it later (set_candidate).
  Result<std::string> cand = options.candidate.empty() ? Result<std::string>(std::string()) : read_source(options.candidate, "candidate");
  if (!cand) return cand.failure();
  if (options.device != "cpu" && options.device != "cuda")
    return Failure{"input", "unknown device " + options.device + " (cpu or cuda)"};

  auto python = choose_python(options.python);
  if (!python) return python.failure();
  pool->m_python = python->path;
  pool->m_python_source = python->source;

  const std::string parent = sandbox::sandbox_parent(options.work_dir);
  pool->m_user = sandbox::candidate_user();
  if (pool->m_user)
    if (auto blocked = unreachable(*pool->m_user, parent)) return *blocked;
  struct stat kept {};
  if (!options.reuse_sandbox.empty() && lstat(options.reuse_sandbox.c_str(), &kept) == 0 && S_ISDIR(kept.st_mode)) {
    // The same candidate's earlier sandbox: its build caches stay, nothing else does.
    sandbox::keep_only_builds(options.reuse_sandbox);
    pool->m_root = options.reuse_sandbox;
    pool->m_reused = true;
  } else {
    auto root = sandbox::make_temp_dir(parent, sandbox::kEvalSandboxPrefix);
    if (!root) return root.failure();
    pool->m_root = root.value();
  }
  chmod(pool->m_root.c_str(), 0711);  // others may traverse to their own sandbox, not list
  const std::string harness_dir = pool->m_root + "/harness";
  mkdir(harness_dir.c_str(), 0755);
  pool->m_harness = harness_dir + "/kopt_worker.py";
  // The entry and its modules side by side: python puts the entry's folder on sys.path.
  for (const auto& [name, text] : embedded::harness_modules)
    if (auto st = sandbox::write_file(harness_dir + "/" + name, std::string(text)); !st) return st.failure();
  for (const char* role : {"reference", "candidate"}) {
    const bool is_cand = std::string(role) == "candidate";
    if (auto st = sandbox::prepare_sandbox(pool->m_root + "/" + role, is_cand ? pool->m_user : std::nullopt); !st)
      return st.failure();
  }
  // The candidate works on its own copy, readable by the sandbox user.
  char resolved[PATH_MAX];
  pool->m_reference = realpath(options.reference.c_str(), resolved) ? resolved : options.reference;
  pool->m_candidate = pool->m_root + "/candidate/candidate.py";
  if (!options.candidate.empty())
    if (auto st = pool->write_candidate(cand.value()); !st) return st.failure();
  // The candidate generates its timing inputs with the workload's own get_inputs(); it
  // gets a copy (the user's file may not be readable by the sandbox user).
  pool->m_workload_copy = pool->m_root + "/harness/kopt_workload.py";
  if (auto st = sandbox::write_file(pool->m_workload_copy, ref.value()); !st) return st.failure();
  chmod(pool->m_workload_copy.c_str(), 0644);
  pool->m_secrets = sandbox::secret_values(sandbox::current_environment());
  if (!options.candidate.empty() || candidate_later) pool->plan_isolation(python->torch_origin);
  return pool;
}

Status WorkerPool::set_candidate(const std::string& path) {
  auto source = read_source(path, "candidate");
  if (!source) return source.failure();
  return write_candidate(source.value());
}

Status WorkerPool::write_candidate(const std::string& source) {
  if (auto st = sandbox::write_file(m_candidate, source); !st) return st.failure();
  m_has_candidate = true;
  if (m_user) {
    if (chown(m_candidate.c_str(), m_user->uid, m_user->gid) != 0) spdlog::debug("Cannot chown the candidate copy.");
  }
  return {};
}

WorkerPool::~WorkerPool() { cleanup(); }

std::string WorkerPool::arch_list() const {
  // Set even while the device is busy, so builds target the exact device.
  return measure::cuda_arch(m_capability);
}

Result<std::unique_ptr<sandbox::Worker>> WorkerPool::start(const std::string& role, bool for_timing,
                                                           const std::vector<std::string>& wrapper) {
  const std::string dir = m_root + "/" + role;
  auto vars = sandbox::sandbox_variables(dir);
  vars["PYTHONNOUSERSITE"] = "1";
  if (!m_capability.empty()) vars["TORCH_CUDA_ARCH_LIST"] = arch_list();
  // Verification moves tensors of hundreds of megabytes; glibc would map each block over
  // 32 MiB afresh and pay a page fault per 4 KiB of it, every trial. Blocks come from the
  // heap instead, and freed ones stay for the next trial: the threshold (1 TiB) is never
  // reached, so the heap is never trimmed. (At 1 GiB, a trial with 256 MB outputs freed
  // 1.5 GiB at its end, gave it back, and faulted it in again.) Every worker gets
  // this, the timed candidate process too: on a CPU the baselines, timed in the
  // reference worker, and the candidate must allocate alike.
  // glibc.malloc.hugetlb=1 (glibc 2.35+, ignored before) asks for transparent huge pages
  // where the kernel grants them on request ("madvise"): a block touched for the first
  // time, as every block the reference maps in a streamed trial (kopt_common.py,
  // large_blocks_mapped) is, faults once per 2 MiB instead of once per 4 KiB (at 256 MiB
  // on the CPU: 129 s of trials instead of 357, docs/benchmarks.md).
  const std::string heap =
      "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776:glibc.malloc.hugetlb=1";
  vars["GLIBC_TUNABLES"] = heap;
  if (role == "candidate" && !for_timing) {
    // Poison CPU memory at the allocator: glibc fills every block it hands out with 0x7f
    // bytes (3.4e38 as float32), so an output element the candidate never writes cannot
    // inherit a correct value; glibc does so for heap blocks and for mapped ones (blocks
    // of 32 MiB and more in streamed calls, kopt_stream.py) alike. CUDA memory is
    // poisoned by the harness through the caching allocator.
    vars["GLIBC_TUNABLES"] = heap + ":glibc.malloc.perturb=128";
  }
  sandbox::WorkerSpec spec;
  if (role == "candidate") {
    spec.limits = m_limits;
    // A candidate's values travel in chunk frames (or as CUDA IPC handles): no frame of
    // its carries more than a chunk, and a forged one claiming gigabytes is refused at its
    // header instead of buffered (an audit's candidate made kopt hold 6.4 GB). The one
    // reply that carries a whole value inline, a timed output on the host path, widens
    // the cap to the reference's output size for that reply (eval_timing.cpp).
    spec.max_payload_bytes = sandbox::kChunkBytes;
    if (m_bwrap.works) {
      // A wrapper (ncu) the sandbox would hide (under /tmp, /run or a home: a checkout's fake
      // ncu under /tmp was "No such file" inside it) is bound read-only for this worker.
      auto confine = m_confine;
      if (!wrapper.empty() && !wrapper[0].empty() && wrapper[0][0] == '/' && hidden_in(confine, parent_of(wrapper[0])))
        confine.readable.push_back(parent_of(wrapper[0]));
      spec.argv = sandbox::bwrap_prefix(m_bwrap.path, confine);
      spec.runs_as_child = true;
    }
  }
  spec.argv.insert(spec.argv.end(), wrapper.begin(), wrapper.end());
  for (const auto& a : {m_python, std::string("-B"), m_harness, std::string("--role"), role, std::string("--device"), m_opt.device})
    spec.argv.push_back(a);
  spec.env = sandbox::scrubbed_environment(sandbox::current_environment(), vars);
  spec.cwd = dir;
  spec.secrets = m_secrets;
  if (role == "candidate" && m_user) {
    spec.uid = m_user->uid;
    spec.gid = m_user->gid;
  }
  return sandbox::Worker::start(spec);
}

nlohmann::json WorkerPool::environment() const {
  nlohmann::json env = {{"python", m_python}, {"python_source", m_python_source},
                        {"device", m_opt.device},
                        {"candidate_user", m_user ? m_user->name : std::string("(kopt's own user)")}};
  if (m_opt.keep_work) env["work_dir"] = m_root;
  if (m_reused) env["reused_builds"] = true;
  return env;
}

void WorkerPool::cleanup() {
  if (m_cleaned || m_root.empty()) return;
  m_cleaned = true;
  if (m_opt.keep_work) {
    spdlog::info("Kept the sandbox. [path: {}]", m_root);
    return;
  }
  if (m_opt.keep_builds && m_has_candidate) {
    sandbox::keep_only_builds(m_root);
    m_kept = m_root;
    return;
  }
  sandbox::remove_tree(m_root);
}

}  // namespace kopt::core
