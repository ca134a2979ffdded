#include "kopt/measure/nvml.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <utility>

namespace kopt::measure {

namespace {

// No NVML header is installed: the few types and constants used, from nvml.h.
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
constexpr nvmlReturn_t k_success = 0;
constexpr nvmlReturn_t k_insufficient_size = 7;
constexpr int k_clock_sm = 1;         // NVML_CLOCK_SM
constexpr int k_clock_mem = 2;        // NVML_CLOCK_MEM
constexpr int k_temperature_gpu = 0;  // NVML_TEMPERATURE_GPU
constexpr unsigned k_name_size = 96;    // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned k_driver_size = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

// nvmlProcessInfo_t as each entry point writes it. Only pid (offset 0 in all three) is
// read; the layouts matter for the stride between entries.
struct ProcessInfoV1 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
};
struct ProcessInfoV2 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};
struct ProcessInfoV3 {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
  unsigned long long usedGpuCcProtectedMemory;
};

struct Bit {
  uint64_t mask;
  const char* name;
};
// nvmlClocksThrottleReason* (nvmlClocksEventReason* in newer headers).
constexpr Bit k_throttle_bits[] = {
    {0x1, "gpu_idle"},         {0x2, "applications_clocks"}, {0x4, "sw_power_cap"},
    {0x8, "hw_slowdown"},      {0x10, "sync_boost"},         {0x20, "sw_thermal"},
    {0x40, "hw_thermal"},      {0x80, "hw_power_brake"},     {0x100, "display_clock"},
};
constexpr uint64_t k_voiding_bits = 0x8 | 0x20 | 0x40 | 0x80;

std::string one_line(const char* text) {
  std::string line = text ? text : "unknown error";
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

template <typename F>
void load(void* library, F& function, const char* name) {
  function = reinterpret_cast<F>(dlsym(library, name));
}

bool has_symbol(void* library, const char* name) { return dlsym(library, name) != nullptr; }

}  // namespace

struct Nvml::Api {
  void* library = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*by_uuid)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*by_pci_bus_id)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*driver_version)(char*, unsigned) = nullptr;
  nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned*) = nullptr;
  nvmlReturn_t (*throttle)(nvmlDevice_t, unsigned long long*) = nullptr;
  nvmlReturn_t (*processes)(nvmlDevice_t, unsigned*, void*) = nullptr;
  size_t process_stride = 0;  // the size of one entry the chosen `processes` writes

  // The newest process-listing entry point and the layout it writes. _v3 wrote the
  // five-field struct only in the drivers that had nvmlDeviceGetConfComputeMemSizeInfo and
  // not yet nvmlDeviceGetRunningProcessDetailList (NVIDIA moved the field there and
  // returned _v3 to the four-field layout); nvitop's libnvml.py makes the same test.
  void choose_process_listing() {
    if (has_symbol(library, "nvmlDeviceGetComputeRunningProcesses_v3")) {
      load(library, processes, "nvmlDeviceGetComputeRunningProcesses_v3");
      const bool five_fields = has_symbol(library, "nvmlDeviceGetConfComputeMemSizeInfo") &&
                               !has_symbol(library, "nvmlDeviceGetRunningProcessDetailList");
      process_stride = five_fields ? sizeof(ProcessInfoV3) : sizeof(ProcessInfoV2);
    } else if (has_symbol(library, "nvmlDeviceGetComputeRunningProcesses_v2")) {
      load(library, processes, "nvmlDeviceGetComputeRunningProcesses_v2");
      process_stride = sizeof(ProcessInfoV2);
    } else if (has_symbol(library, "nvmlDeviceGetComputeRunningProcesses")) {
      load(library, processes, "nvmlDeviceGetComputeRunningProcesses");
      process_stride = sizeof(ProcessInfoV1);
    }
  }

  // PIDs with a compute context; false when NVML could not list them.
  bool list_processes(nvmlDevice_t device, std::vector<unsigned>& pids) const {
    if (!processes) return false;
    unsigned capacity = 32;
    for (int attempt = 0; attempt < 4; ++attempt) {
      // Sized for the largest layout, so a driver that writes more than we assumed still
      // stays inside the buffer.
      std::vector<ProcessInfoV3> buffer(capacity);
      unsigned count = capacity;
      const nvmlReturn_t rc = processes(device, &count, buffer.data());
      if (rc == k_insufficient_size) {
        // Processes may start between calls: leave room.
        capacity = count * 2 + 8;
        continue;
      }
      if (rc != k_success) return false;
      const auto* bytes = reinterpret_cast<const unsigned char*>(buffer.data());
      const size_t usable = buffer.size() * sizeof(ProcessInfoV3) / process_stride;
      pids.clear();
      for (size_t i = 0; i < count && i < usable; ++i) {
        unsigned pid = 0;
        std::memcpy(&pid, bytes + i * process_stride, sizeof pid);
        pids.push_back(pid);
      }
      return true;
    }
    return false;
  }

  std::string error(nvmlReturn_t rc) const {
    const char* text = error_string ? error_string(rc) : nullptr;
    return text ? one_line(text) + " (" + std::to_string(rc) + ")" : "error " + std::to_string(rc);
  }
};

bool voids_timing(uint64_t throttle_reasons) { return (throttle_reasons & k_voiding_bits) != 0; }

std::string describe_throttle(uint64_t throttle_reasons) {
  std::string text;
  uint64_t known = 0;
  for (const Bit& bit : k_throttle_bits) {
    known |= bit.mask;
    if (throttle_reasons & bit.mask) text += (text.empty() ? "" : ", ") + std::string(bit.name);
  }
  if (const uint64_t rest = throttle_reasons & ~known) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(rest));
    text += (text.empty() ? "unknown " : ", unknown ") + std::string(hex);
  }
  return text;
}

