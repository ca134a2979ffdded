#include "kopt/providers/retry.hpp"

#include <algorithm>
#include <cmath>

namespace kopt::providers {

bool is_retryable_status(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504 || status == 529;
}

RetryDecision decide_retry(const RetryPolicy& policy, int attempts_made, int status,
                           std::optional<double> retry_after_s, double jitter01) {
  using std::chrono::milliseconds;
  RetryDecision d;
  if (!is_retryable_status(status)) {
    d.reason = "HTTP " + std::to_string(status) + " is not retried";
    return d;
  }
  if (attempts_made > policy.max_retries) {
    d.reason = "gave up after " + std::to_string(attempts_made) + " attempts";
    return d;
  }
  if (retry_after_s && *retry_after_s >= 0 && std::isfinite(*retry_after_s)) {
    // Compared in seconds first: a huge value overflowed the milliseconds (a negative delay).
    if (*retry_after_s * 1000.0 > static_cast<double>(policy.max_retry_after.count())) {
      d.reason = "the server asked to retry after " + std::to_string(static_cast<long long>(*retry_after_s)) +
                 " s, beyond the " + std::to_string(policy.max_retry_after.count() / 1000) + " s bound";
      return d;
    }
    d.retry = true;
    d.delay = milliseconds(static_cast<long long>(std::ceil(*retry_after_s * 1000.0)));
    d.reason = "Retry-After";
    return d;
  }
  // Exponential backoff: base * 2^(attempt-1), capped, with jitter in [50%, 100%).
  const double factor = std::pow(2.0, std::min(attempts_made - 1, 30));
  const double backoff = std::min(static_cast<double>(policy.max.count()), policy.base.count() * factor);
  const double jitter = std::clamp(jitter01, 0.0, 1.0);
  d.retry = true;
  d.delay = milliseconds(static_cast<long long>(backoff * (0.5 + jitter / 2)));
  d.reason = "backoff";
  return d;
}

}  // namespace kopt::providers
