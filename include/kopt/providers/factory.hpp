#pragma once
// Builds a Provider from command-line options and the environment.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kopt/providers/files.hpp"
#include "kopt/providers/provider.hpp"
#include "kopt/util/result.hpp"

namespace kopt::providers {

struct ProviderOptions {
  std::string kind;      // "openai", "anthropic", "exec" or "files"
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

  // files: prompts written to INBOX/NNNN.prompt.md, replies read from NNNN.reply.{md,py}.
  std::string inbox;                             // required for files; created if missing
  bool wait = true;                              // false: no reply there yet -> `pending` at once
  std::chrono::milliseconds reply_timeout{0};    // wait mode: then `timed_out`; 0: wait forever
  std::chrono::milliseconds settle{2'000};       // a reply written in place counts once unchanged this long
  std::chrono::milliseconds poll_interval{200};  // how often a waiting request looks (and checks should_stop)
  std::chrono::milliseconds status_interval{10'000};  // on_waiting is called at least this often
  // Polled every poll_interval while a request waits, from several threads at once (so it
  // must be thread-safe, e.g. an atomic flag's load): true makes complete() return `pending`.
  std::function<bool()> should_stop;
  // While requests wait: the prompts waited for and for how long. Called from a waiting
  // request's thread, one call at a time, when that set changes and every status_interval.
  std::function<void(const std::vector<PendingPrompt>&)> on_waiting;
};

// `env` holds "NAME=value" entries (sandbox::current_environment() in kopt, a fixed list
// in tests). Failure kind "usage": unknown kind, missing model or command, a missing key
// for the public API, a malformed URL or command, files without an inbox; kind "io": the
// inbox cannot be created.
Result<std::unique_ptr<Provider>> make_provider(const ProviderOptions& options,
                                                const std::vector<std::string>& env);

// The value of `name` in `env`, or empty.
std::string env_value(const std::vector<std::string>& env, const std::string& name);

}  // namespace kopt::providers
