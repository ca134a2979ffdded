#include "kopt/providers/extract.hpp"

#include <cctype>
#include <vector>

namespace kopt::providers {

namespace {

struct Block {
  std::string code;
  bool terminated = false;
};

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == text.size()) break;
    start = end + 1;
  }
  return lines;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// A fence: 3+ backticks or tildes; returns its character and length (0: not a fence).
size_t fence_length(std::string_view line, char& fence_char) {
  line = trim_left(line);
  if (line.empty() || (line[0] != '`' && line[0] != '~')) return 0;
  fence_char = line[0];
  size_t n = 0;
  while (n < line.size() && line[n] == fence_char) ++n;
  if (n < 3) return 0;
  // A backtick fence's info string cannot hold a backtick (that is inline code).
  if (fence_char == '`' && line.substr(n).find('`') != std::string_view::npos) return 0;
  return n;
}

bool is_closing(std::string_view line, char fence_char, size_t length) {
  line = trim_left(line);
  size_t n = 0;
  while (n < line.size() && line[n] == fence_char) ++n;
  if (n < length) return false;
  for (size_t i = n; i < line.size(); ++i)
    if (line[i] != ' ' && line[i] != '\t') return false;
  return true;
}

std::vector<Block> fenced_blocks(const std::vector<std::string_view>& lines) {
  std::vector<Block> blocks;
  for (size_t i = 0; i < lines.size(); ++i) {
    char fence_char = 0;
    const size_t length = fence_length(lines[i], fence_char);
    if (length == 0) continue;
    Block block;
    size_t j = i + 1;
    for (; j < lines.size(); ++j) {
      if (is_closing(lines[j], fence_char, length)) {
        block.terminated = true;
        break;
      }
      block.code.append(lines[j]);
      block.code.push_back('\n');
    }
    blocks.push_back(std::move(block));
    i = j;
  }
  return blocks;
}

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// True if some line starts (after indentation) with "class ModelNew" as a whole word.
bool defines_model_new(std::string_view code) {
  const std::string_view needle = "class ModelNew";
  for (auto line : split_lines(code)) {
    line = trim_left(line);
    if (line.substr(0, needle.size()) == needle && (line.size() == needle.size() || !is_ident(line[needle.size()])))
      return true;
  }
  return false;
}

bool starts_code(std::string_view line) {
  for (std::string_view prefix : {"import ", "from ", "class ", "def ", "@", "#"})
    if (line.substr(0, prefix.size()) == prefix) return true;
  return false;
}

}  // namespace

Result<std::string> extract_candidate(std::string_view reply) {
  const auto lines = split_lines(reply);
  const auto blocks = fenced_blocks(lines);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it)
    if (defines_model_new(it->code)) return it->code;
  if (!blocks.empty()) {
    return Failure{"no_candidate", std::to_string(blocks.size()) + (blocks.size() == 1 ? " code block" : " code blocks") +
                                       " in the reply, none defines class ModelNew"};
  }
  if (defines_model_new(reply)) {
    // No fences: the model answered with bare code, perhaps after a line of prose.
    std::string code;
    bool in_code = false;
    for (const auto& line : lines) {
      if (!in_code && starts_code(line)) in_code = true;
      if (in_code) {
        code.append(line);
        code.push_back('\n');
      }
    }
    while (code.size() >= 2 && code[code.size() - 1] == '\n' && code[code.size() - 2] == '\n') code.pop_back();
    if (defines_model_new(code)) return code;
  }
  if (reply.find_first_not_of(" \t\r\n") == std::string_view::npos) return Failure{"no_candidate", "the reply is empty"};
  return Failure{"no_candidate", "no code in the reply (no fenced block, no class ModelNew)"};
}

}  // namespace kopt::providers
