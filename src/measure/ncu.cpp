#include "kopt/measure/ncu.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <sstream>

#include "kopt/util/text.hpp"

namespace kopt::measure {

namespace {

bool executable_file(const std::string& path) {
  struct stat st;
  return !path.empty() && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// One CSV record: quoted fields with "" as an escaped quote, as ncu writes them.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// "1,234.5" -> 1234.5; nullopt for anything else ("n/a", "").
std::optional<double> number(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// A duration in microseconds from ncu's value and unit (base units: nsecond).
double to_us(double v, const std::string& unit) {
  if (unit == "usecond") return v;
  if (unit == "msecond") return v * 1e3;
  if (unit == "second") return v * 1e6;
  return v / 1e3;  // nsecond, or no unit
}

struct Acc {
  std::map<long, bool> ids;  // launches seen
  double us = 0;
  std::map<std::string, std::pair<double, int>> sums;  // metric -> (sum, count)
};

// Absolute: the worker starts in its sandbox directory.
std::optional<std::string> absolute(const std::string& path) {
  if (!executable_file(path)) return std::nullopt;
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

}  // namespace

std::optional<std::string> find_ncu(const std::string& flag, const std::string& env, const std::string& path_env) {
  if (!flag.empty()) return absolute(flag);
  if (!env.empty()) return absolute(env);
  std::stringstream dirs(path_env);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    if (executable_file(dir + "/ncu")) return dir + "/ncu";
  }
  if (executable_file("/usr/local/cuda/bin/ncu")) return std::string("/usr/local/cuda/bin/ncu");
  return std::nullopt;
}

const std::vector<std::string>& ncu_metrics() {
  static const std::vector<std::string> m = {
      "gpu__time_duration.sum",
      "dram__throughput.avg.pct_of_peak_sustained_elapsed",
      "sm__throughput.avg.pct_of_peak_sustained_elapsed",
      "sm__warps_active.avg.pct_of_peak_sustained_active",
      "lts__t_sector_hit_rate.pct",
      "launch__registers_per_thread",
      "launch__block_size",
      "launch__grid_size",
  };
  return m;
}

std::vector<std::string> ncu_command(const std::string& ncu, const std::string& log_file) {
  std::string metrics;
  for (const auto& m : ncu_metrics()) metrics += (metrics.empty() ? "" : ",") + m;
  return {ncu, "--csv", "--print-units", "base", "--log-file", log_file, "--profile-from-start", "off",
          "--target-processes", "all", "--metrics", metrics};
}

Result<nlohmann::json> parse_ncu_csv(const std::string& text, int calls, size_t max_kernels) {
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> header;
  std::map<std::string, size_t> col;
  std::map<std::string, Acc> kernels;
  std::vector<std::string> order;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("==", 0) == 0) continue;
    auto f = csv_fields(line);
    if (header.empty()) {
      if (std::find(f.begin(), f.end(), "Kernel Name") == f.end()) continue;
      header = f;
      for (size_t i = 0; i < f.size(); ++i) col[f[i]] = i;
      if (!col.count("ID") || !col.count("Metric Name") || !col.count("Metric Value"))
        return Failure{"ncu", "ncu's CSV has no per-metric rows (ID, Metric Name, Metric Value)"};
      continue;
    }
    if (f.size() != header.size()) continue;
    const std::string name = f[col["Kernel Name"]];
    const auto id = number(f[col["ID"]]);
    const auto value = number(f[col["Metric Value"]]);
    if (!id || !value) continue;
    if (!kernels.count(name)) order.push_back(name);
    auto& k = kernels[name];
    k.ids[static_cast<long>(*id)] = true;
    const std::string metric = f[col["Metric Name"]];
    if (metric == "gpu__time_duration.sum") k.us += to_us(*value, col.count("Metric Unit") ? f[col["Metric Unit"]] : "");
    auto& s = k.sums[metric];
    s.first += *value;
    s.second += 1;
  }
  if (kernels.empty()) {
    const std::string error = ncu_log_error(text);
    return Failure{"ncu", error.empty() ? "ncu profiled no kernel (its log has no kernel rows)" : "ncu: " + error};
  }
  double total = 0;
  for (const auto& [name, k] : kernels) total += k.us;
  const double per = std::max(1, calls);
  nlohmann::json out = nlohmann::json::array();
  auto mean = [](const Acc& k, const char* m) -> nlohmann::json {
    auto it = k.sums.find(m);
    if (it == k.sums.end() || it->second.second == 0) return nullptr;
    return it->second.first / it->second.second;
  };
  for (const auto& name : order) {
    const auto& k = kernels[name];
    out.push_back({{"name", name},
                   {"launches_per_call", static_cast<double>(k.ids.size()) / per},
                   {"us_per_call", k.us / per},
                   {"share", total > 0 ? k.us / total : 0.0},
                   {"dram_pct", mean(k, "dram__throughput.avg.pct_of_peak_sustained_elapsed")},
                   {"sm_pct", mean(k, "sm__throughput.avg.pct_of_peak_sustained_elapsed")},
                   {"occupancy_pct", mean(k, "sm__warps_active.avg.pct_of_peak_sustained_active")},
                   {"l2_hit_pct", mean(k, "lts__t_sector_hit_rate.pct")},
                   {"registers", mean(k, "launch__registers_per_thread")},
                   {"block", mean(k, "launch__block_size")},
                   {"grid", mean(k, "launch__grid_size")}});
  }
  std::stable_sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["us_per_call"].get<double>() > b["us_per_call"].get<double>();
  });
  if (out.size() > max_kernels) out.erase(out.begin() + static_cast<long>(max_kernels), out.end());
  return out;
}

std::string ncu_log_error(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("==ERROR==", 0) != 0) continue;
    std::string own = util::strip_control(line.substr(9));
    own.erase(0, own.find_first_not_of(' '));
    return own;
  }
  return "";
}

std::string ncu_text(const nlohmann::json& kernels, size_t max_kernels) {
  auto field = [](const nlohmann::json& k, const char* key, const char* label, const char* fmt) {
    if (!k.contains(key) || !k[key].is_number()) return std::string("  ") + label + " n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, k[key].get<double>());
    return std::string("  ") + label + " " + buf;
  };
  std::string out;
  size_t n = 0;
  for (const auto& k : kernels) {
    if (n++ >= max_kernels) break;
    char head[64];
    std::snprintf(head, sizeof head, "  %9.2f us x%.0f", k.value("us_per_call", 0.0), k.value("launches_per_call", 0.0));
    out += head + field(k, "dram_pct", "DRAM", "%.1f%%") + field(k, "sm_pct", "SM", "%.1f%%") +
           field(k, "occupancy_pct", "occupancy", "%.1f%%") + field(k, "l2_hit_pct", "L2 hit", "%.1f%%") +
           field(k, "registers", "regs", "%.0f") + field(k, "block", "block", "%.0f") + field(k, "grid", "grid", "%.0f") +
           "  " + util::strip_control(k.value("name", std::string())).substr(0, 100) + "\n";
  }
  return out;
}

}  // namespace kopt::measure
