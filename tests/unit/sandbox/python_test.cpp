#include "kopt/sandbox/python.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <tuple>

namespace {

using kopt::Failure;
using kopt::Result;
using kopt::sandbox::find_python;

// A fake probe: interpreters listed in `versions` import torch, every other one fails.
// Records the paths it was asked about.
struct FakeProbe {
  explicit FakeProbe(std::map<std::string, std::string> with_torch = {}) : versions(std::move(with_torch)) {}

  std::map<std::string, std::string> versions;
  std::vector<std::string> asked;

  std::function<Result<std::string>(const std::string&)> fn() {
    return [this](const std::string& path) -> Result<std::string> {
      asked.push_back(path);
      auto it = versions.find(path);
      if (it == versions.end()) return Failure{"python", path + " cannot import torch (No module named 'torch')"};
      return it->second;
    };
  }
};

// Temporary directories holding files named python3, for PATH.
class python_dirs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kopt-python-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_root = tmpl;
  }
  void TearDown() override {
    for (auto it = m_paths.rbegin(); it != m_paths.rend(); ++it) {
      unlink(it->c_str());
      rmdir(it->c_str());
    }
    rmdir(m_root.c_str());
  }

  // Makes `<root>/<name>/` and, unless `python` is empty, a python3 file in it.
  // Returns the directory.
  std::string dir(const std::string& name, const std::string& python = "exec") {
    const std::string d = m_root + "/" + name;
    mkdir(d.c_str(), 0755);
    m_paths.push_back(d);
    if (python == "exec" || python == "noexec") {
      const std::string p = d + "/python3";
      std::ofstream(p) << "#!/bin/sh\nexit 1\n";
      chmod(p.c_str(), python == "exec" ? 0755 : 0644);
      m_paths.push_back(p);
    } else if (!python.empty()) {
      const std::string p = d + "/python3";
      EXPECT_EQ(symlink(python.c_str(), p.c_str()), 0);
      m_paths.push_back(p);
    }
    return d;
  }

  std::string m_root;
  std::vector<std::string> m_paths;
};

