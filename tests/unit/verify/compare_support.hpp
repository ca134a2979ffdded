#pragma once
// Helpers shared by the comparison's tests: outputs built as the decoder would build them.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kopt/verify/compare.hpp"

namespace kopt_test {

using kopt::verify::compare_outputs;
using kopt::verify::CompareOptions;
using kopt::verify::Comparison;
using kopt::verify::Value;
using K = Value::Kind;

constexpr float k_nan = std::numeric_limits<float>::quiet_NaN();
constexpr float k_inf = std::numeric_limits<float>::infinity();

// A CPU tensor of `dtype` holding `data` (one dimension unless `shape` says otherwise).
template <typename T>
Value tensor(const std::string& dtype, const std::vector<T>& data, std::vector<int64_t> shape = {}) {
  Value v;
  v.kind = K::tensor;
  v.tensor.dtype = dtype;
  v.tensor.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(data.size())} : std::move(shape);
  v.tensor.device = "cpu";
  v.tensor.set_bytes(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T)));
  return v;
}

inline Value f32(const std::vector<float>& data, std::vector<int64_t> shape = {}) {
  return tensor("float32", data, std::move(shape));
}
inline Value f64(const std::vector<double>& data, std::vector<int64_t> shape = {}) {
  return tensor("float64", data, std::move(shape));
}
inline Value i64(const std::vector<int64_t>& data) { return tensor("int64", data); }

inline Value tuple(std::vector<Value> items) {
  Value v;
  v.kind = K::tuple;
  v.items = std::move(items);
  return v;
}

// The float32 reference rounded from the float64 one (error at most half an ulp).
inline std::vector<float> rounded(const std::vector<double>& r64) {
  return std::vector<float>(r64.begin(), r64.end());
}

inline std::vector<double> smooth(size_t n) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = std::sin(0.37 * static_cast<double>(i)) * 3.0 + 0.1;
  return out;
}

inline Comparison compare(const Value& c, const Value& r32, const Value& r64, CompareOptions opt = {}) {
  return compare_outputs(c, r32, r64, opt);
}

}  // namespace kopt_test
