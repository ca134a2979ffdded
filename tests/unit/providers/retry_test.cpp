#include <gtest/gtest.h>

#include "kopt/providers/retry.hpp"

namespace pv = kopt::providers;
using std::chrono::milliseconds;

namespace {
pv::RetryPolicy policy() { return {3, milliseconds(1000), milliseconds(5000), milliseconds(30000)}; }
}  // namespace

TEST(retry, retries_rate_limits_and_server_errors_only) {
  for (int status : {408, 429, 500, 502, 503, 504, 529}) EXPECT_TRUE(pv::is_retryable_status(status)) << status;
  for (int status : {200, 400, 401, 403, 404, 422, 501}) EXPECT_FALSE(pv::is_retryable_status(status)) << status;
  EXPECT_FALSE(pv::decide_retry(policy(), 1, 400, std::nullopt, 0.5).retry);
}

TEST(retry, backs_off_exponentially_with_jitter_and_a_cap) {
  EXPECT_EQ(pv::decide_retry(policy(), 1, 503, std::nullopt, 0.0).delay, milliseconds(500));
  EXPECT_EQ(pv::decide_retry(policy(), 1, 503, std::nullopt, 1.0).delay, milliseconds(1000));
  EXPECT_EQ(pv::decide_retry(policy(), 2, 503, std::nullopt, 1.0).delay, milliseconds(2000));
  EXPECT_EQ(pv::decide_retry(policy(), 3, 503, std::nullopt, 1.0).delay, milliseconds(4000));
  auto wide = policy();
  wide.max_retries = 10;
  EXPECT_EQ(pv::decide_retry(wide, 8, 503, std::nullopt, 1.0).delay, milliseconds(5000));
}

TEST(retry, stops_after_the_allowed_retries) {
  EXPECT_TRUE(pv::decide_retry(policy(), 3, 500, std::nullopt, 0.5).retry);
  const auto d = pv::decide_retry(policy(), 4, 500, std::nullopt, 0.5);
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.reason, "gave up after 4 attempts");
}

TEST(retry, honours_retry_after_within_the_bound_and_gives_up_beyond_it) {
  auto d = pv::decide_retry(policy(), 1, 429, 7.0, 0.9);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay, milliseconds(7000));  // exactly as asked, even past the backoff cap
  d = pv::decide_retry(policy(), 1, 429, 31.0, 0.9);
  EXPECT_FALSE(d.retry);
  EXPECT_NE(d.reason.find("31 s"), std::string::npos);
  EXPECT_EQ(pv::decide_retry(policy(), 1, 503, 0.0, 0.9).delay, milliseconds(0));
}
