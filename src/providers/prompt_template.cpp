// {{placeholder}} substitution and quoting of untrusted text.
#include <algorithm>

#include "kopt/providers/prompts.hpp"
#include "kopt/util/text.hpp"

namespace kopt::providers {

namespace {

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Moves `pos` back to the start of a UTF-8 character, so a cut never splits one.
size_t char_boundary(std::string_view text, size_t pos) {
  while (pos > 0 && pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xc0) == 0x80) --pos;
  return pos;
}

}  // namespace

Result<std::string> render(std::string_view tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(tmpl.size());
  size_t pos = 0;
  while (pos < tmpl.size()) {
    const size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) break;
    const size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) break;
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), is_name_char);
    out.append(tmpl.substr(pos, open - pos));
    if (!valid) {  // not a placeholder ("{{ }}" in code, say): keep it literally
      out.append("{{");
      pos = open + 2;
      continue;
    }
    const auto it = values.find(std::string(name));
    if (it == values.end()) return Failure{"template", "unknown placeholder {{" + std::string(name) + "}}"};
    out.append(it->second);
    pos = close + 2;
  }
  out.append(tmpl.substr(std::min(pos, tmpl.size())));
  return out;
}

std::string quote_untrusted(std::string_view text, size_t max_chars, std::string_view language) {
  std::string clean = util::strip_control(text);
  if (clean.size() > max_chars) {
    const size_t head = char_boundary(clean, max_chars * 2 / 3);
    const size_t tail_start = char_boundary(clean, clean.size() - max_chars / 3);
    const size_t omitted = tail_start - head;
    clean = clean.substr(0, head) + "\n[... " + std::to_string(omitted) + " characters omitted ...]\n" +
            clean.substr(tail_start);
  }
  size_t longest = 0, run = 0;
  for (char c : clean) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(std::max<size_t>(3, longest + 1), '`');
  std::string out = fence + std::string(language) + "\n" + clean;
  if (out.back() != '\n') out.push_back('\n');
  return out + fence;
}

}  // namespace kopt::providers
