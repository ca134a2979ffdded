// Reading fields of JSON kopt stored or was sent, where any field may be missing.
#include <gtest/gtest.h>

#include "kopt/util/json.hpp"

using kopt::util::json_field;

TEST(json_field, a_present_field_is_the_field_itself) {
  const nlohmann::json j = {{"best", {{"speedup", 1.5}}}};
  EXPECT_EQ(&json_field(j, "best"), &j.at("best"));
  EXPECT_EQ(json_field(json_field(j, "best"), "speedup"), 1.5);
}

TEST(json_field, a_missing_field_or_a_non_object_reads_as_null) {
  const nlohmann::json j = {{"best", nullptr}, {"n", 3}};
  EXPECT_TRUE(json_field(j, "counts").is_null());
  EXPECT_TRUE(json_field(j, "best").is_null());
  EXPECT_TRUE(json_field(json_field(j, "n"), "x").is_null());
  EXPECT_TRUE(json_field(nlohmann::json::array({1, 2}), "x").is_null());
  EXPECT_TRUE(json_field(json_field(j, "counts"), "deeper").is_null());
  EXPECT_TRUE(json_field(j, "counts").items().begin() == json_field(j, "counts").items().end());
  EXPECT_FALSE(j.contains("counts")) << "reading does not insert";
}
