// Pure pieces of `kopt optimize`: durations, shards, the suite summary, the idle share,
// a ranked candidate's distance to the bound.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "kopt/core/optimize.hpp"
#include "kopt/core/run_state.hpp"
#include "core/optimize/run_schema.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::core {

Result<double> parse_duration(const std::string& text) {
  const Failure bad{"usage", "not a duration: \"" + text + "\" (examples: 90, 90s, 20m, 1h, 1h30m)"};
  if (text.empty()) return bad;
  double total = 0;
  size_t pos = 0;
  bool any = false;
  while (pos < text.size()) {
    size_t used = 0;
    double value = 0;
    const std::string rest = text.substr(pos);
    if (!std::isdigit(static_cast<unsigned char>(rest[0])) && rest[0] != '.') return bad;
    try {
      value = std::stod(rest, &used);
    } catch (...) {
      return bad;
    }
    if (!std::isfinite(value) || value < 0) return bad;
    pos += used;
    double unit = 1;
    if (pos < text.size()) {
      const char u = text[pos++];
      if (u == 's') unit = 1;
      else if (u == 'm') unit = 60;
      else if (u == 'h') unit = 3600;
      else if (u == 'd') unit = 86400;
      else return bad;
    } else if (any) {
      return bad;  // "1h30" is ambiguous
    }
    total += value * unit;
    any = true;
  }
  return total;
}

Result<std::pair<int, int>> parse_shard(const std::string& text) {
  const Failure bad{"usage", "--shard takes I/N with 0 <= I < N, not \"" + text + "\""};
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return bad;
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() < 9 && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (!digits(a) || !digits(b)) return bad;
  const int i = std::atoi(a.c_str()), n = std::atoi(b.c_str());
  if (n < 1 || i >= n) return bad;
  return std::make_pair(i, n);
}

std::optional<int> shard_index_from_env(const std::vector<std::string>& env) {
  for (const char* name : {"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}) {
    const std::string prefix = std::string(name) + "=";
    for (const auto& e : env) {
      if (e.rfind(prefix, 0) != 0) continue;
      const std::string v = e.substr(prefix.size());
      if (v.empty() || v.size() > 8 || !std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        continue;
      return std::atoi(v.c_str());
    }
  }
  return std::nullopt;
}

std::vector<std::string> select_shard(std::vector<std::string> workloads, int index, int count) {
  std::sort(workloads.begin(), workloads.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < workloads.size(); ++i)
    if (count > 0 && static_cast<int>(i % static_cast<size_t>(count)) == index) out.push_back(workloads[i]);
  return out;
}

std::string workload_stem(const std::string& path) {
  std::string name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".py") == 0) name.resize(name.size() - 3);
  return name.empty() ? "workload" : name;
}

nlohmann::json baseline_drift(const nlohmann::json& baselines, const nlohmann::json& claim) {
  nlohmann::json out = nlohmann::json::array();
  if (!baselines.is_object() || !claim.is_object() || !claim.contains("baselines_ms") ||
      !util::json_field(claim, "baselines_ms").is_object())
    return out;
  const double limit = std::max(kDriftFloor, util::json_number(claim, "null_spread"));
  std::map<std::string, double> run;
  if (const auto& eager = util::json_field(baselines, "eager"); eager.is_object() && eager.value("ok", false))
    run["eager"] = util::json_number(eager, "median_ms");
  if (util::json_field(baselines, "compiled").is_object())
    for (const auto& [mode, t] : util::json_field(baselines, "compiled").items())
      if (t.is_object() && t.value("ok", false)) run[mode] = util::json_number(t, "median_ms");
  for (const auto& [name, v] : util::json_field(claim, "baselines_ms").items()) {
    const double gate = v.is_number() ? v.get<double>() : 0.0;
    const auto it = run.find(name);
    if (gate <= 0 || it == run.end() || it->second <= 0) continue;
    const double change = gate / it->second - 1.0;
    if (std::abs(change) > limit)
      out.push_back({{"baseline", name}, {"run_ms", it->second}, {"gate_ms", gate}, {"change", change}, {"limit", limit}});
  }
  return out;
}

nlohmann::json gate_baselines(const nlohmann::json& timing) {
  nlohmann::json out = nlohmann::json::object();
  if (!timing.is_object()) return out;
  nlohmann::json ms = nlohmann::json::object();
  for (const auto& [k, v] : timing.items())
    if ((k == "eager" || k.rfind("compile:", 0) == 0) && util::json_number(v, "median_ms") > 0)
      ms[k] = util::json_number(v, "median_ms");
  if (ms.empty()) return out;
  out["baselines_ms"] = ms;
  if (util::json_number(timing, "null_spread") > 0) out["null_spread"] = util::json_number(timing, "null_spread");
  return out;
}

