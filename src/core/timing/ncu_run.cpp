#include "core/timing/ncu_run.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "kopt/measure/ncu.hpp"
#include "kopt/util/text.hpp"
#include "core/workers/request.hpp"
#include "core/timing/stopwatch.hpp"

namespace kopt::core {

NcuSession ncu_session(const WorkerPool& pool, const std::string& role, const std::string& ncu) {
  NcuSession s;
  s.log = pool.role_dir(role) + "/ncu.csv";
  unlink(s.log.c_str());
  s.wrapper = measure::ncu_command(ncu, s.log);
  return s;
}

nlohmann::json ncu_finish(std::unique_ptr<sandbox::Worker> worker, const NcuSession& session, const std::string& model,
                          int calls, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  auto run = ask(*worker, {{"op", "ncu_run"}, {"model", model}, {"seed", draw_seed()}, {"calls", calls}}, timeout_s);
  if (run) (void)worker->request({{{"op", "bye"}}, {}}, std::chrono::milliseconds(30000));
  // ncu writes its log after the profiled process ends.
  worker->stop(std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
  const std::string log_tail = util::tail_lines(worker->log(), 3);
  if (!run) return {{"ok", false}, {"error", "the worker under ncu: " + run.failure().message}};
  std::ifstream in(session.log);
  std::stringstream text;
  if (in) text << in.rdbuf();
  auto kernels = measure::parse_ncu_csv(text.str(), calls);
  if (!kernels) {
    std::string why = kernels.failure().message;
    if (!in) why = "ncu wrote no log" + (log_tail.empty() ? std::string() : " (" + util::strip_control(log_tail) + ")");
    return {{"ok", false}, {"error", why.substr(0, 300)}};
  }
  return {{"ok", true},
          {"kernels", kernels.value()},
          {"text", measure::ncu_text(kernels.value())},
          {"calls", calls},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
}

nlohmann::json ncu_failed(const NcuSession& session, const std::string& why) {
  std::ifstream in(session.log);
  std::stringstream text;
  if (in) text << in.rdbuf();
  const std::string own = measure::ncu_log_error(text.str());
  return {{"ok", false}, {"error", (own.empty() ? why : why + "; ncu: " + own).substr(0, 300)}};
}

std::string ncu_report_text(const nlohmann::json& ncu, const std::string& what) {
  if (!ncu.is_object()) return "";
  if (!ncu.value("ok", false)) return "ncu (" + what + "): none: " + util::strip_control(ncu.value("error", std::string("?"))) + "\n";
  return "ncu (" + what + ", per call):\n" + ncu.value("text", std::string());
}

}  // namespace kopt::core
