#pragma once
// Helpers for untrusted text: what workers print and what candidates write.
#include <string>
#include <string_view>
#include <vector>

namespace kopt::util {

// Removes terminal escape sequences and control characters (keeps \n and \t),
// so text from a worker cannot move the cursor or recolour kopt's output. A byte that
// starts no valid UTF-8 sequence becomes U+FFFD.
std::string strip_control(std::string_view text);

// Whether `text` is valid UTF-8 (paths kopt hands to Python go through JSON, which needs it).
bool valid_utf8(std::string_view text);
// `text` with each byte that starts no valid UTF-8 sequence replaced by U+FFFD (control
// characters kept: for text that is parsed, not shown).
std::string to_valid_utf8(std::string_view text);

// The last `max_lines` lines of `text` (no trailing newline).
std::string tail_lines(std::string_view text, size_t max_lines);

// Replaces every occurrence of each secret (values of at least 6 characters) by
// "[REDACTED]". Used before any worker text is logged or stored.
std::string redact(std::string text, const std::vector<std::string>& secrets);
// The same, each secret replaced by as many '*': the text keeps its length (kopt's own
// argument memory, overwritten in place).
std::string mask_secrets(std::string text, const std::vector<std::string>& secrets);

// Formats seconds as "1.23 s" / "45.0 ms" / "12.0 us" for people.
std::string format_seconds(double seconds);

}  // namespace kopt::util
