#pragma once
// `--ncu` (internal to core): a fresh worker under Nsight Compute, one model's calls in a
// marked range, and ncu's log read into per-kernel metrics (kopt/measure/ncu.hpp).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/worker.hpp"

namespace kopt::core {

struct NcuSession {
  std::vector<std::string> wrapper;  // ncu and its arguments, for WorkerPool::start
  std::string log;                   // its CSV log, in the role's sandbox
};

// For a worker of `role`; removes an old log.
NcuSession ncu_session(const WorkerPool& pool, const std::string& role, const std::string& ncu);

// Runs `model` (eager, candidate) in a worker started with the session's wrapper and set
// up by the caller, says bye, waits for ncu to write its log, and reads it:
// {"ok": true, "kernels": [...], "text": "...", "calls": n, "seconds": s}, or
// {"ok": false, "error": "<one line>"}. Ends the worker either way.
nlohmann::json ncu_finish(std::unique_ptr<sandbox::Worker> worker, const NcuSession& session, const std::string& model,
                          int calls, double timeout_s);

// A worker under ncu that could not be set up: `why`, with ncu's own error line from its
// log when it wrote one (ncu may refuse before the program even starts).
nlohmann::json ncu_failed(const NcuSession& session, const std::string& why);

// The --ncu text for a report: ncu's kernels, or why there are none.
std::string ncu_report_text(const nlohmann::json& ncu, const std::string& what);

}  // namespace kopt::core
