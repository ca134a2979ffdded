// The GPU gate: verification shares, timing excludes, and waiting timing goes first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "kopt/core/gpu_gate.hpp"

using kopt::core::GpuGate;

namespace {

// Polls `pred` for up to two seconds.
template <typename Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

}  // namespace

TEST(gpu_gate, several_verifications_share_the_gpu) {
  GpuGate gate;
  gate.lock_shared();
  EXPECT_TRUE(gate.try_lock_shared());
  gate.unlock_shared();
  gate.unlock_shared();
}

TEST(gpu_gate, timing_excludes_verification_until_it_ends) {
  GpuGate gate;
  gate.lock();
  EXPECT_FALSE(gate.try_lock_shared());
  gate.unlock();
  EXPECT_TRUE(gate.try_lock_shared());
  gate.unlock_shared();
}

TEST(gpu_gate, waiting_timing_goes_before_new_verifications) {
  GpuGate gate;
  gate.lock_shared();
  std::atomic<bool> timed{false};
  std::thread timer([&] {
    gate.lock();
    timed = true;
    gate.unlock();
  });
  // While the timer waits for the running verification, no new one may start.
  EXPECT_TRUE(eventually([&] {
    if (gate.try_lock_shared()) {
      gate.unlock_shared();
      return false;
    }
    return true;
  }));
  EXPECT_FALSE(timed.load());
  gate.unlock_shared();
  timer.join();
  EXPECT_TRUE(timed.load());
  EXPECT_TRUE(gate.try_lock_shared());
  gate.unlock_shared();
}