std::string baseline_drift_text(const nlohmann::json& drift) {
  if (!drift.is_array() || drift.empty()) return "";
  std::string parts;
  for (const auto& d : drift) {
    const double change = util::json_number(d, "change");
    parts += (parts.empty() ? "" : ", ") +
             fmt::format("{} at {:.4f} ms, {:.1f}% {} than the run's baseline ({:.4f} ms)",
                         util::strip_control(d.value("baseline", "")), util::json_number(d, "gate_ms"),
                         std::abs(change) * 100, change > 0 ? "slower" : "faster", util::json_number(d, "run_ms"));
  }
  return "the final gate timed " + parts +
         fmt::format(", more than the {:.1f}% two timings of one model may differ by (the gate's null spread, at least 3%): "
                     "the gate's speedups stand (it times candidate and baselines alternately in one process); ranking "
                     "speedups and the ceiling used the run's baseline",
                     util::json_number(drift[0], "limit") * 100);
}

std::vector<std::string> suite_names(const std::vector<WorkloadResult>& results) {
  std::map<std::string, int> uses;
  for (const auto& r : results) ++uses[workload_stem(r.workload)];
  std::vector<std::string> names;
  for (const auto& r : results) {
    std::string name = workload_stem(r.workload);
    if (uses[name] > 1 && !r.run_dir.empty()) {
      std::string dir = r.run_dir;
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      name = dir.substr(dir.rfind('/') == std::string::npos ? 0 : dir.rfind('/') + 1);
    }
    names.push_back(name);
  }
  return names;
}

namespace {

// A run folder's run.json as saved, unchecked (null when absent or not JSON): for what a
// suite reads of runs it does not open.
nlohmann::json saved_header(const std::string& run_dir) {
  const auto text = read_text(run_dir + "/run.json");
  return text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
}

}  // namespace

WorkloadResult unreached_result(const std::string& workload, const std::string& run_dir) {
  WorkloadResult r;
  r.workload = workload;
  r.run_dir = run_dir;
  r.status = "not_started";
  r.exit_code = kExitInterrupted;
  const auto header = saved_header(run_dir);
  if (!header.is_object()) return r;
  r.saved_status = util::json_string(header, "status");
  const nlohmann::json summary = header.value("summary", nlohmann::json());
  // Checked as a resume checks it (run_schema): a damaged summary is no summary.
  if (summary.is_null() || !run_summary_error(summary).empty()) return r;
  r.summary = summary;
  // The same reading as a run that ends (SearchRun::run): faster only as the gate confirmed.
  r.faster = summary.value("faster", false);
  const nlohmann::json& best = util::json_field(summary, "best");
  if (best.is_object() && util::json_field(best, "speedup").is_number())
    r.best_speedup = util::json_field(best, "speedup").get<double>();
  return r;
}

std::vector<size_t> start_order(const std::vector<std::string>& run_dirs) {
  std::vector<size_t> first, last;
  for (size_t i = 0; i < run_dirs.size(); ++i) {
    const auto header = saved_header(run_dirs[i]);
    const bool gate_only = header.is_object() && header.contains("gate_left") &&
                           util::json_field(header, "gate_left").is_boolean() &&
                           util::json_field(header, "gate_left").get<bool>() &&
                           util::json_string(header, "status") == "interrupted";
    (gate_only ? last : first).push_back(i);
  }
  first.insert(first.end(), last.begin(), last.end());
  return first;
}

