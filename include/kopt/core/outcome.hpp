#pragma once
// What became of a candidate: one enum, counted and reported everywhere.
#include <string>

namespace kopt::core {

enum class Outcome {
  correct,        // passed every verification rule
  compile_error,  // the candidate failed to import or build
  crashed,        // the worker died, raised, or broke the protocol
  timed_out,      // a phase passed its deadline
  wrong_result,   // outputs differ from the reference (any correctness rule)
  tampered,       // patched kopt's harness, timers or torch, or left processes behind
  input_error,    // the workload (not the candidate) is unusable
  unverified,     // a rule could not be checked on this device
};

const char* outcome_name(Outcome outcome);

}  // namespace kopt::core
