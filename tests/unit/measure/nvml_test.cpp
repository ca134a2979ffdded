#include "kopt/measure/nvml.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>

namespace {

using kopt::measure::describe_throttle;
using kopt::measure::GpuState;
using kopt::measure::Nvml;
using kopt::measure::state_json;
using kopt::measure::voids_timing;

// Sets what the fake NVML at `path` reports; it shares state with the copy Nvml::open
// loads, since dlopen of the same file returns the same library.
class FakeNvml {
 public:
  explicit FakeNvml(const char* path) : m_handle(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {}
  ~FakeNvml() {
    if (m_handle) dlclose(m_handle);
  }
  bool loaded() const { return m_handle != nullptr; }
  void processes(unsigned n) const {
    reinterpret_cast<void (*)(unsigned)>(dlsym(m_handle, "fake_nvml_set_processes"))(n);
  }
  void throttle(unsigned long long reasons) const {
    reinterpret_cast<void (*)(unsigned long long)>(dlsym(m_handle, "fake_nvml_set_throttle"))(reasons);
  }

 private:
  void* m_handle;
};

TEST(nvml, hardware_and_thermal_slowdowns_void_timing) {
  EXPECT_TRUE(voids_timing(0x8));   // hw_slowdown
  EXPECT_TRUE(voids_timing(0x20));  // sw_thermal
  EXPECT_TRUE(voids_timing(0x40));  // hw_thermal
  EXPECT_TRUE(voids_timing(0x80));  // hw_power_brake
  EXPECT_TRUE(voids_timing(0x4 | 0x40));
}

TEST(nvml, a_power_cap_idle_or_boost_does_not_void_timing) {
  EXPECT_FALSE(voids_timing(0));
  EXPECT_FALSE(voids_timing(0x1));    // gpu_idle
  EXPECT_FALSE(voids_timing(0x2));    // applications_clocks
  EXPECT_FALSE(voids_timing(0x4));    // sw_power_cap
  EXPECT_FALSE(voids_timing(0x10));   // sync_boost
  EXPECT_FALSE(voids_timing(0x100));  // display_clock
}

TEST(nvml, describe_throttle_names_every_set_bit) {
  EXPECT_EQ(describe_throttle(0), "");
  EXPECT_EQ(describe_throttle(0x4 | 0x40), "sw_power_cap, hw_thermal");
  EXPECT_EQ(describe_throttle(0x1ff),
            "gpu_idle, applications_clocks, sw_power_cap, hw_slowdown, sync_boost, sw_thermal, "
            "hw_thermal, hw_power_brake, display_clock");
}

TEST(nvml, describe_throttle_shows_unknown_bits_in_hex) {
  EXPECT_EQ(describe_throttle(0x1000), "unknown 0x1000");
  EXPECT_EQ(describe_throttle(0x8 | 0x3000), "hw_slowdown, unknown 0x3000");
}

TEST(nvml, state_json_carries_every_field_and_the_verdict) {
  GpuState state;
  state.sm_clock_mhz = 1980;
  state.mem_clock_mhz = 2619;
  state.temperature_c = 60;
  state.power_mw = 500000;
  state.throttle_reasons = 0x40;
  state.processes = {12, 34};
  state.processes_known = true;
  const auto j = state_json(state);
  EXPECT_EQ(j["sm_clock_mhz"], 1980);
  EXPECT_EQ(j["mem_clock_mhz"], 2619);
  EXPECT_EQ(j["temperature_c"], 60);
  EXPECT_EQ(j["power_mw"], 500000);
  EXPECT_EQ(j["throttle_reasons"], 0x40);
  EXPECT_EQ(j["throttle"], "hw_thermal");
  EXPECT_EQ(j["voids_timing"], true);
  EXPECT_EQ(j["processes"], nlohmann::json({12, 34}));
  EXPECT_EQ(j["processes_known"], true);
}

TEST(nvml, open_either_works_or_says_why_in_one_line) {
  std::string why;
  auto nvml = Nvml::open(why);
  if (!nvml) {
    EXPECT_FALSE(why.empty());
    EXPECT_EQ(why.find('\n'), std::string::npos);
    return;
  }
  // A machine with a driver: the first GPU must answer.
  ASSERT_TRUE(nvml->select("", ""));
  const auto state = nvml->sample();
  ASSERT_TRUE(state.has_value());
  EXPECT_GT(state->sm_clock_mhz, 0u);
  EXPECT_FALSE(nvml->device_name().empty());
  EXPECT_FALSE(nvml->driver_version().empty());
}

TEST(nvml, a_missing_library_is_a_reason_not_a_crash) {
  std::string why;
  EXPECT_EQ(Nvml::open("/nonexistent/libnvidia-ml.so.1", why), nullptr);
  EXPECT_NE(why.find("NVML is not available"), std::string::npos);
  EXPECT_EQ(why.find('\n'), std::string::npos);
}

TEST(nvml, a_library_without_nvml_symbols_is_refused) {
  std::string why;
  EXPECT_EQ(Nvml::open("libm.so.6", why), nullptr);
  EXPECT_NE(why.find("nvmlInit_v2"), std::string::npos);
}

TEST(nvml, fake_driver_is_sampled_field_by_field) {
  FakeNvml fake(KOPT_FAKE_NVML_V2);
  ASSERT_TRUE(fake.loaded());
  fake.processes(0);
  fake.throttle(0x4);
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V2, why);
  ASSERT_NE(nvml, nullptr) << why;
  EXPECT_FALSE(nvml->sample().has_value());  // nothing selected yet
  ASSERT_TRUE(nvml->select("", ""));
  EXPECT_EQ(nvml->device_name(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(nvml->driver_version(), "550.54.15");
  const auto state = nvml->sample();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->sm_clock_mhz, 1980u);
  EXPECT_EQ(state->mem_clock_mhz, 2619u);
  EXPECT_EQ(state->temperature_c, 41u);
  EXPECT_EQ(state->power_mw, 123456u);
  EXPECT_EQ(state->throttle_reasons, 0x4u);  // from the older ClocksThrottleReasons name
  EXPECT_TRUE(state->processes_known);
  EXPECT_TRUE(state->processes.empty());
}

TEST(nvml, many_processes_grow_the_array_and_keep_their_pids) {
  FakeNvml fake(KOPT_FAKE_NVML_V2);
  ASSERT_TRUE(fake.loaded());
  fake.processes(40);  // more than the first guess of 32
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V2, why);
  ASSERT_NE(nvml, nullptr) << why;
  ASSERT_TRUE(nvml->select("", ""));
  const auto state = nvml->sample();
  ASSERT_TRUE(state.has_value());
  ASSERT_TRUE(state->processes_known);
  ASSERT_EQ(state->processes.size(), 40u);
  for (unsigned i = 0; i < 40; ++i) EXPECT_EQ(state->processes[i], 1000 + i);
  fake.processes(0);
}

TEST(nvml, the_five_field_v3_layout_is_read_at_its_own_stride) {
  FakeNvml fake(KOPT_FAKE_NVML_V3);
  ASSERT_TRUE(fake.loaded());
  fake.processes(5);
  fake.throttle(0x40);
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V3, why);
  ASSERT_NE(nvml, nullptr) << why;
  ASSERT_TRUE(nvml->select("", ""));
  const auto state = nvml->sample();
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->processes, (std::vector<unsigned>{1000, 1001, 1002, 1003, 1004}));
  EXPECT_EQ(state->throttle_reasons, 0x40u);
  EXPECT_TRUE(voids_timing(state->throttle_reasons));
  fake.processes(0);
  fake.throttle(0);
}

