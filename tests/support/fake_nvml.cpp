// A fake libnvidia-ml for tests: one device, fixed readings, and as many compute
// processes as the test asks for (fake_nvml_set_processes), so kopt's NVML code can be
// exercised on machines without a GPU. Built twice: with KOPT_FAKE_NVML_V3 it exports a
// _v3 process listing that writes the five-field struct (and the symbol that marks such a
// driver); without, a _v2 listing and only the older throttle-reasons name.
#include <cstring>

namespace {

struct Info2 {
  unsigned int pid;
  unsigned long long used;
  unsigned int gi;
  unsigned int ci;
};
struct Info3 {
  unsigned int pid;
  unsigned long long used;
  unsigned int gi;
  unsigned int ci;
  unsigned long long cc;
};

int g_device_tag = 0;  // the handle points here
unsigned g_processes = 0;
unsigned long long g_throttle = 0;
bool g_initialised = false;

template <typename Info>
int list(void* device, unsigned* count, Info* infos) {
  if (device != &g_device_tag || !count) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  if (*count < g_processes) {
    *count = g_processes;
    return 7;  // NVML_ERROR_INSUFFICIENT_SIZE
  }
  for (unsigned i = 0; i < g_processes; ++i) {
    Info info;
    std::memset(&info, 0xab, sizeof info);  // garbage in the fields kopt must skip
    info.pid = 1000 + i;
    infos[i] = info;
  }
  *count = g_processes;
  return 0;
}

}  // namespace

extern "C" {

void fake_nvml_set_processes(unsigned n) { g_processes = n; }
void fake_nvml_set_throttle(unsigned long long reasons) { g_throttle = reasons; }

int nvmlInit_v2() {
  g_initialised = true;
  return 0;
}
int nvmlShutdown() {
  g_initialised = false;
  return 0;
}
const char* nvmlErrorString(int rc) { return rc == 6 ? "Not Found" : "Unknown Error"; }

int nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  if (std::strcmp(uuid, "GPU-11111111-2222-3333-4444-555555555555") != 0) return 6;
  *device = &g_device_tag;
  return 0;
}
int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, void** device) {
  if (std::strcmp(bus_id, "00000000:65:00.0") != 0) return 6;
  *device = &g_device_tag;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (index != 0) return 2;
  *device = &g_device_tag;
  return 0;
}
int nvmlDeviceGetName(void*, char* name, unsigned length) {
  std::strncpy(name, "NVIDIA H100 80GB HBM3", length);
  return 0;
}
int nvmlSystemGetDriverVersion(char* version, unsigned length) {
  std::strncpy(version, "550.54.15", length);
  return 0;
}
int nvmlDeviceGetClockInfo(void*, int type, unsigned* clock) {
  *clock = type == 1 ? 1980 : 2619;
  return 0;
}
int nvmlDeviceGetTemperature(void*, int, unsigned* temperature) {
  *temperature = 41;
  return 0;
}
int nvmlDeviceGetPowerUsage(void*, unsigned* power) {
  *power = 123456;
  return 0;
}
int nvmlDeviceGetCurrentClocksThrottleReasons(void*, unsigned long long* reasons) {
  *reasons = g_throttle;
  return 0;
}

#ifdef KOPT_FAKE_NVML_V3
int nvmlDeviceGetCurrentClocksEventReasons(void*, unsigned long long* reasons) {
  *reasons = g_throttle;
  return 0;
}
int nvmlDeviceGetConfComputeMemSizeInfo(void*, void*) { return 3; }
int nvmlDeviceGetComputeRunningProcesses_v3(void* device, unsigned* count, Info3* infos) {
  return list(device, count, infos);
}
#else
int nvmlDeviceGetComputeRunningProcesses_v2(void* device, unsigned* count, Info2* infos) {
  return list(device, count, infos);
}
#endif

}  // extern "C"
