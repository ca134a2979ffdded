#pragma once
// The exec provider: runs a program (no shell) with the prompt on stdin and takes its
// stdout as the reply. Private to the layer; make_provider() builds it.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kopt/providers/factory.hpp"
#include "kopt/providers/provider.hpp"

namespace kopt::providers {

// `argv[0]` must be a path. `env` is the child's whole (already scrubbed) environment;
// `secrets` are redacted from what it prints before that is logged.
std::unique_ptr<Provider> make_exec_provider(std::vector<std::string> argv, std::string model,
                                             std::vector<std::string> env, std::chrono::milliseconds deadline,
                                             std::vector<std::string> secrets);

}  // namespace kopt::providers
