#include "kopt/cli/app.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <algorithm>
#include <iostream>

#include "cmd_ask.hpp"
#include "cmd_baseline.hpp"
#include "cmd_doctor.hpp"
#include "cmd_eval.hpp"
#include "cmd_optimize.hpp"
#include "cmd_report.hpp"
#include "cmd_show.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/procfs.hpp"
#include "kopt/util/log.hpp"
#include "kopt/util/text.hpp"
#include "usage_error.hpp"

namespace kopt::cli {

namespace {

// kopt moves tensors of hundreds of megabytes between workers and compares them. glibc
// maps every block over 32 MiB afresh and unmaps it on free, so each such buffer paid a
// page fault per 4 KiB, every trial: most of a large workload's verification time
// (docs/benchmarks.md, "Verification of large outputs"). Blocks come from the heap
// instead, which keeps all freed memory for the next trial (-1: never trimmed; with a
// 1 GiB threshold a trial of 256 MB outputs gave its top back and faulted it in again).
// So kopt's resident memory stays at its largest trial's until it exits.
void keep_heap_memory() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
}

}  // namespace

void hide_secrets_in_cmdline(int argc, char** argv) {
  const auto secrets = sandbox::secret_values(sandbox::current_environment());
  for (int i = 1; i < argc; ++i) {
    const std::string masked = util::mask_secrets(argv[i], secrets);
    std::copy(masked.begin(), masked.end(), argv[i]);  // the same length
  }
}

int main(const std::vector<std::string>& args) {
  sandbox::note_inherited_children();
  keep_heap_memory();
  CLI::App app{"kopt: finds faster, provably equivalent implementations of PyTorch workloads", "kopt"};
  app.require_subcommand(1);
  app.fallthrough();
  int verbosity = 0;
  bool quiet = false;
  std::string python;
  app.add_flag("-v,--verbose", verbosity, "More logging (repeat for more)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");
  app.add_option("--python", python, "Python interpreter for workers (default: $KOPT_PYTHON, then a python3 that imports torch)");
  app.set_version_flag("--version", "kopt 0.1.0");

  EvalCommand eval_cmd;
  auto* eval = add_eval_command(app, eval_cmd);
  BaselineCommand baseline_cmd;
  auto* baseline = add_baseline_command(app, baseline_cmd);
  AskCommand ask_cmd;
  auto* ask = add_ask_command(app, ask_cmd);
  OptimizeCommand optimize_cmd;
  auto* optimize = add_optimize_command(app, optimize_cmd);
  ReportCommand report_cmd;
  auto* report = add_report_command(app, report_cmd);
  ShowCommand show_cmd;
  auto* show = add_show_command(app, show_cmd);
  DoctorCommand doctor_cmd;
  auto* doctor = add_doctor_command(app, doctor_cmd);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (code == 0) return 0;
    // A command line that asked for JSON gets its error as JSON on stdout too.
    for (size_t k = 0; k < args.size(); ++k)
      if (args[k] == "--json" || (args[k] == "--format" && k + 1 < args.size() && args[k + 1] == "json") ||
          args[k] == "--format=json") {
        print_json_error(e.what(), 2);
        break;
      }
    return 2;
  }
  json_errors() = eval_cmd.json || baseline_cmd.json || ask_cmd.json || optimize_cmd.options.json ||
                  report_cmd.json || report_cmd.format == "json" || doctor_cmd.json;
  util::init_logging(verbosity, quiet);
  sandbox::harden_self();
  try {
    if (eval->parsed()) {
      if (eval_cmd.options.python.empty()) eval_cmd.options.python = python;
      return run_eval(eval_cmd);
    }
    if (ask->parsed()) return run_ask(ask_cmd);
    if (baseline->parsed()) {
      if (baseline_cmd.options.python.empty()) baseline_cmd.options.python = python;
      return run_baseline(baseline_cmd);
    }
    if (optimize->parsed()) return run_optimize(optimize_cmd, python, quiet, verbosity);
    if (report->parsed()) return run_report(report_cmd);
    if (show->parsed()) return run_show(show_cmd);
    if (doctor->parsed()) {
      doctor_cmd.python = python;
      return run_doctor(doctor_cmd);
    }
  } catch (const nlohmann::json::exception& e) {  // not the library's "[json.exception...]" prefix
    return usage_error(core::json_error_text(e));
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  return 2;
}

}  // namespace kopt::cli
