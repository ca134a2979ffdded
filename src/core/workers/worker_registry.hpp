#pragma once
// kopt's own workers, process-wide (internal to core). `kopt optimize -j N` runs several
// evaluations in threads of one kopt; when one of them times, the others' workers are on
// the GPU too (each holds a CUDA context). The timing's contention check must not take
// them for strangers while they are parked: started and not in a phase that may use the
// GPU outside the GPU gate (start-up, import or build, construction). Thread-safe.
#include <sys/types.h>

#include <map>
#include <mutex>
#include <set>

namespace kopt::core {

class WorkerRegistry {
 public:
  static WorkerRegistry& instance();
  // `parked`: false while the worker starts, imports, builds or constructs its model.
  void set(pid_t pid, bool parked);
  void erase(pid_t pid);
  // The parked workers and their descendants (compile workers a candidate started).
  std::set<pid_t> parked() const;

 private:
  mutable std::mutex m_mutex;
  std::map<pid_t, bool> m_workers;
};

}  // namespace kopt::core
