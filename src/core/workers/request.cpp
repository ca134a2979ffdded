#include "core/workers/request.hpp"

#include <chrono>
#include <map>
#include <optional>

#include "core/eval/build_log.hpp"
#include "kopt/util/json.hpp"

namespace kopt::core {

Result<sandbox::Message> ask(sandbox::Worker& worker, nlohmann::json header, double timeout_s,
                             std::string payload) {
  sandbox::Message msg{std::move(header), std::move(payload)};
  return expect_ok(worker.request(msg, std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000.0))));
}

namespace {

// The JSON type of each reply field kopt reads, wherever it reads it: a worker can write
// any frame to its socket (a candidate, to fd 3), and nlohmann_json throws where a field
// of another type is read as this one. Checked once, here, for every reply. Two fields
// have two shapes: the comparer's reply says what it found about the inputs as a string
// and times its steps as an object, where other replies send a value tree and a number.
enum class Type { boolean, string, number, array, object, string_or_null, string_or_object, number_or_object };

const std::map<std::string, Type>& field_types() {
  static const std::map<std::string, Type> types = {
      {"ok", Type::boolean}, {"earlier_changed", Type::boolean}, {"earlier_shared", Type::boolean},
      {"random", Type::boolean}, {"mutated", Type::boolean}, {"fp64", Type::boolean}, {"stream", Type::boolean},
      {"error", Type::string}, {"message", Type::string}, {"detail", Type::string}, {"python", Type::string},
      {"torch", Type::string}, {"device", Type::string}, {"device_name", Type::string},
      {"capability", Type::string}, {"gpu_memory_error", Type::string}, {"pci", Type::string},
      {"uuid", Type::string}, {"candidate_error", Type::string}, {"key", Type::string},
      {"fp64_error", Type::string_or_null}, {"background", Type::string}, {"reuse", Type::string},
      {"seconds", Type::number_or_object}, {"poisoned_bytes", Type::number}, {"matched", Type::number},
      {"pid", Type::number}, {"uid", Type::number}, {"gpu_memory_fraction", Type::number},
      {"free_bytes", Type::number}, {"memory_bytes", Type::number}, {"l2_bytes", Type::number},
      {"sm_count", Type::number}, {"bytes", Type::number}, {"calls", Type::number}, {"ms", Type::number},
      {"tampered", Type::array}, {"handles", Type::array},
      {"result", Type::object}, {"sanity", Type::object}, {"out", Type::object}, {"inputs", Type::string_or_object},
      {"out32", Type::object}, {"out64", Type::object}, {"inputs_after", Type::object},
      {"out_later", Type::object}, {"state", Type::object}, {"init_args", Type::object}};
  return types;
}

bool has_type(const nlohmann::json& v, Type t) {
  switch (t) {
    case Type::boolean: return v.is_boolean();
    case Type::string: return v.is_string();
    case Type::string_or_null: return v.is_string() || v.is_null();
    case Type::string_or_object: return v.is_string() || v.is_object();
    case Type::number_or_object: return v.is_number() || v.is_object();
    case Type::number: return v.is_number();
    case Type::array: return v.is_array();
    case Type::object: return v.is_object();
  }
  return false;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::boolean: return "a boolean";
    case Type::string: return "a string";
    case Type::string_or_null: return "a string or null";
    case Type::string_or_object: return "a string or an object";
    case Type::number_or_object: return "a number or an object";
    case Type::number: return "a number";
    case Type::array: return "an array";
    case Type::object: return "an object";
  }
  return "?";
}

}  // namespace

std::optional<Failure> malformed_reply(const nlohmann::json& h) {
  if (!h.is_object()) return Failure{"malformed", "a reply that is not a JSON object"};
  for (const auto& [name, type] : field_types()) {
    const auto it = h.find(name);
    if (it == h.end() || has_type(*it, type)) continue;
    return Failure{"malformed", "reply field '" + name + "' is " + std::string(it->type_name()) + ", not " +
                                    type_name(type) + " (a frame kopt's harness never writes)"};
  }
  if (h.contains("tampered"))
    for (const auto& name : util::json_field(h, "tampered"))
      if (!name.is_string()) return Failure{"malformed", "reply field 'tampered' holds a non-string (a frame kopt's harness never writes)"};
  return std::nullopt;
}

Result<sandbox::Message> expect_ok(Result<sandbox::Message> reply) {
  if (!reply) return reply.failure();
  if (auto bad = malformed_reply(reply->header)) return *bad;
  if (!reply->header.is_object() || !reply->header.value("ok", false)) {
    const auto& h = reply->header;
    const bool obj = h.is_object();
    std::string message = obj ? h.value("message", std::string("failed")) : "malformed reply";
    // A failed build's message is ninja's last line; the log behind it says why.
    if (obj && h.contains("detail") && h["detail"].is_string())
      if (std::string why = build_error_line(h["detail"].get<std::string>()); !why.empty()) message = std::move(why);
    return Failure{obj ? h.value("error", std::string("error")) : "protocol", std::move(message)};
  }
  return reply;
}

bool out_of_memory(const std::string& reason) {
  for (const char* sign : {"out of memory", "out-of-memory", "can't allocate memory", "OutOfMemoryError"})
    if (reason.find(sign) != std::string::npos) return true;
  return false;
}

std::string tampered_names(const nlohmann::json& header) {
  if (!header.is_object() || !header.contains("tampered")) return "";
  const auto& t = util::json_field(header, "tampered");
  if (!t.is_array() || t.empty()) return "";
  std::string names;
  for (size_t k = 0; k < t.size() && k < 5; ++k) names += (k ? ", " : "") + (t[k].is_string() ? t[k].get<std::string>() : "?");
  if (t.size() > 5) names += ", ...";
  return names;
}

}  // namespace kopt::core