nlohmann::json suite_summary(const std::vector<WorkloadResult>& results) {
  nlohmann::json rows = nlohmann::json::array();
  const auto names = suite_names(results);
  size_t at = 0;
  double log_sum = 0, log_ceiling = 0;
  int with_speedup = 0, with_ceiling = 0;
  std::map<std::string, int> fast;
  const std::vector<std::pair<std::string, double>> ps = {{"1.0", 1.0}, {"1.5", 1.5}, {"2.0", 2.0}};
  for (const auto& r : results) {
    const nlohmann::json room = r.summary.is_object() ? r.summary.value("headroom", nlohmann::json()) : nlohmann::json();
    const double ceiling = util::json_number(room, "ceiling");
    rows.push_back({{"workload", r.workload},
                    {"name", names[at++]},
                    {"run_dir", r.run_dir},
                    {"status", r.status},
                    {"best_speedup", r.best_speedup ? nlohmann::json(*r.best_speedup) : nlohmann::json(nullptr)},
                    {"ceiling", ceiling > 0 ? nlohmann::json(ceiling) : nlohmann::json(nullptr)},
                    {"faster", r.faster},
                    {"exit_code", r.exit_code}});
    if (ceiling > 0) {
      log_ceiling += std::log(ceiling);
      ++with_ceiling;
    }
    if (r.best_speedup && *r.best_speedup > 0) {
      log_sum += std::log(*r.best_speedup);
      ++with_speedup;
    }
    // fast_p: the final gate called the best candidate faster (interval above 1) and its
    // median is above p; a ranking-only figure counts for no p, so fast_1.5 <= fast_1.0.
    for (const auto& [name, p] : ps)
      if (r.faster && r.best_speedup && *r.best_speedup > p) ++fast[name];
  }
  nlohmann::json fast_p = nlohmann::json::object();
  for (const auto& [name, p] : ps)
    fast_p[name] = results.empty() ? 0.0 : static_cast<double>(fast[name]) / static_cast<double>(results.size());
  return {{"workloads", rows},
          {"geomean_speedup", with_speedup ? nlohmann::json(std::exp(log_sum / with_speedup)) : nlohmann::json(nullptr)},
          {"workloads_with_speedup", with_speedup},
          {"geomean_ceiling", with_ceiling ? nlohmann::json(std::exp(log_ceiling / with_ceiling)) : nlohmann::json(nullptr)},
          {"workloads_with_ceiling", with_ceiling},
          {"fast_p", fast_p}};
}

namespace {

using Intervals = std::vector<std::pair<double, double>>;

Intervals merged(Intervals v) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& [a, b] : v) {
    if (b <= a) continue;
    if (!out.empty() && a <= out.back().second) out.back().second = std::max(out.back().second, b);
    else out.push_back({a, b});
  }
  return out;
}

}  // namespace

double idle_share(const Intervals& waiting, const Intervals& busy) {
  const Intervals w = merged(waiting), g = merged(busy);
  double total = 0, covered = 0;
  for (const auto& [a, b] : w) {
    total += b - a;
    for (const auto& [c, d] : g) covered += std::max(0.0, std::min(b, d) - std::max(a, c));
  }
  if (total <= 0) return 0;
  return std::clamp(1.0 - covered / total, 0.0, 1.0);
}

nlohmann::json sol_at(const nlohmann::json& bound, double median_ms) {
  const double seconds = util::json_number(bound, "seconds");
  if (!bound.is_object() || seconds <= 0 || !(median_ms > 0)) return nullptr;
  nlohmann::json j = bound;
  const double s = median_ms / 1000.0;
  j["fraction_of_light"] = seconds / s;
  j["achieved_bandwidth_fraction"] = util::json_number(bound, "memory_seconds") / s;
  if (util::json_number(bound, "flops") > 0) j["achieved_compute_fraction"] = util::json_number(bound, "compute_seconds") / s;
  else j.erase("achieved_compute_fraction");
  j.erase("below_light");
  return j;
}

double copy_fraction(const nlohmann::json& sol) {
  const double copy = util::json_number(sol, "copy_fraction");
  return util::json_string(sol, "bound") == "memory" && copy > 0 && copy <= 1.5 ? copy : 0.0;
}

nlohmann::json headroom(const nlohmann::json& bound, const std::string& baseline, double best_ms) {
  nlohmann::json at = sol_at(bound, best_ms);
  if (!at.is_object()) return nullptr;
  const double fraction = util::json_number(at, "fraction_of_light");
  if (!(fraction > 0) || !std::isfinite(fraction)) return nullptr;
  nlohmann::json h = {{"baseline", baseline},
                      {"bound", util::json_string(at, "bound")},
                      {"precision", util::json_string(at, "precision")},
                      {"seconds", util::json_number(at, "seconds")},
                      {"fraction_of_light", fraction}};
  // A time under the bound (by more than rounding) means the bound's inputs are off.
  if (fraction > 1.005) {
    h["below_light"] = true;
    return h;
  }
  h["ceiling"] = 1.0 / std::min(fraction, 1.0);
  // Memory-bound: the bound at the bandwidth a plain copy reached on the device (the
  // baseline's copy_fraction of the peak), which kernels reach and datasheets' peaks not.
  if (const double copy = copy_fraction(at); copy > 0) {
    h["copy_fraction"] = copy;
    h["copy_bandwidth"] = util::json_number(at, "copy_bandwidth");
    // A baseline already past the copy (the H200's logsumexp_rows at 92.6% of the peak
    // against a copy's 87.4%: read-only traffic streams faster than a copy's half reads, half
    // writes) leaves no practical room the copy can show: the ceiling is 1, and said so.
    h["practical_ceiling"] = std::max(1.0, copy / fraction);
    if (copy < fraction) h["past_copy"] = true;
  }
  return h;
}

