// Outputs larger than one chunk of the comparison (64 K elements): the figures of every
// chunk count, and limits use figures of the whole tensor, not of the chunk at hand.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "compare_support.hpp"

namespace {

using kopt_test::compare_outputs;
using kopt_test::Comparison;
using kopt_test::Value;
using kopt_test::tensor;

constexpr size_t kLarge = 200000;  // three chunks and part of a fourth

// The fp32 reference is off by 2^-20 at element 0 only; the fp64 reference is exact.
struct Ones {
  std::vector<float> r32 = std::vector<float>(kLarge, 1.0f);
  std::vector<double> r64 = std::vector<double>(kLarge, 1.0);
  Ones() { r32[0] = 1.0f + std::ldexp(1.0f, -20); }
};

Comparison compare(const std::vector<float>& c, const Ones& ref) {
  return compare_outputs(tensor("float32", c), tensor("float32", ref.r32), tensor("float64", ref.r64), {});
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
  const Comparison r = compare_outputs(tensor("int64", c), tensor("int64", ref), tensor("int64", ref), {});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.check, "exact");
  EXPECT_EQ(r.figures.elements_over, 1);
}

// Every dtype is converted chunk by chunk by kopt's own loops: each must read its bytes
// right, to the last chunk.
template <typename H>
void half_precision_output_is_read_to_the_last_chunk(const std::string& dtype) {
  std::vector<H> out(kLarge);
  std::vector<double> r64(kLarge);
  for (size_t i = 0; i < kLarge; ++i) {
    out[i] = H(static_cast<float>(i % 64) * 0.25f);  // exact in both formats
    r64[i] = static_cast<double>(i % 64) * 0.25;
  }
  const Comparison same = compare_outputs(tensor(dtype, out), tensor(dtype, out), tensor("float64", r64), {});
  ASSERT_TRUE(same.ok) << dtype << ": " << same.detail;
  EXPECT_EQ(same.figures.elements_compared, static_cast<int64_t>(kLarge));
  auto wrong = out;
  wrong.back() = H(1000.0f);
  const Comparison r = compare_outputs(tensor(dtype, wrong), tensor(dtype, out), tensor("float64", r64), {});
  EXPECT_FALSE(r.ok) << dtype;
}

TEST(compare_chunks, float16_and_bfloat16_outputs_are_read_to_the_last_chunk) {
  half_precision_output_is_read_to_the_last_chunk<c10::Half>("float16");
  half_precision_output_is_read_to_the_last_chunk<c10::BFloat16>("bfloat16");
}

TEST(compare_chunks, bool_and_uint8_outputs_differing_in_the_last_chunk_fail) {
  std::vector<uint8_t> ref(kLarge);
  for (size_t i = 0; i < kLarge; ++i) ref[i] = static_cast<uint8_t>(i % 2);
  auto c = ref;
  c.back() ^= 1;
  for (const std::string dtype : {"bool", "uint8"}) {
    EXPECT_TRUE(compare_outputs(tensor(dtype, ref), tensor(dtype, ref), tensor(dtype, ref), {}).ok) << dtype;
    const Comparison r = compare_outputs(tensor(dtype, c), tensor(dtype, ref), tensor(dtype, ref), {});
    ASSERT_FALSE(r.ok) << dtype;
    EXPECT_EQ(r.check, "exact") << dtype;
    EXPECT_EQ(r.figures.elements_over, 1) << dtype;
  }
}

TEST(compare_chunks, output_sanity_sees_a_value_in_the_last_chunk) {
  std::vector<float> zeros(kLarge, 0.0f);
  bool all_zero = false, constant = false;
  kopt::verify::output_sanity(tensor("float32", zeros), all_zero, constant);
  EXPECT_TRUE(all_zero);
  EXPECT_TRUE(constant);
  zeros.back() = 0.5f;
  kopt::verify::output_sanity(tensor("float32", zeros), all_zero, constant);
  EXPECT_FALSE(all_zero);
  EXPECT_FALSE(constant);
}

}  // namespace
