#pragma once
// --ncu and --ncu-path, shared by `kopt baseline` and `kopt optimize`.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <string>

#include "kopt/measure/ncu.hpp"

namespace kopt::cli {

struct NcuOption {
  bool on = false;
  std::string path;

  void add(CLI::App* sub, const std::string& what) {
    sub->add_flag("--ncu", on, "Also run " + what + " under Nsight Compute: metrics per kernel");
    sub->add_option("--ncu-path", path, "The ncu to run (default: $KOPT_NCU, then ncu on PATH)");
  }
  // The ncu to run ("" when not asked for); false with `error` set when none is found.
  bool resolve(std::string& ncu, std::string& error) const {
    ncu.clear();
    if (!on && path.empty()) return true;
    const char* env = std::getenv("KOPT_NCU");
    const char* search = std::getenv("PATH");
    const auto found = measure::find_ncu(path, env ? env : "", search ? search : "");
    if (!found) {
      error = "--ncu: no Nsight Compute found (--ncu-path, $KOPT_NCU, or ncu on PATH)";
      return false;
    }
    ncu = *found;
    return true;
  }
};

}  // namespace kopt::cli
