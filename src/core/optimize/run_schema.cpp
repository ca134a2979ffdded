// Field-by-field checks of run.json, record.json and suite.json (run_schema.hpp). They
// cover every field kopt reads back with a fixed type (value(), get<T>(), operator[] on a
// const object), so that reading a checked file cannot throw.
#include "run_schema.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "kopt/core/option_ranges.hpp"
#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::core {

using util::json_field;

namespace {

enum class Kind { string, number, integer, boolean, object, array, strings };

bool has_kind(const nlohmann::json& v, Kind kind) {
  switch (kind) {
    case Kind::string: return v.is_string();
    case Kind::number: return v.is_number();
    case Kind::integer: return v.is_number_integer();
    case Kind::boolean: return v.is_boolean();
    case Kind::object: return v.is_object();
    case Kind::array: return v.is_array();
    case Kind::strings:
      return v.is_array() && std::all_of(v.begin(), v.end(), [](const nlohmann::json& x) { return x.is_string(); });
  }
  return false;
}

const char* kind_text(Kind kind) {
  switch (kind) {
    case Kind::string: return "a string";
    case Kind::number: return "a number";
    case Kind::integer: return "an integer";
    case Kind::boolean: return "true or false";
    case Kind::object: return "an object";
    case Kind::array: return "a list";
    case Kind::strings: return "a list of strings";
  }
  return "?";
}

struct Field {
  const char* name;
  Kind kind;
  bool required = false;
  bool nullable = false;  // null reads as absent
};

// The first of `fields` of the object `j` that is missing (when required) or of another
// kind; "" when none. `prefix` names where `j` sits ("options.").
std::string check(const nlohmann::json& j, const std::string& prefix, std::initializer_list<Field> fields) {
  if (!j.is_object()) {
    const std::string where = prefix.empty() ? "the file" : "field \"" + prefix.substr(0, prefix.size() - 1) + "\"";
    return where + " must be an object (it is " + j.type_name() + ")";
  }
  for (const auto& f : fields) {
    const std::string name = "field \"" + prefix + f.name + "\"";
    if (!j.contains(f.name)) {
      if (f.required) return name + " is missing";
      continue;
    }
    const auto& v = json_field(j, f.name);
    if ((v.is_null() && f.nullable) || has_kind(v, f.kind)) continue;
    return name + " must be " + kind_text(f.kind) + " (it is " + v.type_name() + ")";
  }
  return {};
}

// The same check on each element of the list `j[key]` (when it is one).
std::string check_each(const nlohmann::json& j, const char* key, const std::string& prefix,
                       std::initializer_list<Field> fields) {
  if (!json_field(j, key).is_array()) return {};
  const auto& list = json_field(j, key);
  for (size_t i = 0; i < list.size(); ++i)
    if (auto e = check(list[i], prefix + key + "[" + std::to_string(i) + "].", fields); !e.empty()) return e;
  return {};
}

// check() on the object `j[key]`, when present and not null.
std::string check_in(const nlohmann::json& j, const char* key, const std::string& prefix,
                     std::initializer_list<Field> fields) {
  if (json_field(j, key).is_null()) return {};
  return check(json_field(j, key), prefix + key + ".", fields);
}

std::string first(std::initializer_list<std::string> errors) {
  for (const auto& e : errors)
    if (!e.empty()) return e;
  return {};
}

// The saved options' values (their types are checked with the rest): a run resumes with
// them, so one out of range would turn every later candidate's verdict into an error
// about kopt's own settings. The ranges are the CLI's (kopt/core/option_ranges.hpp).
std::string options_value_error(const nlohmann::json& h) {
  const auto& o =
      json_field(h, "options").is_object() ? json_field(h, "options") : nlohmann::json::object();
  auto one_of = [&](const char* key, std::initializer_list<const char*> allowed) -> std::string {
    if (!json_field(o, key).is_string()) return "";
    const std::string v = json_field(o, key).get<std::string>();
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return "";
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    return "field \"options." + std::string(key) + "\" must be one of " + list + " (it is \"" + util::strip_control(v) + "\")";
  };
  auto within = [&](const OptionRange& r) -> std::string {
    if (!json_field(o, r.key).is_number()) return "";
    // Below the CLI's range, run.json also holds the default that means "no limit" (max_cost -1).
    const bool has_none = !std::isnan(r.none);
    const double low = has_none ? r.none : r.low;
    const bool inclusive = has_none || r.inclusive;
    const double v = json_field(o, r.key).get<double>();
    if (in_range(low, inclusive, r.high, v)) return "";
    return "field \"options." + std::string(r.key) + "\" must be " + (inclusive ? "at least " : "more than ") +
           util::dump_json(low) + " and at most " + util::dump_json(r.high) + " (it is " +
           util::dump_json(json_field(o, r.key)) + ")";
  };
  if (auto e = first({one_of("device", {"cpu", "cuda"}), one_of("precision", {"fp32", "tf32", "fp16", "bf16"})}); !e.empty())
    return e;
  for (const auto& r : kOptionRanges)
    if (auto e = within(r); !e.empty()) return e;
  // The files provider's wait for a reply (0: forever), as --reply-timeout takes it.
  const auto& p =
      json_field(h, "provider").is_object() ? json_field(h, "provider") : nlohmann::json::object();
  if (json_field(p, "reply_timeout_s").is_number() &&
      !in_range(0, true, kMaxTimeoutSeconds, json_field(p, "reply_timeout_s").get<double>()))
    return "field \"provider.reply_timeout_s\" must be at least 0.0 and at most " + util::dump_json(kMaxTimeoutSeconds) +
           " (it is " + util::dump_json(json_field(p, "reply_timeout_s")) + ")";
  return "";
}

}  // namespace

