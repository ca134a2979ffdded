#include "kopt/verify/value.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace kopt::verify {

int64_t TensorData::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status TensorData::read(size_t from, size_t n, char* into) const {
  if (from > size || n > size - from) return Failure{"io", "read beyond a tensor's bytes"};
  if (storage) {
    std::memcpy(into, storage->data() + offset + from, n);
    return Status{};
  }
  if (spill) return spill->read(file_offset + from, into, n);
  return Failure{"io", "a tensor kept only as its digest has no bytes to read"};
}

size_t element_size(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float64" || dtype == "int64" || dtype == "complex64") return 8;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "int8" || dtype == "uint8" || dtype == "bool") return 1;
  return 0;
}

bool is_floating(const std::string& dtype) {
  return dtype == "float32" || dtype == "float64" || dtype == "float16" || dtype == "bfloat16";
}

namespace {

Failure bad(const std::string& what) { return Failure{"protocol", "bad value: " + what}; }

// Where decoded tensors get their bytes: `payload`, and `shared` when they may share it.
struct Source {
  const std::string& payload;
  const std::shared_ptr<const std::string>* shared = nullptr;
  bool spec_only = false;  // tensors' bytes are not in the payload (streamed after it)
};

Result<Value> decode(const nlohmann::json& j, const Source& src, size_t& offset) {
  const std::string& payload = src.payload;
  if (!j.is_object() || !j.contains("t") || !j["t"].is_string()) return bad("missing type tag");
  const std::string t = j["t"].get<std::string>();
  Value v;
  try {
    if (t == "none") {
      v.kind = Value::Kind::none;
    } else if (t == "bool") {
      v.kind = Value::Kind::boolean;
      v.b = j.at("v").get<bool>();
    } else if (t == "int") {
      v.kind = Value::Kind::integer;
      v.i = j.at("v").get<int64_t>();
    } else if (t == "float") {
      v.kind = Value::Kind::floating;
      const auto& x = j.at("v");
      if (x.is_string()) {
        const std::string s = x.get<std::string>();
        if (s == "nan") v.f = std::numeric_limits<double>::quiet_NaN();
        else if (s == "inf") v.f = std::numeric_limits<double>::infinity();
        else if (s == "-inf") v.f = -std::numeric_limits<double>::infinity();
        else return bad("float string " + s);
      } else {
        v.f = x.get<double>();
      }
    } else if (t == "str") {
      v.kind = Value::Kind::string;
      v.s = j.at("v").get<std::string>();
    } else if (t == "list" || t == "tuple") {
      v.kind = t == "list" ? Value::Kind::list : Value::Kind::tuple;
      for (const auto& item : j.at("items")) {
        auto d = decode(item, src, offset);
        if (!d) return d.failure();
        v.items.push_back(std::move(d.value()));
      }
    } else if (t == "dict") {
      v.kind = Value::Kind::dict;
      const auto& keys = j.at("keys");
      const auto& items = j.at("items");
      if (!keys.is_array() || !items.is_array() || keys.size() != items.size()) return bad("dict sizes");
      for (size_t k = 0; k < keys.size(); ++k) {
        auto key = decode(keys[k], src, offset);
        if (!key) return key.failure();
        auto item = decode(items[k], src, offset);
        if (!item) return item.failure();
        v.keys.push_back(std::move(key.value()));
        v.items.push_back(std::move(item.value()));
      }
    } else if (t == "tensor") {
      v.kind = Value::Kind::tensor;
      TensorData& td = v.tensor;
      td.dtype = j.at("dtype").get<std::string>();
      td.shape = j.at("shape").get<std::vector<int64_t>>();
      td.device = j.value("device", "cpu");
      const uint64_t nbytes = j.at("nbytes").get<uint64_t>();
      const size_t es = element_size(td.dtype);
      if (es == 0) return bad("unsupported dtype " + td.dtype);
      int64_t numel = 1;
      for (int64_t d : td.shape) {
        if (d < 0 || (d > 0 && numel > std::numeric_limits<int64_t>::max() / d)) return bad("shape");
        numel *= d;
      }
      // Overflow-safe: a shape whose byte count wraps around 2^64 must not match a small nbytes.
      if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / es ||
          static_cast<uint64_t>(numel) * es != nbytes)
        return bad("tensor byte count does not match its dtype and shape");
      if (src.spec_only) {
        td.size = nbytes;
        offset += nbytes;
        return v;
      }
      if (offset > payload.size() || nbytes > payload.size() - offset) return bad("tensor bytes beyond the payload");
      if (src.shared && offset % 8 == 0) {
        td.storage = *src.shared;
        td.offset = offset;
        td.size = nbytes;
      } else {
        td.set_bytes(payload.substr(offset, nbytes));
      }
      offset += nbytes;
    } else {
      return bad("unknown type tag " + t);
    }
  } catch (const std::exception& e) {
    return bad(std::string("malformed ") + t);
  }
  return v;
}

}  // namespace

