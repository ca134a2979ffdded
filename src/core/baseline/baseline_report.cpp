// `kopt baseline` output: the --json document and the human table.
#include <fmt/format.h>

#include <cstdio>
#include <sstream>

#include "kopt/core/timing.hpp"
#include "kopt/util/text.hpp"
#include "core/timing/ncu_run.hpp"

namespace kopt::core {

nlohmann::json baseline_json(const BaselineReport& r) {
  nlohmann::json j = {{"kopt_baseline", 1}, {"ok", r.ok}};
  if (!r.ok) {
    j["error"] = r.error;
    j["check"] = r.check;
  }
  j["device"] = r.device;
  j["eager"] = timing_json(r.eager);
  nlohmann::json compiled = nlohmann::json::object();
  for (const auto& [k, t] : r.compiled) compiled[k] = timing_json(t);
  j["compiled"] = compiled;
  j["best"] = r.best;
  j["best_ms"] = r.best_ms;
  j["profile"] = r.profile;
  j["sol"] = r.sol;
  if (!r.ncu.is_null()) j["ncu"] = r.ncu;
  j["notes"] = r.notes;
  return j;
}

namespace {

std::string row(const Timing& t) {
  char buf[256];
  if (!t.ok) {
    std::snprintf(buf, sizeof buf, "  %-28s unavailable: %s\n", t.label.c_str(), util::strip_control(t.error).substr(0, 150).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "  %-28s median %9.4f ms  IQR %8.4f ms  min %9.4f ms  (%d batches x %d calls)\n",
                  t.label.c_str(), t.median_ms, t.q3_ms - t.q1_ms, t.min_ms, t.batches, t.calls_per_batch);
  }
  return buf;
}

}  // namespace

std::string baseline_text(const BaselineReport& r) {
  std::ostringstream out;
  if (!r.ok) {
    out << "BASELINE FAILED: " << util::strip_control(r.error) << "\n";
    return out.str();
  }
  const auto& d = r.device;
  out << "device: " << (d.value("name", std::string()).empty() ? std::string("cpu") : d.value("name", std::string()));
  if (d.contains("capability") && !d["capability"].get<std::string>().empty()) out << " (sm " << d["capability"].get<std::string>() << ")";
  out << ", torch " << d.value("torch", std::string("?"));
  if (d.contains("driver")) out << ", driver " << d["driver"].get<std::string>();
  if (d.contains("gpu_state") && d["gpu_state"].is_object())
    out << ", SM clock " << d["gpu_state"].value("sm_clock_mhz", 0) << " MHz, " << d["gpu_state"].value("temperature_c", 0) << " C";
  out << "\n";
  out << row(r.eager);
  for (const auto& [k, t] : r.compiled) out << row(t);
  char buf[256];
  std::snprintf(buf, sizeof buf, "best: %s at %.4f ms\n", r.best.c_str(), r.best_ms);
  out << buf;
  if (r.sol.is_object() && r.sol.contains("seconds")) {
    std::snprintf(buf, sizeof buf, "speed of light: %.4f ms (%s-bound; %.0f bytes, %.3g flops%s; %s peak)",
                  r.sol.value("seconds", 0.0) * 1000, r.sol.value("bound", std::string("?")).c_str(), r.sol.value("bytes", 0.0),
                  r.sol.value("flops", 0.0), r.sol.value("flops_known", false) ? "" : " unknown",
                  r.sol.value("precision", std::string("?")).c_str());
    out << buf;
    // A baseline under the bound is a wrong bound: the note below names the cause.
    if (r.sol.contains("warning")) out << "; below the best baseline\n";
    else out << fmt::format("; best is at {:.1f}% of it\n", 100.0 * r.sol.value("fraction_of_light", 0.0));
    if (r.sol.contains("peak_why")) out << "  peak: " << r.sol.value("peak_why", std::string()) << "\n";
  }
  if (r.profile.is_object() && r.profile.contains("kernels")) {
    int k = 0;
    for (const auto& kern : r.profile["kernels"]) {
      if (k++ == 0) out << "top kernels (eager, per call):\n";
      if (k > 6) break;
      std::snprintf(buf, sizeof buf, "  %8.2f us  %5.1f%%  %s\n", kern.value("us_per_call", 0.0), 100 * kern.value("share", 0.0),
                    util::strip_control(kern.value("name", std::string())).substr(0, 90).c_str());
      out << buf;
    }
  }
  out << ncu_report_text(r.ncu, "eager");
  for (const auto& n : r.notes) out << "note: " << n << "\n";
  return out.str();
}

}  // namespace kopt::core
