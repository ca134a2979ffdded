#pragma once
// Robust summaries of timing samples: median, quartiles, and a percentile-bootstrap
// interval for the median (the speedup's 95% interval).
#include <cstdint>
#include <vector>

namespace kopt::measure {

struct Summary {
  int n = 0;
  double median = 0, q1 = 0, q3 = 0, iqr = 0, min = 0, max = 0, mean = 0;
};

// Quartiles by linear interpolation between order statistics (numpy's default).
// An empty input gives n = 0 and zeros. NaN values are left out (here and below).
Summary summarize(std::vector<double> values);

// The value at quantile q in [0, 1] (linear interpolation); 0 for an empty input.
double quantile(std::vector<double> values, double q);

struct Interval {
  double estimate = 0;  // the median of the values
  double low = 0;       // lower bound of the interval
  double high = 0;      // upper bound
  int resamples = 0;
};

// Median with a percentile-bootstrap interval at `confidence` (0.95): resamples the
// values with replacement `resamples` times from a fixed seed, so a report reproduces.
Interval bootstrap_median(const std::vector<double>& values, int resamples = 4000,
                          double confidence = 0.95, uint64_t seed = 0x6b6f7074);

}  // namespace kopt::measure
