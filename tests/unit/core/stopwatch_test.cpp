// The stopwatch's pure pieces: the outside-clock cross-check and the timing document.
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>
#include <gtest/gtest.h>

#include "core/timing/stopwatch.hpp"
#include "kopt/core/timing.hpp"

using namespace kopt::core;

namespace {

std::vector<BatchFigures> batches(double inside, double outside, int n = 15) {
  std::vector<BatchFigures> out;
  for (int k = 0; k < n; ++k) {
    BatchFigures b;
    b.inside_ms = inside;
    b.outside_ms = outside + 0.001 * k;
    out.push_back(b);
  }
  return out;
}

Calibration with_gap(double gap) {
  Calibration c;
  c.null_gap_ms = gap;
  return c;
}

}  // namespace

TEST(cross_check, honest_batches_whose_gap_matches_the_null_pass) {
  nlohmann::json fig;
  EXPECT_EQ(Stopwatch::cross_check(batches(2.5, 2.8), with_gap(0.3), &fig, 0.2, 0.05), "");
  EXPECT_NEAR(fig["median_excess_ms"].get<double>(), 0.007, 1e-9);
}

TEST(cross_check, an_honest_launch_bound_gap_as_measured_on_an_h200_passes) {
  // 0.18 ms beyond the null's gap on a 2.5 ms batch (c_time_side_stream_async.py).
  EXPECT_EQ(Stopwatch::cross_check(batches(2.5, 2.5 + 0.1 + 0.18), with_gap(0.1), nullptr, 0.2, 0.05), "");
}

TEST(cross_check, a_timer_reporting_a_tenth_of_the_time_is_caught) {
  const auto why = Stopwatch::cross_check(batches(0.25, 2.6), with_gap(0.1), nullptr, 0.2, 0.05);
  EXPECT_NE(why.find("kopt's own clock"), std::string::npos) << why;
}

TEST(cross_check, a_timer_reporting_half_the_time_is_caught_on_a_gpu) {
  EXPECT_NE(Stopwatch::cross_check(batches(1.25, 2.6), with_gap(0.1), nullptr, 0.2, 0.05), "");
}

TEST(cross_check, cpu_margins_tolerate_scheduler_noise_but_not_a_fraction) {
  // 1.7 ms of noise on a 3 ms batch (seen beside a parallel build) passes on CPU...
  EXPECT_EQ(Stopwatch::cross_check(batches(3.0, 3.0 + 0.2 + 1.7), with_gap(0.2), nullptr, 0.5, 0.5), "");
  // ...a timer reporting a tenth of a 5 ms batch does not.
  EXPECT_NE(Stopwatch::cross_check(batches(0.5, 5.2), with_gap(0.2), nullptr, 0.5, 0.5), "");
}

TEST(cross_check, no_batches_is_no_evidence) {
  EXPECT_EQ(Stopwatch::cross_check({}, with_gap(0.1), nullptr, 0.2, 0.05), "");
}

TEST(timing_json, a_failed_timing_carries_its_error_and_no_figures) {
  Timing t;
  t.label = "candidate";
  t.error = "boom";
  const auto j = timing_json(t);
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_EQ(j["error"], "boom");
  EXPECT_FALSE(j.contains("median_ms"));
}

TEST(timing_json, a_timing_reports_median_quartiles_and_iqr) {
  Timing t;
  t.ok = true;
  t.median_ms = 2;
  t.q1_ms = 1.5;
  t.q3_ms = 2.75;
  t.min_ms = 1;
  t.batches = 15;
  t.calls_per_batch = 4;
  const auto j = timing_json(t);
  EXPECT_DOUBLE_EQ(j["iqr_ms"].get<double>(), 1.25);
  EXPECT_EQ(j["batches"], 15);
  EXPECT_EQ(j["calls_per_batch"], 4);
}

TEST(host_json, counts_batches_the_gpu_ran_no_faster_than_the_host_queued) {
  std::vector<BatchFigures> b(4);
  for (auto& x : b) {
    x.calls = 10;
    x.inside_ms = 1.2;
    x.head_ms = 1.0;
  }
  b[0].enqueue_ms = 0.4;   // the host far ahead of the GPU
  b[1].enqueue_ms = 0.5;
  b[2].enqueue_ms = 0.95;  // queueing took as long as the GPU's figure: the GPU waited
  b[3].enqueue_ms = 1.0;
  b[3].gc_collections = 2;
  const auto h = Stopwatch::host_json(b);
  EXPECT_EQ(h["host_bound_batches"].get<int>(), 2);
  EXPECT_EQ(h["batches"].get<int>(), 4);
  EXPECT_NEAR(h["enqueue_per_call_ms"].get<double>(), 0.0725, 1e-9);  // median of 0.04 .. 0.1
  EXPECT_EQ(h["gc_collections"].get<int>(), 2);
}

