#include "kopt/providers/transcript.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "kopt/util/json.hpp"
#include "kopt/util/text.hpp"

namespace kopt::providers {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Failure{"io", "cannot write " + tmp};
    out << text;
    if (!out.flush()) return Failure{"io", "cannot write " + tmp};
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Failure{"io", "cannot rename " + tmp + ": " + std::strerror(errno)};
  return {};
}

const char* const k_text_pointer = "[the reply's text, stored once as \"text\" above]";

std::string numbered(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "%04d", index);
  return name;
}

// The raw response holds the reply's text again (OpenAI's message content, Anthropic's
// text block, a command's stdout): each string of it equal to `text` becomes a pointer to
// "text", so that a long reply is stored once. Short texts stay, as a raw body is easier
// to read whole and a short string may equal some other field by chance.
void point_to_text(nlohmann::json& raw, const std::string& text) {
  if (raw.is_string()) {
    if (raw.get_ref<const std::string&>() == text) raw = k_text_pointer;
  } else if (raw.is_structured()) {
    for (auto& item : raw) point_to_text(item, text);
  }
}

}  // namespace

nlohmann::json mask_credential_headers(const nlohmann::json& headers) {
  nlohmann::json out = headers;
  if (!out.is_object()) return out;
  for (auto& [name, value] : out.items()) {
    const std::string n = lower(name);
    if (n == "authorization" || n == "proxy-authorization") {
      const std::string v = value.is_string() ? value.get<std::string>() : "";
      const size_t space = v.find(' ');
      value = (space == std::string::npos ? std::string() : v.substr(0, space + 1)) + "[REDACTED]";
      if (v.find("[REDACTED]") != std::string::npos) value = v;
    } else if (n == "x-api-key" || n == "api-key" || n == "cookie" || n == "x-goog-api-key") {
      value = "[REDACTED]";
    }
  }
  return out;
}

Status make_directories(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos < path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return Failure{"io", "cannot create " + prefix + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Failure{"io", "not a directory: " + path};
  return {};
}

Result<Transcript> Transcript::open(const std::string& dir, std::vector<std::string> secrets) {
  if (Status made = make_directories(dir + "/requests"); !made) return made.failure();
  Transcript t;
  t.m_dir = dir;
  t.m_secrets = std::move(secrets);
  return t;
}

std::string Transcript::request_path(int index) const {
  return m_dir + "/requests/" + numbered(index) + ".request.json";
}

std::string Transcript::response_path(int index) const {
  return m_dir + "/requests/" + numbered(index) + ".response.json";
}

Result<std::string> Transcript::save_candidate(int index, const std::string& code) const {
  const std::string dir = m_dir + "/candidates/" + numbered(index);
  if (Status made = make_directories(dir); !made) return made.failure();
  const std::string path = dir + "/candidate.py";
  if (Status written = write_file(path, code); !written) return written.failure();
  return path;
}

Status Transcript::save_summary(const nlohmann::json& summary) const {
  return write_file(m_dir + "/summary.json",
                    util::redact(util::dump_json(summary, 2), m_secrets) + "\n");
}

Status Transcript::save(const Reply& reply, const std::string& provider, const std::string& model) const {
  nlohmann::json request = reply.exchange.contains("request") ? util::json_field(reply.exchange, "request")
                                                              : nlohmann::json::object();
  if (request.contains("headers")) request["headers"] = mask_credential_headers(request["headers"]);
  request["index"] = reply.index;
  request["provider"] = provider;
  request["model"] = model;
  nlohmann::json response = {
      {"index", reply.index},
      {"outcome", reply_outcome_name(reply.outcome)},
      {"message", reply.message},
      {"finish_reason", reply.finish_reason},
      {"http_status", reply.http_status},
      {"attempts", reply.attempts},
      {"elapsed_s", reply.elapsed_s},
      {"usage",
       {{"input_tokens", reply.usage.input_tokens},
        {"output_tokens", reply.usage.output_tokens},
        {"reported", reply.usage.reported},
        {"estimated", reply.usage.estimated}}},
      {"cost_usd", reply.cost_known ? nlohmann::json(reply.cost_usd) : nlohmann::json(nullptr)},
      {"text", reply.text},
      {"raw", util::json_field(reply.exchange, "response")}};
  if (reply.text.size() >= 256) point_to_text(response["raw"], reply.text);
  // dump() with error_handler replace: a server's invalid UTF-8 must not throw.
  const auto dump = [&](const nlohmann::json& j) {
    return util::redact(util::dump_json(j, 2), m_secrets) + "\n";
  };
  if (Status s = write_file(request_path(reply.index), dump(request)); !s) return s;
  return write_file(response_path(reply.index), dump(response));
}

}  // namespace kopt::providers
