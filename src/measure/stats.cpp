#include "kopt/measure/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace kopt::measure {

namespace {

// NaN breaks std::sort's ordering; a timing sample is never NaN unless something upstream
// failed, and one bad sample should not poison the summary.
void drop_nan(std::vector<double>& values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
}

// numpy's "linear" method on sorted values: h = (n - 1) q, interpolate between floor and ceil.
double sorted_quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// Median of `values` (reordered in place), O(n).
double median_in_place(std::vector<double>& values) {
  const size_t n = values.size();
  const size_t mid = n / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<long>(mid), values.end());
  const double upper = values[mid];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<long>(mid));
  return lower + (upper - lower) / 2;
}

// Uniform index in [0, n) by rejection, so the draws (and so a report's interval) are the
// same with every standard library; std::uniform_int_distribution is not specified exactly.
size_t draw_index(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);  // largest multiple of n, exclusive
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return static_cast<size_t>(x % n);
}

}  // namespace

Summary summarize(std::vector<double> values) {
  drop_nan(values);
  Summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.n = static_cast<int>(values.size());
  s.median = sorted_quantile(values, 0.5);
  s.q1 = sorted_quantile(values, 0.25);
  s.q3 = sorted_quantile(values, 0.75);
  s.iqr = s.q3 - s.q1;
  s.min = values.front();
  s.max = values.back();
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return s;
}

double quantile(std::vector<double> values, double q) {
  drop_nan(values);
  std::sort(values.begin(), values.end());
  return sorted_quantile(values, q);
}

Interval bootstrap_median(const std::vector<double>& values, int resamples, double confidence,
                          uint64_t seed) {
  std::vector<double> data = values;
  drop_nan(data);
  Interval out;
  if (data.empty()) return out;
  {
    std::vector<double> copy = data;
    out.estimate = median_in_place(copy);
  }
  out.low = out.high = out.estimate;
  if (resamples <= 0 || data.size() == 1) {
    out.resamples = data.size() == 1 ? std::max(resamples, 0) : 0;
    return out;
  }

  std::mt19937_64 rng(seed);
  const uint64_t n = data.size();
  std::vector<double> medians;
  medians.reserve(static_cast<size_t>(resamples));
  std::vector<double> sample(data.size());
  for (int r = 0; r < resamples; ++r) {
    for (double& v : sample) v = data[draw_index(rng, n)];
    medians.push_back(median_in_place(sample));
  }
  std::sort(medians.begin(), medians.end());
  const double alpha = (1.0 - std::clamp(confidence, 0.0, 1.0)) / 2.0;
  out.low = sorted_quantile(medians, alpha);
  out.high = sorted_quantile(medians, 1.0 - alpha);
  out.resamples = resamples;
  return out;
}

}  // namespace kopt::measure
