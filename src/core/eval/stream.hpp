#pragma once
// Streamed values on the host path (internal to core): a header frame whose value trees
// carry no bytes, then each tensor's bytes in chunk frames of at most kChunkBytes, in the
// order the tensors appear. No frame grows with the output (docs/ARCHITECTURE.md, "Worker
// protocol"); kopt keeps what it must read again in memory within the Spill's budget and
// in the Spill's file beyond it, and only a digest of what it must merely compare for
// identity.
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kopt/sandbox/worker.hpp"
#include "kopt/util/result.hpp"
#include "kopt/verify/value.hpp"

namespace kopt::core {

using sandbox::kChunkBytes;

enum class Keep {
  spill,   // bytes kept (compared or sent on later): memory within the budget, else the file; digest too
  digest,  // only the digest (compared with identical())
};

// The values of `fields` (name, what to keep) present in `header`, in that order; their
// tensors' bytes are read from the chunk frames that follow it on `worker`. A chunk that
// is malformed, larger than the bytes still due, or missing is a "protocol" Failure.
Result<std::map<std::string, verify::Value>> receive_values(sandbox::Worker& worker, const nlohmann::json& header,
                                                            const std::vector<std::pair<std::string, Keep>>& fields,
                                                            const std::shared_ptr<verify::Spill>& spill,
                                                            std::chrono::steady_clock::time_point deadline);

// Sends `header` with each value's tree under its name (no bytes) and "stream": true,
// then the tensors' bytes (from memory or the spill) in chunk frames.
Status send_values(sandbox::Worker& worker, nlohmann::json header,
                   const std::vector<std::pair<std::string, const verify::Value*>>& values,
                   std::chrono::steady_clock::time_point deadline);

}  // namespace kopt::core
