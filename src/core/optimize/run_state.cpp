// Run directory files: atomic writes and the state rebuilt from them.
#include "kopt/core/run_state.hpp"

#include "kopt/util/json.hpp"
#include "run_schema.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kopt::core {

using util::json_field;

namespace {

nlohmann::json opt_number(const std::optional<double>& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); }

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback) {
  if (json_field(j, key).is_null()) return fallback;
  return json_field(j, key).get<T>();
}

std::optional<double> get_opt(const nlohmann::json& j, const char* key) {
  if (!json_field(j, key).is_number()) return std::nullopt;
  return json_field(j, key).get<double>();
}

}  // namespace

std::string candidate_dir_name(int id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", id);
  return buf;
}

nlohmann::json record_json(const CandidateRecord& r) {
  return {{"id", r.id},
          {"round", r.round},
          {"status", r.status},
          {"strategy", r.strategy},
          {"origin", r.origin},
          {"parent", r.parent},
          {"outcome", r.outcome},
          {"check", r.check},
          {"reason", r.reason},
          {"median_ms", opt_number(r.median_ms)},
          {"speedup", opt_number(r.speedup)},
          {"speedup_low", opt_number(r.speedup_low)},
          {"speedup_high", opt_number(r.speedup_high)},
          {"timing_error", r.timing_error},
          {"claim", r.claim},
          {"ncu", r.ncu},
          {"profile", r.profile},
          {"isolation", r.isolation},
          {"times",
           {{"proposed", r.proposed_at},
            {"verify_start", r.verify_start},
            {"verify_end", r.verify_end},
            {"timing_start", r.timing_start},
            {"timing_end", r.timing_end}}},
          {"phases", r.phases},
          {"log_tail", r.log_tail},
          {"build_sandbox", r.build_sandbox},
          {"tokens", {{"input", r.input_tokens}, {"output", r.output_tokens}, {"estimated", r.tokens_estimated}}},
          {"cost_usd", r.cost_usd}};
}

Result<CandidateRecord> record_from_json(const nlohmann::json& j) {
  if (auto error = record_error(j); !error.empty()) return Failure{"state", error};
  try {
    CandidateRecord r;
    r.id = json_field(j, "id").get<int>();
    r.round = get_or<int>(j, "round", 0);
    r.status = json_field(j, "status").get<std::string>();
    r.strategy = get_or<std::string>(j, "strategy", "");
    r.origin = get_or<std::string>(j, "origin", "");
    r.parent = get_or<int>(j, "parent", 0);
    r.outcome = get_or<std::string>(j, "outcome", "");
    r.check = get_or<std::string>(j, "check", "");
    r.reason = get_or<std::string>(j, "reason", "");
    r.median_ms = get_opt(j, "median_ms");
    r.speedup = get_opt(j, "speedup");
    r.speedup_low = get_opt(j, "speedup_low");
    r.speedup_high = get_opt(j, "speedup_high");
    r.timing_error = get_or<std::string>(j, "timing_error", "");
    r.claim = json_field(j, "claim");
    r.ncu = json_field(j, "ncu");
    r.profile = json_field(j, "profile");
    r.isolation = json_field(j, "isolation");
    if (json_field(j, "times").is_object()) {
      const auto& t = json_field(j, "times");
      r.proposed_at = get_or<double>(t, "proposed", 0);
      r.verify_start = get_or<double>(t, "verify_start", 0);
      r.verify_end = get_or<double>(t, "verify_end", 0);
      r.timing_start = get_or<double>(t, "timing_start", 0);
      r.timing_end = get_or<double>(t, "timing_end", 0);
    }
    if (json_field(j, "tokens").is_object()) {
      r.input_tokens = get_or<long long>(json_field(j, "tokens"), "input", 0);
      r.output_tokens = get_or<long long>(json_field(j, "tokens"), "output", 0);
      r.tokens_estimated = get_or<bool>(json_field(j, "tokens"), "estimated", false);
    }
    if (json_field(j, "phases").is_array()) r.phases = json_field(j, "phases");
    r.log_tail = get_or<std::string>(j, "log_tail", "");
    r.build_sandbox = get_or<std::string>(j, "build_sandbox", "");
    r.cost_usd = get_or<double>(j, "cost_usd", 0);
    return r;
  } catch (const nlohmann::json::exception& e) {  // record_error missed a field: a kopt bug
    return Failure{"state", json_error_text(e)};
  }
}

std::string json_error_text(const std::exception& e) {
  std::string text = e.what();
  if (text.rfind("[json.exception.", 0) == 0 && text.find("] ") != std::string::npos)
    text = text.substr(text.find("] ") + 2);
  return text;
}

Status write_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Failure{"io", "cannot write " + tmp + ": " + std::strerror(errno)};
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return Failure{"io", "cannot write " + tmp + ": " + why};
    }
    done += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    return Failure{"io", "cannot rename " + tmp + " to " + path + ": " + why};
  }
  return {};
}

