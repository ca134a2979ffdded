// The only file that includes curl.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <mutex>

#include "http_client.hpp"

namespace kopt::providers {

namespace {

struct Sink {
  std::string body;
  size_t cap = 0;
  bool overflow = false;
  Headers headers;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body.size() + n > sink->cap) {
    sink->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    sink->headers.clear();  // a new response (after 100 Continue, say)
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t start = colon + 1;
  while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
  sink->headers.emplace_back(std::move(name), line.substr(start));
  return n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Non-zero aborts the transfer: kopt was asked to stop.
int on_progress(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& should_stop = *static_cast<const std::function<bool()>*>(stop);
  return should_stop && should_stop() ? 1 : 0;
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", ms.count() / 1000.0);
  return buf;
}

}  // namespace

HttpResponse http_post(const HttpRequest& request) {
  global_init();
  HttpResponse response;
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    response.error = TransportError::other;
    response.error_message = "cannot create a curl handle";
    return response;
  }
  curl_slist* raw_list = nullptr;
  for (const auto& [name, value] : request.headers) raw_list = curl_slist_append(raw_list, (name + ": " + value).c_str());
  raw_list = curl_slist_append(raw_list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, SlistDeleter> list(raw_list);

  Sink sink;
  sink.cap = request.max_response_bytes;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  if (request.should_stop) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &request.should_stop);
  }
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kopt/0.1");

  const CURLcode rc = curl_easy_perform(c);
  response.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  response.headers = std::move(sink.headers);
  response.body = std::move(sink.body);
  for (const auto& [name, value] : response.headers) {
    if (name != "retry-after") continue;
    // Delay-seconds (digits only) read here, an HTTP date through curl; anything else
    // ("abc", "-5", "1e12") is no Retry-After, so the backoff applies (curl read those as 0:
    // retried at once, back to back).
    std::string v = value;
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\t')) v.pop_back();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    curl_off_t after = 0;
    if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos)
      response.retry_after_s = v.size() > 12 ? 1e12 : std::stod(v);
    else if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
      response.retry_after_s = static_cast<double>(after);
  }
  if (rc == CURLE_OK) return response;

  const std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      response.error = TransportError::connect_failed;
      response.error_message = "cannot connect to " + request.url + ": " + detail;
      break;
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connect_us = 0;
      curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
      response.error = TransportError::timed_out;
      response.error_message = connect_us == 0
          ? "connect to " + request.url + " timed out after " + seconds_text(request.connect_timeout)
          : "no complete reply within " + seconds_text(request.total_timeout) + " (" + detail + ")";
      break;
    }
    case CURLE_WRITE_ERROR:
      if (sink.overflow) {
        response.error = TransportError::too_large;
        response.error_message = "reply larger than " + std::to_string(request.max_response_bytes) + " bytes";
        break;
      }
      [[fallthrough]];
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
      if (response.error == TransportError::none) {
        response.error = TransportError::closed_early;
        response.error_message = "connection closed before the reply was complete: " + detail;
      }
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      response.error = TransportError::stopped;
      response.error_message = "stopped (kopt was asked to stop)";
      break;
    default:
      response.error = TransportError::other;
      response.error_message = detail;
  }
  return response;
}

}  // namespace kopt::providers
