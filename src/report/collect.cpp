// The report document from run directories (docs/report-schema.md): run.json and the
// records through core::load_run (checked field by field), the other files read as they
// are (a missing or damaged baseline.json, timing.json or verify.json leaves its part empty).
#include <map>

#include "collect_files.hpp"
#include "fields.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "kopt/report/report.hpp"
#include "kopt/util/text.hpp"

namespace kopt::report {

namespace {

// Candidates whose evaluation did not finish (interrupted, or running when the run was
// killed), with the phases they got through and the last lines of their log.
nlohmann::json unfinished_json(const core::RunState& state) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, c] : state.candidates)
    if ((c.status == "interrupted" || c.status == "running") && (!c.phases.empty() || !c.log_tail.empty()))
      out.push_back({{"id", id}, {"strategy", c.strategy}, {"status", c.status}, {"phases", c.phases},
                     {"log_tail", c.log_tail}});
  return out;
}

// A run killed before its summary was written: the candidates still count, and the
// fastest correct one is shown (ranking time only: the final gate did not run).
nlohmann::json fallback_summary(const core::RunState& state) {
  std::map<std::string, int> counts;
  int pending = 0, not_evaluated = 0, evaluated = 0;
  const core::CandidateRecord* best = nullptr;
  auto faster = [](const core::CandidateRecord& a, const core::CandidateRecord* b) {
    if (!b) return true;
    if (!a.median_ms) return false;
    return !b->median_ms || *a.median_ms < *b->median_ms;
  };
  for (const auto& [id, c] : state.candidates) {
    if (c.status == "pending") ++pending;
    else if (c.status == "done") ++counts[c.outcome], ++evaluated;
    else ++not_evaluated;
    if (c.status == "done" && c.outcome == "correct" && faster(c, best)) best = &c;
  }
  nlohmann::json best_json = nullptr;
  if (best)
    best_json = {{"id", best->id}, {"strategy", best->strategy}, {"median_ms", best->median_ms ? *best->median_ms : 0.0},
                 {"speedup", best->speedup ? nlohmann::json(*best->speedup) : nlohmann::json(nullptr)},
                 {"confirmed", false}, {"faster", false}};
  return {{"candidates", state.candidates.size()}, {"counts", counts}, {"pending", pending},
          {"evaluated", evaluated}, {"not_evaluated", not_evaluated},
          {"baselines", state.header.value("baseline", nlohmann::json::object())}, {"best", best_json},
          {"gpu_idle_share", nullptr}, {"tokens", state.header.value("tokens", nlohmann::json::object())}};
}

// Each baseline with its spread, from baseline.json (run.json keeps medians only).
nlohmann::json baseline_rows(const nlohmann::json& b) {
  nlohmann::json rows = nlohmann::json::array();
  auto row = [&](const std::string& name, const nlohmann::json& t) {
    nlohmann::json r = {{"name", name}, {"ok", flag(t, "ok")}, {"error", str(t, "error")}};
    for (const char* k : {"median_ms", "q1_ms", "q3_ms", "iqr_ms", "min_ms", "batches", "calls_per_batch"})
      r[k] = opt_num(t, k) ? nlohmann::json(num(t, k)) : nlohmann::json(nullptr);
    rows.push_back(r);
  };
  if (at(b, "eager").is_object()) row("eager", at(b, "eager"));
  if (at(b, "compiled").is_object())
    for (const auto& [mode, t] : at(b, "compiled").items()) row(mode, t);
  return rows;
}

nlohmann::json versions(const core::RunState& state, const nlohmann::json& baseline, const nlohmann::json& best_timing) {
  const auto& device = at(baseline, "device");
  nlohmann::json v = {{"kopt", str(state.header, "kopt_version")},
                      {"python", str(device, "python")},
                      {"torch", str(device, "torch")},
                      {"cuda", at(device, "cuda").is_string() ? at(device, "cuda") : nlohmann::json(nullptr)},
                      {"driver", str(at(best_timing, "gpu"), "driver")}};
  return v;
}

