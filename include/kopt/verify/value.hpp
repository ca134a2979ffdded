#pragma once
// Values that cross the worker protocol: nested None/bool/int/float/str/list/tuple/dict
// and tensors as raw little-endian bytes. No torch here: the verify layer's compare.cpp
// is the only place that turns bytes into ATen tensors.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::verify {

// A file kopt owns, unnamed (O_TMPFILE, or unlinked at once), where streamed tensors of a
// trial are written and read back a chunk at a time: kopt's resident memory stays bounded
// whatever the output's size (the host path, docs/ARCHITECTURE.md). Below a memory budget
// a trial's tensors are kept in memory instead (claim()): writing them out and reading
// them back cost more than the rest of a trial at 256 MiB. Not thread-safe.
class Spill {
 public:
  // Failure kind "io". `memory_budget`: the bytes a trial may keep in memory (claim()).
  static Result<std::shared_ptr<Spill>> open(const std::string& dir, uint64_t memory_budget = 0);
  ~Spill();
  Spill(const Spill&) = delete;
  Spill& operator=(const Spill&) = delete;
  // Reserves `n` bytes at the end; returns their offset.
  uint64_t reserve(uint64_t n);
  Status write(uint64_t offset, const char* data, size_t n);
  Status read(uint64_t offset, char* into, size_t n) const;
  // Whether `n` more bytes fit in this trial's memory budget; if so they are counted
  // against it, and the caller keeps them in memory rather than in the file.
  bool claim(uint64_t n) {
    if (n > m_budget - m_claimed) return false;
    m_claimed += n;
    return true;
  }
  // Forgets every region (their bytes are overwritten by later ones) and every claim (the
  // caller has dropped what it kept in memory).
  void reset() { m_end = 0; m_claimed = 0; }
  uint64_t size() const { return m_end; }

 private:
  Spill(int fd, uint64_t budget) : m_fd(fd), m_budget(budget) {}
  int m_fd = -1;
  uint64_t m_end = 0;
  uint64_t m_budget = 0;
  uint64_t m_claimed = 0;
};

// A keyed 64-bit digest of a byte stream, fed in pieces of any size. Stands for bytes kopt
// does not keep (a snapshot that must only equal another one): equal digests under a key
// the worker never sees are taken as equal bytes.
class Digest {
 public:
  explicit Digest(uint64_t key);
  void update(const char* data, size_t n);
  uint64_t finish() const;

 private:
  void block(const char* p);
  uint64_t m_lane[4];
  unsigned char m_tail[32];
  size_t m_tail_n = 0;
  uint64_t m_total = 0;
};
// The key of this kopt process's digests, drawn once from std::random_device.
uint64_t digest_key();

struct TensorData {
  std::string dtype;            // "float32", "bfloat16", "int64", "bool", ...
  std::vector<int64_t> shape;
  std::string device;           // "cpu", "cuda"
  // The bytes, contiguous and little-endian: a slice of a buffer that is never written
  // again, often a whole frame's payload shared by every tensor decoded from it (a trial
  // of 256 MB outputs would otherwise hold each twice). Copying a TensorData shares it.
  std::shared_ptr<const std::string> storage;
  size_t offset = 0;
  size_t size = 0;

  // Or: the bytes live in a Spill at file_offset (storage is null).
  std::shared_ptr<Spill> spill;
  uint64_t file_offset = 0;
  // The digest of the bytes (digest_key()), when they were streamed; a tensor may hold only
  // its digest (no storage, no spill): identical() then compares digests.
  std::optional<uint64_t> digest;

  bool in_memory() const { return storage != nullptr; }
  // Copies bytes [from, from + n) of the tensor into `into`, from memory or the spill.
  Status read(size_t from, size_t n, char* into) const;
  std::string_view bytes() const {
    return storage ? std::string_view(*storage).substr(offset, size) : std::string_view();
  }
  void set_bytes(std::string b) {
    size = b.size();
    offset = 0;
    storage = std::make_shared<const std::string>(std::move(b));
  }
  int64_t numel() const;
};

struct Value {
  enum class Kind { none, boolean, integer, floating, string, list, tuple, dict, tensor };
  Kind kind = Kind::none;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<Value> items;  // list/tuple elements, dict values
  std::vector<Value> keys;   // dict keys (same order as items)
  TensorData tensor;
};

// Bytes per element of a dtype name, 0 if kopt does not support it.
size_t element_size(const std::string& dtype);
bool is_floating(const std::string& dtype);

// Decodes a value whose tensors lie in `payload` from `offset` on, in order; checks
// every tensor's byte count against its dtype and shape and against the payload. Each
// tensor gets a copy of its bytes.
Result<Value> decode_value(const nlohmann::json& j, const std::string& payload, size_t& offset);
// The same, the tensors sharing `payload` instead of copying it (one that would start at
// an offset unaligned for 8-byte elements is copied, so typed reads stay aligned).
Result<Value> decode_value(const nlohmann::json& j, const std::shared_ptr<const std::string>& payload,
                           size_t& offset);
// A value whose tensors' bytes are not in any payload (they are streamed after it): the
// same checks, tensors without bytes (size set from nbytes), to be filled by the caller.
Result<Value> decode_spec(const nlohmann::json& j);
// `v` with every tensor holding only its own bytes: a value kept beyond its frame (to
// compare with a later one) would otherwise keep the whole shared payload alive.
Value own_copy(const Value& v);
// `v` with every tensor reduced to its digest (computed here where it holds bytes): a
// value kept only to be compared with identical() later.
Value digest_copy(const Value& v);
// Encodes a value's tree without tensor bytes, collecting its tensors in order (they are
// streamed after the header).
nlohmann::json encode_spec(const Value& v, std::vector<const TensorData*>& tensors);
// Encodes a value, appending tensor bytes to `payload`.
nlohmann::json encode_value(const Value& v, std::string& payload);

// "tuple(tensor float32 [4, 8], int)": a short description for messages.
std::string describe(const Value& v);
// Same structure and identical bytes (NaN payloads included); tensors whose bytes are not
// both in memory are compared by digest (false when one has none).
bool identical(const Value& a, const Value& b);
// Total tensor bytes inside `v`.
size_t tensor_bytes(const Value& v);
// Every tensor inside `v`, depth first.
void collect_tensors(const Value& v, std::vector<const TensorData*>& out);

}  // namespace kopt::verify
