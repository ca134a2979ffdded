// Nsight Compute's CSV log as kopt reads it, and where kopt looks for ncu.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "kopt/measure/ncu.hpp"

using namespace kopt::measure;

namespace {

// The details page as ncu 2025 writes it with --csv --print-units base: a row per launch
// and metric, after ncu's own ==PROF== lines. Two launches of the swish kernel (2 calls).
const char* kLog =
    "==PROF== Connected to process 4242 (/usr/bin/python3.12)\n"
    "==PROF== Profiling \"swish_kernel\" - 0: 0%....50%....100% - 9 passes\n"
    "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Context\",\"Stream\",\"Block Size\","
    "\"Grid Size\",\"Device\",\"CC\",\"Section Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"\n"
    "\"0\",\"4242\",\"python3.12\",\"127.0.0.1\",\"swish_kernel(const float4 *, float4 *, long)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(2112, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"gpu__time_duration.sum\",\"nsecond\",\"70,901\"\n"
    "\"0\",\"4242\",\"python3.12\",\"127.0.0.1\",\"swish_kernel(const float4 *, float4 *, long)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(2112, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"dram__throughput.avg.pct_of_peak_sustained_elapsed\",\"%\",\"91.5\"\n"
    "\"0\",\"4242\",\"python3.12\",\"127.0.0.1\",\"swish_kernel(const float4 *, float4 *, long)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(2112, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"launch__registers_per_thread\",\"register/thread\",\"16\"\n"
    "\"1\",\"4242\",\"python3.12\",\"127.0.0.1\",\"swish_kernel(const float4 *, float4 *, long)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(2112, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"gpu__time_duration.sum\",\"nsecond\",\"71,099\"\n"
    "\"1\",\"4242\",\"python3.12\",\"127.0.0.1\",\"swish_kernel(const float4 *, float4 *, long)\",\"1\",\"7\",\"(256, 1, 1)\","
    "\"(2112, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"dram__throughput.avg.pct_of_peak_sustained_elapsed\",\"%\",\"92.5\"\n"
    "\"2\",\"4242\",\"python3.12\",\"127.0.0.1\",\"void at::native::copy_kernel<\"\"x\"\">()\",\"1\",\"7\",\"(128, 1, 1)\","
    "\"(64, 1, 1)\",\"0\",\"9.0\",\"Command line profiler metrics\",\"gpu__time_duration.sum\",\"nsecond\",\"4,000\"\n"
    "==PROF== Disconnected from process 4242\n";

}  // namespace

TEST(parse_ncu_csv, averages_launches_of_a_kernel_per_call_heaviest_first) {
  auto k = parse_ncu_csv(kLog, 2);
  ASSERT_TRUE(k.ok()) << k.failure().message;
  ASSERT_EQ(k->size(), 2u);
  const auto& swish = (*k)[0];
  EXPECT_EQ(swish["name"], "swish_kernel(const float4 *, float4 *, long)");
  EXPECT_DOUBLE_EQ(swish["launches_per_call"].get<double>(), 1.0);
  EXPECT_NEAR(swish["us_per_call"].get<double>(), 71.0, 1e-9);  // (70.901 + 71.099) / 2 calls
  EXPECT_NEAR(swish["dram_pct"].get<double>(), 92.0, 1e-9);
  EXPECT_DOUBLE_EQ(swish["registers"].get<double>(), 16.0);
  EXPECT_TRUE(swish["sm_pct"].is_null());  // not in the log: unknown, not zero
  EXPECT_NEAR(swish["share"].get<double>(), 142.0 / 146.0, 1e-9);
  EXPECT_EQ((*k)[1]["name"], "void at::native::copy_kernel<\"x\">()");  // "" inside quotes
  EXPECT_DOUBLE_EQ((*k)[1]["launches_per_call"].get<double>(), 0.5);
}

