// Reply headers checked for JSON types (request.cpp, malformed_reply): every reply the
// harness writes passes, a forged type is caught before any field is read.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/workers/request.hpp"

using kopt::core::malformed_reply;
using nlohmann::json;

// The comparer's reply on the device path (kopt_comparer.py, compare): its findings about
// the inputs, a background writer and buffer reuse are strings, its step times an object.
// A type table that knew only the host path's shapes rejected every device verdict.
TEST(reply_types, the_comparers_device_reply_passes) {
  const json reply = {{"ok", true},
                      {"result", {{"ok", true}, {"check", ""}, {"detail", ""}, {"figures", json::object()}}},
                      {"seconds", {{"copy", 0.01}, {"compare", 0.2}, {"checks", 0.05}}},
                      {"background", ""}, {"inputs", ""}, {"reuse", ""}};
  EXPECT_FALSE(malformed_reply(reply).has_value()) << malformed_reply(reply)->message;
}

TEST(reply_types, the_host_paths_value_trees_and_numbers_pass) {
  const json reply = {{"ok", true}, {"seconds", 0.5}, {"random", false}, {"mutated", false},
                      {"inputs", {{"t", "list"}, {"items", json::array()}}},
                      {"out", {{"t", "tensor"}}}, {"poisoned_bytes", 4096}};
  EXPECT_FALSE(malformed_reply(reply).has_value());
}

TEST(reply_types, a_forged_type_is_malformed_and_named) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"ok", 1}, {"inputs", 3}, {"seconds", "fast"}, {"background", json::array()}, {"reuse", false},
           {"out", "x"}, {"tampered", json::array({1})}}) {
    json reply = {{"ok", true}};
    reply[field] = value;
    const auto bad = malformed_reply(reply);
    ASSERT_TRUE(bad.has_value()) << field;
    EXPECT_EQ(bad->kind, "malformed");
    EXPECT_NE(bad->message.find("'" + field + "'"), std::string::npos) << bad->message;
  }
  EXPECT_TRUE(malformed_reply(json::array()).has_value());
}
