// The comparison's checks before any tolerance: structure, shape, dtype and device, exact
// integer and bool outputs, Python scalars, and the workload-sanity flags.
#include "compare_support.hpp"

#include <gtest/gtest.h>

namespace {

using namespace kopt_test;

// ---- structure -------------------------------------------------------------

TEST(compare, a_wrong_shape_fails_with_shape) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const Comparison c = compare(f32(x, {3, 2}), f32(x, {2, 3}), f64({1, 2, 3, 4, 5, 6}, {2, 3}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "shape");
}

TEST(compare, a_wrong_dtype_fails_with_dtype) {
  const Comparison c = compare(f64({1, 2, 3}), f32({1, 2, 3}), f64({1, 2, 3}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "dtype");
}

TEST(compare, a_wrong_device_fails_with_device) {
  Value cand = f32({1, 2, 3});
  cand.tensor.device = "cuda";
  Value r32 = f32({1, 2, 3});
  r32.tensor.device = "cpu";
  const Comparison c = compare(cand, r32, f64({1, 2, 3}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "device");
}

TEST(compare, a_wrong_structure_fails_with_structure) {
  const Value t = f32({1, 2, 3});
  const Comparison c = compare(tuple({t}), t, f64({1, 2, 3}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "structure");

  Value none;
  const Comparison n = compare(none, t, f64({1, 2, 3}));
  ASSERT_FALSE(n.ok);
  EXPECT_EQ(n.check, "structure");
}

TEST(compare, a_wrong_output_count_fails_with_structure) {
  const Value a = f32({1, 2, 3});
  const Value a64 = f64({1, 2, 3});
  const Comparison c = compare(tuple({a, a}), tuple({a, a, a}), tuple({a64, a64, a64}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "structure");
}

TEST(compare, different_dict_keys_fail_with_structure) {
  auto dict = [](const std::string& key, Value item) {
    Value v;
    v.kind = K::dict;
    Value k;
    k.kind = K::string;
    k.s = key;
    v.keys = {k};
    v.items = {std::move(item)};
    return v;
  };
  const Comparison c = compare(dict("out", f32({1})), dict("logits", f32({1})), dict("logits", f64({1})));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "structure");
}

TEST(compare, the_failing_output_is_named_by_its_position) {
  const auto r64 = smooth(100);
  const auto r32 = rounded(r64);
  auto bad = r32;
  bad[0] = k_nan;
  const Comparison c = compare(tuple({f32(r32), f32(bad)}), tuple({f32(r32), f32(r32)}), tuple({f64(r64), f64(r64)}));
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "finite");
  EXPECT_EQ(c.detail.rfind("output[1]", 0), 0u) << c.detail;
}

TEST(compare, python_scalars_compare_by_value) {
  Value a, b;
  a.kind = b.kind = K::integer;
  a.i = 3;
  b.i = 4;
  EXPECT_TRUE(compare(a, a, a).ok);
  const Comparison c = compare(a, b, b);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "exact");

  Value x, r;
  x.kind = r.kind = K::floating;
  r.f = 0.1;
  x.f = 0.1;
  EXPECT_TRUE(compare(x, r, r).ok);
  x.f = 0.2;
  EXPECT_FALSE(compare(x, r, r).ok);
}

// ---- integer outputs ------------------------------------------------------

TEST(compare, integer_outputs_must_match_exactly) {
  const Value ref = i64({0, 3, 1, 2});
  EXPECT_TRUE(compare(ref, ref, ref).ok);
  const Comparison c = compare(i64({0, 3, 2, 2}), ref, ref);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "exact");
  EXPECT_EQ(c.figures.elements_over, 1);
}

TEST(compare, large_int64_values_that_differ_by_one_fail) {
  // 2^53 and 2^53 + 1 are the same double.
  const int64_t big = int64_t{1} << 53;
  const Value ref = i64({big + 1});
  const Comparison c = compare(i64({big}), ref, ref);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "exact");
}

TEST(compare, a_mismatch_where_the_references_disagree_is_a_tie) {
  // An argmax whose two largest values tie in float32 but not in float64.
  const Value r32 = i64({0, 3, 1, 2});
  const Value r64 = i64({0, 3, 4, 2});
  const Value cand = i64({0, 3, 4, 2});
  const Comparison c = compare(cand, r32, r64);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "tie");
  EXPECT_EQ(c.figures.ties, 1);

  CompareOptions opt;
  opt.allow_ties = true;
  const Comparison allowed = compare(cand, r32, r64, opt);
  EXPECT_TRUE(allowed.ok) << allowed.check << ": " << allowed.detail;
  EXPECT_EQ(allowed.figures.ties, 1);

  // Agreeing with the float32 reference there is no tie at all.
  EXPECT_TRUE(compare(r32, r32, r64).ok);
  // A mismatch elsewhere is still wrong, ties allowed or not.
  const Comparison wrong = compare(i64({1, 3, 4, 2}), r32, r64, opt);
  ASSERT_FALSE(wrong.ok);
  EXPECT_EQ(wrong.check, "exact");
}

TEST(compare, bool_outputs_must_match_exactly) {
  const Value ref = tensor<uint8_t>("bool", {1, 0, 1});
  EXPECT_TRUE(compare(ref, ref, ref).ok);
  const Comparison c = compare(tensor<uint8_t>("bool", {1, 1, 1}), ref, ref);
  ASSERT_FALSE(c.ok);
  EXPECT_EQ(c.check, "exact");
}

// ---- workload sanity ------------------------------------------------------

TEST(output_sanity, an_all_zero_output_is_flagged) {
  bool all_zero = false, constant = false;
  kopt::verify::output_sanity(tuple({f32(std::vector<float>(64, 0.0f)), f32({0.0f, -0.0f})}), all_zero, constant);
  EXPECT_TRUE(all_zero);
  EXPECT_TRUE(constant);
}

TEST(output_sanity, a_constant_output_is_flagged) {
  bool all_zero = true, constant = false;
  kopt::verify::output_sanity(f32(std::vector<float>(64, 0.5f)), all_zero, constant);
  EXPECT_FALSE(all_zero);
  EXPECT_TRUE(constant);
}

TEST(output_sanity, a_varying_output_is_not_flagged) {
  bool all_zero = true, constant = true;
  kopt::verify::output_sanity(tuple({f32(std::vector<float>(8, 1.0f)), f32({0.0f, 1.0f, 2.0f})}), all_zero, constant);
  EXPECT_FALSE(all_zero);
  EXPECT_FALSE(constant);
}

TEST(output_sanity, non_finite_elements_are_ignored) {
  bool all_zero = false, constant = false;
  kopt::verify::output_sanity(f32({0.0f, k_nan, k_inf, 0.0f}), all_zero, constant);
  EXPECT_TRUE(all_zero);
  EXPECT_TRUE(constant);
}

TEST(output_sanity, an_output_without_tensors_is_not_flagged) {
  Value none;
  bool all_zero = true, constant = true;
  kopt::verify::output_sanity(none, all_zero, constant);
  EXPECT_FALSE(all_zero);
  EXPECT_FALSE(constant);
}

}  // namespace