TEST(host_json, a_worker_that_reported_no_queueing_time_gives_nothing) {
  std::vector<BatchFigures> b(3);
  EXPECT_TRUE(Stopwatch::host_json(b).is_null());
}

TEST(sleep_drift, a_batch_whose_sleep_ran_longer_than_the_nulls_subtracts_the_difference) {
  // The opening sleep counts SM cycles: at a lower clock the same 387 us sleep lasts
  // longer, and a 0.47 ms call read that much slower. The batch subtracts its own.
  EXPECT_NEAR(Stopwatch::sleep_drift(0.420, 0.387), 0.033, 1e-12);
  EXPECT_NEAR(Stopwatch::sleep_drift(0.360, 0.387), -0.027, 1e-12);
}

TEST(sleep_drift, is_capped_because_the_figure_comes_from_the_candidates_worker) {
  // A worker claiming its sleep took twice the null's gains at most 15% of the null's.
  EXPECT_NEAR(Stopwatch::sleep_drift(0.800, 0.400), 0.060, 1e-12);
  EXPECT_NEAR(Stopwatch::sleep_drift(0.001, 0.400), -0.060, 1e-12);
}

TEST(sleep_drift, nothing_without_a_sleep_or_from_a_worker_that_does_not_measure_it) {
  EXPECT_EQ(Stopwatch::sleep_drift(0, 0.387), 0);      // an older harness
  EXPECT_EQ(Stopwatch::sleep_drift(0.387, 0), 0);      // null batches without the figure
  EXPECT_EQ(Stopwatch::sleep_drift(0, 0), 0);          // a CPU: no sleep at all
}

TEST(sleep_json, reports_the_nulls_sleep_and_the_batches_drift_in_microseconds) {
  std::vector<BatchFigures> b(3);
  const double sleeps[] = {0.410, 0.420, 0.370};
  const double nulls[] = {0.400, 0.400, 0.402};  // a claim re-measures the null per block
  for (size_t i = 0; i < b.size(); ++i) {
    b[i].sleep_ms = sleeps[i];
    b[i].null_sleep_ms = nulls[i];
    b[i].sleep_drift_ms = Stopwatch::sleep_drift(sleeps[i], nulls[i]);
  }
  const auto j = Stopwatch::sleep_json(b);
  EXPECT_NEAR(j["null_us"].get<double>(), 400, 1e-9);
  EXPECT_NEAR(j["drift_us"].get<double>(), 10, 1e-9);
  EXPECT_NEAR(j["drift_max_us"].get<double>(), -32, 1e-9);
  EXPECT_TRUE(Stopwatch::sleep_json(std::vector<BatchFigures>(2)).is_null());  // no sleep measured
}

namespace {
StopwatchConfig sized(const std::string& device, double device_memory) {
  StopwatchConfig c;
  c.device = device;
  c.bytes_per_call = 256.0 * (1 << 20);  // swish 32 M: 128 MB in, 128 MB out
  c.device_memory = device_memory;
  return c;
}
}  // namespace

TEST(stopwatch_sizes, a_gpu_batch_holds_up_to_4_gib_of_fresh_inputs_and_a_16th_of_the_device) {
  const double gib = 1 << 30;
  EXPECT_EQ(Stopwatch(sized("cuda", 80 * gib)).max_calls(), 16);  // 4 GiB
  EXPECT_EQ(Stopwatch(sized("cuda", 24 * gib)).max_calls(), 6);   // 1.5 GiB
  EXPECT_EQ(Stopwatch(sized("cuda", 0)).max_calls(), 16);         // memory unknown
  EXPECT_EQ(Stopwatch(sized("cpu", 0)).max_calls(), 4);           // 1 GiB of host memory
}

TEST(stopwatch_sizes, a_gpu_batch_takes_at_most_a_quarter_of_the_memory_free_at_hello) {
  const double gib = 1 << 30;
  auto c = sized("cuda", 80 * gib);
  c.device_free = 2 * gib;  // another process holds the rest: 512 MiB, two calls
  EXPECT_EQ(Stopwatch(c).max_calls(), 2);
  c.device_free = 0.1 * gib;  // too little for one call's inputs: still one call, never none
  EXPECT_EQ(Stopwatch(c).max_calls(), 1);
  c.device_free = 70 * gib;  // plenty free: the 4 GiB default
  EXPECT_EQ(Stopwatch(c).max_calls(), 16);
}

