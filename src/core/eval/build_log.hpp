#pragma once
// Reading a failed build's output (internal to core): torch's cpp_extension puts the
// whole ninja log into its exception, whose last line is only ninja's
// "build stopped: subcommand failed.".
#include <string>
#include <string_view>

namespace kopt::core {

// The line of a compiler/linker/ninja log that says why the build failed, stripped of
// control characters and capped at 300 characters; empty when no line looks like a cause.
// First found wins within each class, classes in this order: something missing (a
// header's "fatal error:", "not found", "command not found", ld's "cannot find"), a
// compiler "error:", an undefined reference or symbol, then the linker's summary
// ("collect2: error: ld returned 1 exit status"). Lines that echo a command are skipped.
std::string build_error_line(std::string_view log);

}  // namespace kopt::core
