#pragma once
// Reading a report document or a run's JSON files without exceptions: a field of the
// wrong type reads as absent. (Files such as baseline.json and timing.json are not
// checked by run_schema; a report must still render.)
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kopt/util/json.hpp"

namespace kopt::report {

// j[key], or a null value when `j` is no object or lacks `key` (util::json_field).
inline const nlohmann::json& at(const nlohmann::json& j, const char* key) { return util::json_field(j, key); }
inline std::optional<double> opt_num(const nlohmann::json& j, const char* key) {
  const auto& v = at(j, key);
  return v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
}
inline double num(const nlohmann::json& j, const char* key, double fallback = 0) {
  return opt_num(j, key).value_or(fallback);
}
inline long long integer(const nlohmann::json& j, const char* key, long long fallback = 0) {
  const auto& v = at(j, key);
  return v.is_number() ? v.get<long long>() : fallback;
}
inline std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "") {
  const auto& v = at(j, key);
  return v.is_string() ? v.get<std::string>() : fallback;
}
inline bool flag(const nlohmann::json& j, const char* key) {
  const auto& v = at(j, key);
  return v.is_boolean() && v.get<bool>();
}

}  // namespace kopt::report
