#include "cmd_baseline.hpp"
#include "kopt/util/json.hpp"
#include "usage_error.hpp"
#include "validators.hpp"

#include <algorithm>
#include <iostream>

namespace kopt::cli {

CLI::App* add_baseline_command(CLI::App& app, BaselineCommand& cmd) {
  auto* sub = app.add_subcommand("baseline", "Time a workload eager and under torch.compile, and profile it");
  auto& o = cmd.options;
  sub->add_option("workload", o.workload, "Workload file: Model, get_inputs, get_init_inputs")->required();
  sub->add_option("--device", o.device, "cuda (default) or cpu")->check(CLI::IsMember({"cpu", "cuda"}));
  sub->add_option("--target", o.target, "Hardware preset (h100, h200, a100, l40s, b200); default: the device's own");
  sub->add_option("--compile-modes", o.compile_modes, "torch.compile modes to time (default, max-autotune, reduce-overhead, max-autotune-no-cudagraphs; none: eager only)")->check(compile_mode_check());
  sub->add_flag("--eval", o.eval_mode, "Put the model in eval mode (inference workloads)");
  sub->add_flag("--no-flush", cmd.no_flush, "Do not flush L2 before timed calls");
  sub->add_option("--min-batches", o.timing.min_batches, "Timed batches per measurement")->check(CLI::Range(3, 100000));
  sub->add_option("--call-timeout", o.call_timeout, "Seconds for a call (compilation included)")
      ->check(option_range_check("call_timeout"));
  sub->add_option("--work-dir", o.work_dir, "Where sandboxes are created (default: $TMPDIR or /tmp)")->check(existing_folder());
  cmd.ncu.add(sub, "the eager reference");
  sub->add_flag("--json", cmd.json, "Print one JSON document on stdout");
  return sub;
}

int run_baseline(const BaselineCommand& cmd) {
  auto options = cmd.options;
  if (cmd.no_flush) options.timing.flush_l2 = false;
  options.timing.diagnostics = core::timing_diagnostics_from_env();
  // --compile-modes none: eager only.
  drop_compile_mode_none(options.compile_modes);
  if (std::string error; !cmd.ncu.resolve(options.ncu, error)) {
    return usage_error(error);
  }
  const auto report = core::run_baseline(options);
  if (cmd.json) std::cout << util::dump_json(core::baseline_json(report), 2) << std::endl;
  else std::cout << core::baseline_text(report) << std::flush;
  return report.ok ? 0 : 2;
}

}  // namespace kopt::cli