// The best candidate's profile, speed-of-light figures and the GPU's state while it was
// timed (timing.json: NVML's clocks, temperature and throttling before and after batches).
// A ranking's timing.json has no bound: the figures are the final gate's (claim.json), the
// candidate's gate median against the bound, where the gate ran.
nlohmann::json best_detail(int id, const nlohmann::json& timing, const nlohmann::json& claim) {
  if (!id) return nullptr;
  const auto& t = at(timing, "candidate");
  nlohmann::json gpu = {{"nvml", str(at(timing, "gpu"), "nvml")},
                        {"driver", str(at(timing, "gpu"), "driver")},
                        {"samples", at(at(t, "detail"), "gpu_samples").is_array() ? at(at(t, "detail"), "gpu_samples")
                                                                                   : nlohmann::json::array()},
                        {"voided_batches", integer(t, "voided")}};
  nlohmann::json profile = at(at(timing, "profile"), "candidate");
  if (!profile.is_object()) profile = nullptr;
  nlohmann::json sol = at(timing, "sol");
  if (!sol.is_object()) sol = at(at(claim, "timing"), "sol");
  if (!sol.is_object()) sol = nullptr;
  return {{"id", id}, {"profile", profile}, {"sol", sol}, {"gpu", gpu}};
}

nlohmann::json run_entry(const core::RunState& state) {
  const auto& h = state.header;
  nlohmann::json j = at(h, "summary").is_object() ? at(h, "summary") : fallback_summary(state);
  j["unfinished"] = unfinished_json(state);
  j["workload"] = h.value("workload", "");
  j["workload_name"] = h.value("workload_name", "");
  j["run_dir"] = state.dir;
  j["status"] = h.value("status", "");
  j["stop_reason"] = h.value("stop_reason", j.value("stop_reason", ""));
  j["earlier_baselines"] = h.value("earlier_baselines", nlohmann::json::array());
  j["device"] = h.value("device", "");
  j["waiting_prompts"] = waiting_json(waiting_prompts(state.dir));
  const auto baseline = read_json_file(state.dir + "/baseline.json");
  j["device_info"] = at(baseline, "device");
  j["baseline_timing"] = baseline_rows(baseline);
  j["reference_profile"] = at(baseline, "profile").is_object() ? at(baseline, "profile") : nlohmann::json(nullptr);
  j["reference_sol"] = at(baseline, "sol").is_object() ? at(baseline, "sol") : nlohmann::json(nullptr);
  // Runs summarised before kopt recorded the headroom: from run.json's baseline.
  if (!j.contains("headroom")) {
    const auto& b = at(h, "baseline");
    j["headroom"] = flag(b, "ok") ? core::headroom(at(b, "sol"), str(b, "best"), num(b, "best_ms")) : nlohmann::json(nullptr);
  }
  const int best = static_cast<int>(integer(at(j, "best"), "id"));
  const std::string best_dir = best ? state.dir + "/candidates/" + core::candidate_dir_name(best) : "";
  const auto best_claim = best ? read_json_file(best_dir + "/claim.json") : nlohmann::json();
  // Runs summarised before kopt held the gate's baselines against the run's: from the
  // best candidate's claim.json.
  if (!j.contains("baseline_drift"))
    j["baseline_drift"] = best ? core::baseline_drift(at(j, "baselines"), core::gate_baselines(at(best_claim, "timing")))
                               : nlohmann::json::array();
  if (const auto& b = at(h, "baseline"); flag(b, "ok"))
    j["headroom"] = core::headroom_after_drift(at(j, "headroom"), at(j, "baseline_drift"), at(b, "sol"), str(b, "best"));
  const auto best_timing = best ? read_json_file(best_dir + "/timing.json") : nlohmann::json();
  j["best_detail"] = best_detail(best, best_timing, best_claim);
  j["versions"] = versions(state, baseline, best_timing);
  j["provider"] = h.value("provider", nlohmann::json::object());
  j["options"] = h.value("options", nlohmann::json::object());
  nlohmann::json records = nlohmann::json::array();
  double cost = 0;
  for (const auto& [id, c] : state.candidates) {
    records.push_back(record_row(state.dir, c));
    cost += c.cost_usd;
  }
  j["records"] = records;
  if (!j.contains("cost_usd") || !j["cost_usd"].is_number()) j["cost_usd"] = cost;
  return j;
}

