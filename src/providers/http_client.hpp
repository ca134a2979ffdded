#pragma once
// One HTTP POST over libcurl. Private to the providers layer: curl stays in
// http_curl.cpp, and nothing here retries (http_provider.cpp does).
#include <chrono>
#include <optional>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kopt::providers {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string url;
  Headers headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds total_timeout{600'000};
  size_t max_response_bytes = 16 << 20;
  // Polled while the request is in flight (about once a second, and as data comes): true
  // aborts it with TransportError::stopped (Ctrl-C waited for the whole --timeout).
  std::function<bool()> should_stop;
};

enum class TransportError { none, connect_failed, timed_out, closed_early, too_large, stopped, other };

struct HttpResponse {
  TransportError error = TransportError::none;
  std::string error_message;  // for a person, when error != none
  int status = 0;
  Headers headers;  // of the final response, names lower-cased
  std::string body;
  std::optional<double> retry_after_s;  // Retry-After (seconds or an HTTP date)
  double elapsed_s = 0;
};

// POSTs `request`. Thread-safe (one curl handle per call); never throws for network or
// server faults. No redirects are followed (a key must not travel to another host).
HttpResponse http_post(const HttpRequest& request);

}  // namespace kopt::providers
