#include "cmd_eval.hpp"
#include "kopt/util/json.hpp"
#include "usage_error.hpp"
#include "validators.hpp"

#include <algorithm>
#include <iostream>

namespace kopt::cli {

CLI::App* add_eval_command(CLI::App& app, EvalCommand& cmd) {
  auto* sub = app.add_subcommand("eval", "Verify one candidate (ModelNew) against one workload (Model)");
  auto& o = cmd.options;
  sub->add_option("reference", o.reference, "Workload file: Model, get_inputs, get_init_inputs")->required();
  sub->add_option("candidate", o.candidate, "Candidate file: ModelNew")->required();
  sub->add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  sub->add_option("--trials", o.trials, "Ordinary trials (4 stress trials are added)")
      ->check(option_range_check("trials"));
  sub->add_option("--precision", o.precision, "Lowest precision the candidate may compute in")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
  sub->add_flag("--eval", o.eval_mode, "Put both models in eval mode (inference workloads)");
  sub->add_flag("--allow-ties", o.allow_ties, "Accept integer mismatches at ties");
  sub->add_option("--compare", o.compare,
                  "Where outputs are compared: auto (on the GPU through CUDA IPC where it works, else in kopt), device, host")
      ->check(CLI::IsMember({"auto", "device", "host"}));
  sub->add_option("--import-timeout", o.import_timeout, "Seconds for a worker to start and import/build")
      ->check(option_range_check("import_timeout"));
  sub->add_option("--call-timeout", o.call_timeout, "Seconds for init and for each call")
      ->check(option_range_check("call_timeout"));
  sub->add_option("--work-dir", o.work_dir, "Where sandboxes are created (default: $TMPDIR or /tmp)")->check(existing_folder());
  sub->add_flag("--keep-work", o.keep_work, "Keep the sandbox for inspection");
  sub->add_option("--time", cmd.time,
                  "After a correct verdict: none, rank (time the candidate), claim (ABAB against eager and torch.compile); default: claim on cuda, none on cpu")
      ->check(CLI::IsMember({"none", "rank", "claim"}));
  sub->add_option("--target", o.target, "Hardware preset to judge against (h100, h200, a100, l40s, b200); default: the device's own");
  sub->add_option("--compile-modes", o.compile_modes, "torch.compile modes timed as baselines (default: default; none: eager only)")->check(compile_mode_check());
  sub->add_option("--pairs", o.timing_options.pairs, "ABAB pairs before a speedup is claimed")->check(CLI::Range(2, 1000));
  sub->add_flag("--no-flush", cmd.no_flush, "Do not flush L2 before timed calls");
  add_limit_options(sub, o.limits);
  cmd.ncu.add(sub, "a correct candidate");
  sub->add_flag("--json", cmd.json, "Print one JSON document on stdout");
  return sub;
}

int run_eval(const EvalCommand& cmd) {
  auto options = cmd.options;
  options.timing = !cmd.time.empty() ? cmd.time : options.device == "cuda" ? "claim" : "none";
  if (cmd.no_flush) options.timing_options.flush_l2 = false;
  options.timing_options.diagnostics = core::timing_diagnostics_from_env();
  options.announce = true;
  if (std::string error; !cmd.ncu.resolve(options.ncu, error)) {
    return usage_error(error);
  }
  // --compile-modes none: eager only.
  drop_compile_mode_none(options.compile_modes);
  const auto report = core::run_eval(options);
  if (cmd.json) {
    std::cout << util::dump_json(core::report_json(report, options), 2) << std::endl;
  } else {
    std::cout << core::report_text(report) << std::flush;
  }
  return core::exit_code(report);
}

}  // namespace kopt::cli
