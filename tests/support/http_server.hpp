#pragma once
// A small HTTP/1.1 server on a loopback port for provider tests: it serves scripted
// responses (status, headers, body, delays, accept-and-hang, close mid-body) and
// records what it received. One thread accepts; each connection gets its own thread.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kopt::testing {

struct ScriptedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait before answering
  bool hang = false;                   // read the request, never answer (until stopped)
  bool close_mid_body = false;         // announce the full length, send half, close
};

struct ReceivedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class HttpServer {
 public:
  HttpServer();   // listens on 127.0.0.1 on a free port
  ~HttpServer();  // stops and joins every thread (hanging connections are released)
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return m_port; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  // Responses served in order; the last one repeats. Thread-safe.
  void script(std::vector<ScriptedResponse> responses);
  // Requests received so far, in arrival order. Thread-safe.
  std::vector<ReceivedRequest> requests() const;

 private:
  void accept_loop();
  void serve(int fd);
  ScriptedResponse next_response();
  bool wait_or_stop(std::chrono::milliseconds delay) const;

  int m_listen = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::vector<ScriptedResponse> m_script;
  size_t m_next = 0;
  std::vector<ReceivedRequest> m_received;
  std::vector<std::thread> m_connections;
  std::thread m_acceptor;
};

// A loopback port nothing listens on (connections are refused).
int unused_port();

// A listener whose accept queue is full, so new connections never complete and a
// client's connect timeout fires.
class FullBacklogListener {
 public:
  FullBacklogListener();
  ~FullBacklogListener();
  int port() const { return m_port; }

 private:
  int m_listen = -1;
  int m_port = 0;
  std::vector<int> m_fillers;
};

}  // namespace kopt::testing
