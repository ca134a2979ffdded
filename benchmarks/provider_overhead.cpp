// Client overhead per request against a loopback server, and overlap of requests in
// flight. Built only with -DKOPT_BUILD_BENCHMARKS=ON; run by provider_overhead.sh.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kopt/providers/dispatch.hpp"
#include "kopt/providers/factory.hpp"
#include "support/http_server.hpp"

namespace pv = kopt::providers;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string openai_body(size_t reply_chars) {
  return nlohmann::json{{"choices", {{{"message", {{"content", std::string(reply_chars, 'x')}}}, {"finish_reason", "stop"}}}},
                        {"usage", {{"prompt_tokens", 1000}, {"completion_tokens", 500}}}}
      .dump();
}

// The same exchange with a bare socket client: what the server and loopback cost alone.
double raw_request(int port, const std::string& body) {
  const auto start = Clock::now();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  const std::string req = "POST /chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (send(fd, req.data(), req.size(), 0) < 0) return -1;
  char buf[65536];
  while (recv(fd, buf, sizeof buf, 0) > 0) {
  }
  close(fd);
  return since(start);
}

struct Stats {
  double median, p90;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10]};
}

pv::ProviderOptions options(const std::string& base) {
  pv::ProviderOptions o;
  o.kind = "openai";
  o.model = "gpt-4o";
  o.base_url = base;
  o.max_retries = 0;
  return o;
}

}  // namespace

int main() {
  const std::string prompt(12'000, 'p');  // a first-attempt prompt is ~10-20 KB
  const int n = 300;
  std::printf("kopt provider overhead (loopback, sequential, %d requests each, 12 KB prompt)\n", n);
  for (size_t reply_chars : {1'000, 64'000}) {
    kopt::testing::HttpServer server;
    server.script({{200, {}, openai_body(reply_chars)}});
    auto made = pv::make_provider(options(server.base_url()), {});
    auto provider = std::move(made.value());
    const std::string body = nlohmann::json{{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", prompt}}}}}.dump();
    std::vector<double> raw, client;
    for (int i = 0; i < 20; ++i) (void)provider->complete({1, "sys", prompt});  // warm up
    for (int i = 0; i < n; ++i) raw.push_back(raw_request(server.port(), body));
    for (int i = 0; i < n; ++i) {
      const auto t = Clock::now();
      const auto reply = provider->complete({1, "sys", prompt});
      if (reply.outcome != pv::ReplyOutcome::ok) std::printf("  unexpected: %s\n", reply.message.c_str());
      client.push_back(since(t));
    }
    const auto r = stats(raw), c = stats(client);
    std::printf("  reply %6zu chars: bare socket client median %.3f ms (p90 %.3f); kopt provider median %.3f ms "
                "(p90 %.3f); overhead %.3f ms/request\n",
                reply_chars, r.median * 1e3, r.p90 * 1e3, c.median * 1e3, c.p90 * 1e3, (c.median - r.median) * 1e3);
  }
  {
    kopt::testing::HttpServer server;
    server.script({{200, {}, openai_body(1'000)}});
    auto made = pv::make_provider(options(server.base_url()), {});
    auto provider = std::move(made.value());
    const auto dir = std::filesystem::temp_directory_path() / ("kopt-bench-" + std::to_string(getpid()));
    auto transcript = pv::Transcript::open(dir.string(), {"secret-never-seen"}).value();
    std::vector<pv::Request> requests;
    for (int i = 1; i <= n; ++i) requests.push_back({i, "sys", prompt});
    auto t = Clock::now();
    (void)pv::dispatch(*provider, requests, {1, 1000}, nullptr, nullptr);
    const double bare = since(t);
    pv::Budget budget({}, pv::PriceTable::builtin(), "gpt-4o");
    t = Clock::now();
    (void)pv::dispatch(*provider, requests, {1, 1000}, &budget, &transcript);
    const double saved = since(t);
    std::printf("  dispatch: %.3f ms/request without transcript, %.3f ms/request with budget + transcript files\n",
                bare / n * 1e3, saved / n * 1e3);
    std::filesystem::remove_all(dir);
  }
  std::printf("overlap (server answers each request after 200 ms)\n");
  for (int in_flight : {1, 8}) {
    kopt::testing::HttpServer server;
    kopt::testing::ScriptedResponse slow{200, {}, openai_body(1'000)};
    slow.delay = std::chrono::milliseconds(200);
    server.script({slow});
    auto made = pv::make_provider(options(server.base_url()), {});
    auto provider = std::move(made.value());
    std::vector<pv::Request> requests;
    for (int i = 1; i <= 8; ++i) requests.push_back({i, "sys", prompt});
    const auto t = Clock::now();
    const auto replies = pv::dispatch(*provider, requests, {in_flight, 1000}, nullptr, nullptr);
    const double wall = since(t);
    const auto ok = std::count_if(replies.begin(), replies.end(), [](const pv::Reply& r) { return r.outcome == pv::ReplyOutcome::ok; });
    std::printf("  8 requests, %d in flight: %.0f ms wall (%ld ok)\n", in_flight, wall * 1e3, static_cast<long>(ok));
  }
  return 0;
}
