// Outputs larger than one chunk of the comparison (64 K elements): the figures of every
// chunk count, and limits use figures of the whole tensor, not of the chunk at hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kopt/verify/compare.hpp"

namespace {

using kopt::verify::compare_outputs;
using kopt::verify::Comparison;
using kopt::verify::Value;

constexpr size_t kLarge = 200000;  // three chunks and part of a fourth

template <typename T>
Value flat(const std::string& dtype, const std::vector<T>& data) {
  Value v;
  v.kind = Value::Kind::tensor;
  v.tensor.dtype = dtype;
  v.tensor.shape = {static_cast<int64_t>(data.size())};
  v.tensor.device = "cpu";
  v.tensor.bytes.assign(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T));
  return v;
}

// The fp32 reference is off by 2^-20 at element 0 only; the fp64 reference is exact.
struct Ones {
  std::vector<float> r32 = std::vector<float>(kLarge, 1.0f);
  std::vector<double> r64 = std::vector<double>(kLarge, 1.0);
  Ones() { r32[0] = 1.0f + std::ldexp(1.0f, -20); }
};

Comparison compare(const std::vector<float>& c, const Ones& ref) {
  return compare_outputs(flat("float32", c), flat("float32", ref.r32), flat("float64", ref.r64), {});
}

TEST(compare_chunks, every_element_of_a_large_output_is_compared) {
  const Ones ref;
  const Comparison c = compare(ref.r32, ref);
  ASSERT_TRUE(c.ok) << c.detail;
  EXPECT_EQ(c.figures.elements_compared, static_cast<int64_t>(kLarge));
}

TEST(compare_chunks, the_limit_uses_the_reference_error_of_another_chunk) {
  // Elementwise limit: 64 x 2^-20 (the fp32 reference's worst error, in chunk 0) plus
  // 64 x 2^-24 x |r64|. An error of 2^-15 in the last chunk is inside it; with chunk-local
  // figures the limit there would be 64 x 2^-24 and it would fail.
  const Ones ref;
  auto inside = ref.r32;
  inside.back() = 1.0f + std::ldexp(1.0f, -15);
  const Comparison ok = compare(inside, ref);
  EXPECT_TRUE(ok.ok) << ok.detail;
  EXPECT_LT(ok.figures.elem_ratio, 1.0);

  auto beyond = ref.r32;
  beyond.back() = 1.0f + std::ldexp(1.0f, -13);
  const Comparison bad = compare(beyond, ref);
  ASSERT_FALSE(bad.ok);
  EXPECT_EQ(bad.check, "elementwise");
  EXPECT_EQ(bad.figures.elements_over, 1);
  EXPECT_GT(bad.figures.elem_ratio, 1.0);
}

TEST(compare_chunks, a_nan_in_the_last_chunk_fails_the_finite_check) {
  const Ones ref;
  auto c = ref.r32;
  c[kLarge - 3] = std::nanf("");
  const Comparison r = compare(c, ref);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.check, "finite");
  EXPECT_NE(r.detail.find("1 of 200000"), std::string::npos) << r.detail;
}

TEST(compare_chunks, one_integer_differing_in_the_last_chunk_fails) {
  std::vector<int64_t> ref(kLarge);
  for (size_t i = 0; i < kLarge; ++i) ref[i] = static_cast<int64_t>(i) * 7;
  auto c = ref;
  c.back() += 1;
  const Comparison r = compare_outputs(flat("int64", c), flat("int64", ref), flat("int64", ref), {});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.check, "exact");
  EXPECT_EQ(r.figures.elements_over, 1);
}

TEST(compare_chunks, output_sanity_sees_a_value_in_the_last_chunk) {
  std::vector<float> zeros(kLarge, 0.0f);
  bool all_zero = false, constant = false;
  kopt::verify::output_sanity(flat("float32", zeros), all_zero, constant);
  EXPECT_TRUE(all_zero);
  EXPECT_TRUE(constant);
  zeros.back() = 0.5f;
  kopt::verify::output_sanity(flat("float32", zeros), all_zero, constant);
  EXPECT_FALSE(all_zero);
  EXPECT_FALSE(constant);
}

}  // namespace
