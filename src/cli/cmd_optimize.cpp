#include "cmd_optimize.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "kopt/core/gpu_gate.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/util/text.hpp"
#include "kopt/providers/accounting.hpp"
#include "kopt/providers/prompts.hpp"
#include "kopt/report/report.hpp"
#include "kopt/sandbox/environment.hpp"
#include "kopt/sandbox/python.hpp"
#include "optimize_output.hpp"
#include "optimize_plan.hpp"
#include "stop_signal.hpp"
#include "usage_error.hpp"
#include "validators.hpp"

namespace kopt::cli {

namespace pv = kopt::providers;

namespace {

std::atomic<bool>& g_stop = stop_requested();

// report.html beside report.md (docs/reports.md), rebuilt from the directories at every stop.
void write_html_report(const std::vector<std::string>& dirs, const std::string& path) {
  if (Status w = report::write_html(dirs, path); !w) spdlog::warn("report.html not written. [reason: {}]", w.failure().message);
}

// The best result so far, set by the loop's thread and read by a waiting request's.
class BestSoFar {
 public:
  void set(std::string phrase) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_phrase = std::move(phrase);
  }
  std::string get() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_phrase;
  }

 private:
  mutable std::mutex m_mutex;
  std::string m_phrase = "best -";
};

// "45s", "3m05s", "1h02m": how long a prompt has waited.
std::string waited_text(double seconds) {
  const long long s = static_cast<long long>(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, s / 60 % 60);
  return buf;
}

// The prompts a files provider waits for: a live line on a terminal, else a log line.
void show_waiting(const core::OptimizeOptions& o, const std::string& inbox,
                  const std::vector<pv::PendingPrompt>& waiting, const std::string& best) {
  std::string prompts;
  for (const auto& p : waiting)
    prompts += (prompts.empty() ? "" : ", ") + pv::prompt_file_name(p.index) + " " + waited_text(p.waited_s);
  if (o.progress) {
    std::cerr << "\r\033[K" << "kopt optimize: waiting for " << waiting.size() << " repl"
              << (waiting.size() == 1 ? "y" : "ies") << " in " << inbox << " (" << prompts << "), " << best
              << std::flush;
  } else {
    spdlog::info("Waiting for replies. [inbox: {}, prompts: {}, {}]", inbox, prompts, best);
  }
}

// The workloads, `at_once` of them at a time. One at a time they run on this thread, each
// with its own gate; side by side (at_once > 1) each runs on a thread of its own, all under
// one GPU gate: one run's builds and verification overlap another's, no run's timing
// overlaps anything of the others' on the device. Runs start in start_order (those with
// only their final gate left last); results are in the suite's order (a workload not
// started before an interrupt is "not_started", with what its folder saved); each run's
// text is printed when it ends.
std::vector<core::WorkloadResult> optimize_workloads(core::OptimizeOptions o, const std::vector<std::string>& workloads,
                                                     const std::vector<std::string>& run_dirs,
                                                     const core::GeneratorFactory& factory, size_t at_once) {
  core::GpuGate gate;
  if (at_once > 1) o.gpu = &gate;
  std::vector<std::optional<core::WorkloadResult>> slots(workloads.size());
  // Runs with only their final gate left start after the rest (start_order).
  const std::vector<size_t> order = core::start_order(run_dirs);
  std::atomic<size_t> next{0};
  std::mutex print;
  std::exception_ptr escaped;  // the first exception of any thread: the others stop, it goes on up
  auto worker = [&] {
    for (size_t n = next++; n < order.size(); n = next++) {
      const size_t i = order[n];
      if (g_stop) return;
      try {
        auto result = core::optimize_workload(o, workloads[i], run_dirs[i], factory, g_stop);
        if (core::is_regular_file(run_dirs[i] + "/run.json")) write_html_report({run_dirs[i]}, run_dirs[i] + "/report.html");
        std::lock_guard<std::mutex> lock(print);
        if (!o.json) std::cout << util::strip_control(optimize_text(result)) << std::flush;
        slots[i] = std::move(result);
      } catch (...) {
        std::lock_guard<std::mutex> lock(print);
        if (!escaped) escaped = std::current_exception();
        g_stop.store(true);  // the other runs save their state and stop, as on SIGINT
        return;
      }
    }
  };
  // One at a time on this thread: a signal then interrupts the run's own blocking calls.
  if (at_once <= 1) worker();
  std::vector<std::thread> threads;
  for (size_t t = 0; at_once > 1 && t < at_once; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (escaped) std::rethrow_exception(escaped);  // app.cpp makes it one "kopt: error:" line
  // A workload an interrupt kept from starting stays in the suite, as kopt report shows it.
  std::vector<core::WorkloadResult> results;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i]) {
      results.push_back(std::move(*slots[i]));
    } else {
      // What its folder saved stands in the suite's figures (a finished run stays finished).
      results.push_back(core::unreached_result(workloads[i], run_dirs[i]));
    }
  }
  return results;
}

}  // namespace

