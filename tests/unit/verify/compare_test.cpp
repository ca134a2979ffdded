#include "compare_support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace {

using namespace kopt_test;

// One trial of a workload that sums rows: the float64 reference, the float32 reference
// (summed left to right) and an honest candidate that sums in another order.
struct RowSums {
  std::vector<double> r64;
  std::vector<float> r32;
  std::vector<float> reordered;
};

RowSums row_sums(size_t rows, size_t cols, unsigned seed = 7) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  RowSums out;
  for (size_t r = 0; r < rows; ++r) {
    std::vector<float> x(cols);
    for (auto& v : x) v = dist(gen);
    double s64 = 0;
    float s32 = 0, rev = 0;
    for (size_t c = 0; c < cols; ++c) {
      s64 += x[c];
      s32 += x[c];
      rev += x[cols - 1 - c];
    }
    out.r64.push_back(s64);
    out.r32.push_back(s32);
    out.reordered.push_back(rev);
  }
  return out;
}

float to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  bits &= 0xffff0000u;
  std::memcpy(&x, &bits, 4);
  return x;
}

float ulps_up(float x, int n) {
  for (int i = 0; i < n; ++i) x = std::nextafter(x, k_inf);
  return x;
}

// ---- floating outputs ------------------------------------------------------

TEST(compare, identical_outputs_pass) {
  const RowSums t = row_sums(256, 512);
  const Comparison c = compare(f32(t.r32), f32(t.r32), f64(t.r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_EQ(c.figures.elements_compared, 256);
  EXPECT_GT(c.figures.norm_ref_error, 0.0);
  EXPECT_LE(c.figures.norm_ratio, 1.0);
  EXPECT_LE(c.figures.elem_ratio, 1.0);
  EXPECT_FALSE(c.figures.fp32_fallback);
}

TEST(compare, a_reordered_float32_sum_passes) {
  const RowSums t = row_sums(256, 2048);
  const Comparison c = compare(f32(t.reordered), f32(t.r32), f64(t.r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_GT(c.figures.norm_error, 0.0);
  EXPECT_EQ(c.figures.elements_over, 0);
}

TEST(compare, an_error_of_a_few_ulps_passes) {
  const auto r64 = smooth(10000);
  auto c32 = rounded(r64);
  for (size_t i = 0; i < c32.size(); ++i) c32[i] = ulps_up(c32[i], 1 + static_cast<int>(i % 3));
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
}

TEST(compare, one_wrong_element_among_ten_thousand_fails) {
  const auto r64 = smooth(10000);
  auto c32 = rounded(r64);
  c32[4321] += 1e-3f;
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64));
  ASSERT_FALSE(c.ok);
  EXPECT_TRUE(c.check == "elementwise" || c.check == "normwise") << c.check;
  EXPECT_GT(c.figures.elem_ratio, 1.0);
  EXPECT_EQ(c.figures.elements_over, 1);
  // The message for people names no element position.
  EXPECT_EQ(c.detail.find("4321"), std::string::npos) << c.detail;
}

TEST(compare, a_uniformly_scaled_output_fails_normwise) {
  const RowSums t = row_sums(256, 512);
  std::vector<float> scaled(t.r32);
  for (auto& x : scaled) x *= 1.0001f;
  const Comparison c = compare(f32(scaled), f32(t.r32), f64(t.r64));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "normwise");
  EXPECT_GT(c.figures.norm_ratio, 1.0);
}

TEST(compare, nan_where_the_reference_is_finite_fails) {
  const auto r64 = smooth(100);
  auto c32 = rounded(r64);
  c32[10] = k_nan;
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
}

TEST(compare, inf_where_the_reference_is_finite_fails) {
  const auto r64 = smooth(100);
  auto c32 = rounded(r64);
  c32[99] = -k_inf;
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
}

TEST(compare, nan_where_the_reference_is_nan_passes) {
  auto r64 = smooth(100);
  r64[5] = std::nan("");
  auto r32 = rounded(r64);
  const Comparison c = compare(f32(r32), f32(r32), f64(r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_EQ(c.figures.elements_compared, 99);
}

TEST(compare, a_finite_value_where_the_reference_is_nan_fails) {
  auto r64 = smooth(100);
  r64[5] = std::nan("");
  auto r32 = rounded(r64);
  auto c32 = r32;
  c32[5] = 1.0f;
  const Comparison c = compare(f32(c32), f32(r32), f64(r64));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
}

TEST(compare, matching_infinities_pass_and_wrong_signs_fail) {
  auto r64 = smooth(100);
  r64[7] = -INFINITY;
  auto r32 = rounded(r64);
  EXPECT_TRUE(compare(f32(r32), f32(r32), f64(r64)).ok);
  auto c32 = r32;
  c32[7] = k_inf;
  const Comparison c = compare(f32(c32), f32(r32), f64(r64));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
}

TEST(compare, a_finite_candidate_where_the_float32_reference_overflows_passes_if_close_to_float64) {
  // The float32 reference overflowed in an intermediate step; the float64 one did not.
  auto r64 = smooth(100);
  r64[3] = 1e30;
  auto r32 = rounded(r64);
  r32[3] = k_inf;
  auto c32 = rounded(r64);
  const Comparison c = compare(f32(c32), f32(r32), f64(r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_EQ(c.figures.elements_compared, 100);

  c32[3] = 2e30f;  // finite, but far from the float64 result
  const Comparison far = compare(f32(c32), f32(r32), f64(r64));
  EXPECT_FALSE(far.ok);
}

// ---- precision ------------------------------------------------------------

TEST(compare, a_bf16_rounded_candidate_fails_at_fp32_but_passes_with_bf16_precision) {
  const RowSums t = row_sums(512, 256);
  std::vector<float> bf(t.r32);
  for (auto& x : bf) x = to_bf16(x);
  const Comparison strict = compare(f32(bf), f32(t.r32), f64(t.r64));
  ASSERT_FALSE(strict.ok);
  EXPECT_TRUE(strict.check == "normwise" || strict.check == "elementwise") << strict.check;

  CompareOptions opt;
  opt.precision = "bf16";
  const Comparison relaxed = compare(f32(bf), f32(t.r32), f64(t.r64), opt);
  EXPECT_TRUE(relaxed.ok) << relaxed.check << ": " << relaxed.detail;
}

TEST(compare, unit_roundoff_of_dtypes_and_precisions) {
  EXPECT_EQ(kopt::verify::unit_roundoff("float32"), std::ldexp(1.0, -24));
  EXPECT_EQ(kopt::verify::unit_roundoff("fp32"), std::ldexp(1.0, -24));
  EXPECT_EQ(kopt::verify::unit_roundoff("float64"), std::ldexp(1.0, -53));
  EXPECT_EQ(kopt::verify::unit_roundoff("bf16"), std::ldexp(1.0, -8));
  EXPECT_EQ(kopt::verify::unit_roundoff("bfloat16"), std::ldexp(1.0, -8));
  EXPECT_EQ(kopt::verify::unit_roundoff("float16"), std::ldexp(1.0, -11));
  EXPECT_EQ(kopt::verify::unit_roundoff("tf32"), std::ldexp(1.0, -11));
}

// ---- stress trials --------------------------------------------------------

TEST(compare, a_stress_trial_ignores_elements_non_finite_in_either_reference) {
  auto r64 = smooth(100);
  auto r32 = rounded(r64);
  r32[1] = k_inf;       // overflowed in float32 only
  r64[2] = std::nan("");  // NaN in float64 only
  r32[2] = 1.0f;
  auto c32 = rounded(r64);
  c32[1] = k_nan;
  c32[2] = 123.0f;
  CompareOptions stress;
  stress.stress = true;
  const Comparison c = compare(f32(c32), f32(r32), f64(r64), stress);
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_EQ(c.figures.elements_compared, 98);

  // Not a stress trial: the same output fails.
  EXPECT_FALSE(compare(f32(c32), f32(r32), f64(r64)).ok);
}

TEST(compare, a_stress_trial_still_fails_non_finite_where_both_references_are_finite) {
  const auto r64 = smooth(100);
  auto c32 = rounded(r64);
  c32[50] = k_inf;
  CompareOptions stress;
  stress.stress = true;
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64), stress);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
}

TEST(compare, a_stress_trial_still_checks_the_error) {
  const auto r64 = smooth(1000);
  auto c32 = rounded(r64);
  c32[500] += 0.01f;
  CompareOptions stress;
  stress.stress = true;
  const Comparison c = compare(f32(c32), f32(rounded(r64)), f64(r64), stress);
  ASSERT_FALSE(c.ok);
  EXPECT_TRUE(c.check == "elementwise" || c.check == "normwise") << c.check;
}

TEST(compare, a_stress_trial_allows_a_larger_multiple_of_the_reference_error) {
  // The float32 reference is off by 1e-4 everywhere; the candidate by 30 times that:
  // beyond the 16x of an ordinary trial, within the 64x of a stress trial.
  const auto r64 = smooth(1000);
  std::vector<float> r32(r64.size()), c32(r64.size());
  for (size_t i = 0; i < r64.size(); ++i) {
    const double sign = i % 2 ? 1.0 : -1.0;
    r32[i] = static_cast<float>(r64[i] + sign * 1e-4);
    c32[i] = static_cast<float>(r64[i] + sign * 3e-3);
  }
  const Comparison ordinary = compare(f32(c32), f32(r32), f64(r64));
  EXPECT_FALSE(ordinary.ok);
  CompareOptions stress;
  stress.stress = true;
  const Comparison relaxed = compare(f32(c32), f32(r32), f64(r64), stress);
  EXPECT_TRUE(relaxed.ok) << relaxed.check << ": " << relaxed.detail;
}

// ---- explicit fp32 tolerance ---------------------------------------------

TEST(compare, fp32_only_mode_uses_the_explicit_tolerance) {
  const RowSums t = row_sums(256, 512);
  CompareOptions opt;
  opt.fp32_only = true;
  // The float64 reference is ignored: it may even be garbage.
  std::vector<double> garbage(t.r64.size(), 42.0);
  const Comparison c = compare(f32(t.reordered), f32(t.r32), f64(garbage), opt);
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_TRUE(c.figures.fp32_fallback);

  std::vector<float> wrong(t.r32);
  wrong[17] += 0.5f;
  const Comparison w = compare(f32(wrong), f32(t.r32), f64(garbage), opt);
  ASSERT_FALSE(w.ok);
  EXPECT_TRUE(w.figures.fp32_fallback);
}

TEST(compare, a_float64_reference_equal_to_float32_falls_back_to_the_explicit_tolerance) {
  const auto r32 = rounded(smooth(1000));
  const std::vector<double> r64(r32.begin(), r32.end());  // the fp64 run did not really happen
  auto c32 = r32;
  for (size_t i = 0; i < c32.size(); i += 7) c32[i] = ulps_up(c32[i], 2);
  const Comparison c = compare(f32(c32), f32(r32), f64(r64));
  EXPECT_TRUE(c.ok) << c.check << ": " << c.detail;
  EXPECT_TRUE(c.figures.fp32_fallback);
  EXPECT_EQ(c.figures.max_ref_abs_error, 0.0);

  c32[3] *= 1.001f;
  const Comparison w = compare(f32(c32), f32(r32), f64(r64));
  ASSERT_FALSE(w.ok);
  EXPECT_TRUE(w.figures.fp32_fallback);
}

}  // namespace