nlohmann::json state_json(const GpuState& state) {
  return {{"sm_clock_mhz", state.sm_clock_mhz},
          {"mem_clock_mhz", state.mem_clock_mhz},
          {"temperature_c", state.temperature_c},
          {"power_mw", state.power_mw},
          {"throttle_reasons", state.throttle_reasons},
          {"throttle", describe_throttle(state.throttle_reasons)},
          {"voids_timing", voids_timing(state.throttle_reasons)},
          {"processes", state.processes},
          {"processes_known", state.processes_known}};
}

std::unique_ptr<Nvml> Nvml::open(std::string& why) { return open("libnvidia-ml.so.1", why); }

std::unique_ptr<Nvml> Nvml::open(const std::string& library_path, std::string& why) {
  dlerror();
  void* library = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    why = "NVML is not available: " + one_line(dlerror());
    return nullptr;
  }
  auto api = std::make_unique<Api>();
  api->library = library;
  load(library, api->init, "nvmlInit_v2");
  load(library, api->shutdown, "nvmlShutdown");
  if (!api->init || !api->shutdown) {
    why = "NVML is not usable: " + library_path + " lacks nvmlInit_v2 or nvmlShutdown";
    dlclose(library);
    return nullptr;
  }
  load(library, api->error_string, "nvmlErrorString");
  if (const nvmlReturn_t rc = api->init(); rc != k_success) {
    why = "NVML did not initialise: " + api->error(rc);
    dlclose(library);
    return nullptr;
  }
  load(library, api->by_uuid, "nvmlDeviceGetHandleByUUID");
  load(library, api->by_pci_bus_id, "nvmlDeviceGetHandleByPciBusId_v2");
  load(library, api->by_index, "nvmlDeviceGetHandleByIndex_v2");
  load(library, api->name, "nvmlDeviceGetName");
  load(library, api->driver_version, "nvmlSystemGetDriverVersion");
  load(library, api->clock, "nvmlDeviceGetClockInfo");
  load(library, api->temperature, "nvmlDeviceGetTemperature");
  load(library, api->power, "nvmlDeviceGetPowerUsage");
  load(library, api->throttle, "nvmlDeviceGetCurrentClocksEventReasons");
  if (!api->throttle) load(library, api->throttle, "nvmlDeviceGetCurrentClocksThrottleReasons");
  api->choose_process_listing();

  std::unique_ptr<Nvml> nvml(new Nvml());
  nvml->m_api = std::move(api);
  why.clear();
  return nvml;
}

Nvml::~Nvml() {
  if (!m_api) return;
  m_api->shutdown();
  dlclose(m_api->library);
}

bool Nvml::select(const std::string& uuid, const std::string& pci_bus_id) {
  m_device = nullptr;
  nvmlDevice_t device = nullptr;
  if (!uuid.empty() && m_api->by_uuid) {
    // torch reports "GPU-<hex>" in some versions and bare "<hex>" in others; NVML wants
    // the prefix (MIG instances carry "MIG-").
    const bool prefixed = uuid.rfind("GPU-", 0) == 0 || uuid.rfind("MIG-", 0) == 0;
    const std::string wanted = prefixed ? uuid : "GPU-" + uuid;
    if (m_api->by_uuid(wanted.c_str(), &device) == k_success) {
      m_device = device;
      return true;
    }
  }
  if (!pci_bus_id.empty() && m_api->by_pci_bus_id &&
      m_api->by_pci_bus_id(pci_bus_id.c_str(), &device) == k_success) {
    m_device = device;
    return true;
  }
  // Index 0 only when the caller named nothing: under CUDA_VISIBLE_DEVICES, NVML's index
  // 0 can be another GPU than the one torch calls cuda:0.
  if (uuid.empty() && pci_bus_id.empty() && m_api->by_index &&
      m_api->by_index(0, &device) == k_success) {
    m_device = device;
    return true;
  }
  return false;
}

std::optional<GpuState> Nvml::sample() const {
  if (!m_device) return std::nullopt;
  const Api& api = *m_api;
  GpuState state;
  bool any = false;
  unsigned value = 0;
  if (api.clock && api.clock(m_device, k_clock_sm, &value) == k_success) {
    state.sm_clock_mhz = value;
    any = true;
  }
  if (api.clock && api.clock(m_device, k_clock_mem, &value) == k_success) {
    state.mem_clock_mhz = value;
    any = true;
  }
  if (api.temperature && api.temperature(m_device, k_temperature_gpu, &value) == k_success) {
    state.temperature_c = value;
    any = true;
  }
  if (api.power && api.power(m_device, &value) == k_success) {
    state.power_mw = value;
    any = true;
  }
  unsigned long long reasons = 0;
  if (api.throttle && api.throttle(m_device, &reasons) == k_success) {
    state.throttle_reasons = reasons;
    any = true;
  }
  state.processes_known = api.list_processes(m_device, state.processes);
  any = any || state.processes_known;
  if (!any) return std::nullopt;
  return state;
}

std::string Nvml::device_name() const {
  if (!m_device || !m_api->name) return "";
  char buffer[k_name_size] = {};
  if (m_api->name(m_device, buffer, k_name_size) != k_success) return "";
  return std::string(buffer, strnlen(buffer, sizeof buffer));
}

std::string Nvml::driver_version() const {
  if (!m_api->driver_version) return "";
  char buffer[k_driver_size] = {};
  if (m_api->driver_version(buffer, k_driver_size) != k_success) return "";
  return std::string(buffer, strnlen(buffer, sizeof buffer));
}

}  // namespace kopt::measure
