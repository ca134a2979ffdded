#include "kopt/providers/command_line.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace kopt::providers {

Result<std::vector<std::string>> split_command(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = command.find('\'', i + 1);
      if (end == std::string::npos) return Failure{"usage", "unterminated ' quote in the command"};
      word += command.substr(i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      size_t j = i + 1;
      for (; j < command.size() && command[j] != '"'; ++j) {
        if (command[j] == '\\' && j + 1 < command.size() &&
            (command[j + 1] == '"' || command[j + 1] == '\\' || command[j + 1] == '$' || command[j + 1] == '`')) {
          word += command[++j];
        } else {
          word += command[j];
        }
      }
      if (j >= command.size()) return Failure{"usage", "unterminated \" quote in the command"};
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= command.size()) return Failure{"usage", "the command ends with a backslash"};
      word += command[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  if (words.empty()) return Failure{"usage", "the command is empty"};
  return words;
}

Result<std::string> find_program(const std::string& program, const std::string& path_var) {
  if (program.find('/') != std::string::npos) return program;
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    const std::string dir = end > start ? path_var.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + program;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return Failure{"usage", "cannot find " + program + " in PATH"};
}

}  // namespace kopt::providers