// The suite part: core's suite summary (geomean, fast_p) plus counts by outcome.
nlohmann::json suite_part(const nlohmann::json& runs) {
  std::vector<core::WorkloadResult> results;
  std::map<std::string, long long> counts;
  for (const auto& r : runs) {
    core::WorkloadResult w;
    w.workload = str(r, "workload");
    w.run_dir = str(r, "run_dir");
    w.status = str(r, "status");
    w.faster = flag(r, "faster");
    w.best_speedup = opt_num(at(r, "best"), "speedup");
    w.summary = {{"headroom", at(r, "headroom")}};
    results.push_back(w);
    if (at(r, "counts").is_object())
      for (const auto& [k, v] : at(r, "counts").items())
        if (v.is_number()) counts[k] += v.get<long long>();
  }
  auto s = core::suite_summary(results);
  for (size_t i = 0; i < runs.size() && i < s["workloads"].size(); ++i) {
    auto& row = s["workloads"][i];
    row.erase("exit_code");
    row["counts"] = at(runs[i], "counts").is_object() ? at(runs[i], "counts") : nlohmann::json::object();
    row["baseline_ok"] = flag(at(runs[i], "baselines"), "ok");
    row["baseline_error"] = str(at(runs[i], "baselines"), "error", str(runs[i], "error"));
    row["candidates"] = integer(runs[i], "candidates");
  }
  s["counts"] = counts;
  return s;
}

}  // namespace

std::vector<providers::PendingPrompt> waiting_prompts(const std::string& run_dir) {
  std::vector<providers::PendingPrompt> out;
  auto state = core::load_run(run_dir);
  if (!state) return out;
  const auto provider = state->header.value("provider", nlohmann::json::object());
  if (provider.value("kind", "") != "files") return out;
  std::string inbox = provider.value("inbox", "");
  if (inbox.empty()) inbox = run_dir + "/inbox";
  auto pending = providers::pending_prompts(inbox);
  if (!pending) return out;
  for (auto& p : *pending) {
    const auto it = state->candidates.find(p.index);
    if (it != state->candidates.end() && it->second.status == "pending") out.push_back(std::move(p));
  }
  return out;
}

nlohmann::json waiting_json(const std::vector<providers::PendingPrompt>& waiting) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : waiting) out.push_back({{"index", p.index}, {"path", p.path}, {"waited_s", p.waited_s}});
  return out;
}

Result<nlohmann::json> collect(const std::vector<std::string>& dirs) {
  nlohmann::json runs = nlohmann::json::array();
  bool suite = dirs.size() > 1;
  for (const auto& dir : dirs) {
    std::vector<core::SuiteEntry> entries{{"", dir}};
    if (core::is_regular_file(dir + "/suite.json")) {
      auto loaded = core::load_suite(dir);
      if (!loaded) return loaded.failure();
      entries = std::move(loaded.value());
      suite = true;
    } else if (!core::is_directory(dir)) {
      return Failure{"io", dir + ": no such run directory"};
    }
    for (const auto& [workload, run_dir] : entries) {
      if (!workload.empty() && !core::is_regular_file(run_dir + "/run.json")) {  // a suite stopped before it
        runs.push_back({{"workload", workload}, {"run_dir", run_dir}, {"status", "not_started"}});
        continue;
      }
      auto state = core::load_run(run_dir);
      if (!state) return state.failure();
      try {
        runs.push_back(run_entry(*state));
      } catch (const nlohmann::json::exception& e) {  // a field load_run does not check
        return Failure{"state", run_dir + "/run.json: " + core::json_error_text(e)};
      }
    }
  }
  nlohmann::json doc = {{"kopt_report", kReportVersion}, {"runs", runs}};
  if (suite) doc["suite"] = suite_part(runs);
  return doc;
}

Status write_html(const std::vector<std::string>& dirs, const std::string& path) {
  auto doc = collect(dirs);
  if (!doc) return doc.failure();
  return core::write_atomic(path, render_html(*doc));
}

}  // namespace kopt::report