TEST(stopwatch_sizes, gpu_spans_open_with_a_200_us_sleep_and_cpu_spans_with_none) {
  EXPECT_EQ(Stopwatch(sized("cuda", 0)).head_cycles(), 400000);
  EXPECT_EQ(Stopwatch(sized("cpu", 0)).head_cycles(), 0);
}

// The KOPT_TIMING_* diagnostics are read once, by the CLI, into TimingOptions; the
// stopwatch takes them from its options (a Stopwatch no longer reads the environment).
TEST(timing_diagnostics, are_read_from_the_environment_once_and_applied_from_the_options) {
  const char* names[] = {"KOPT_TIMING_KEEP_ALL", "KOPT_TIMING_HOLD_US", "KOPT_TIMING_WAKE_US", "KOPT_TIMING_HEAD_US",
                         "KOPT_TIMING_INPUT_MB", "KOPT_TIMING_BATCH_MS", "KOPT_TIMING_GC", "KOPT_TIMING_NVML",
                         "KOPT_TIMING_REUSE_INPUTS"};
  std::vector<std::pair<std::string, std::string>> saved;
  for (const char* n : names) {
    if (const char* v = std::getenv(n)) saved.emplace_back(n, v);
    unsetenv(n);
  }
  EXPECT_FALSE(kopt::core::timing_diagnostics_from_env().any());
  setenv("KOPT_TIMING_HEAD_US", "350", 1);
  setenv("KOPT_TIMING_INPUT_MB", "512", 1);
  setenv("KOPT_TIMING_NVML", "adjacent", 1);
  setenv("KOPT_TIMING_HOLD_US", "5000000", 1);  // clamped to a second
  setenv("KOPT_TIMING_GC", "yes", 1);           // only "1" turns it on
  const auto d = kopt::core::timing_diagnostics_from_env();
  for (const char* n : names) unsetenv(n);
  for (const auto& [n, v] : saved) setenv(n.c_str(), v.c_str(), 1);
  EXPECT_TRUE(d.any());
  ASSERT_TRUE(d.head_us.has_value());
  EXPECT_EQ(*d.head_us, 350);
  EXPECT_EQ(d.input_mb, 512);
  EXPECT_EQ(d.nvml, "adjacent");
  EXPECT_EQ(d.hold_us, 1e6);
  EXPECT_FALSE(d.keep_gc);
  // Given through the options, they size and open the batches; without them, the defaults.
  auto c = sized("cuda", 80.0 * (1 << 30));
  c.options.diagnostics = d;
  const Stopwatch diagnosed(c);
  EXPECT_EQ(diagnosed.head_cycles(), 700000);  // 350 us at 2000 cycles per us
  EXPECT_EQ(diagnosed.max_calls(), 2);         // 512 MiB of 256 MiB calls
  EXPECT_EQ(Stopwatch(sized("cuda", 80.0 * (1 << 30))).head_cycles(), 400000);
}

TEST(stopwatch_sizes, the_opening_sleep_covers_a_call_the_host_queues_slowly) {
  const long base = 400000;  // 200 us at 2000 cycles per us
  // A model queued faster than the default covers keeps it.
  EXPECT_EQ(Stopwatch::head_cover(base, 0.05), base);
  EXPECT_EQ(Stopwatch::head_cover(base, 0.13), base);
  // torch.compile's default mode as measured on an H200 host: 0.254 and 0.395 ms of host
  // time per call; the sleep becomes 1.5x that.
  EXPECT_EQ(Stopwatch::head_cover(base, 0.254), 762000);
  EXPECT_EQ(Stopwatch::head_cover(base, 0.395), 1185000);
  // At most 20 ms, whatever the host reports; nothing adapts without a sleep (the CPU) or
  // without a figure.
  EXPECT_EQ(Stopwatch::head_cover(base, 500.0), 40000000);
  EXPECT_EQ(Stopwatch::head_cover(0, 0.395), 0);
  EXPECT_EQ(Stopwatch::head_cover(base, -1), base);
  EXPECT_EQ(Stopwatch::head_cover(base, std::nan("")), base);
}

TEST(stopwatch_sizes, microseconds_of_sleep_become_the_cycles_sent_to_the_worker) {
  EXPECT_EQ(Stopwatch::cycles_of_us(200), 400000);  // the default sleep, as head_cycles() gives it
  EXPECT_EQ(Stopwatch::cycles_of_us(592.5), 1185000);
  EXPECT_EQ(Stopwatch::cycles_of_us(1e9), 40000000);  // at most 20 ms, like head_cover
  EXPECT_EQ(Stopwatch::cycles_of_us(0), 0);
  EXPECT_EQ(Stopwatch::cycles_of_us(-5), 0);
  EXPECT_EQ(Stopwatch::cycles_of_us(std::nan("")), 0);
}