CLI::App* add_optimize_command(CLI::App& app, OptimizeCommand& cmd) {
  auto* sub = app.add_subcommand("optimize", "Search for a faster, verified implementation of workloads");
  cmd.sub = sub;
  auto& o = cmd.options;
  auto& p = cmd.provider;
  sub->add_option("workloads", cmd.inputs, "Workload files or folders (Model, get_inputs, get_init_inputs)");
  sub->add_option("--provider", cmd.provider_kind, "builtin (default, offline), replay, openai, anthropic, exec, files")
      ->check(CLI::IsMember({"builtin", "replay", "openai", "anthropic", "exec", "files"}));
  sub->add_option("--from", cmd.from, "replay: folder of *.py or a recorded run; with --resume: a candidate id to refine");
  sub->add_option("--model", p.model, "LLM model name");
  sub->add_option("--base-url", p.base_url, "LLM API base URL");
  sub->add_option("--command", p.command, "exec: program and arguments (no shell)");
  sub->add_option("--inbox", p.inbox, "files: where prompts and replies go (default: RUN/inbox)");
  sub->add_flag("--no-seeds", cmd.no_seeds,
                "LLM providers: no builtin candidates first (split-tf32 on CUDA at fp32 where the workload has matmuls)");
  sub->add_flag("--no-wait", cmd.no_wait, "files: do not wait for replies (exit 4; --resume once they are there)");
  sub->add_option("--reply-timeout", cmd.reply_timeout, "files: give up on a reply after this long (90s, 30m; 0: never)");
  sub->add_option("--temperature", cmd.temperature, "Sampling temperature")->check(number_in(0, true, 2, ""));
  sub->add_option("--max-output-tokens", p.max_output_tokens, "Output-token limit per reply")->check(CLI::Range(1, 1'000'000));
  sub->add_option("--timeout", cmd.timeout_s, "Seconds for one LLM request")->check(timeout_seconds());
  sub->add_option("--prompts", cmd.prompts_dir, "Directory overriding the prompt templates");
  sub->add_option("--prices", cmd.prices_file, "Price table (JSON)");
  sub->add_option("--hint", o.hints, "Guidance added to every prompt (repeatable)")->allow_extra_args(false);
  sub->add_option("--hint-file", cmd.hint_files, "File of guidance (repeatable)")->allow_extra_args(false);
  sub->add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  sub->add_option("--precision", o.precision, "Lowest precision candidates may compute in")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
  sub->add_option("--target", o.target, "Hardware preset (default: the device's own)");
  sub->add_flag("--eval", o.eval_mode, "Eval mode for both models (inference workloads)");
  sub->add_flag("--allow-ties", o.allow_ties, "Accept integer mismatches at ties");
  sub->add_option("--trials", o.trials, "Verification trials per candidate")->check(option_range_check("trials"));
  sub->add_option("--final-trials", o.final_trials, "Trials in the final gate")->check(option_range_check("final_trials"));
  sub->add_option("--final-top", o.final_top, "Candidates re-timed ABAB in the final gate")
      ->check(option_range_check("final_top"));
  sub->add_option("-n,--candidates-per-round", o.candidates_per_round, "Candidates per round")
      ->check(option_range_check("candidates_per_round"));
  sub->add_option("-j,--jobs", o.jobs, "Candidates verified at once (default: cores on cuda, 1 on cpu)")
      ->check(option_range_check("jobs"));
  sub->add_option("--workloads-at-once", cmd.workloads_at_once,
                  "A suite's workloads optimized side by side (builds and verification overlap; timing "
                  "stays one at a time on the device)")
      ->check(CLI::Range(1, 64));
  sub->add_flag("--no-prestart", cmd.no_prestart,
                "Start a candidate's workers when it is evaluated, not while earlier ones are");
  sub->add_option("--max-candidates", o.max_candidates, "Stop after this many candidates")
      ->check(option_range_check("max_candidates"));
  sub->add_option("--time-budget", cmd.time_budget, "Stop proposing after this long of search, the baselines not counted (90s, 20m, 1h)");
  sub->add_option("--max-cost", o.max_cost, "Stop asking the LLM past this estimated cost (USD)")
      ->check(option_range_check("max_cost"));
  sub->add_option("--max-tokens-total", o.max_tokens_total, "Stop asking the LLM past this many tokens")
      ->check(option_range_check("max_tokens_total"));
  sub->add_option("--patience", o.patience, "Stop after this many rounds without improvement (0: never)")
      ->check(option_range_check("patience"));
  sub->add_option("--import-timeout", o.import_timeout, "Seconds for a worker to start and import/build")
      ->check(option_range_check("import_timeout"));
  sub->add_option("--call-timeout", o.call_timeout, "Seconds for init and each call")
      ->check(option_range_check("call_timeout"));
  sub->add_option("--compile-mode", o.compile_modes, "torch.compile baseline modes (repeatable; none: eager only)")->allow_extra_args(false)->check(compile_mode_check());
  sub->add_option("--work-dir", o.work_dir, "Where sandboxes are created")->check(existing_folder());
  sub->add_option("--out", o.out, "Run directory (default: kopt-runs/<workload>-<UTC time>)");
  sub->add_option("--resume", o.resume, "Continue the run (or suite) in DIR");
  sub->add_flag("--rebaseline", o.rebaseline,
                "With --resume: on this device, time the baselines again and evaluate the run's candidates again "
                "(a run moved to another GPU)");
  sub->add_option("--shard", cmd.shard, "I/N: this machine's share of the workloads (I from SLURM_ARRAY_TASK_ID or "
                                        "JOB_COMPLETION_INDEX when given as N)");
  add_limit_options(sub, o.limits);
  cmd.ncu.add(sub, "the eager reference and each correct candidate (their metrics go into prompts)");
  sub->add_flag("--json", o.json, "Print one JSON document on stdout at the end");
  return sub;
}

