// What a `kopt optimize` invocation will run: a new run's workloads (files, folders, a
// shard) and run directories, or a resumed run's, with the settings its run.json fixes.
#include "optimize_plan.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kopt/core/optimize.hpp"
#include "kopt/core/option_ranges.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"
#include "validators.hpp"

namespace kopt::cli {

namespace {

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%SZ", &utc);
  return buf;
}

// Files stay as given; a folder gives its *.py files that define Model and get_inputs.
Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    if (core::is_directory(in)) {
      for (const auto& name : core::list_dir(in)) {
        const std::string path = (in.back() == '/' ? in : in + "/") + name;
        if (!util::valid_utf8(path)) {
          spdlog::warn("Skipped a file whose path is not valid UTF-8 (rename it). [path: {}]", util::strip_control(path));
          continue;
        }
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".py") == 0 && core::is_regular_file(path) &&
            core::looks_like_workload(core::read_text(path).value_or("")))
          out.push_back(path);
      }
    } else if (!util::valid_utf8(in)) {
      return Failure{"usage", util::strip_control(in) + ": the path is not valid UTF-8 (rename it)"};
    } else if (core::is_regular_file(in)) {
      out.push_back(in);
    } else {
      return Failure{"usage", "no such workload file or folder: " + in};
    }
  }
  if (out.empty()) return Failure{"usage", "no workloads (files defining class Model and get_inputs) in the arguments"};
  return out;
}

// What `--resume DIR` continues: DIR's run, or each run of the suite in DIR (its
// suite.json). A suite's run that had not started when the suite stopped starts now.
struct ResumePlan {
  std::vector<std::string> workloads, run_dirs;
  nlohmann::json header;  // run.json of the first run that started: its options and provider
};

Result<ResumePlan> resume_plan(const std::string& dir) {
  std::vector<core::SuiteEntry> entries;
  if (core::is_regular_file(dir + "/suite.json")) {
    auto suite = core::load_suite(dir);
    if (!suite) return suite.failure();
    entries = std::move(suite.value());
  } else {
    entries.push_back({"", dir});
  }
  ResumePlan plan;
  for (const auto& e : entries) {
    if (!e.workload.empty() && !core::is_regular_file(e.run_dir + "/run.json")) {
      plan.workloads.push_back(e.workload);
      plan.run_dirs.push_back(e.run_dir);
      continue;
    }
    auto state = core::load_run(e.run_dir);
    if (!state) return state.failure();
    if (plan.header.is_null()) plan.header = state->header;
    plan.workloads.push_back(state->header["workload"].get<std::string>());  // checked by load_run
    plan.run_dirs.push_back(e.run_dir);
  }
  if (plan.header.is_null()) return Failure{"usage", dir + ": none of its runs had started; run the suite again without --resume"};
  return plan;
}

template <typename T>
void take(const nlohmann::json& o, const char* key, T& field) {
  if (!util::json_field(o, key).is_null()) field = util::json_field(o, key).get<T>();
}

}  // namespace

