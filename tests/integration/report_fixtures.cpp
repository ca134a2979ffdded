#include "report_fixtures.hpp"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>

namespace kopt::testing {

namespace {

void mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string source_of(int id, const std::string& extra) {
  return "import torch\nimport torch.nn as nn\n\n\nclass ModelNew(nn.Module):\n    # candidate " + std::to_string(id) +
         "\n    def forward(self, x):\n        return torch.relu(x)" + extra + "\n";
}

nlohmann::json kernels(double scale) {
  return {{"kernels",
           {{{"name", "void at::native::vectorized_elementwise_kernel<relu>"}, {"us_per_call", 40.0 * scale}, {"share", 0.8}},
            {{"name", "void at::native::reduce_kernel<sum>"}, {"us_per_call", 10.0 * scale}, {"share", 0.2}}}},
          {"bytes", 8.0e6}};
}

}  // namespace

nlohmann::json run_header(const std::string& name, const std::string& status, bool baseline_ok) {
  nlohmann::json baseline = {{"ok", baseline_ok}, {"error", baseline_ok ? "" : "get_inputs() raised: no inputs today"}};
  if (baseline_ok) {
    baseline["best"] = "eager";
    baseline["best_ms"] = 2.0;
    baseline["eager"] = {{"ok", true}, {"median_ms", 2.0}, {"error", ""}};
  }
  return {{"kopt_optimize", 1},     {"kopt_version", "0.1.0"}, {"workload", "/work/examples/" + name},
          {"workload_name", name},  {"device", "cpu"},         {"status", status},
          {"stop_reason", status == "finished" ? "replay has nothing more to propose" : ""},
          {"provider", {{"kind", "replay"}}}, {"baseline", baseline}, {"rounds", 2},
          {"tokens", {{"input", 0}, {"output", 0}, {"estimated", false}}}};
}

nlohmann::json candidate(int id, int round, const std::string& outcome, double ms, int parent) {
  const bool correct = outcome == "correct";
  nlohmann::json r = {{"id", id},           {"round", round},
                      {"status", "done"},   {"strategy", std::to_string(id) + ".py"},
                      {"origin", "replay"}, {"parent", parent},
                      {"outcome", outcome}, {"check", correct ? "" : "close"},
                      {"reason", correct ? "the candidate matched the reference on every check"
                                         : "output: normwise error 0.5 exceeds the limit 0.001"},
                      {"median_ms", correct ? nlohmann::json(ms) : nlohmann::json(nullptr)},
                      {"speedup", correct ? nlohmann::json(2.0 / ms) : nlohmann::json(nullptr)},
                      {"timing_error", ""},
                      {"claim", nullptr},
                      {"profile", correct ? kernels(ms / 2) : nlohmann::json(nullptr)},
                      {"times", {{"proposed", 1.7e9 + id}, {"verify_start", 1.7e9 + id + 1}, {"verify_end", 1.7e9 + id + 4}}},
                      {"phases", nlohmann::json::array()},
                      {"log_tail", ""},
                      {"tokens", {{"input", 0}, {"output", 0}, {"estimated", false}}},
                      {"cost_usd", 0.0}};
  return r;
}

nlohmann::json summary_of(const nlohmann::json& header, const std::vector<nlohmann::json>& records) {
  std::map<std::string, int> counts;
  int pending = 0, not_evaluated = 0;
  const nlohmann::json* best = nullptr;
  for (const auto& r : records) {
    if (r["status"] == "pending") ++pending;
    else if (r["status"] != "done") ++not_evaluated;
    else ++counts[r["outcome"].get<std::string>()];
    if (r["outcome"] == "correct" && r["median_ms"].is_number() &&
        (!best || r["median_ms"].get<double>() < (*best)["median_ms"].get<double>()))
      best = &r;
  }
  const bool baseline_ok = header["baseline"]["ok"].get<bool>();
  nlohmann::json s = {{"baselines", header["baseline"]}, {"counts", counts},       {"best", nullptr},
                      {"gpu_idle_share", nullptr},      {"candidates", records.size()},
                      {"evaluated", records.size() - pending - not_evaluated},
                      {"pending", pending},             {"not_evaluated", not_evaluated},
                      {"rounds", 2},                    {"elapsed_s", 42.0},
                      {"evaluated_per_minute", 3.0},    {"tokens", header["tokens"]},
                      {"cost_usd", 0.0},                {"faster", false},
                      {"stop_reason", header["stop_reason"]}};
  bool faster = false;
  if (best) {
    const auto& r = *best;
    nlohmann::json b = {{"id", r["id"]}, {"strategy", r["strategy"]}, {"median_ms", r["median_ms"]},
                        {"speedup", baseline_ok ? r["speedup"] : nlohmann::json(nullptr)}, {"confirmed", false}, {"faster", false}};
    if (r["claim"].is_object()) {
      const auto& v = r["claim"]["speedup"]["vs_best"];
      b["speedup"] = v["median"];
      b["low"] = v["low"];
      b["high"] = v["high"];
      b["pairs"] = v["pairs"];
      b["confirmed"] = true;
      faster = r["claim"]["faster"].get<bool>();
      b["faster"] = faster;
    }
    s["best"] = b;
  }
  s["faster"] = faster;
  s["best_py"] = faster ? nlohmann::json{{"source", "candidate"}, {"id", (*best)["id"]}}
                        : nlohmann::json{{"source", "baseline"}, {"baseline", "eager"}};
  char id[16] = "";
  if (best) std::snprintf(id, sizeof id, "%04d", (*best)["id"].get<int>());
  s["verdict"] = faster ? "candidate " + std::string(id) + " beat eager; best.py is candidate " + id
                        : std::string("no candidate beat eager; best.py is eager");
  return s;
}

void write_run(const std::string& dir, const nlohmann::json& header, const std::vector<nlohmann::json>& records,
               const nlohmann::json& summary) {
  mkdirs(dir + "/candidates");
  nlohmann::json h = header;
  if (summary.is_object()) h["summary"] = summary;
  put(dir + "/run.json", h.dump(2));
  put(dir + "/workload.py", "import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n    def forward(self, x):\n"
                            "        return torch.relu(x)\n");
  if (header["baseline"]["ok"].get<bool>())
    put(dir + "/baseline.json",
        nlohmann::json({{"device", {{"python", "3.11.2"}, {"torch", "2.5.1"}, {"cuda", nullptr}}},
                        {"eager", {{"ok", true}, {"median_ms", 2.0}, {"q1_ms", 1.9}, {"q3_ms", 2.2}, {"iqr_ms", 0.3},
                                   {"min_ms", 1.8}, {"batches", 21}, {"calls_per_batch", 4}}},
                        {"profile", kernels(1.0)}})
            .dump(2));
  for (const auto& r : records) {
    char name[16];
    std::snprintf(name, sizeof name, "%04d", r["id"].get<int>());
    const std::string folder = dir + "/candidates/" + name;
    mkdirs(folder);
    put(folder + "/record.json", r.dump(2));
    put(folder + "/candidate.py", source_of(r["id"].get<int>(), r.value("outcome", "") == "correct" ? "" : " + 1"));
    put(folder + "/prompt.md", "# replay: " + r["strategy"].get<std::string>() + "\n");
    if (r["median_ms"].is_number())
      put(folder + "/timing.json",
          nlohmann::json({{"candidate", {{"median_ms", r["median_ms"]}, {"q1_ms", 0.9}, {"q3_ms", 1.1}, {"iqr_ms", 0.2},
                                         {"min_ms", 0.85}, {"batches", 5}, {"calls_per_batch", 8}, {"voided", 0},
                                         {"detail", {{"per_call_ms", {0.9, 1.0, 1.0, 1.1, 1.4}}, {"gpu_samples", nlohmann::json::array()}}}}},
                          {"gpu", nullptr},
                          {"profile", {{"candidate", r["profile"]}}}})
              .dump(2));
  }
}

std::string finished_run(const std::string& root) {
  const std::string dir = root + "/finished";
  auto h = run_header("relu.py", "finished");
  std::vector<nlohmann::json> rs = {candidate(1, 1, "correct", 1.6), candidate(2, 1, "wrong_result"),
                                    candidate(3, 2, "correct", 1.0, 1)};
  rs[1]["check"] = "close";
  rs[2]["claim"] = {{"outcome", "correct"}, {"faster", true}, {"best_baseline", "eager"},
                    {"speedup", {{"vs_best", {{"median", 1.9}, {"low", 1.7}, {"high", 2.1}, {"pairs", 10}}}}}};
  write_run(dir, h, rs, summary_of(h, rs));
  return dir;
}

std::string interrupted_run(const std::string& root) {
  const std::string dir = root + "/interrupted";
  auto h = run_header("relu.py", "interrupted");
  auto c2 = candidate(2, 1, "");
  c2["status"] = "interrupted";
  c2["outcome"] = "";
  c2["reason"] = "";
  c2["check"] = "";
  c2["phases"] = {{{"name", "setup"}, {"seconds", 0.01}, {"end", 1.7e9}}, {{"name", "trials"}, {"seconds", 2.5}, {"end", 1.7e9}}};
  c2["log_tail"] = "candidate: forward sleeps 60 s";
  std::vector<nlohmann::json> rs = {candidate(1, 1, "correct", 1.5), c2};
  write_run(dir, h, rs, summary_of(h, rs));
  return dir;
}

std::string killed_run(const std::string& root) {
  const std::string dir = root + "/killed";
  auto h = run_header("relu.py", "running");
  auto c2 = candidate(2, 1, "");
  c2["status"] = "running";
  c2["phases"] = {{{"name", "setup"}, {"seconds", 0.01}, {"end", 1.7e9}}};
  write_run(dir, h, {candidate(1, 1, "correct", 1.5), c2}, nullptr);
  return dir;
}

std::string waiting_run(const std::string& root) {
  const std::string dir = root + "/waiting";
  auto h = run_header("relu.py", "waiting");
  h["provider"] = {{"kind", "files"}, {"inbox", dir + "/inbox"}};
  h["tokens"] = {{"input", 1200}, {"output", 300}, {"estimated", true}};
  auto pending = [](int id) {
    auto c = candidate(id, 2, "");
    c["status"] = "pending";
    c["strategy"] = "first_attempt";
    return c;
  };
  std::vector<nlohmann::json> rs = {candidate(1, 1, "correct", 1.8), pending(2), pending(3)};
  write_run(dir, h, rs, summary_of(h, rs));
  mkdirs(dir + "/inbox");
  put(dir + "/inbox/0002.prompt.md", "Write a faster ModelNew.\n");
  put(dir + "/inbox/0003.prompt.md", "Write a faster ModelNew.\n");
  return dir;
}

std::string all_failed_run(const std::string& root) {
  const std::string dir = root + "/all_failed";
  auto h = run_header("relu.py", "finished");
  std::vector<nlohmann::json> rs = {candidate(1, 1, "compile_error"), candidate(2, 1, "wrong_result"),
                                    candidate(3, 2, "crashed", 0, 2), candidate(4, 2, "timed_out")};
  rs[0]["check"] = "process";
  rs[0]["reason"] = std::string("build failed: ") + kInjected;
  rs[0]["strategy"] = std::string("x\"><img src=x onerror=alert(1)>");
  rs[2]["check"] = "process";
  rs[2]["reason"] = "killed by signal 11 (SIGSEGV)";
  rs[3]["check"] = "process";
  rs[3]["reason"] = "the call did not return within 60 s";
  write_run(dir, h, rs, summary_of(h, rs));
  put(dir + "/candidates/0001/candidate.py", std::string("# ") + kInjected + "\nclass ModelNew:\n    pass\n");
  return dir;
}

std::string suite_with_failed_baseline(const std::string& root) {
  const std::string dir = root + "/suite";
  auto broken = run_header("broken.py", "input_error", false);
  write_run(dir + "/broken", broken, {}, summary_of(broken, {}));
  auto h = run_header("relu.py", "finished");
  std::vector<nlohmann::json> rs = {candidate(1, 1, "correct", 1.0), candidate(2, 1, "crashed")};
  rs[0]["claim"] = {{"outcome", "correct"}, {"faster", true}, {"best_baseline", "eager"},
                    {"speedup", {{"vs_best", {{"median", 2.0}, {"low", 1.8}, {"high", 2.2}, {"pairs", 10}}}}}};
  write_run(dir + "/relu", h, rs, summary_of(h, rs));
  put(dir + "/suite.json",
      nlohmann::json({{"kopt_suite", 1},
                      {"workloads", {{{"workload", "/work/examples/broken.py"}, {"run", "broken"}},
                                     {{"workload", "/work/examples/relu.py"}, {"run", "relu"}},
                                     {{"workload", "/work/examples/later.py"}, {"run", "later"}}}}})
          .dump(2));
  return dir;
}

}  // namespace kopt::testing
