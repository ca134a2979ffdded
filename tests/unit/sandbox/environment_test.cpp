#include "kopt/sandbox/environment.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using kopt::sandbox::is_scrubbed_name;
using kopt::sandbox::sandbox_variables;
using kopt::sandbox::scrubbed_environment;
using kopt::sandbox::secret_values;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(is_scrubbed_name, names_that_may_hold_secrets_are_scrubbed_in_any_case) {
  for (const char* name : {"OPENAI_API_KEY", "api_key", "KeyFile", "GITHUB_TOKEN", "hf_token",
                           "AWS_SECRET_ACCESS_KEY", "client_secret", "DB_PASSWORD", "Password",
                           "GOOGLE_APPLICATION_CREDENTIALS", "credential_helper", "MY_PASSWD"}) {
    EXPECT_TRUE(is_scrubbed_name(name)) << name;
  }
}

TEST(is_scrubbed_name, proxy_settings_are_scrubbed_in_any_case) {
  for (const char* name : {"http_proxy", "HTTPS_PROXY", "all_proxy", "No_Proxy", "FTP_PROXY"}) {
    EXPECT_TRUE(is_scrubbed_name(name)) << name;
  }
}

TEST(is_scrubbed_name, ordinary_names_are_kept) {
  for (const char* name : {"PATH", "HOME", "LANG", "CUDA_VISIBLE_DEVICES", "PYTHONPATH", "TERM",
                           "PROXYCHAINS_CONF", "OMP_NUM_THREADS"}) {
    EXPECT_FALSE(is_scrubbed_name(name)) << name;
  }
}

TEST(scrubbed_environment, secrets_and_proxies_are_dropped_and_the_rest_kept) {
  const std::vector<std::string> base = {"PATH=/usr/bin:/bin", "OPENAI_API_KEY=sk-abcdef123",
                                         "https_proxy=http://proxy:3128", "LANG=C.UTF-8",
                                         "github_token=ghp_xyz123456"};
  const auto env = scrubbed_environment(base, {});
  EXPECT_EQ(env, (std::vector<std::string>{"LANG=C.UTF-8", "PATH=/usr/bin:/bin"}));
}

TEST(scrubbed_environment, overrides_replace_and_add_entries_sorted_by_name) {
  const std::vector<std::string> base = {"PATH=/usr/bin", "HOME=/root", "ZED=1"};
  const auto env = scrubbed_environment(base, {{"HOME", "/sandbox"}, {"AAA", "x=y"}});
  EXPECT_EQ(env, (std::vector<std::string>{"AAA=x=y", "HOME=/sandbox", "PATH=/usr/bin", "ZED=1"}));
}

TEST(scrubbed_environment, values_may_hold_equals_signs_and_be_empty) {
  const auto env = scrubbed_environment({"OPTS=a=b=c", "EMPTY="}, {});
  EXPECT_EQ(env, (std::vector<std::string>{"EMPTY=", "OPTS=a=b=c"}));
}

TEST(scrubbed_environment, entries_without_a_name_are_dropped) {
  const auto env = scrubbed_environment({"NOEQUALS", "=value", "OK=1"}, {});
  EXPECT_EQ(env, (std::vector<std::string>{"OK=1"}));
}

TEST(scrubbed_environment, the_last_duplicate_wins) {
  const auto env = scrubbed_environment({"A=1", "A=2"}, {});
  EXPECT_EQ(env, (std::vector<std::string>{"A=2"}));
}

TEST(secret_values, values_of_scrubbed_names_are_returned) {
  const std::vector<std::string> base = {"PATH=/usr/bin", "OPENAI_API_KEY=sk-abcdef123",
                                         "http_proxy=http://user:pw@proxy:3128", "HOME=/root"};
  const auto values = secret_values(base);
  EXPECT_EQ(values.size(), 2u);
  EXPECT_TRUE(contains(values, "sk-abcdef123"));
  EXPECT_TRUE(contains(values, "http://user:pw@proxy:3128"));
  EXPECT_FALSE(contains(values, "/usr/bin"));
}

TEST(secret_values, short_values_are_not_returned) {
  // Redacting "1" or "true" everywhere would wreck every log.
  const auto values = secret_values({"USE_TOKEN=1", "HAS_KEY=true", "API_KEY=abcdef"});
  EXPECT_EQ(values, (std::vector<std::string>{"abcdef"}));
}

TEST(sandbox_variables, every_cache_points_into_the_sandbox) {
  const auto vars = sandbox_variables("/tmp/w1");
  for (const char* name : {"HOME", "XDG_CACHE_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR",
                           "TORCH_EXTENSIONS_DIR", "CUDA_CACHE_PATH", "TMPDIR"}) {
    ASSERT_TRUE(vars.count(name)) << name;
    EXPECT_EQ(vars.at(name).rfind("/tmp/w1", 0), 0u) << name << "=" << vars.at(name);
  }
}

}  // namespace