Result<Value> decode_value(const nlohmann::json& j, const std::string& payload, size_t& offset) {
  return decode(j, Source{payload}, offset);
}

Result<Value> decode_value(const nlohmann::json& j, const std::shared_ptr<const std::string>& payload,
                           size_t& offset) {
  static const std::string empty;
  return decode(j, Source{payload ? *payload : empty, payload ? &payload : nullptr}, offset);
}

Result<Value> decode_spec(const nlohmann::json& j) {
  static const std::string empty;
  size_t offset = 0;
  return decode(j, Source{empty, nullptr, true}, offset);
}

namespace {

// Gives every tensor in `v` a buffer of its own bytes, where it shares a larger one.
void own_bytes(Value& v) {
  if (v.kind == Value::Kind::tensor && v.tensor.storage && v.tensor.storage->size() != v.tensor.size)
    v.tensor.set_bytes(std::string(v.tensor.bytes()));
  for (auto& item : v.items) own_bytes(item);
  for (auto& key : v.keys) own_bytes(key);
}

}  // namespace

Value own_copy(const Value& v) {
  Value out = v;  // the tree once; tensors still share their payload here
  own_bytes(out);
  return out;
}

namespace {

void reduce_to_digest(Value& v) {
  if (v.kind == Value::Kind::tensor) {
    TensorData& t = v.tensor;
    if (!t.digest && t.storage) {
      Digest d(digest_key());
      const auto b = t.bytes();
      d.update(b.data(), b.size());
      t.digest = d.finish();
    }
    t.storage.reset();
    t.spill.reset();
  }
  for (auto& item : v.items) reduce_to_digest(item);
  for (auto& key : v.keys) reduce_to_digest(key);
}

}  // namespace

Value digest_copy(const Value& v) {
  Value out = v;
  reduce_to_digest(out);
  return out;
}

nlohmann::json encode_spec(const Value& v, std::vector<const TensorData*>& tensors) {
  using K = Value::Kind;
  if (v.kind == K::tensor) {
    tensors.push_back(&v.tensor);
    return {{"t", "tensor"}, {"dtype", v.tensor.dtype}, {"shape", v.tensor.shape},
            {"device", v.tensor.device}, {"nbytes", v.tensor.size}};
  }
  if (v.kind == K::list || v.kind == K::tuple) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : v.items) items.push_back(encode_spec(item, tensors));
    return {{"t", v.kind == K::list ? "list" : "tuple"}, {"items", items}};
  }
  if (v.kind == K::dict) {
    nlohmann::json keys = nlohmann::json::array(), items = nlohmann::json::array();
    for (size_t k = 0; k < v.items.size(); ++k) {
      keys.push_back(encode_spec(v.keys[k], tensors));
      items.push_back(encode_spec(v.items[k], tensors));
    }
    return {{"t", "dict"}, {"keys", keys}, {"items", items}};
  }
  std::string unused;
  return encode_value(v, unused);
}