int run_optimize(OptimizeCommand cmd, const std::string& python, bool quiet, int verbosity) {
  auto& o = cmd.options;
  if (o.python.empty()) o.python = python;
  o.quiet = quiet;
  const auto env = sandbox::current_environment();
  std::vector<std::string> workloads, run_dirs;
  // Until the runs start, an error takes back what planning made on disk (a bad option
  // left an empty kopt-runs/NAME-TIME behind): suite.json where kopt wrote it, the folder
  // where kopt created it (rmdir: only while empty).
  struct Unmake {
    const OptimizeCommand& cmd;
    bool keep = false;
    ~Unmake() {
      if (keep) return;
      if (!cmd.made_suite.empty()) std::remove(cmd.made_suite.c_str());
      if (cmd.made_dir.empty()) return;
      (void)::rmdir(cmd.made_dir.c_str());
      if (cmd.made_dir.rfind("kopt-runs/", 0) == 0) (void)::rmdir("kopt-runs");  // made for it, if now empty
    }
  } unmake{cmd};

  // --compile-mode none: eager only.
  drop_compile_mode_none(o.compile_modes);
  if (o.rebaseline && o.resume.empty()) return usage_error("--rebaseline goes with --resume DIR (a new run times its baselines anyway)");
  if (!o.resume.empty()) {
    if (Status st = apply_resume(cmd, workloads, run_dirs); !st) return usage_error(st.failure().message);
  } else {
    if (Status st = plan_new_run(cmd, env, workloads, run_dirs); !st) return usage_error(st.failure().message);
  }
  // A named interpreter that cannot run is kopt's setting, not the workload's fault (each
  // candidate reported it and the run ended "the workload is unusable").
  const char* env_python = std::getenv("KOPT_PYTHON");
  const std::string named = !o.python.empty() ? o.python : env_python ? env_python : "";
  if (!named.empty() && !sandbox::executable_file(named))
    return usage_error((o.python.empty() ? "KOPT_PYTHON " : "--python ") + named + " is not an executable file");
  if (!o.resume.empty() && !cmd.time_budget.empty()) {
    auto seconds = time_budget_seconds(cmd.time_budget);
    if (!seconds) return usage_error(seconds.failure().message);
    o.time_budget_s = *seconds;
  }
  // The default within the range run.json is checked against (a machine of more cores
  // than that started runs its own --resume refused).
  if (o.jobs <= 0)
    o.jobs = o.device == "cuda" ? static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1u,
                                                                         static_cast<unsigned>(core::option_range("jobs").high)))
                                : 1;
  o.timing_diagnostics = core::timing_diagnostics_from_env();
  for (const auto& path : cmd.hint_files) {
    auto text = core::read_text(path);
    if (!text) return usage_error("cannot read the hint file " + path);
    o.hints.push_back(*text);
  }

  // The generator: one factory for every workload of this invocation.
  auto& po = cmd.provider;
  po.kind = cmd.provider_kind;
  if (cmd.temperature >= 0) po.temperature = cmd.temperature;
  po.timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(cmd.timeout_s * 1000)));
  po.wait = !cmd.no_wait;
  o.prestart = !cmd.no_prestart;
  po.should_stop = [] { return g_stop.load(); };
  double reply_timeout_s = 0;
  if (!cmd.reply_timeout.empty()) {
    auto seconds = core::parse_duration(cmd.reply_timeout);
    if (!seconds) return usage_error("--reply-timeout: " + seconds.failure().message);
    if (!core::in_range(0, true, core::kMaxTimeoutSeconds, *seconds))
      return usage_error("--reply-timeout: " + out_of_range_text(0, true, core::kMaxTimeoutSeconds, "seconds", cmd.reply_timeout));
    reply_timeout_s = *seconds;
    po.reply_timeout = std::chrono::milliseconds(static_cast<long long>(std::ceil(reply_timeout_s * 1000)));
  }
  if (std::string error; !cmd.ncu.resolve(o.ncu, error)) return usage_error(error);
  // Folders absolute, so that the run resumes from any working directory (with --resume,
  // --from is a candidate id, not a folder).
  auto folder = [&](const std::string& path) {
    return o.resume.empty() && !path.empty() ? core::absolute_path(path) : path;
  };
  o.provider = {{"kind", cmd.provider_kind}, {"model", po.model},   {"base_url", po.base_url},
                {"command", po.command},     {"from", folder(cmd.from)}, {"inbox", folder(po.inbox)}};
  if (cmd.provider_kind == "files") o.provider["reply_timeout_s"] = reply_timeout_s;
  pv::PromptSet prompts = pv::builtin_prompts();
  if (!cmd.prompts_dir.empty()) {
    auto loaded = pv::load_prompts(cmd.prompts_dir);
    if (!loaded) return usage_error(loaded.failure().message);
    prompts = std::move(loaded.value());
  }
  pv::PriceTable prices = pv::PriceTable::builtin();
  if (!cmd.prices_file.empty()) {
    auto loaded = pv::PriceTable::load(cmd.prices_file);
    if (!loaded) return usage_error(loaded.failure().message);
    prices = std::move(loaded.value());
  }
  pv::BudgetLimits limits;
  if (o.max_tokens_total >= 0) limits.max_tokens_total = o.max_tokens_total;
  if (o.max_cost >= 0) limits.max_cost_usd = o.max_cost;
  pv::Budget budget(limits, prices, po.model);
  if (cmd.provider_kind == "openai" || cmd.provider_kind == "anthropic")
    if (const auto why = budget.unpriced_cost_limit(); !why.empty()) spdlog::warn("{}", why);
  if (!o.resume.empty()) {
    // --max-cost and --max-tokens-total hold over all sessions: what the runs' candidates
    // spent before counts (a run resumed three times could spend its budget three times).
    for (const auto& dir : run_dirs) {
      auto state = core::load_run(dir);
      if (!state) continue;  // a suite's run not started yet
      for (const auto& [id, r] : state->candidates) budget.add_earlier(r.input_tokens, r.output_tokens, r.cost_usd);
    }
  }
  o.secrets = sandbox::secret_values(env);
  const bool llm = cmd.provider_kind != "builtin" && cmd.provider_kind != "replay";
  if (cmd.provider_kind == "replay" && cmd.from.empty()) return usage_error("--provider replay needs --from DIR");
  if (llm && cmd.provider_kind != "files") {  // fail early on a missing key or model, before any baseline runs
    auto probe = pv::make_provider(po, env);
    if (!probe) return usage_error(probe.failure().message);
    for (auto& s : (*probe)->secrets()) o.secrets.push_back(s);
  } else if (cmd.provider_kind == "replay") {
    auto probe = core::make_replay_generator(cmd.from);
    if (!probe) return usage_error(probe.failure().message);
  }
  BestSoFar best;
  core::GeneratorFactory factory = [&](const std::string& run_dir) -> Result<std::unique_ptr<core::Generator>> {
    if (cmd.provider_kind == "builtin") return core::make_builtin_generator();
    if (cmd.provider_kind == "replay") return core::make_replay_generator(cmd.from);
    pv::ProviderOptions run_po = po;
    if (run_po.kind == "files") {
      if (run_po.inbox.empty()) run_po.inbox = run_dir + "/inbox";
      // A terminal's line counts the seconds; a log gets a line when the set changes and
      // once a minute.
      run_po.status_interval = std::chrono::milliseconds(o.progress ? 1'000 : 60'000);
      run_po.on_waiting = [&o, &best, inbox = run_po.inbox](const std::vector<pv::PendingPrompt>& waiting) {
        show_waiting(o, inbox, waiting, best.get());
      };
    }
    auto provider = pv::make_provider(run_po, env);
    if (!provider) return provider.failure();
    core::LlmSettings settings;
    settings.prompts = prompts;
    settings.in_flight = o.candidates_per_round;
    settings.max_output_tokens = po.max_output_tokens;
    settings.transcript_dir = run_dir;
    settings.secrets = o.secrets;
    auto llm = core::make_llm_generator(std::move(provider.value()), std::move(settings), &budget);
    if (cmd.no_seeds) return llm;
    return core::make_seeded_generator(std::move(llm));
  };

  o.progress = !quiet && !o.json && isatty(STDERR_FILENO);
  // Side by side, one live line per run would overwrite the others' (the files provider's
  // waiting line too, which reads o.progress): log lines instead.
  if (cmd.workloads_at_once > 1 && workloads.size() > 1) o.progress = false;
  o.on_best = [&best](const std::string& phrase) { best.set(phrase); };
  const char* no_color = std::getenv("NO_COLOR");
  o.color = o.progress && !(no_color && *no_color);
  if (o.progress && verbosity == 0) spdlog::set_level(spdlog::level::warn);  // the progress line says it
  install_stop_handlers();

  const size_t at_once = std::clamp<size_t>(static_cast<size_t>(std::max(1, cmd.workloads_at_once)), 1,
                                            std::max<size_t>(1, workloads.size()));
  unmake.keep = true;
  const auto results = optimize_workloads(o, workloads, run_dirs, factory, at_once);
  // A suite's page: a row per workload, then each run (its folder holds suite.json).
  if (const std::string suite = o.resume.empty() ? o.out : o.resume;
      workloads.size() > 1 && core::is_regular_file(suite + "/suite.json"))
    write_html_report({suite}, suite + "/report.html");
  return finish_optimize(o, results, workloads.size(), g_stop.load());
}

}  // namespace kopt::cli
