#pragma once
// Builds a Provider from command-line options and the environment.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kopt/providers/provider.hpp"
#include "kopt/util/result.hpp"

namespace kopt::providers {

struct ProviderOptions {
  std::string kind;      // "openai", "anthropic" or "exec"
  std::string model;     // required for openai/anthropic; passed to exec as KOPT_MODEL
  std::string base_url;  // empty: OPENAI_BASE_URL / ANTHROPIC_BASE_URL, then the public API
  std::string command;   // exec: "PROGRAM ARGS...", split with shell-like quoting, no shell
  std::optional<double> temperature;  // unset: the server's default (not sent)
  int max_output_tokens = 8192;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds timeout{600'000};  // one HTTP attempt, or the exec deadline
  int max_retries = 4;                          // for 429 and 5xx
  std::chrono::milliseconds backoff_base{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  std::chrono::milliseconds max_retry_after{120'000};  // longer Retry-After: give up
};

// `env` holds "NAME=value" entries (sandbox::current_environment() in kopt, a fixed list
// in tests). Failure kind "usage": unknown kind, missing model or command, a missing key
// for the public API, a malformed URL or command.
Result<std::unique_ptr<Provider>> make_provider(const ProviderOptions& options,
                                                const std::vector<std::string>& env);

// The value of `name` in `env`, or empty.
std::string env_value(const std::vector<std::string>& env, const std::string& name);

}  // namespace kopt::providers