std::optional<std::string> read_text(const std::string& path) {
  if (!is_regular_file(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool looks_like_workload(const std::string& text) {
  return text.find("class Model(") != std::string::npos && text.find("def get_inputs") != std::string::npos;
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void write_or_warn(const std::string& path, const std::string& content) {
  if (Status w = write_atomic(path, content); !w) spdlog::warn("File not written. [reason: {}]", w.failure().message);
}

Status make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos < path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return Failure{"io", "cannot create " + prefix + ": " + std::strerror(errno)};
  }
  if (!is_directory(path)) return Failure{"io", "not a directory: " + path};
  return {};
}

Status save_record(const std::string& run_dir, const CandidateRecord& record) {
  const std::string dir = run_dir + "/candidates/" + candidate_dir_name(record.id);
  if (Status made = make_dirs(dir); !made) return made;
  // A worker's log or a reason quoting it need not be UTF-8.
  return write_atomic(dir + "/record.json",
                      util::dump_json(record_json(record), 2) + "\n");
}

Status save_run(const RunState& state) {
  nlohmann::json run = state.header;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, record] : state.candidates) list.push_back(record_json(record));
  run["candidates"] = std::move(list);
  return write_atomic(state.dir + "/run.json",
                      util::dump_json(run, 2) + "\n");
}

namespace {

// The JSON document in `path`; Failure kind "state" naming the file.
Result<nlohmann::json> read_json_file(const std::string& path) {
  const auto text = read_text(path);
  if (!text) return Failure{"io", "cannot read " + path};
  try {
    return nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return Failure{"state", path + ": not valid JSON (" + json_error_text(e) + ")"};
  }
}

}  // namespace

Result<RunState> load_run(const std::string& dir) {
  if (!is_regular_file(dir + "/run.json")) return Failure{"io", dir + " is not a kopt optimize run directory (no run.json)"};
  auto header = read_json_file(dir + "/run.json");
  if (!header) return header.failure();
  if (auto error = run_header_error(*header); !error.empty()) return Failure{"state", dir + "/run.json: " + error};
  RunState state;
  state.dir = dir;
  state.header = std::move(header.value());
  state.header.erase("candidates");
  // candidates/ replaced by a file, or a record.json by a folder, is damage: read as "no
  // candidates" a resume would evaluate everything again and overwrite best.py.
  const std::string folder = dir + "/candidates";
  struct stat st {};
  if (lstat(folder.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return Failure{"state", folder + " is not a folder: the run directory is damaged"};
  for (const auto& name : list_dir(folder)) {
    // A folder whose record was never written (killed in between) holds no candidate yet.
    const std::string path = folder + "/" + name + "/record.json";
    if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      return Failure{"state", path + " is not a regular file: the run directory is damaged"};
    if (!is_regular_file(path)) continue;
    // Records are written atomically: a damaged one was edited or is foreign. Skipping it
    // would give its id to a new candidate and overwrite its files.
    auto j = read_json_file(path);
    if (!j) return j.failure();
    auto record = record_from_json(*j);
    if (!record) return Failure{"state", path + ": " + record.failure().message};
    if (name != candidate_dir_name(record->id))
      return Failure{"state", path + ": field \"id\" is " + std::to_string(record->id) + ", not its folder's " + name};
    state.candidates[record->id] = std::move(record.value());
  }
  return state;
}

std::string absolute_path(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf)) return buf;
  return path;
}

Status save_suite(const std::string& dir, const std::vector<SuiteEntry>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) {
    std::string run = e.run_dir;
    if (run.rfind(dir + "/", 0) == 0) run = run.substr(dir.size() + 1);  // relative: the folder may move
    list.push_back({{"workload", e.workload}, {"run", run}});
  }
  return write_atomic(dir + "/suite.json", util::dump_json(nlohmann::json({{"kopt_suite", 1}, {"workloads", list}}), 2) + "\n");
}

Result<std::vector<SuiteEntry>> load_suite(const std::string& dir) {
  const std::string path = dir + "/suite.json";
  auto j = read_json_file(path);
  if (!j) return j.failure();
  if (auto error = suite_error(*j); !error.empty()) return Failure{"state", path + ": " + error};
  auto resolve = [&](const std::string& run) {
    if (!run.empty() && run[0] == '/') return run;
    // An older suite.json ("runs") holds them as given on the command line (relative to
    // that run's working directory), or relative to the suite folder.
    const std::string inside = dir + "/" + run;
    return is_directory(inside) || !is_directory(run) ? inside : run;
  };
  std::vector<SuiteEntry> entries;
  if (j->contains("workloads")) {  // runs by name, inside the suite (suite_error checked)
    for (const auto& w : (*j)["workloads"])
      entries.push_back({json_field(w, "workload").get<std::string>(), dir + "/" + json_field(w, "run").get<std::string>()});
  } else {
    for (const auto& run : (*j)["runs"]) entries.push_back({"", resolve(run.get<std::string>())});
  }
  return entries;
}

}  // namespace kopt::core
