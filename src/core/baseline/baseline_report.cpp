// `kopt baseline` output: the --json document and the human table.
#include <fmt/format.h>

#include <cstdio>
#include <sstream>

#include "kopt/core/timing.hpp"
#include "kopt/util/json.hpp"
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
    // "memory-bound: 2.15 GB moved at 4.8 TB/s; FLOPs not counted" / "compute-bound: 137 GFLOP
    // at the fp32 peak, 67 TFLOP/s; 0.201 GB moved": what the bound is made of, in units a
    // kernel writer compares with.
    const double bytes = util::json_number(r.sol, "bytes"), flops = util::json_number(r.sol, "flops");
    const double mem_s = util::json_number(r.sol, "memory_seconds"), comp_s = util::json_number(r.sol, "compute_seconds");
    auto text = [&](const char* key) { return util::json_string(r.sol, key, "?"); };
    const std::string bound = text("bound"), precision = text("precision");
    const bool counted = r.sol.contains("flops_known") && r.sol["flops_known"].is_boolean() && r.sol["flops_known"].get<bool>();
    const std::string moved = fmt::format("{:.3g} GB moved{}", bytes / 1e9,
                                          mem_s > 0 ? fmt::format(" at {:.3g} TB/s", bytes / mem_s / 1e12) : "");
    const std::string work =
        !counted ? "FLOPs not counted"
        : flops > 0 ? fmt::format("{:.3g} GFLOP at the {} peak{}", flops / 1e9, precision,
                                  comp_s > 0 ? fmt::format(", {:.3g} TFLOP/s", flops / comp_s / 1e12) : "")
                    : "no FLOPs";
    out << fmt::format("speed of light: {:.4f} ms ({}-bound: {}; {})", util::json_number(r.sol, "seconds") * 1000, bound,
                       bound == "compute" ? work : moved, bound == "compute" ? moved : work);
    // A baseline under the bound is a wrong bound: the note below names the cause.
    if (r.sol.contains("warning")) out << "; below the best baseline\n";
    else out << fmt::format("; best is at {:.1f}% of it\n", 100.0 * util::json_number(r.sol, "fraction_of_light"));
    // Which peak, and why: for compute-bound work (a memory-bound bound does not use it).
    if (bound == "compute" && text("peak_why") != "?") out << "  peak: " << text("peak_why") << "\n";
    // Memory-bound: the bandwidth a plain copy reached here, which kernels can reach.
    if (const double copied = util::json_number(r.sol, "copy_bandwidth"); bound == "memory" && copied > 0 && r.best_ms > 0)
      out << fmt::format("  copy: a plain copy on this device moves {:.3g} TB/s, {:.1f}% of the peak bandwidth; "
                         "best moves {:.3g} TB/s, {:.1f}% of the copy's\n",
                         copied / 1e12, 100 * util::json_number(r.sol, "copy_fraction"), bytes / (r.best_ms / 1000) / 1e12,
                         100 * bytes / (r.best_ms / 1000) / copied);
  }
  if (r.profile.is_object() && r.profile.contains("kernels")) {
    int k = 0;
    for (const auto& kern : util::json_field(r.profile, "kernels")) {
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
