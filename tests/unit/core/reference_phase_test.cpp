// Which step of the reference's worker failed (EvalReport::reference_failed_at), and the
// one question kopt optimize asks of it: could the reference not start here at all?
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <ostream>
#include <string>

#include "kopt/core/eval.hpp"

using kopt::core::EvalReport;
using kopt::core::Outcome;
using kopt::core::ReferencePhase;

namespace kopt::core {

// For gtest's messages.
void PrintTo(ReferencePhase phase, std::ostream* os) {
  static const char* const names[] = {"none", "worker", "start", "import", "init", "device"};
  *os << names[static_cast<int>(phase)];
}

}  // namespace kopt::core

namespace {

EvalReport reference_error(ReferencePhase at, const std::string& check, const std::string& reason) {
  EvalReport r;
  r.outcome = Outcome::input_error;
  r.check = check;
  r.reason = reason;
  r.reference_failed_at = at;
  return r;
}

std::string case_path(const std::string& name) { return std::string(KOPT_CASES_DIR) + "/" + name; }

EvalReport evaluate(const std::string& workload) {
  kopt::core::EvalOptions o;
  o.reference = workload;
  o.candidate = case_path("c_elementwise_honest.py");
  o.trials = 2;
  return kopt::core::run_eval(o);
}

}  // namespace

TEST(reference_could_not_start, is_a_start_or_import_failure_of_the_reference_whatever_its_reason_says) {
  using kopt::core::reference_could_not_start;
  EXPECT_TRUE(reference_could_not_start(reference_error(ReferencePhase::start, "reference", "workload start: gone")));
  EXPECT_TRUE(reference_could_not_start(reference_error(ReferencePhase::import, "reference", "no CUDA here")));
  // Model's constructor failing, or the worker not spawned, is not "cannot start here".
  EXPECT_FALSE(reference_could_not_start(reference_error(ReferencePhase::init, "reference", "workload init: x")));
  EXPECT_FALSE(reference_could_not_start(reference_error(ReferencePhase::worker, "reference", "reference worker: x")));
  // The words alone decide nothing (they did: a prefix of the reason was matched).
  EXPECT_FALSE(reference_could_not_start(reference_error(ReferencePhase::none, "reference", "workload import: x")));
  // Out of memory while importing: the reason says which process ran out, not a machine fault.
  EXPECT_FALSE(reference_could_not_start(reference_error(ReferencePhase::import, "memory", "the reference worker ran out")));
  EXPECT_FALSE(reference_could_not_start(EvalReport{}));
}

TEST(reference_on_other_device, is_the_device_check_alone_and_not_a_start_failure) {
  using kopt::core::reference_could_not_start;
  using kopt::core::reference_on_other_device;
  const EvalReport moved = reference_error(ReferencePhase::device, "reference", "another device: this is B, ... A");
  EXPECT_TRUE(reference_on_other_device(moved));
  EXPECT_FALSE(reference_could_not_start(moved));
  EXPECT_FALSE(reference_on_other_device(reference_error(ReferencePhase::start, "reference", "workload start: gone")));
  EXPECT_FALSE(reference_on_other_device(EvalReport{}));
}

TEST(device_identity, is_the_gpus_name_on_cuda_and_the_host_cpus_model_on_a_cpu) {
  using kopt::core::device_identity;
  const nlohmann::json facts = {{"name", "NVIDIA H200"}, {"host_cpu", "AMD EPYC 9654"}};
  EXPECT_EQ(device_identity(facts, "cuda"), "NVIDIA H200");
  EXPECT_EQ(device_identity(facts, "cpu"), "AMD EPYC 9654");
  EXPECT_EQ(device_identity({{"name", ""}}, "cpu"), "");  // a run from before host_cpu: no check
  EXPECT_EQ(device_identity(nullptr, "cuda"), "");
  EXPECT_EQ(device_identity({{"name", 7}}, "cuda"), "");  // a damaged field is no identity
}

// Through a real evaluation on the CPU: w_needs_env.py raises on import without
// KOPT_TEST_WORKLOAD_OK=1, a workload whose Model raises fails at init, and a good one
// leaves the field at none.
TEST(reference_failed_at, names_the_step_where_the_reference_worker_failed) {
  unsetenv("KOPT_TEST_WORKLOAD_OK");
  const EvalReport import_failed = evaluate(case_path("w_needs_env.py"));
  EXPECT_EQ(import_failed.outcome, Outcome::input_error) << import_failed.reason;
  EXPECT_EQ(import_failed.reference_failed_at, ReferencePhase::import) << import_failed.reason;
  EXPECT_TRUE(kopt::core::reference_could_not_start(import_failed)) << import_failed.reason;

  char dir[] = "/tmp/kopt-reference-phase-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string workload = std::string(dir) + "/w_init_raises.py";
  std::ofstream(workload) << "import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n"
                             "    def __init__(self):\n        super().__init__()\n"
                             "        raise RuntimeError('no model today')\n\n    def forward(self, x):\n"
                             "        return x\n\n\ndef get_inputs():\n    return [torch.randn(4)]\n\n\n"
                             "def get_init_inputs():\n    return []\n";
  const EvalReport init_failed = evaluate(workload);
  EXPECT_EQ(init_failed.outcome, Outcome::input_error) << init_failed.reason;
  EXPECT_EQ(init_failed.reference_failed_at, ReferencePhase::init) << init_failed.reason;
  EXPECT_FALSE(kopt::core::reference_could_not_start(init_failed)) << init_failed.reason;
  unlink(workload.c_str());
  rmdir(dir);

  const EvalReport good = evaluate(case_path("w_elementwise.py"));
  EXPECT_EQ(good.outcome, Outcome::correct) << good.reason;
  EXPECT_EQ(good.reference_failed_at, ReferencePhase::none);
}
