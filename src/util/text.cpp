#include "kopt/util/text.hpp"

#include <algorithm>
#include <cstdio>

namespace kopt::util {

namespace {

// The length of the valid UTF-8 sequence (2-4 bytes, no overlong form, no surrogate, at
// most U+10FFFF) that starts at text[i], a byte >= 0x80; 0 when there is none.
size_t utf8_length(std::string_view text, size_t i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = at(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c == 0xe0) n = 3, lo = 0xa0;
  else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) n = 3;
  else if (c == 0xed) n = 3, hi = 0x9f;
  else if (c == 0xf0) n = 4, lo = 0x90;
  else if (c >= 0xf1 && c <= 0xf3) n = 4;
  else if (c == 0xf4) n = 4, hi = 0x8f;
  else return 0;
  if (i + n > text.size() || at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}

}  // namespace

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
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (const size_t n = utf8_length(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n - 1;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no valid sequence
    }
  }
  return out;
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      out.push_back(text[i++]);
      continue;
    }
    const size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
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

namespace {

// Every occurrence of each secret of at least 6 characters replaced by `by(secret)`.
template <typename By>
std::string replace_secrets(std::string text, const std::vector<std::string>& secrets, By by) {
  // Longest first: replacing a secret that is part of a longer one would leave the
  // rest of the longer one readable.
  std::vector<std::string> ordered(secrets);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& secret : ordered) {
    if (secret.size() < 6) continue;
    const std::string replacement = by(secret);
    size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), replacement);
      pos += replacement.size();
    }
  }
  return text;
}

}  // namespace

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  return replace_secrets(std::move(text), secrets, [](const std::string&) { return std::string("[REDACTED]"); });
}

std::string mask_secrets(std::string text, const std::vector<std::string>& secrets) {
  return replace_secrets(std::move(text), secrets, [](const std::string& s) { return std::string(s.size(), '*'); });
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
