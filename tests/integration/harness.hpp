#pragma once
// Runs the real kopt binary for integration tests.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kopt::testing {

struct KoptRun {
  int exit_code = -1;
  std::string out;   // stdout
  std::string err;   // stderr
  nlohmann::json json;  // stdout parsed, when it is JSON
  double seconds = 0;
};

// Runs `kopt ARGS...` with extra environment variables; no shell involved.
KoptRun run_kopt(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {});

// `kopt eval CASES/workload CASES/candidate --json EXTRA...`
KoptRun eval_case(const std::string& workload, const std::string& candidate,
                  const std::vector<std::string>& extra = {},
                  const std::map<std::string, std::string>& env = {});

std::string case_path(const std::string& name);

// KOPT_TEST_DEVICE=cuda runs every eval case on the GPU (--device cuda); GPU-only tests
// skip without it.
bool on_gpu();

// True when some process's command line contains `needle`.
bool process_running(const std::string& needle);

}  // namespace kopt::testing
