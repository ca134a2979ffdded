#pragma once
// Values that cross the worker protocol: nested None/bool/int/float/str/list/tuple/dict
// and tensors as raw little-endian bytes. No torch here: the verify layer's compare.cpp
// is the only place that turns bytes into ATen tensors.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::verify {

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
// `v` with every tensor holding only its own bytes: a value kept beyond its frame (to
// compare with a later one) would otherwise keep the whole shared payload alive.
Value own_copy(const Value& v);
// Encodes a value, appending tensor bytes to `payload`.
nlohmann::json encode_value(const Value& v, std::string& payload);

// "tuple(tensor float32 [4, 8], int)": a short description for messages.
std::string describe(const Value& v);
// Same structure and identical bytes (NaN payloads included).
bool identical(const Value& a, const Value& b);
// Total tensor bytes inside `v`.
size_t tensor_bytes(const Value& v);
// Every tensor inside `v`, depth first.
void collect_tensors(const Value& v, std::vector<const TensorData*>& out);

}  // namespace kopt::verify
