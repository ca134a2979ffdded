#pragma once
// The GPU's two uses (DESIGN.md, "Timing"): shared (verification calls, several
// candidates at once) and exclusive (timing and baseline compilation, nothing else of
// kopt's on the device). A reader-writer gate that prefers the exclusive side, so a
// stream of verifications never starves a measurement. Thread-safe.
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace kopt::core {

class GpuGate {
 public:
  void lock() {  // exclusive
    std::unique_lock<std::mutex> l(m_mutex);
    ++m_waiting;
    m_cv.wait(l, [this] { return !m_exclusive && m_shared == 0; });
    --m_waiting;
    m_exclusive = true;
  }
  void unlock() {
    { std::lock_guard<std::mutex> l(m_mutex); m_exclusive = false; }
    m_cv.notify_all();
  }
  void lock_shared() {
    std::unique_lock<std::mutex> l(m_mutex);
    m_cv.wait(l, [this] { return !m_exclusive && m_waiting == 0; });
    ++m_shared;
  }
  // Shared use unless timing runs or waits to run.
  bool try_lock_shared() {
    std::lock_guard<std::mutex> l(m_mutex);
    if (m_exclusive || m_waiting > 0) return false;
    ++m_shared;
    return true;
  }
  void unlock_shared() {
    bool last;
    { std::lock_guard<std::mutex> l(m_mutex); last = --m_shared == 0; }
    if (last) m_cv.notify_all();
  }

  // Residency: held by one evaluation (or baseline) from its first verification call until
  // its workers are gone, where several workloads share the GPU (kopt optimize
  // --workloads-at-once): their builds and start-ups overlap, but only one holds inputs,
  // outputs and timing batches in device memory. Four side by side on an H100 had held
  // 81 GiB between them and failed candidates with CUDA out of memory. Taken before the
  // gate, never while holding it.
  std::mutex& residency() { return m_residency; }

 private:
  std::mutex m_residency;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  int m_shared = 0;
  int m_waiting = 0;
  bool m_exclusive = false;
};

// The gate's shared side for GPU work that is not timing (a worker's start-up, a
// verification trial, a profile), on CUDA only; an empty lock without a gate or off CUDA.
inline std::shared_lock<GpuGate> share_gpu(GpuGate* gate, const std::string& device) {
  if (!gate || device != "cuda") return {};
  return std::shared_lock<GpuGate>(*gate);
}

// The gate's residency where `resident` asks for it, on CUDA only; an empty lock otherwise.
inline std::unique_lock<std::mutex> hold_residency(GpuGate* gate, bool resident, const std::string& device) {
  if (!gate || !resident || device != "cuda") return {};
  return std::unique_lock<std::mutex>(gate->residency());
}

}  // namespace kopt::core
