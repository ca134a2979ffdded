#include "core/eval/build_log.hpp"

#include <array>
#include <vector>

#include "kopt/util/text.hpp"

namespace kopt::core {

namespace {

bool contains(std::string_view line, std::string_view needle) { return line.find(needle) != std::string_view::npos; }

bool starts_with(std::string_view line, std::string_view prefix) { return line.substr(0, prefix.size()) == prefix; }

// ninja echoes each command ("[1/3] c++ -MMD ...") and repeats a failed one after
// "FAILED:"; their flags (-Werror, -DNAME=error) are no verdict.
bool echoes_a_command(std::string_view line) {
  if (starts_with(line, "FAILED:")) return true;
  if (!line.empty() && line.front() == '[') {
    const size_t close = line.find("] ");
    return close != std::string_view::npos && line.substr(1, close - 1).find('/') != std::string_view::npos;
  }
  return contains(line, " -c ") && contains(line, " -o ");
}

// 0: something missing, 1: a compiler error, 2: an undefined name, 3: the linker's
// summary; -1: no cause.
int cause_class(std::string_view line) {
  if (contains(line, "fatal error:") || contains(line, "fatal   :") || contains(line, ": not found") ||
      contains(line, "command not found") || contains(line, "cannot find -l"))
    return 0;
  if (contains(line, "ld returned") && contains(line, "exit status")) return 3;
  if (contains(line, "error:") || contains(line, "error :")) return 1;
  if (contains(line, "undefined reference to") || contains(line, "undefined symbol") ||
      contains(line, "multiple definition of"))
    return 2;
  return -1;
}

}  // namespace

std::string build_error_line(std::string_view log) {
  std::array<std::string_view, 4> first{};
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string_view::npos) end = log.size();
    std::string_view line = log.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || echoes_a_command(line)) continue;
    const int c = cause_class(line);
    if (c >= 0 && first[static_cast<size_t>(c)].empty()) first[static_cast<size_t>(c)] = line;
  }
  for (const auto& line : first) {
    if (line.empty()) continue;
    std::string out = util::strip_control(line);
    if (out.size() > 300) out = out.substr(0, 297) + "...";
    return out;
  }
  return {};
}

}  // namespace kopt::core
