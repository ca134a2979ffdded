// kopt's own workers as the timing's contention check sees them (src/core/workers/worker_registry.cpp).
#include "core/workers/worker_registry.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using kopt::core::WorkerRegistry;

TEST(worker_registry, only_parked_workers_are_reported) {
  auto& r = WorkerRegistry::instance();
  const pid_t self = getpid();
  r.set(self, false);  // starting, importing or building: may use the GPU outside the gate
  EXPECT_EQ(r.parked().count(self), 0u);
  r.set(self, true);
  EXPECT_EQ(r.parked().count(self), 1u);
  r.erase(self);
  EXPECT_EQ(r.parked().count(self), 0u);
}

TEST(worker_registry, a_parked_workers_descendants_are_its_own) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto& r = WorkerRegistry::instance();
  r.set(getpid(), true);
  const auto parked = r.parked();
  r.erase(getpid());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(parked.count(child), 1u) << "a compile worker a parked candidate started is not a stranger";
}
