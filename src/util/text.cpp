#include "kopt/util/text.hpp"

#include <algorithm>
#include <cstdio>

namespace kopt::util {

std::string strip_control(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {
      // ESC [ ... final byte (CSI), ESC ] ... BEL/ST (OSC), or ESC + one byte.
      if (i + 1 < text.size() && text[i + 1] == '[') {
        i += 2;
        while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7e)) ++i;
      } else if (i + 1 < text.size() && text[i + 1] == ']') {
        i += 2;
        while (i < text.size() && text[i] != '\a' &&
               !(text[i] == 0x1b && i + 1 < text.size() && text[i + 1] == '\\'))
          ++i;
        if (i < text.size() && text[i] == 0x1b) ++i;
      } else {
        ++i;
      }
      continue;
    }
    if (c == '\n' || c == '\t') {
      out.push_back(static_cast<char>(c));
    } else if (c == '\r') {
      continue;
    } else if (c < 0x20 || c == 0x7f) {
      continue;
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      ++i;  // C1 control characters in UTF-8 (include the 8-bit CSI)
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string tail_lines(std::string_view text, size_t max_lines) {
  if (max_lines == 0) return {};
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  size_t count = 0;
  size_t pos = text.size();
  while (pos > 0) {
    const size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string_view::npos) return std::string(text);
    if (++count == max_lines) return std::string(text.substr(nl + 1));
    pos = nl;
  }
  return std::string(text);
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  // Longest first: replacing a secret that is part of a longer one would leave the
  // rest of the longer one readable.
  std::vector<std::string> ordered(secrets);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& secret : ordered) {
    if (secret.size() < 6) continue;
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "[REDACTED]");
      pos += 10;
    }
  }
  return text;
}

std::string format_seconds(double seconds) {
  char buf[64];
  if (seconds >= 1.0) {
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  } else if (seconds >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f us", seconds * 1e6);
  }
  return buf;
}

}  // namespace kopt::util
