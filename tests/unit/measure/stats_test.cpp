#include "kopt/measure/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace {

using kopt::measure::bootstrap_median;
using kopt::measure::quantile;
using kopt::measure::summarize;

// Skewed positive samples, like kernel times: a lognormal around `centre`.
std::vector<double> timings(size_t n, uint64_t seed, double centre = 1.0) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> spread(0.0, 0.2);
  std::vector<double> values(n);
  for (double& v : values) v = centre * spread(rng);
  return values;
}

// Expected figures below are numpy's: np.percentile(values, q) with the default
// (linear) method, worked by hand as h = (n - 1) q.
TEST(stats, quartiles_of_four_values_interpolate_like_numpy) {
  const auto s = summarize({4, 1, 3, 2});
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
  EXPECT_DOUBLE_EQ(s.iqr, 1.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

TEST(stats, quartiles_of_six_values_interpolate_like_numpy) {
  const auto s = summarize({41, 7, 39, 15, 40, 36});
  EXPECT_DOUBLE_EQ(s.q1, 20.25);
  EXPECT_DOUBLE_EQ(s.median, 37.5);
  EXPECT_DOUBLE_EQ(s.q3, 39.75);
}

TEST(stats, median_of_even_count_interpolates) {
  EXPECT_DOUBLE_EQ(summarize({10, 20}).median, 15);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5, 6}, 0.5), 3.5);
}

TEST(stats, median_of_odd_count_is_the_middle_value) {
  EXPECT_DOUBLE_EQ(summarize({3, 1, 2}).median, 2);
  EXPECT_DOUBLE_EQ(summarize({5, 100, 1, 2, 3}).median, 3);
}

TEST(stats, quantile_interpolates_between_order_statistics) {
  const std::vector<double> v{50, 10, 40, 20, 30};
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 10);
  EXPECT_DOUBLE_EQ(quantile(v, 0.1), 14);    // h = 0.4
  EXPECT_DOUBLE_EQ(quantile(v, 0.9), 46);    // h = 3.6
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 50);
}

TEST(stats, quantile_outside_zero_to_one_is_clamped) {
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3}, -0.5), 1);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3}, 1.5), 3);
}

TEST(stats, empty_input_gives_zeros) {
  const auto s = summarize({});
  EXPECT_EQ(s.n, 0);
  EXPECT_EQ(s.median, 0);
  EXPECT_EQ(s.iqr, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(quantile({}, 0.5), 0);
}

TEST(stats, one_value_is_every_quantile) {
  const auto s = summarize({2.5});
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q1, 2.5);
  EXPECT_DOUBLE_EQ(s.q3, 2.5);
  EXPECT_DOUBLE_EQ(s.iqr, 0);
  EXPECT_DOUBLE_EQ(quantile({2.5}, 0.9), 2.5);
}

TEST(stats, nan_values_are_left_out) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto s = summarize({nan, 1, 2, 3, nan});
  EXPECT_EQ(s.n, 3);
  EXPECT_DOUBLE_EQ(s.median, 2);
  EXPECT_DOUBLE_EQ(s.mean, 2);
}

TEST(stats, bootstrap_interval_contains_the_median) {
  const auto values = timings(101, 1);
  const auto ci = bootstrap_median(values);
  EXPECT_DOUBLE_EQ(ci.estimate, summarize(values).median);
  EXPECT_LT(ci.low, ci.estimate);
  EXPECT_GT(ci.high, ci.estimate);
  EXPECT_EQ(ci.resamples, 4000);
}

TEST(stats, bootstrap_interval_narrows_with_more_samples) {
  const auto few = bootstrap_median(timings(20, 2));
  const auto many = bootstrap_median(timings(2000, 3));
  EXPECT_LT(many.high - many.low, (few.high - few.low) / 2);
  EXPECT_LT(many.low, 1.0);  // the lognormal's median is 1
  EXPECT_GT(many.high, 1.0);
}

TEST(stats, bootstrap_is_reproducible_with_the_same_seed) {
  const auto values = timings(50, 4);
  const auto a = bootstrap_median(values, 2000, 0.95, 42);
  const auto b = bootstrap_median(values, 2000, 0.95, 42);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_EQ(a.estimate, b.estimate);
}

TEST(stats, higher_confidence_gives_a_wider_interval) {
  const auto values = timings(60, 5);
  const auto narrow = bootstrap_median(values, 4000, 0.5);
  const auto wide = bootstrap_median(values, 4000, 0.99);
  EXPECT_LE(wide.low, narrow.low);
  EXPECT_GE(wide.high, narrow.high);
  EXPECT_GT(wide.high - wide.low, narrow.high - narrow.low);
}

TEST(stats, bootstrap_of_one_value_is_that_value) {
  const auto ci = bootstrap_median({3.0});
  EXPECT_DOUBLE_EQ(ci.estimate, 3.0);
  EXPECT_DOUBLE_EQ(ci.low, 3.0);
  EXPECT_DOUBLE_EQ(ci.high, 3.0);
}

TEST(stats, bootstrap_of_nothing_is_zero) {
  const auto ci = bootstrap_median({});
  EXPECT_EQ(ci.estimate, 0);
  EXPECT_EQ(ci.low, 0);
  EXPECT_EQ(ci.high, 0);
  EXPECT_EQ(ci.resamples, 0);
}

TEST(stats, bootstrap_of_identical_values_has_no_width) {
  const auto ci = bootstrap_median(std::vector<double>(30, 7.0));
  EXPECT_DOUBLE_EQ(ci.low, 7.0);
  EXPECT_DOUBLE_EQ(ci.high, 7.0);
}

}  // namespace