// --resume: the run's own settings come from its run.json (mixing devices or trials would
// make its numbers incomparable); budgets, hints, -j and the interpreter may change.
Status apply_resume(OptimizeCommand& cmd, std::vector<std::string>& workloads, std::vector<std::string>& run_dirs) {
  auto& o = cmd.options;
  auto plan = resume_plan(o.resume);
  if (!plan) return Failure{"usage", plan.failure().message};
  workloads = std::move(plan->workloads);
  run_dirs = std::move(plan->run_dirs);
  const nlohmann::json& header = plan->header;  // load_run checked every field read here
  const auto& saved = header.value("options", nlohmann::json::object());
  auto given = [&](const char* name) { return cmd.sub->get_option(name)->count() > 0; };
  // What the run fixes, taken from run.json. A value typed on the command line that
  // differs is refused rather than silently dropped (the same value, as a script that
  // adds --resume to its command line gives, is fine).
  std::vector<std::string> differ;
  auto fixed = [&](const char* flag, const char* key, auto& field) {
    const auto typed = field;
    take(saved, key, field);
    if (given(flag) && !(typed == field)) differ.push_back(std::string(flag) + " (run.json: " + util::dump_json(saved.value(key, nlohmann::json())) + ")");
  };
  fixed("--device", "device", o.device);
  fixed("--precision", "precision", o.precision);
  fixed("--target", "target", o.target);
  fixed("--eval", "eval_mode", o.eval_mode);
  fixed("--allow-ties", "allow_ties", o.allow_ties);
  fixed("--trials", "trials", o.trials);
  fixed("--compile-mode", "compile_modes", o.compile_modes);
  if (given("--out") && core::real_path(o.out) != core::real_path(o.resume)) differ.push_back("--out (the run's folder is " + o.resume + ")");
  if (!cmd.inputs.empty()) {
    // As a new run would read them: a folder stands for its workloads.
    const auto expanded = expand_inputs(cmd.inputs);
    std::set<std::string> typed, kept;
    if (expanded)
      for (const auto& w : expanded.value()) typed.insert(core::real_path(w));
    for (const auto& w : workloads) kept.insert(core::real_path(w));
    if (typed != kept) differ.push_back("the workload arguments (a resumed run continues the workloads it was started with)");
  }
  if (!differ.empty()) {
    std::string what;
    for (const auto& d : differ) what += (what.empty() ? "" : ", ") + d;
    return Failure{"usage", "a resumed run keeps what its run.json fixes, and the command line differs: " + what +
                                "; drop these, or start a new run"};
  }
  if (o.python.empty()) take(saved, "python", o.python);
  if (!given("--final-trials")) take(saved, "final_trials", o.final_trials);
  if (!given("--final-top")) take(saved, "final_top", o.final_top);
  if (!given("--candidates-per-round")) take(saved, "candidates_per_round", o.candidates_per_round);
  if (!given("--jobs")) take(saved, "jobs", o.jobs);
  if (!given("--max-candidates")) take(saved, "max_candidates", o.max_candidates);
  if (!given("--time-budget")) take(saved, "time_budget_s", o.time_budget_s);
  if (!given("--max-cost")) take(saved, "max_cost", o.max_cost);
  if (!given("--max-tokens-total")) take(saved, "max_tokens_total", o.max_tokens_total);
  if (!given("--patience")) take(saved, "patience", o.patience);
  if (!given("--import-timeout")) take(saved, "import_timeout", o.import_timeout);
  if (!given("--call-timeout")) take(saved, "call_timeout", o.call_timeout);
  std::vector<std::string> hints;
  take(saved, "hints", hints);
  o.hints.insert(o.hints.begin(), hints.begin(), hints.end());
  const auto provider = header.value("provider", nlohmann::json::object());
  if (!given("--provider")) take(provider, "kind", cmd.provider_kind);
  if (!given("--model")) take(provider, "model", cmd.provider.model);
  if (!given("--base-url")) take(provider, "base_url", cmd.provider.base_url);
  if (!given("--command")) take(provider, "command", cmd.provider.command);
  if (!given("--inbox")) take(provider, "inbox", cmd.provider.inbox);
  // run.json never holds a secret: one typed into --command or --base-url was saved as
  // [REDACTED], which would now be sent in its place.
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--command", &cmd.provider.command},
                                    {"--base-url", &cmd.provider.base_url}})
    if (value->find("[REDACTED]") != std::string::npos)
      return Failure{"usage", std::string("run.json's ") + flag + " held a secret, saved as [REDACTED]: give " + flag +
                                  " again with --resume"};
  if (!given("--reply-timeout") && util::json_field(provider, "reply_timeout_s").is_number())
    cmd.reply_timeout = std::to_string(util::json_field(provider, "reply_timeout_s").get<double>());
  std::string replay_from;
  take(provider, "from", replay_from);
  if (!cmd.from.empty()) {
    // At most 7 digits before the number is read (stoll threw on 20 digits: "kopt: error: stoll").
    if (cmd.from.find_first_not_of("0123456789") != std::string::npos || cmd.from.size() > 7 ||
        std::stoll(cmd.from) < 1 || std::stoll(cmd.from) > 1'000'000)
      return Failure{"usage", "with --resume, --from takes a candidate id (e.g. 3 for candidates/0003), not " + cmd.from};
    o.refine_from = std::stoi(cmd.from);
    if (run_dirs.size() != 1) return Failure{"usage", "--from CANDIDATE_ID needs the run directory of one workload"};
    auto state = core::load_run(run_dirs[0]);
    if (!state) return Failure{"usage", state.failure().message};
    if (!state->candidates.count(o.refine_from))
      return Failure{"usage", "no candidate " + core::candidate_dir_name(o.refine_from) + " in " + run_dirs[0]};
  }
  cmd.from = replay_from;
  return {};
}