std::string run_summary_error(const nlohmann::json& s) {
  return first({
      check(s, "summary.",
            {{"baselines", Kind::object, true},
             {"counts", Kind::object, true},
             {"best", Kind::object, true, true},
             {"gpu_idle_share", Kind::number, true, true},
             {"stop_reason", Kind::string},
             {"candidates", Kind::integer},
             {"pending", Kind::integer},
             {"not_evaluated", Kind::integer},
             {"evaluated_per_minute", Kind::number},
             {"tokens", Kind::object},
             {"faster", Kind::boolean},
             {"verdict", Kind::string}}),
      s.is_object() ? check_in(s, "baselines", "summary.",
                               {{"ok", Kind::boolean}, {"best", Kind::string, false, true}, {"best_ms", Kind::number, false, true}})
                    : std::string(),
      s.is_object() ? check_in(s, "best", "summary.",
                               {{"id", Kind::integer}, {"strategy", Kind::string}, {"speedup", Kind::number, true, true},
                                {"median_ms", Kind::number}, {"confirmed", Kind::boolean}, {"faster", Kind::boolean}})
                    : std::string(),
  });
}

std::string run_header_error(const nlohmann::json& h) {
  if (auto e = check(h, "", {{"workload", Kind::string, true},
                             {"workload_name", Kind::string},
                             {"device", Kind::string},
                             {"status", Kind::string},
                             {"stop_reason", Kind::string},
                             {"created", Kind::number},
                             {"elapsed_s", Kind::number},
                             {"rounds", Kind::integer},
                             {"stale_rounds", Kind::integer},
                             {"best_score", Kind::number},
                             {"sessions", Kind::array},
                             {"options", Kind::object},
                             {"provider", Kind::object},
                             {"baseline", Kind::object},
                             {"tokens", Kind::object},
                             {"summary", Kind::object, false, true},
                             {"best", Kind::integer, false, true},
                             {"gate_left", Kind::boolean}});
      !e.empty())
    return e;
  const auto& b = h.contains("baseline") ? json_field(h, "baseline") : nlohmann::json::object();
  std::string compiled;
  if (json_field(b, "compiled").is_object())
    for (const auto& [mode, t] : json_field(b, "compiled").items())
      if (compiled.empty())
        compiled = check(t, "baseline.compiled." + mode + ".", {{"ok", Kind::boolean}, {"median_ms", Kind::number}, {"error", Kind::string}});
  return first({
      check_each(h, "sessions", "", {{"start", Kind::number}, {"end", Kind::number}}),
      options_value_error(h),
      check_in(h, "options", "",
               {{"device", Kind::string, false, true},
                {"python", Kind::string, false, true},
                {"precision", Kind::string, false, true},
                {"target", Kind::string, false, true},
                {"eval_mode", Kind::boolean, false, true},
                {"allow_ties", Kind::boolean, false, true},
                {"trials", Kind::integer, false, true},
                {"final_trials", Kind::integer, false, true},
                {"final_top", Kind::integer, false, true},
                {"candidates_per_round", Kind::integer, false, true},
                {"jobs", Kind::integer, false, true},
                {"max_candidates", Kind::integer, false, true},
                {"time_budget_s", Kind::number, false, true},
                {"max_cost", Kind::number, false, true},
                {"max_tokens_total", Kind::integer, false, true},
                {"patience", Kind::integer, false, true},
                {"import_timeout", Kind::number, false, true},
                {"call_timeout", Kind::number, false, true},
                {"compile_modes", Kind::strings, false, true},
                {"hints", Kind::strings, false, true}}),
      check_in(h, "provider", "",
               {{"kind", Kind::string},
                {"model", Kind::string},
                {"base_url", Kind::string},
                {"command", Kind::string},
                {"from", Kind::string},
                {"inbox", Kind::string},
                {"reply_timeout_s", Kind::number}}),
      check_in(h, "baseline", "",
               {{"ok", Kind::boolean},
                {"error", Kind::string},
                {"best", Kind::string},
                {"best_ms", Kind::number},
                {"text", Kind::string},
                {"seconds", Kind::number},
                {"eager", Kind::object},
                {"compiled", Kind::object}}),
      compiled,
      check_in(h, "tokens", "", {{"input", Kind::integer}, {"output", Kind::integer}, {"estimated", Kind::boolean}}),
      !json_field(h, "summary").is_null() ? run_summary_error(json_field(h, "summary")) : std::string(),
  });
}