TEST(parse_ncu_csv, older_logs_with_scaled_units_and_a_kernel_time_column_parse_too) {
  const std::string log =
      "\"ID\",\"Process ID\",\"Process Name\",\"Host Name\",\"Kernel Name\",\"Kernel Time\",\"Context\",\"Stream\","
      "\"Section Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"\n"
      "\"0\",\"1\",\"p\",\"h\",\"gemm\",\"2024-Nov-13 18:14:36\",\"1\",\"7\",\"s\",\"gpu__time_duration.sum\",\"usecond\",\"152.19\"\n";
  auto k = parse_ncu_csv(log, 1);
  ASSERT_TRUE(k.ok());
  EXPECT_NEAR((*k)[0]["us_per_call"].get<double>(), 152.19, 1e-9);
}

TEST(parse_ncu_csv, a_log_without_kernels_says_ncus_error) {
  auto k = parse_ncu_csv("==PROF== Connected to process 1\n==ERROR== ERR_NVGPUCTRPERM - The user does not have permission "
                         "to access NVIDIA GPU Performance Counters\n", 1);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.failure().kind, "ncu");
  EXPECT_NE(k.failure().message.find("ERR_NVGPUCTRPERM"), std::string::npos);
  auto empty = parse_ncu_csv("", 1);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.failure().message.find("no kernel"), std::string::npos);
}

TEST(parse_ncu_csv, keeps_the_heaviest_kernels_only) {
  std::string log = "\"ID\",\"Kernel Name\",\"Metric Name\",\"Metric Unit\",\"Metric Value\"\n";
  for (int i = 0; i < 20; ++i)
    log += "\"" + std::to_string(i) + "\",\"k" + std::to_string(i) + "\",\"gpu__time_duration.sum\",\"nsecond\",\"" +
           std::to_string(1000 * (i + 1)) + "\"\n";
  auto k = parse_ncu_csv(log, 1, 5);
  ASSERT_TRUE(k.ok());
  ASSERT_EQ(k->size(), 5u);
  EXPECT_EQ((*k)[0]["name"], "k19");
  EXPECT_EQ((*k)[4]["name"], "k15");
}

TEST(ncu_text, one_line_per_kernel_with_unknown_metrics_as_na) {
  auto k = parse_ncu_csv(kLog, 2);
  ASSERT_TRUE(k.ok());
  const auto text = ncu_text(k.value());
  EXPECT_NE(text.find("71.00 us x1  DRAM 92.0%  SM n/a"), std::string::npos) << text;
  EXPECT_NE(text.find("regs 16"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(ncu_command, profiles_only_the_marked_range_into_a_csv_log) {
  const auto cmd = ncu_command("/opt/ncu", "/tmp/x/ncu.csv");
  ASSERT_FALSE(cmd.empty());
  EXPECT_EQ(cmd[0], "/opt/ncu");
  auto has = [&](const std::string& a, const std::string& b) {
    for (size_t i = 0; i + 1 < cmd.size(); ++i)
      if (cmd[i] == a && cmd[i + 1] == b) return true;
    return false;
  };
  EXPECT_TRUE(has("--profile-from-start", "off"));
  EXPECT_TRUE(has("--log-file", "/tmp/x/ncu.csv"));
  EXPECT_TRUE(has("--print-units", "base"));
  EXPECT_NE(cmd.back().find("gpu__time_duration.sum"), std::string::npos);
}

TEST(find_ncu, the_flag_then_the_environment_then_path) {
  char dir[] = "/tmp/kopt-ncu-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string d = dir, exe = d + "/ncu", plain = d + "/notexec";
  { std::ofstream(exe) << "#!/bin/sh\n"; }
  { std::ofstream(plain) << "x\n"; }
  chmod(exe.c_str(), 0755);
  EXPECT_EQ(find_ncu(exe, "", "").value_or(""), exe);
  EXPECT_FALSE(find_ncu(plain, "", "").has_value());  // named but not executable: no fallback
  EXPECT_EQ(find_ncu("", exe, "").value_or(""), exe);
  EXPECT_EQ(find_ncu("", "", "/nonexistent:" + d).value_or(""), exe);
  unlink(exe.c_str());
  unlink(plain.c_str());
  rmdir(dir);
}
