#include "kopt/util/text.hpp"

#include <gtest/gtest.h>

namespace {

using kopt::util::format_seconds;
using kopt::util::redact;
using kopt::util::strip_control;
using kopt::util::tail_lines;

TEST(strip_control, plain_text_with_newlines_and_tabs_is_kept) {
  EXPECT_EQ(strip_control("a\tb\nc d\n"), "a\tb\nc d\n");
}

TEST(strip_control, utf8_text_is_kept) {
  EXPECT_EQ(strip_control("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
}

TEST(strip_control, csi_sequences_are_removed) {
  EXPECT_EQ(strip_control("\x1b[31mred\x1b[0m plain"), "red plain");
  EXPECT_EQ(strip_control("x\x1b[2J\x1b[1;1Hy"), "xy");
  EXPECT_EQ(strip_control("a\x1b[?25lb"), "ab");
}

TEST(strip_control, osc_sequences_ending_in_bel_or_st_are_removed) {
  EXPECT_EQ(strip_control("a\x1b]0;evil title\x07" "b"), "ab");
  EXPECT_EQ(strip_control("a\x1b]8;;http://x.example\x1b\\link\x1b]8;;\x1b\\b"), "alinkb");
}

TEST(strip_control, two_byte_escapes_are_removed) {
  EXPECT_EQ(strip_control("a\x1b" "cb"), "ab");  // ESC c: full terminal reset
  EXPECT_EQ(strip_control("a\x1b" "7b\x1b" "8"), "ab");
}

TEST(strip_control, unterminated_sequences_at_the_end_do_not_leak) {
  EXPECT_EQ(strip_control("ok\x1b"), "ok");
  EXPECT_EQ(strip_control("ok\x1b[12;3"), "ok");
  EXPECT_EQ(strip_control("ok\x1b]0;title"), "ok");
}

TEST(strip_control, c0_controls_carriage_return_and_delete_are_removed) {
  EXPECT_EQ(strip_control(std::string("a\rb\x07" "c\x08" "d\x7f" "e\0f", 11)), "abcdef");
}

TEST(strip_control, c1_controls_in_utf8_are_removed) {
  const std::string out = strip_control("a\xc2\x9b" "b\xc2\x9d" "c\xc2\x85" "d");
  EXPECT_EQ(out, "abcd");
  // Ordinary two-byte characters starting with 0xc2 stay.
  EXPECT_EQ(strip_control("\xc2\xa9 2024"), "\xc2\xa9 2024");
}

TEST(tail_lines, keeps_the_last_lines_without_trailing_newline) {
  EXPECT_EQ(tail_lines("a\nb\nc\n", 2), "b\nc");
  EXPECT_EQ(tail_lines("a\nb\nc", 1), "c");
  EXPECT_EQ(tail_lines("a\nb\nc\n\n\n", 1), "c");
}

TEST(tail_lines, short_text_is_returned_whole) {
  EXPECT_EQ(tail_lines("a\nb", 5), "a\nb");
  EXPECT_EQ(tail_lines("only", 1), "only");
  EXPECT_EQ(tail_lines("", 3), "");
}

TEST(tail_lines, zero_lines_is_empty) {
  EXPECT_EQ(tail_lines("a\nb\n", 0), "");
}

TEST(redact, every_occurrence_of_a_secret_is_replaced) {
  EXPECT_EQ(redact("key=sk-123456 again sk-123456.", {"sk-123456"}),
            "key=[REDACTED] again [REDACTED].");
}

TEST(redact, secrets_shorter_than_six_characters_are_left_alone) {
  EXPECT_EQ(redact("the value 12345 is short", {"12345", ""}), "the value 12345 is short");
}

TEST(redact, a_secret_containing_another_is_fully_replaced) {
  // Whatever the order of the list, no part of the longer secret may survive.
  EXPECT_EQ(redact("token abcdef-ghijkl end", {"abcdef", "abcdef-ghijkl"}), "token [REDACTED] end");
  EXPECT_EQ(redact("token abcdef-ghijkl end", {"abcdef-ghijkl", "abcdef"}), "token [REDACTED] end");
}

TEST(redact, several_secrets_are_all_replaced) {
  EXPECT_EQ(redact("aaaaaa bbbbbb cccccc", {"bbbbbb", "aaaaaa"}), "[REDACTED] [REDACTED] cccccc");
}

TEST(format_seconds, picks_a_unit_for_people) {
  EXPECT_EQ(format_seconds(1.234), "1.23 s");
  EXPECT_EQ(format_seconds(75.0), "75.00 s");
  EXPECT_EQ(format_seconds(0.045), "45.0 ms");
  EXPECT_EQ(format_seconds(0.001), "1.0 ms");
  EXPECT_EQ(format_seconds(12e-6), "12.0 us");
  EXPECT_EQ(format_seconds(0.0), "0.0 us");
}

}  // namespace

// Paths go to Python through JSON, which needs UTF-8; a worker's text reaches a terminal.
TEST(valid_utf8, accepts_utf8_and_rejects_stray_overlong_and_surrogate_bytes) {
  using kopt::util::valid_utf8;
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("w.py"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(valid_utf8("caf\xe9"));                                   // Latin-1 é
  EXPECT_FALSE(valid_utf8("c\xff.py"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe2\x82"));          // cut short
}

TEST(strip_control, a_byte_that_starts_no_utf8_sequence_becomes_the_replacement_character) {
  EXPECT_EQ(kopt::util::strip_control("caf\xe9\n"), "caf\xef\xbf\xbd\n");
  EXPECT_EQ(kopt::util::strip_control("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(kopt::util::strip_control("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(to_valid_utf8, replaces_only_the_bytes_that_start_no_sequence) {
  EXPECT_EQ(kopt::util::to_valid_utf8("{\"t\": \"caf\xe9\"}"), "{\"t\": \"caf\xef\xbf\xbd\"}");
  EXPECT_EQ(kopt::util::to_valid_utf8("ok \xc3\xa9\n\t"), "ok \xc3\xa9\n\t");
  EXPECT_TRUE(kopt::util::valid_utf8(kopt::util::to_valid_utf8("\xff\xfe\xed\xa0\x80")));
}