nlohmann::json headroom_after_drift(const nlohmann::json& room, const nlohmann::json& drift, const nlohmann::json& bound,
                                    const std::string& best) {
  if (!drift.is_array()) return room;
  for (const auto& d : drift)
    if (d.is_object() && util::json_string(d, "baseline") == best)
      if (auto gate = headroom(bound, best, util::json_number(d, "gate_ms")); gate.is_object()) {
        gate["timed_by"] = "gate";
        return gate;
      }
  return room;
}

std::string earlier_baselines_text(const nlohmann::json& earlier) {
  if (!earlier.is_array() || earlier.empty()) return "";
  std::string parts;
  for (const auto& e : earlier) {
    if (!e.is_object()) continue;
    const auto& d = util::json_field(e, "device").is_object() ? util::json_field(e, "device") : nlohmann::json::object();
    std::string where = util::json_string(d, "name");
    if (where.empty()) where = util::json_string(d, "host_cpu");
    parts += (parts.empty() ? "" : "; ") +
             fmt::format("{} {:.4f} ms on {}", util::strip_control(util::json_string(e, "best")), util::json_number(e, "best_ms"),
                         where.empty() ? std::string("another device") : util::strip_control(where));
  }
  return parts.empty() ? "" : "timed again on this device (--rebaseline); before: " + parts;
}

std::string headroom_text(const nlohmann::json& h) {
  if (!h.is_object()) return "";
  const std::string bound = util::json_string(h, "bound"), precision = util::json_string(h, "precision");
  std::string text = fmt::format("speed of light {:.4f} ms ({}-bound{}): {} is at {:.1f}% of it",
                                 1000 * util::json_number(h, "seconds"), bound.empty() ? "?" : bound,
                                 precision.empty() ? "" : ", " + precision,
                                 util::json_string(h, "baseline") +
                                     (util::json_string(h, "timed_by") == "gate" ? " as the final gate timed it" : ""),
                                 100 * util::json_number(h, "fraction_of_light"));
  if (h.value("below_light", false)) return text + " (faster than the bound: the bound's inputs are off, see the baseline)";
  text += fmt::format(", so at most {:.2f}x is left", util::json_number(h, "ceiling"));
  if (bound == "compute") text += " at the " + (precision.empty() ? std::string("fp32") : precision) + " peak";
  if (const double practical = util::json_number(h, "practical_ceiling"); practical > 0) {
    text += fmt::format("; a plain copy on this GPU moves {:.2f} TB/s, {:.1f}% of the peak bandwidth",
                        util::json_number(h, "copy_bandwidth") / 1e12, 100 * util::json_number(h, "copy_fraction"));
    // (A ratio under 1 is past_copy as a kopt before that flag stored it.)
    const bool past = util::json_field(h, "past_copy") == true || practical < 1;
    text += past ? fmt::format(", and {} already moves more, so little room is practical", util::json_string(h, "baseline"))
                 : fmt::format(", so about {:.2f}x is practical", practical);
  }
  return text;
}

std::string ranking_speedup_text(const CandidateRecord& r) {
  if (!r.speedup) return "";
  if (r.speedup_low && r.speedup_high)
    return fmt::format(", speedup: {:.3f}x (ranking quartiles {:.3f}-{:.3f})", *r.speedup, *r.speedup_low, *r.speedup_high);
  return fmt::format(", speedup: {:.3f}x (ranking)", *r.speedup);
}

std::string ranking_range_text(const nlohmann::json& best) {
  const double low = util::json_number(best, "ranking_low"), high = util::json_number(best, "ranking_high");
  return low > 0 && high >= low ? fmt::format("quartiles {:.3f}-{:.3f}; ", low, high) : "";
}

void bound_ranked_profile(CandidateRecord& r, const nlohmann::json& bound) {
  if (!r.median_ms || !r.profile.is_object() || r.profile.contains("error") || r.profile.contains("sol")) return;
  if (auto sol = sol_at(bound, *r.median_ms); sol.is_object()) r.profile["sol"] = sol;
}

}  // namespace kopt::core
