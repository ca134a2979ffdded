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

// Residency (--workloads-at-once on CUDA): one evaluation holds device memory at a time, a
// second waits for the first to let go; the gate's shared and exclusive sides still work
// meanwhile (a resident evaluation verifies and times under them), and without the
// option, without a gate or off CUDA nothing is held.
TEST(gpu_gate, one_evaluation_is_resident_at_a_time_where_asked) {
  using kopt::core::hold_residency;
  GpuGate gate;
  auto first = hold_residency(&gate, true, "cuda");
  ASSERT_TRUE(first.owns_lock());
  EXPECT_FALSE(gate.residency().try_lock()) << "a second evaluation waits";
  EXPECT_TRUE(gate.try_lock_shared()) << "the resident one still verifies under the shared side";
  gate.unlock_shared();
  EXPECT_FALSE(hold_residency(&gate, false, "cuda").owns_lock());
  EXPECT_FALSE(hold_residency(&gate, true, "cpu").owns_lock());
  EXPECT_FALSE(hold_residency(nullptr, true, "cuda").owns_lock());
  std::atomic<bool> second{false};
  std::thread waiter([&] {
    auto lock = hold_residency(&gate, true, "cuda");
    second = lock.owns_lock();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(second.load()) << "not while the first is resident";
  first.unlock();
  waiter.join();
  EXPECT_TRUE(second.load());
}
