#pragma once
// Splitting a command string into argv without a shell, for the exec provider.
#include <string>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::providers {

// Splits like a POSIX shell word splitter, without expansions: blanks separate words;
// '...' is literal; "..." allows \" \\ \$ \` escapes; a backslash outside quotes escapes
// the next character. Failure kind "usage": unterminated quote, trailing backslash, or
// no words.
Result<std::vector<std::string>> split_command(const std::string& command);

// `program` if it contains a '/', else the first executable PROGRAM in the directories
// of `path_var` (a PATH value). Failure kind "usage" when none is found.
Result<std::string> find_program(const std::string& program, const std::string& path_var);

}  // namespace kopt::providers
