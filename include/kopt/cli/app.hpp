#pragma once
// The command line: parse into option structs, then run the chosen command.
#include <string>
#include <vector>

namespace kopt::cli {

// Runs kopt with `args` (without argv[0]); returns the process exit code. Catches
// every exception and prints it as "kopt: error: ...".
int main(const std::vector<std::string>& args);

}  // namespace kopt::cli
