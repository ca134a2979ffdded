#include "kopt/core/prestart.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <shared_mutex>
#include <mutex>
#include <thread>
#include <vector>

#include "core/eval/eval_run.hpp"
#include "core/workers/worker_registry.hpp"

namespace kopt::core {

// --- EvalRun's prepared evaluation ---------------------------------------------------

void EvalRun::prepare() {
  m_prestarting = true;
  // On the CPU two interpreters importing torch would disturb a measurement: a preparation
  // waits while a candidate is timed, and timing waits for it. (On cuda the reference's
  // start holds the gate's shared side itself; the candidate's start-up there uses only
  // the host's CPU, which timing on the GPU does not measure.)
  std::shared_lock<GpuGate> quiet;
  if (m_opt.exclusive && m_opt.device != "cuda") quiet = std::shared_lock<GpuGate>(*m_opt.exclusive);
  if (setup()) start_workers();
  m_prestarting = false;
}

EvalReport EvalRun::run_prepared(const EvalOptions& options, double waited) {
  const auto start = Clock::now();
  m_opt = options;
  // What was done before the candidate was known keeps its time, under its own names:
  // "total" counts from here.
  std::map<std::string, double> before;
  for (const auto& [phase, seconds] : m_report.phase_seconds) before["prestart_" + phase] = seconds;
  before["prestart_wait"] = waited;
  m_report.phase_seconds = std::move(before);
  m_report.environment["prestarted"] = true;
  if (m_opt.on_phase)  // the candidate's record lists them (how long they took, not when)
    for (const auto& [phase, seconds] : m_report.phase_seconds) m_opt.on_phase({phase, seconds, ""});
  if (!decided()) {
    if (auto st = m_pool->set_candidate(options.candidate); !st) decide(Outcome::input_error, "setup", st.failure().message);
  }
  // A candidate that names torch.compile imports dynamo before the tripwire's snapshot
  // (candidate_hello): its prestarted interpreter, which did not, is replaced by a fresh
  // one, as is one whose start failed before any candidate code ran.
  if (m_booted && m_cand && (m_boot_failure || needs_dynamo(m_pool->candidate_path()))) {
    m_cand->stop(std::chrono::milliseconds(2000));
    WorkerRegistry::instance().erase(m_cand->pid());
    m_cand.reset();
    m_booted = false;
    m_boot_failure.reset();
  }
  return proceed(start);
}

void EvalRun::discard() {
  try {
    teardown();
  } catch (const std::exception& e) {
    spdlog::warn("A prestarted evaluation was not stopped cleanly. [reason: {}]", e.what());
  }
}

// --- Prestarts -----------------------------------------------------------------------

// Each preparation runs on a thread of its own that lives until the Prestarts ends: a
// worker dies with the thread that started it (PR_SET_PDEATHSIG follows the parent
// thread, not the process), so a std::async thread, gone once its preparation returns,
// would take the prepared workers with it.
struct Prestarts::Impl {
  EvalOptions base;
  int left = 0;         // preparations not started yet
  int preparing = 0;    // preparations under way
  bool stopping = false, done = false;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::unique_ptr<EvalRun>> ready;
  std::vector<std::thread> threads;
  int ahead = 1;

  void preparer() {
    std::unique_lock<std::mutex> lock(mutex);
    while (true) {
      cv.wait(lock, [this] { return stopping || (left > 0 && static_cast<int>(ready.size()) + preparing < ahead); });
      if (stopping) break;
      --left;
      ++preparing;
      lock.unlock();
      std::unique_ptr<EvalRun> run;
      try {
        run = std::make_unique<EvalRun>(base);
        run->prepare();
      } catch (const std::exception& e) {  // kopt's own bug: that candidate is evaluated afresh
        spdlog::warn("A prestart failed. [reason: {}]", e.what());
        if (run) run->discard();
        run.reset();
      }
      lock.lock();
      --preparing;
      if (run) ready.push_back(std::move(run));
      cv.notify_all();
    }
    cv.wait(lock, [this] { return done; });  // the workers it started live until then
  }
};

Prestarts::Prestarts(const EvalOptions& base, int count, int ahead) : m(std::make_unique<Impl>()) {
  m->base = base;
  m->base.candidate.clear();
  m->base.on_phase = nullptr;
  m->base.announce = false;
  m->base.timing = "none";
  m->base.ncu.clear();
  m->base.prestarts = nullptr;
  m->left = std::max(0, count);
  m->ahead = std::max(1, std::min(ahead, m->left));
  if (m->left == 0) return;
  for (int i = 0; i < m->ahead; ++i) m->threads.emplace_back([impl = m.get()] { impl->preparer(); });
}

Prestarts::~Prestarts() {
  std::deque<std::unique_ptr<EvalRun>> unused;
  {
    std::unique_lock<std::mutex> lock(m->mutex);
    m->stopping = true;
    m->cv.notify_all();
    m->cv.wait(lock, [this] { return m->preparing == 0; });
    unused.swap(m->ready);
  }
  for (auto& run : unused) run->discard();
  {
    std::lock_guard<std::mutex> lock(m->mutex);
    m->done = true;
  }
  m->cv.notify_all();
  for (auto& t : m->threads) t.join();
}

bool Prestarts::compatible(const EvalOptions& a, const EvalOptions& b) {
  const auto& la = a.limits;
  const auto& lb = b.limits;
  return a.reference == b.reference && a.device == b.device && a.python == b.python && a.work_dir == b.work_dir &&
         a.eval_mode == b.eval_mode && a.keep_work == b.keep_work && a.keep_builds == b.keep_builds &&
         b.reuse_sandbox.empty() && a.import_timeout == b.import_timeout &&
         a.call_timeout == b.call_timeout && a.exclusive == b.exclusive &&
         la.gpu_memory_fraction == lb.gpu_memory_fraction && la.max_file_gib == lb.max_file_gib &&
         la.max_memory_gib == lb.max_memory_gib && la.cpu_seconds == lb.cpu_seconds &&
         la.process_margin == lb.process_margin;
}

EvalReport Prestarts::run(const EvalOptions& options) {
  std::unique_ptr<EvalRun> prepared;
  const auto t = std::chrono::steady_clock::now();
  if (compatible(m->base, options)) {
    std::unique_lock<std::mutex> lock(m->mutex);
    // Wait while a preparation is under way or still to start; none left: a fresh one.
    m->cv.wait(lock, [this] { return !m->ready.empty() || m->stopping || (m->preparing == 0 && m->left == 0); });
    if (!m->ready.empty()) {
      prepared = std::move(m->ready.front());
      m->ready.pop_front();
      m->cv.notify_all();  // room for the next preparation
    }
  }
  if (!prepared) return EvalRun(options).run();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  return prepared->run_prepared(options, waited);
}

}  // namespace kopt::core
