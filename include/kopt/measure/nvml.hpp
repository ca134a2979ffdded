#pragma once
// NVML, loaded at run time (dlopen of libnvidia-ml.so.1): no build-time dependency, and
// a CPU-only machine simply has none. kopt asks it, from outside every worker, which
// processes use the GPU and what the clocks, temperature and throttle reasons are.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kopt::measure {

struct GpuState {
  unsigned sm_clock_mhz = 0;
  unsigned mem_clock_mhz = 0;
  unsigned temperature_c = 0;
  unsigned power_mw = 0;
  uint64_t throttle_reasons = 0;     // nvmlClocksThrottleReason* bits
  std::vector<unsigned> processes;   // PIDs with a compute context on the device
  bool processes_known = false;      // false when NVML could not list them
};

// Throttle bits that void a timed block: hardware slowdown, hardware thermal, software
// thermal, hardware power brake. A software power cap is only recorded.
bool voids_timing(uint64_t throttle_reasons);
// "sw_power_cap, hw_thermal" (empty for none).
std::string describe_throttle(uint64_t throttle_reasons);
nlohmann::json state_json(const GpuState& state);

class Nvml {
 public:
  // nullptr when NVML is unavailable; `why` then says why in one line. Never throws.
  static std::unique_ptr<Nvml> open(std::string& why);
  // The same from another library file (tests load a fake NVML this way).
  static std::unique_ptr<Nvml> open(const std::string& library_path, std::string& why);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  // Selects the device by UUID ("GPU-..." as torch reports it, with or without the
  // prefix), else by PCI bus id, else index 0 when both are empty. False when none matches.
  bool select(const std::string& uuid, const std::string& pci_bus_id);
  // The selected device's state; fields NVML cannot read stay 0. nullopt when no device
  // is selected or nothing could be read. Safe from several threads (NVML is), but not
  // concurrently with select().
  std::optional<GpuState> sample() const;
  std::string device_name() const;
  std::string driver_version() const;

 private:
  Nvml() = default;
  struct Api;
  std::unique_ptr<Api> m_api;
  void* m_device = nullptr;
};

}  // namespace kopt::measure
