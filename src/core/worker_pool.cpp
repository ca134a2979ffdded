#include "kopt/core/worker_pool.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <climits>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/python.hpp"

namespace kopt::embedded {
// Every harness module with its file name (generated from src/CMakeLists.txt's list).
extern const std::vector<std::pair<const char*, std::string_view>> harness_modules;
}

namespace kopt::core {

namespace {

Result<std::string> read_source(const std::string& path, const std::string& what) {
  struct stat st;
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

}  // namespace

Result<std::unique_ptr<WorkerPool>> WorkerPool::create(const EvalOptions& options) {
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  pool->m_opt = options;
  auto ref = read_source(options.reference, "workload");
  if (!ref) return ref.failure();
  // A baseline run has no candidate.
  Result<std::string> cand = options.candidate.empty() ? Result<std::string>(std::string()) : read_source(options.candidate, "candidate");
  if (!cand) return cand.failure();
  if (options.device != "cpu" && options.device != "cuda")
    return Failure{"input", "unknown device " + options.device + " (cpu or cuda)"};

  auto python = choose_python(options.python);
  if (!python) return python.failure();
  pool->m_python = python->path;
  pool->m_python_source = python->source;

  const std::string parent = options.work_dir.empty() ? sandbox::temp_root() : options.work_dir;
  auto root = sandbox::make_temp_dir(parent, "kopt-eval-");
  if (!root) return root.failure();
  pool->m_root = root.value();
  chmod(pool->m_root.c_str(), 0711);  // others may traverse to their own sandbox, not list
  pool->m_user = sandbox::candidate_user();
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
  if (auto st = sandbox::write_file(pool->m_candidate, cand.value()); !st) return st.failure();
  if (pool->m_user) {
    if (chown(pool->m_candidate.c_str(), pool->m_user->uid, pool->m_user->gid) != 0)
      spdlog::debug("Cannot chown the candidate copy.");
  }
  // The candidate generates its timing inputs with the workload's own get_inputs(); it
  // gets a copy (the user's file may not be readable by the sandbox user).
  pool->m_workload_copy = pool->m_root + "/harness/kopt_workload.py";
  if (auto st = sandbox::write_file(pool->m_workload_copy, ref.value()); !st) return st.failure();
  chmod(pool->m_workload_copy.c_str(), 0644);
  pool->m_secrets = sandbox::secret_values(sandbox::current_environment());
  return pool;
}

WorkerPool::~WorkerPool() { cleanup(); }

std::string WorkerPool::arch_list() const {
  if (m_capability.empty()) return "";
  // e.g. 9.0 -> "9.0a" so builds target the exact device, even while it is busy.
  const bool arch_specific = std::atoi(m_capability.c_str()) >= 9;  // "10.0" too
  return m_capability + (arch_specific ? "a" : "");
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
  const std::string heap = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776";
  vars["GLIBC_TUNABLES"] = heap;
  if (role == "candidate" && !for_timing) {
    // Poison CPU memory at the allocator: glibc fills every block it hands out with 0x7f
    // bytes (3.4e38 as float32), so an output element the candidate never writes cannot
    // inherit a correct value; with every block from the heap, large ones are poisoned
    // too. CUDA memory is poisoned by the harness through the caching allocator.
    vars["GLIBC_TUNABLES"] = heap + ":glibc.malloc.perturb=128";
  }
  sandbox::WorkerSpec spec;
  spec.argv = wrapper;
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
  return env;
}

void WorkerPool::cleanup() {
  if (m_cleaned || m_root.empty()) return;
  m_cleaned = true;
  if (m_opt.keep_work) {
    spdlog::info("Kept the sandbox. [path: {}]", m_root);
    return;
  }
  sandbox::remove_tree(m_root);
}

}  // namespace kopt::core
