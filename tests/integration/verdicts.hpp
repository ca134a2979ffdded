#pragma once
// Assertions on a `kopt eval --json` run, shared by the eval test files.
#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"

namespace kopt::testing {

// Checks exit code, outcome and deciding check; prints kopt's output when it fails.
inline void expect_verdict(const KoptRun& run, int exit_code, const std::string& outcome,
                    const std::string& check = "") {
  const std::string context = kopt::testing::context(run);
  ASSERT_EQ(run.exit_code, exit_code) << context;
  ASSERT_TRUE(run.json.is_object()) << context;
  EXPECT_EQ(run.json["outcome"], outcome) << context;
  if (!check.empty()) {
    EXPECT_EQ(run.json["check"], check) << context;
  }
  EXPECT_FALSE(run.json["reason"].get<std::string>().empty());
}

inline void expect_correct(const KoptRun& run) {
  expect_verdict(run, 0, "correct");
  EXPECT_EQ(run.json["verdict"], "correct");
  EXPECT_EQ(run.json["trials"]["run"], run.json["trials"]["planned"]);
}

inline std::string rule_status(const KoptRun& run, const std::string& id) {
  for (const auto& r : run.json["rules"])
    if (r["id"] == id) return r["status"];
  return "";
}

}  // namespace kopt::testing
