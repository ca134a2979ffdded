#include <gtest/gtest.h>

#include "kopt/providers/command_line.hpp"

namespace pv = kopt::providers;

namespace {
std::vector<std::string> split(const std::string& s) {
  auto r = pv::split_command(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? r.value() : std::vector<std::string>{};
}
}  // namespace

TEST(split_command, splits_on_blanks_and_keeps_quoted_words_whole) {
  EXPECT_EQ(split("  llm  -m  gpt-4o "), (std::vector<std::string>{"llm", "-m", "gpt-4o"}));
  EXPECT_EQ(split("run 'a b' \"c d\""), (std::vector<std::string>{"run", "a b", "c d"}));
  EXPECT_EQ(split("x pre'fix suf'fix"), (std::vector<std::string>{"x", "prefix suffix"}));
  EXPECT_EQ(split("x ''"), (std::vector<std::string>{"x", ""}));
}

TEST(split_command, treats_single_quotes_literally_and_double_quotes_with_few_escapes) {
  EXPECT_EQ(split(R"(x '$HOME \n')"), (std::vector<std::string>{"x", R"($HOME \n)"}));
  EXPECT_EQ(split(R"(x "say \"hi\" \\ \$HOME \n")"), (std::vector<std::string>{"x", R"(say "hi" \ $HOME \n)"}));
  EXPECT_EQ(split(R"(x a\ b \')"), (std::vector<std::string>{"x", "a b", "'"}));
}

TEST(split_command, never_expands_shell_syntax) {
  EXPECT_EQ(split("echo $(rm -rf /) ; ls | cat"),
            (std::vector<std::string>{"echo", "$(rm", "-rf", "/)", ";", "ls", "|", "cat"}));
}

TEST(split_command, rejects_unterminated_quotes_trailing_backslash_and_empty_commands) {
  EXPECT_FALSE(pv::split_command("x 'open").ok());
  EXPECT_FALSE(pv::split_command("x \"open").ok());
  EXPECT_FALSE(pv::split_command("x \\").ok());
  EXPECT_FALSE(pv::split_command("   ").ok());
  EXPECT_EQ(pv::split_command("").failure().kind, "usage");
}

TEST(find_program, searches_path_only_for_bare_names) {
  EXPECT_EQ(pv::find_program("./local/tool", "/bin").value(), "./local/tool");
  auto sh = pv::find_program("sh", "/nonexistent:/bin:/usr/bin");
  ASSERT_TRUE(sh.ok());
  EXPECT_EQ(sh.value(), "/bin/sh");
  EXPECT_FALSE(pv::find_program("kopt-no-such-tool", "/bin:/usr/bin").ok());
}