nlohmann::json encode_value(const Value& v, std::string& payload) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::none: return {{"t", "none"}};
    case K::boolean: return {{"t", "bool"}, {"v", v.b}};
    case K::integer: return {{"t", "int"}, {"v", v.i}};
    case K::floating:
      if (std::isnan(v.f)) return {{"t", "float"}, {"v", "nan"}};
      if (std::isinf(v.f)) return {{"t", "float"}, {"v", v.f > 0 ? "inf" : "-inf"}};
      return {{"t", "float"}, {"v", v.f}};
    case K::string: return {{"t", "str"}, {"v", v.s}};
    case K::list:
    case K::tuple: {
      nlohmann::json items = nlohmann::json::array();
      for (const auto& item : v.items) items.push_back(encode_value(item, payload));
      return {{"t", v.kind == K::list ? "list" : "tuple"}, {"items", items}};
    }
    case K::dict: {
      nlohmann::json keys = nlohmann::json::array(), items = nlohmann::json::array();
      for (size_t k = 0; k < v.items.size(); ++k) {
        keys.push_back(encode_value(v.keys[k], payload));
        items.push_back(encode_value(v.items[k], payload));
      }
      return {{"t", "dict"}, {"keys", keys}, {"items", items}};
    }
    case K::tensor:
      payload += v.tensor.bytes();
      return {{"t", "tensor"}, {"dtype", v.tensor.dtype}, {"shape", v.tensor.shape},
              {"device", v.tensor.device}, {"nbytes", v.tensor.size}};
  }
  return {{"t", "none"}};
}

std::string describe(const Value& v) {
  using K = Value::Kind;
  switch (v.kind) {
    case K::none: return "None";
    case K::boolean: return "bool";
    case K::integer: return "int";
    case K::floating: return "float";
    case K::string: return "str";
    case K::list:
    case K::tuple:
    case K::dict: {
      std::string out = v.kind == K::list ? "list(" : v.kind == K::tuple ? "tuple(" : "dict(";
      for (size_t k = 0; k < v.items.size(); ++k) {
        if (k) out += ", ";
        if (k >= 4) { out += "... " + std::to_string(v.items.size()) + " items"; break; }
        out += describe(v.items[k]);
      }
      return out + ")";
    }
    case K::tensor: {
      std::string out = "tensor " + v.tensor.dtype + " [";
      for (size_t k = 0; k < v.tensor.shape.size(); ++k)
        out += (k ? ", " : "") + std::to_string(v.tensor.shape[k]);
      return out + "]";
    }
  }
  return "?";
}

bool identical(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  using K = Value::Kind;
  switch (a.kind) {
    case K::none: return true;
    case K::boolean: return a.b == b.b;
    case K::integer: return a.i == b.i;
    case K::floating: return (std::isnan(a.f) && std::isnan(b.f)) || a.f == b.f;
    case K::string: return a.s == b.s;
    case K::list:
    case K::tuple:
    case K::dict:
      if (a.items.size() != b.items.size() || a.keys.size() != b.keys.size()) return false;
      for (size_t k = 0; k < a.keys.size(); ++k)
        if (!identical(a.keys[k], b.keys[k])) return false;
      for (size_t k = 0; k < a.items.size(); ++k)
        if (!identical(a.items[k], b.items[k])) return false;
      return true;
    case K::tensor:
      if (a.tensor.dtype != b.tensor.dtype || a.tensor.shape != b.tensor.shape) return false;
      if (a.tensor.in_memory() && b.tensor.in_memory()) return a.tensor.bytes() == b.tensor.bytes();
      return a.tensor.digest && b.tensor.digest && *a.tensor.digest == *b.tensor.digest;
  }
  return false;
}

size_t tensor_bytes(const Value& v) {
  if (v.kind == Value::Kind::tensor) return v.tensor.size;
  size_t n = 0;
  for (const auto& item : v.items) n += tensor_bytes(item);
  return n;
}

void collect_tensors(const Value& v, std::vector<const TensorData*>& out) {
  if (v.kind == Value::Kind::tensor) out.push_back(&v.tensor);
  for (const auto& item : v.items) collect_tensors(item, out);
}

}  // namespace kopt::verify
