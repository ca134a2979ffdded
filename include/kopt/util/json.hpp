#pragma once
// Figures read back from JSON kopt stored or was sent (a run directory may be damaged, a
// worker's reply malformed): a field that is absent or of another type reads as absent,
// never as an exception.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kopt/util/text.hpp"

namespace kopt::util {

// j[key] when j is an object that has that field; a null otherwise. Reads of a const json
// go through this where the field may be missing: a const json's operator[] on a missing key
// is undefined behaviour (nlohmann_json asserts, and without assertions reads past the tree).
inline const nlohmann::json& json_field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json absent;
  if (!j.is_object()) return absent;
  const auto it = j.find(key);
  return it == j.end() ? absent : *it;
}

// j[key] when j is an object and that field is a number; `absent` otherwise.
inline double json_number(const nlohmann::json& j, const char* key, double absent = 0) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : absent;
}

// j[key] when j is an object and that field is a string; `absent` otherwise.
inline std::string json_string(const nlohmann::json& j, const char* key, const std::string& absent = "") {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : absent;
}

// j as text (indent -1: one line). Invalid UTF-8 in its strings (a candidate's output, a
// file name, a workload's source) becomes U+FFFD rather than an exception.
inline std::string dump_json(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// j with every string in it redacted (util::redact): settings kopt saves (run.json's hints
// and provider command) may hold a secret the user typed.
inline nlohmann::json redact_json(nlohmann::json j, const std::vector<std::string>& secrets) {
  if (j.is_string()) return redact(j.get<std::string>(), secrets);
  if (j.is_structured())
    for (auto& item : j) item = redact_json(item, secrets);
  return j;
}

}  // namespace kopt::util
