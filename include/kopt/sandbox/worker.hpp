#pragma once
// A Python worker process speaking kopt's frame protocol on an inherited socket (fd 3).
//
// Frame: u32 little-endian header length, a JSON header, then `header["payload"]`
// bytes of raw tensor data (absent when zero). stdout/stderr are logs only, captured
// with a cap; a worker that floods them, exits, crashes, hangs or breaks the protocol
// turns into a Failure, never an exception.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kopt/sandbox/process.hpp"
#include "kopt/util/result.hpp"

namespace kopt::sandbox {

// The largest chunk frame of a streamed value (core/eval/stream.hpp; kopt_wire.py's
// CHUNK_BYTES).
constexpr size_t kChunkBytes = size_t{64} << 20;

struct Message {
  nlohmann::json header;
  std::string payload;  // raw bytes, described by the header
};

struct WorkerSpec {
  std::vector<std::string> argv;  // python, harness, role arguments
  std::vector<std::string> env;   // complete environment (already scrubbed)
  std::string cwd;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  size_t max_log_bytes = 8u << 20;      // stdout + stderr; beyond it: "flood"
  size_t max_header_bytes = 16u << 20;  // one JSON header
  // One frame's payload; a frame claiming more is a "protocol" failure as soon as its
  // header arrives, before kopt buffers any of it. Candidates get a chunk's worth
  // (WorkerPool); set_max_payload() widens it for one reply that carries a whole value.
  uint64_t max_payload_bytes = 16ull << 30;
  std::vector<std::string> secrets;     // redacted from the captured log
  std::vector<ResourceLimit> limits;    // set in the child before exec
  // argv[0] runs the worker as its child or grandchild (bubblewrap): main_pid() finds it.
  bool runs_as_child = false;
};

// Not thread-safe. Destruction kills the worker's process group.
class Worker {
 public:
  // Failure kinds: "spawn".
  static Result<std::unique_ptr<Worker>> start(const WorkerSpec& spec);
  ~Worker();

  // Sends `msg` and waits for one reply frame, all within `timeout` (kopt's clock).
  // Failure kinds: "timeout", "exited" (message says how it ended), "flood",
  // "protocol" (malformed or oversized frame).
  Result<Message> request(const Message& msg, std::chrono::milliseconds timeout);
  // The two halves of request(), for exchanges of several frames (a streamed value: a
  // header, then its tensors' bytes in chunk frames). Same failure kinds.
  Status send(const Message& msg, std::chrono::steady_clock::time_point deadline);
  Result<Message> receive(std::chrono::steady_clock::time_point deadline);

  // The payload cap for the frames received from now on (WorkerSpec::max_payload_bytes).
  void set_max_payload(uint64_t bytes) { m_spec.max_payload_bytes = bytes; }
  uint64_t max_payload() const { return m_spec.max_payload_bytes; }

  // Closes the control socket (the harness exits on EOF), waits up to `grace` for the
  // worker to exit, then kills its group. Safe to call twice.
  ExitInfo stop(std::chrono::milliseconds grace);

  // The process kopt started (bwrap when confined): its group is the worker's.
  pid_t pid() const { return m_child.pid(); }
  // The process that runs the harness, for thread and child counts: pid(), or when
  // WorkerSpec::runs_as_child the first process below it that is not bwrap (its child,
  // or its PID namespace's init's child; found through /proc once it exists; pid() until then).
  pid_t main_pid();
  // Everything the worker printed so far, control characters stripped, secrets redacted.
  std::string log() const;
  // How the worker ended, once it has (under bubblewrap: the worker's own end, read from
  // bwrap's exit status 128 + signal).
  std::optional<ExitInfo> exit_info();

 private:
  explicit Worker(Child child, int control, WorkerSpec spec);
  Status pump(bool want_write, const std::string& out, size_t& written,
              std::chrono::steady_clock::time_point deadline, bool& readable);
  Failure ended_failure();
  ExitInfo payload_exit(const ExitInfo& info) const;
  void drain_logs();
  bool read_log(int& fd);

  Child m_child;
  int m_control = -1;
  WorkerSpec m_spec;
  std::string m_log;
  size_t m_log_total = 0;
  std::string m_inbox;  // bytes read from the control socket not yet parsed
  pid_t m_main_pid = -1;
};

// Encodes a frame (exposed for tests).
std::string encode_frame(const Message& msg);
// Tries to parse one frame from the front of `buffer`; removes it when complete.
// Returns nullopt when more bytes are needed; a Failure("protocol") on bad data.
Result<std::optional<Message>> decode_frame(std::string& buffer, size_t max_header,
                                            uint64_t max_payload);

}  // namespace kopt::sandbox
