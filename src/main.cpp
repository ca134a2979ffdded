#include "kopt/cli/app.hpp"

int main(int argc, char** argv) { return kopt::cli::main({argv + 1, argv + argc}); }