TEST_F(python_dirs, the_python_flag_wins_over_everything) {
  const std::string a = dir("a");
  FakeProbe probe{{{"/opt/py/bin/python3", "2.1.0"}, {"/env/python3", "2.0.0"}, {a + "/python3", "1.13.1"}}};
  auto choice = find_python("/opt/py/bin/python3", "/env/python3", a, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(choice->path, "/opt/py/bin/python3");
  EXPECT_EQ(choice->torch_origin, "2.1.0");
  EXPECT_EQ(choice->source, "--python");
  EXPECT_TRUE(choice->skipped.empty());
  EXPECT_EQ(probe.asked, std::vector<std::string>{"/opt/py/bin/python3"});
}

TEST_F(python_dirs, kopt_python_comes_next) {
  const std::string a = dir("a");
  FakeProbe probe{{{"/env/python3", "2.0.0"}, {a + "/python3", "1.13.1"}}};
  auto choice = find_python("", "/env/python3", a, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(choice->path, "/env/python3");
  EXPECT_EQ(choice->source, "KOPT_PYTHON");
  EXPECT_EQ(probe.asked, std::vector<std::string>{"/env/python3"});
}

TEST_F(python_dirs, a_named_interpreter_without_torch_is_an_error_not_replaced) {
  const std::string a = dir("a");
  FakeProbe probe{{{a + "/python3", "1.13.1"}, {"/usr/bin/python3", "1.13.1"}}};
  for (const auto& [flag, env, source] : {std::tuple<std::string, std::string, std::string>{"/no/torch/python3", "", "--python"},
                                          {"", "/no/torch/python3", "KOPT_PYTHON"}}) {
    probe.asked.clear();
    auto choice = find_python(flag, env, a, probe.fn());
    ASSERT_FALSE(choice.ok()) << source;
    EXPECT_EQ(choice.failure().kind, "python");
    EXPECT_NE(choice.failure().message.find(source), std::string::npos) << choice.failure().message;
    EXPECT_NE(choice.failure().message.find("/no/torch/python3"), std::string::npos) << choice.failure().message;
    EXPECT_EQ(probe.asked, std::vector<std::string>{"/no/torch/python3"});
  }
}

TEST_F(python_dirs, the_first_python3_on_path_that_imports_torch_is_chosen) {
  const std::string a = dir("a"), b = dir("b"), c = dir("c");
  FakeProbe probe{{{b + "/python3", "1.13.1"}, {c + "/python3", "2.2.0"}}};
  auto choice = find_python("", "", a + ":" + b + ":" + c, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(choice->path, b + "/python3");
  EXPECT_EQ(choice->torch_origin, "1.13.1");
  EXPECT_EQ(choice->source, "PATH");
  ASSERT_EQ(choice->skipped.size(), 1u);
  EXPECT_NE(choice->skipped[0].find(a + "/python3"), std::string::npos) << choice->skipped[0];
  EXPECT_EQ(probe.asked, (std::vector<std::string>{a + "/python3", b + "/python3"}));
}

TEST_F(python_dirs, path_entries_without_an_executable_python3_are_not_probed) {
  const std::string empty = dir("empty", ""), noexec = dir("noexec", "noexec"), good = dir("good");
  FakeProbe probe{{{good + "/python3", "1.13.1"}}};
  auto choice = find_python("", "", "::" + empty + ":" + noexec + ":/nonexistent/dir:" + good, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(choice->path, good + "/python3");
  EXPECT_TRUE(choice->skipped.empty());
  EXPECT_EQ(probe.asked, std::vector<std::string>{good + "/python3"});
}

TEST_F(python_dirs, the_same_interpreter_is_probed_once) {
  const std::string a = dir("a");
  const std::string link = dir("link", a + "/python3");
  FakeProbe probe{{{"/usr/bin/python3", "1.13.1"}}};
  auto choice = find_python("", "", a + ":" + a + ":" + link, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(probe.asked, (std::vector<std::string>{a + "/python3", "/usr/bin/python3"}));
  EXPECT_EQ(choice->skipped.size(), 1u);
}

TEST_F(python_dirs, usr_bin_python3_is_the_fallback) {
  const std::string a = dir("a"), b = dir("b");
  FakeProbe probe{{{"/usr/bin/python3", "1.13.1"}}};
  auto choice = find_python("", "", a + ":" + b, probe.fn());
  ASSERT_TRUE(choice.ok()) << choice.failure().message;
  EXPECT_EQ(choice->path, "/usr/bin/python3");
  EXPECT_EQ(choice->source, "/usr/bin/python3");
  EXPECT_EQ(choice->torch_origin, "1.13.1");
  ASSERT_EQ(choice->skipped.size(), 2u);
  EXPECT_NE(choice->skipped[0].find(a + "/python3"), std::string::npos);
  EXPECT_NE(choice->skipped[1].find(b + "/python3"), std::string::npos);
}

TEST_F(python_dirs, no_usable_interpreter_is_a_failure_listing_why) {
  const std::string a = dir("a");
  FakeProbe probe;
  auto choice = find_python("", "", a, probe.fn());
  ASSERT_FALSE(choice.ok());
  EXPECT_EQ(choice.failure().kind, "python");
  const std::string& message = choice.failure().message;
  EXPECT_NE(message.find("no python3 that can import torch"), std::string::npos) << message;
  EXPECT_NE(message.find(a + "/python3 cannot import torch"), std::string::npos) << message;
  EXPECT_NE(message.find("/usr/bin/python3 cannot import torch"), std::string::npos) << message;
  EXPECT_NE(message.find("--python"), std::string::npos) << message;
}

TEST(probe_python, a_missing_interpreter_is_a_failure) {
  auto version = kopt::sandbox::probe_python("/nonexistent/python3", 5);
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.failure().kind, "python");
}

TEST(probe_python, an_interpreter_that_cannot_import_torch_says_why) {
  // /bin/sh -c "import torch,..." fails like a python without torch would.
  auto version = kopt::sandbox::probe_python("/bin/sh", 5);
  ASSERT_FALSE(version.ok());
  EXPECT_EQ(version.failure().kind, "python");
  EXPECT_NE(version.failure().message.find("/bin/sh cannot import torch"), std::string::npos)
      << version.failure().message;
}

}  // namespace
