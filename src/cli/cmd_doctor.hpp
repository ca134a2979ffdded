#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace kopt::cli {

struct DoctorCommand {
  std::string python;  // --python (the global flag)
  bool json = false;   // --json
};

// Adds `kopt doctor` to `app`, filling `cmd` when parsed.
CLI::App* add_doctor_command(CLI::App& app, DoctorCommand& cmd);
// Checks the machine; returns 0 when kopt can run its main job (a Python with torch), else 1.
int run_doctor(const DoctorCommand& cmd);

}  // namespace kopt::cli
