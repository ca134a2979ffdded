#pragma once
// Starts the reference and candidate workers of one evaluation: finds Python, lays out
// the sandbox (harness, per-worker directories and caches), builds each worker's
// scrubbed environment, and drops the candidate to an unprivileged user under root.
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kopt/core/eval.hpp"
#include "kopt/sandbox/confine.hpp"
#include "kopt/sandbox/isolation.hpp"
#include "kopt/sandbox/worker.hpp"
#include "kopt/util/result.hpp"

namespace kopt::core {

class WorkerPool {
 public:
  // Failure kinds: "input" (missing file), "python" (no usable interpreter), "io".
  // `candidate_later`: a prestarted evaluation, whose candidate set_candidate writes into
  // the sandbox once it is known (options.candidate is empty); without it an empty
  // options.candidate is a baseline run, which has no candidate.
  static Result<std::unique_ptr<WorkerPool>> create(const EvalOptions& options, bool candidate_later = false);
  // Copies the candidate's source into its sandbox (candidate_path()), readable by its user.
  Status set_candidate(const std::string& path);
  ~WorkerPool();

  // role: "reference" or "candidate". Failure kind: "spawn". A candidate started only to be
  // timed (`for_timing`) gets no allocator poisoning: glibc's perturb fills every malloc,
  // which would slow its CPU side against a reference that runs without it.
  // `wrapper`: a command the worker runs under (ncu and its arguments), as the same user.
  Result<std::unique_ptr<sandbox::Worker>> start(const std::string& role, bool for_timing = false,
                                                 const std::vector<std::string>& wrapper = {});
  // The role's own sandbox directory (writable by the worker's user).
  std::string role_dir(const std::string& role) const { return m_root + "/" + role; }

  // The device's compute capability ("9.0"), which sets TORCH_CUDA_ARCH_LIST for builds.
  void set_capability(const std::string& capability) { m_capability = capability; }
  // TORCH_CUDA_ARCH_LIST for the capability ("9.0a"); empty while it is unknown.
  std::string arch_list() const;
  const std::string& reference_path() const { return m_reference; }
  const std::string& candidate_path() const { return m_candidate; }
  // A read-only copy of the workload the candidate may import for its timing inputs.
  const std::string& workload_copy_path() const { return m_workload_copy; }
  nlohmann::json environment() const;
  // The confinement layers candidate workers start under: {name: {active, detail}}.
  // gpu_memory is filled in by the evaluation once the candidate's harness says so.
  nlohmann::json isolation() const;
  // Removes the sandbox (unless the options keep it; with keep_builds, all but the
  // candidate's caches: kept_sandbox()).
  void cleanup();
  // After cleanup: the sandbox kept with the candidate's caches, or "".
  const std::string& kept_sandbox() const { return m_kept; }

 private:
  WorkerPool() = default;
  // The candidate's source into candidate_path(), owned by the sandbox user.
  Status write_candidate(const std::string& source);
  // Chooses the candidate's layers and limits (m_layers, m_limits, m_bwrap, m_confine).
  void plan_isolation(const std::string& torch_origin);
  EvalOptions m_opt;
  std::string m_python, m_python_source;
  std::string m_root, m_harness, m_reference, m_candidate, m_workload_copy;
  std::optional<sandbox::UserIds> m_user;
  sandbox::BwrapProbe m_bwrap;
  sandbox::ConfineSpec m_confine;
  std::vector<sandbox::Layer> m_layers;
  std::vector<sandbox::ResourceLimit> m_limits;
  std::string m_capability;
  std::vector<std::string> m_secrets;
  bool m_cleaned = false;
  bool m_reused = false;  // runs in a sandbox an earlier evaluation kept (options.reuse_sandbox)
  bool m_has_candidate = false;  // a candidate was written: a prestart no candidate took keeps nothing
  std::string m_kept;
};

}  // namespace kopt::core
