#pragma once
// One request to a worker whose reply must say ok (internal to core).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kopt/sandbox/worker.hpp"
#include "kopt/util/result.hpp"

namespace kopt::core {

// Sends `header` (+ payload) and waits up to `timeout_s`. A reply with ok=false becomes
// a Failure whose kind is the reply's error tag and whose message is the worker's line,
// or, when the reply carries the exception's whole text ("detail": a build log), the line
// of it that says why the build failed (build_error_line), when it has one.
Result<sandbox::Message> ask(sandbox::Worker& worker, nlohmann::json header, double timeout_s,
                             std::string payload = {});

// A reply whose header is not an object, or holds a field kopt reads with another JSON
// type than the harness writes ("ok": 1, "tampered": [1]): a Failure of kind "malformed".
// ask() and expect_ok() check every reply with it, so no field read afterwards can throw.
std::optional<Failure> malformed_reply(const nlohmann::json& header);

// A reply received otherwise (Worker::receive) judged as ask() judges one.
Result<sandbox::Message> expect_ok(Result<sandbox::Message> reply);

// Whether a worker's failure says it ran out of memory: an allocation torch refused (CPU or
// CUDA), or a SIGKILL kopt did not send (ExitInfo::describe names the OOM killer and the
// peak resident set).
bool out_of_memory(const std::string& reason);

// Names of patched functions a candidate's reply reports ("tampered"), comma-joined;
// empty when none.
std::string tampered_names(const nlohmann::json& header);

}  // namespace kopt::core
