#pragma once
// The command line: parse into option structs, then run the chosen command.
#include <string>
#include <vector>

namespace kopt::cli {

// Runs kopt with `args` (without argv[0]); returns the process exit code. Catches
// every exception and prints it as "kopt: error: ...".
int main(const std::vector<std::string>& args);

// Overwrites, in the process's own argument memory (what /proc/PID/cmdline shows every
// process of the machine, candidates included), each secret value of the environment
// (API keys) typed on the command line: call after the arguments were copied.
void hide_secrets_in_cmdline(int argc, char** argv);

}  // namespace kopt::cli
