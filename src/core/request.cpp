#include "request.hpp"

#include <chrono>

#include "build_log.hpp"

namespace kopt::core {

Result<sandbox::Message> ask(sandbox::Worker& worker, nlohmann::json header, double timeout_s,
                             std::string payload) {
  sandbox::Message msg{std::move(header), std::move(payload)};
  return expect_ok(worker.request(msg, std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000.0))));
}

Result<sandbox::Message> expect_ok(Result<sandbox::Message> reply) {
  if (!reply) return reply.failure();
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

std::string tampered_names(const nlohmann::json& header) {
  if (!header.is_object() || !header.contains("tampered")) return "";
  const auto& t = header["tampered"];
  if (!t.is_array() || t.empty()) return "";
  std::string names;
  for (size_t k = 0; k < t.size() && k < 5; ++k) names += (k ? ", " : "") + (t[k].is_string() ? t[k].get<std::string>() : "?");
  if (t.size() > 5) names += ", ...";
  return names;
}

}  // namespace kopt::core
