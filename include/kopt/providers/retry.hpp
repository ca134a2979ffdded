#pragma once
// When to try an HTTP request again: 429 and 5xx, with exponential backoff and jitter,
// honouring Retry-After up to a bound. Pure functions, so tests need no server.
#include <chrono>
#include <optional>
#include <string>

namespace kopt::providers {

struct RetryPolicy {
  int max_retries = 4;                        // retries after the first attempt
  std::chrono::milliseconds base{1'000};      // first backoff
  std::chrono::milliseconds max{60'000};      // cap on one backoff
  std::chrono::milliseconds max_retry_after{120'000};  // longer Retry-After: give up
};

struct RetryDecision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
  std::string reason;  // why not (for the message), or what the delay came from
};

// True for statuses worth retrying: 408, 429, 500, 502, 503, 504, 529 (Anthropic overload).
bool is_retryable_status(int status);

// Whether to retry after attempt number `attempts_made` (1 = the first) ended with
// `status`. `retry_after_s` is the server's Retry-After, if any; `jitter01` in [0, 1)
// spreads backoffs (delay = backoff * (0.5 + jitter01 / 2)).
RetryDecision decide_retry(const RetryPolicy& policy, int attempts_made, int status,
                           std::optional<double> retry_after_s, double jitter01);

}  // namespace kopt::providers