TEST(nvml, select_finds_the_device_by_uuid_with_or_without_prefix) {
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V2, why);
  ASSERT_NE(nvml, nullptr) << why;
  EXPECT_TRUE(nvml->select("GPU-11111111-2222-3333-4444-555555555555", ""));
  EXPECT_TRUE(nvml->select("11111111-2222-3333-4444-555555555555", ""));
  EXPECT_TRUE(nvml->sample().has_value());
}

TEST(nvml, select_falls_back_to_the_pci_bus_id) {
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V2, why);
  ASSERT_NE(nvml, nullptr) << why;
  EXPECT_TRUE(nvml->select("GPU-ffffffff-0000-0000-0000-000000000000", "00000000:65:00.0"));
}

TEST(nvml, a_named_device_that_is_absent_selects_nothing) {
  std::string why;
  auto nvml = Nvml::open(KOPT_FAKE_NVML_V2, why);
  ASSERT_NE(nvml, nullptr) << why;
  ASSERT_TRUE(nvml->select("", ""));
  // Not index 0 instead: under CUDA_VISIBLE_DEVICES that could be another GPU.
  EXPECT_FALSE(nvml->select("GPU-ffffffff-0000-0000-0000-000000000000", "0000:01:00.0"));
  EXPECT_FALSE(nvml->sample().has_value());
  EXPECT_EQ(nvml->device_name(), "");
}

}  // namespace