// A new run: the workloads (a shard of them), the run directories, suite.json for a suite.
Status plan_new_run(OptimizeCommand& cmd, const std::vector<std::string>& env, std::vector<std::string>& workloads,
                    std::vector<std::string>& run_dirs) {
  auto& o = cmd.options;
  if (cmd.inputs.empty()) return Failure{"usage", "kopt optimize needs workload files or folders (or --resume DIR)"};
  if (!cmd.time_budget.empty()) {  // before any folder is made
    auto seconds = time_budget_seconds(cmd.time_budget);
    if (!seconds) return seconds.failure();
    o.time_budget_s = *seconds;
  }
  auto expanded = expand_inputs(cmd.inputs);
  if (!expanded) return Failure{"usage", expanded.failure().message};
  workloads = std::move(expanded.value());
  if (!cmd.shard.empty()) {
    std::string text = cmd.shard;
    if (text.find('/') == std::string::npos) {
      const auto index = core::shard_index_from_env(env);
      if (!index) return Failure{"usage", "--shard " + text + " without I/N needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"};
      text = std::to_string(*index) + "/" + text;
    }
    auto shard = core::parse_shard(text);
    if (!shard) return Failure{"usage", shard.failure().message};
    workloads = core::select_shard(workloads, shard->first, shard->second);
    if (workloads.empty()) return Failure{"usage", "shard " + text + " holds no workloads"};
  }
  std::string base = o.out;
  if (base.empty()) {
    // kopt-runs/<name>-<UTC time>, claimed with mkdir: two runs started in the same second
    // (a CI matrix) get -2, -3, ... rather than one refusing the other's folder.
    const std::string stem = "kopt-runs/" + (workloads.size() == 1 ? core::workload_stem(workloads[0]) : std::string("suite")) +
                             "-" + utc_stamp();
    if (Status made = core::make_dirs("kopt-runs"); !made) return Failure{"usage", made.failure().message};
    for (int i = 1; base.empty(); ++i) {
      const std::string name = i == 1 ? stem : stem + "-" + std::to_string(i);
      if (mkdir(name.c_str(), 0755) == 0) base = cmd.made_dir = name;
      else if (errno != EEXIST || i >= 1000) return Failure{"usage", "cannot create " + name + ": " + std::strerror(errno)};
    }
  }
  o.out = base;  // where the closing line says to --resume
  if (workloads.size() == 1 && core::is_regular_file(base + "/run.json"))
    return Failure{"usage", base + " already holds a run: continue it with --resume " + base};
  if (workloads.size() > 1 && core::is_regular_file(base + "/suite.json"))
    return Failure{"usage", base + " already holds a suite: continue it with --resume " + base};
  // One folder per workload, named after it; workloads of the same name (a/w.py, b/w.py)
  // get -2, -3, ...
  std::map<std::string, int> seen;
  for (const auto& w : workloads) {
    const std::string stem = core::workload_stem(w);
    const int n = ++seen[stem];
    run_dirs.push_back(workloads.size() == 1 ? base : base + "/" + stem + (n == 1 ? "" : "-" + std::to_string(n)));
  }
  if (workloads.size() > 1) {
    if (cmd.made_dir.empty() && !core::is_directory(base)) cmd.made_dir = base;
    if (Status made = core::make_dirs(base); !made) return Failure{"usage", made.failure().message};
    std::vector<core::SuiteEntry> entries;
    for (size_t i = 0; i < workloads.size(); ++i) entries.push_back({core::absolute_path(workloads[i]), run_dirs[i]});
    if (Status w = core::save_suite(base, entries); !w) return Failure{"usage", w.failure().message};
    cmd.made_suite = base + "/suite.json";
  }
  return {};
}

Result<double> time_budget_seconds(const std::string& text) {
  auto seconds = core::parse_duration(text);
  if (!seconds) return Failure{"usage", seconds.failure().message};
  const auto& range = core::option_range("time_budget_s");
  if (auto e = option_range_error(range, *seconds, text); !e.empty())
    return Failure{"usage", std::string(range.flag) + ": " + e};
  return *seconds;
}

}  // namespace kopt::cli