namespace {

// A claim that says "faster" is what makes a candidate best.py: it must carry the
// interval that backs it (a damaged one used to give best.py "0.000x ... faster").
std::string faster_claim_error(const nlohmann::json& claim) {
  if (json_field(claim, "faster") != true) return "";
  const auto& v = json_field(json_field(claim, "speedup"), "vs_best");
  for (const char* k : {"median", "low", "high"})
    if (!v.is_object() || !json_field(v, k).is_number())
      return std::string("field \"claim.speedup.vs_best.") + k + "\" is required when \"claim.faster\" is true";
  if (!(json_field(v, "low").get<double>() > 1.0))
    return "field \"claim.faster\" is true but \"claim.speedup.vs_best.low\" is not above 1";
  return "";
}

}  // namespace

std::string record_error(const nlohmann::json& r) {
  if (auto e = check(r, "", {{"id", Kind::integer, true},
                             {"status", Kind::string, true},
                             {"round", Kind::integer, false, true},
                             {"strategy", Kind::string, false, true},
                             {"origin", Kind::string, false, true},
                             {"parent", Kind::integer, false, true},
                             {"outcome", Kind::string, false, true},
                             {"check", Kind::string, false, true},
                             {"reason", Kind::string, false, true},
                             {"median_ms", Kind::number, false, true},
                             {"speedup", Kind::number, false, true},
                             {"speedup_low", Kind::number, false, true},
                             {"speedup_high", Kind::number, false, true},
                             {"timing_error", Kind::string, false, true},
                             {"claim", Kind::object, false, true},
                             {"ncu", Kind::object, false, true},
                             {"profile", Kind::object, false, true},
                             {"times", Kind::object, false, true},
                             {"tokens", Kind::object, false, true},
                             {"cost_usd", Kind::number, false, true},
                             {"phases", Kind::array, false, true},
                             {"log_tail", Kind::string, false, true},
                             {"build_sandbox", Kind::string, false, true}});
      !e.empty())
    return e;
  const std::string status = json_field(r, "status").get<std::string>();
  if (status != "queued" && status != "running" && status != "done" && status != "pending" && status != "interrupted")
    return "field \"status\" must be queued, running, done, pending or interrupted (it is \"" + status + "\")";
  if (json_field(r, "id").get<long long>() < 1 || json_field(r, "id").get<long long>() > 1'000'000)
    return "field \"id\" must be between 1 and 1000000";
  const auto& claim = json_field(r, "claim");
  return first({
      check_in(r, "times", "",
               {{"proposed", Kind::number, false, true},
                {"verify_start", Kind::number, false, true},
                {"verify_end", Kind::number, false, true},
                {"timing_start", Kind::number, false, true},
                {"timing_end", Kind::number, false, true}}),
      check_in(r, "tokens", "",
               {{"input", Kind::integer, false, true},
                {"output", Kind::integer, false, true},
                {"estimated", Kind::boolean, false, true}}),
      check_in(r, "claim", "",
               {{"outcome", Kind::string}, {"faster", Kind::boolean}, {"speedup", Kind::object},
                {"best_baseline", Kind::string}}),
      claim.is_object() ? check_in(claim, "speedup", "claim.", {{"vs_best", Kind::object}}) : std::string(),
      claim.is_object() && json_field(claim, "speedup").is_object()
          ? check_in(json_field(claim, "speedup"), "vs_best", "claim.speedup.",
                     {{"pairs", Kind::integer}, {"median", Kind::number}, {"low", Kind::number}, {"high", Kind::number}})
          : std::string(),
      faster_claim_error(claim),
      check_in(r, "ncu", "", {{"ok", Kind::boolean}, {"text", Kind::string}}),
      check_each(r, "phases", "", {{"name", Kind::string, true}, {"seconds", Kind::number, true}, {"end", Kind::number}}),
  });
}

std::string suite_error(const nlohmann::json& s) {
  if (s.is_object() && !s.contains("workloads") && s.contains("runs"))  // an older suite.json: run directories only
    return check(s, "", {{"runs", Kind::strings, true}});
  if (auto e = check(s, "", {{"workloads", Kind::array, true}}); !e.empty()) return e;
  if (json_field(s, "workloads").empty()) return "field \"workloads\" is empty";
  if (s.contains("kopt_suite") && json_field(s, "kopt_suite") != 1)
    return "field \"kopt_suite\" is " + util::dump_json(json_field(s, "kopt_suite")) + ": this kopt reads version 1";
  if (auto e = check_each(s, "workloads", "", {{"workload", Kind::string, true}, {"run", Kind::string, true}}); !e.empty())
    return e;
  // Each run is a folder of the suite's own (kopt writes its name): a path elsewhere would
  // let a resume rewrite another run's files.
  for (size_t i = 0; i < json_field(s, "workloads").size(); ++i) {
    const std::string run = json_field(json_field(s, "workloads")[i], "run").get<std::string>();
    if (run.empty() || run == "." || run == ".." || run.find('/') != std::string::npos)
      return "field \"workloads[" + std::to_string(i) + "].run\" must name a folder inside the suite (it is \"" +
             util::strip_control(run) + "\")";
  }
  return "";
}

}  // namespace kopt::core
