#include "core/workers/worker_registry.hpp"

#include "kopt/sandbox/procfs.hpp"

namespace kopt::core {

WorkerRegistry& WorkerRegistry::instance() {
  static WorkerRegistry registry;
  return registry;
}

void WorkerRegistry::set(pid_t pid, bool parked) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_workers[pid] = parked;
}

void WorkerRegistry::erase(pid_t pid) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_workers.erase(pid);
}

std::set<pid_t> WorkerRegistry::parked() const {
  std::set<pid_t> pids;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto& [pid, parked] : m_workers)
      if (parked) pids.insert(pid);
  }
  std::set<pid_t> out = pids;
  for (pid_t pid : pids)
    for (pid_t d : sandbox::descendants_of(pid)) out.insert(d);
  return out;
}

}  // namespace kopt::core
