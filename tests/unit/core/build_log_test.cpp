// Reading failed builds: the line that says why, out of logs captured from torch 1.13's
// cpp_extension (load_inline) on Debian 12 (compiler_logs/*.log: the exception text the
// harness sends, ninja's whole log inside it).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/eval/build_log.hpp"

using kopt::core::build_error_line;

namespace {

std::string captured(const std::string& name) {
  std::ifstream in(std::string(KOPT_COMPILER_LOGS_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST(build_log, missing_pybind11_header_is_named_instead_of_ninjas_last_line) {
  EXPECT_EQ(build_error_line(captured("pybind11_missing.log")),
            "/usr/include/torch/csrc/Exceptions.h:13:10: fatal error: pybind11/pybind11.h: No such file or directory");
}

TEST(build_log, missing_header_is_named_among_many_compiler_errors) {
  // A CUDA build: nvcc's C++17 #errors from CUDA 13's headers, and pybind11 missing.
  EXPECT_EQ(build_error_line(captured("cuda_dialect_and_pybind11.log")),
            "/usr/include/torch/csrc/Exceptions.h:13:10: fatal error: pybind11/pybind11.h: No such file or directory");
}

TEST(build_log, missing_nvcc_is_named) {
  EXPECT_EQ(build_error_line(captured("nvcc_not_found.log")), "/bin/sh: 1: /opt/nocuda/bin/nvcc: not found");
}

TEST(build_log, first_compiler_error_is_named) {
  EXPECT_EQ(build_error_line(captured("syntax_error.log")),
            "/tmp/kopt-eval-Q3xZ1b/candidate/cache/torch_extensions/kopt_syntax/main.cpp:6:3: error: expected ‘,’ or ‘;’ "
            "before ‘return’");
}

TEST(build_log, missing_library_is_named_before_the_linkers_summary) {
  EXPECT_EQ(build_error_line(captured("library_missing.log")), "/usr/bin/ld: cannot find -lkopt_no_such_lib: No such file or directory");
}

TEST(build_log, undefined_reference_is_named_before_the_linkers_summary) {
  const std::string log =
      "RuntimeError: Error building extension 'ext': [1/2] c++ main.o -shared -o ext.so\n"
      "FAILED: ext.so\n"
      "c++ main.o -shared -Wl,--no-undefined -o ext.so\n"
      "/usr/bin/ld: main.o: in function `twice(at::Tensor)':\n"
      "main.cpp:(.text+0x2d): undefined reference to `helper(at::Tensor const&)'\n"
      "collect2: error: ld returned 1 exit status\n"
      "ninja: build stopped: subcommand failed.\n";
  EXPECT_EQ(build_error_line(log), "main.cpp:(.text+0x2d): undefined reference to `helper(at::Tensor const&)'");
}

TEST(build_log, echoed_commands_with_error_flags_are_no_cause) {
  const std::string log =
      "RuntimeError: Error building extension 'ext': [1/2] c++ -Werror -DKIND=error: -c main.cpp -o main.o\n"
      "FAILED: main.o\n"
      "c++ -Werror -DKIND=error: -c main.cpp -o main.o\n"
      "ninja: build stopped: subcommand failed.\n";
  EXPECT_EQ(build_error_line(log), "");
}

TEST(build_log, control_characters_are_stripped_and_long_lines_capped) {
  const std::string colored = "main.cpp:3:1: \x1b[01;31mfatal error: \x1b[m" + std::string(400, 'x') + ".h: No such file\n";
  const std::string line = build_error_line(colored);
  EXPECT_EQ(line.rfind("main.cpp:3:1: fatal error: xxx", 0), 0u) << line;
  EXPECT_EQ(line.size(), 300u);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

TEST(build_log, single_line_error_has_no_cause_line) {
  EXPECT_EQ(build_error_line("RuntimeError: this candidate does not build\n"), "");
}
