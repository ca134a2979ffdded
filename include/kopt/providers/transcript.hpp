#pragma once
// Every request and reply saved as JSON files, one pair per request, redacted:
// DIR/requests/NNNN.request.json and DIR/requests/NNNN.response.json; extracted
// candidates in DIR/candidates/NNNN/candidate.py; DIR/summary.json.
// POSIX calls, not std::filesystem: a pip libtorch.so in the same binary interposes it.
#include <string>
#include <vector>

#include "kopt/providers/provider.hpp"
#include "kopt/util/result.hpp"

namespace kopt::providers {

class Transcript {
 public:
  // Creates DIR/requests. `secrets` (API keys, secret env values) are replaced by
  // "[REDACTED]" in everything written. Failure kind "io".
  static Result<Transcript> open(const std::string& dir, std::vector<std::string> secrets);

  // Writes the pair for `reply` (its exchange, outcome, usage, cost). Thread-safe (one
  // file pair per index). Failure kind "io".
  Status save(const Reply& reply, const std::string& provider, const std::string& model) const;

  // Writes DIR/candidates/NNNN/candidate.py; returns its path. Failure kind "io".
  Result<std::string> save_candidate(int index, const std::string& code) const;
  // Writes DIR/summary.json, redacted. Failure kind "io".
  Status save_summary(const nlohmann::json& summary) const;

  const std::string& dir() const { return m_dir; }
  std::string request_path(int index) const;
  std::string response_path(int index) const;

 private:
  std::string m_dir;
  std::vector<std::string> m_secrets;
};

// Masks credential headers ("Authorization: Bearer ..." -> "Bearer [REDACTED]",
// x-api-key, api-key, cookie) in a JSON object of header name -> value.
nlohmann::json mask_credential_headers(const nlohmann::json& headers);

// Creates `path` and its missing parents (mode 0755). Failure kind "io".
Status make_directories(const std::string& path);

}  // namespace kopt::providers
