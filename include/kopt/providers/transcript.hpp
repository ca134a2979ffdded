#pragma once
// Every request and reply saved as JSON files, one pair per request, redacted:
// DIR/requests/NNNN.request.json and DIR/requests/NNNN.response.json.
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

  std::string request_path(int index) const;
  std::string response_path(int index) const;

 private:
  std::string m_dir;
  std::vector<std::string> m_secrets;
};

// Masks credential headers ("Authorization: Bearer ..." -> "Bearer [REDACTED]",
// x-api-key, api-key, cookie) in a JSON object of header name -> value.
nlohmann::json mask_credential_headers(const nlohmann::json& headers);

}  // namespace kopt::providers
