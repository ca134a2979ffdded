#include "kopt/cli/app.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  kopt::cli::hide_secrets_in_cmdline(argc, argv);
  return kopt::cli::main(args);
}
