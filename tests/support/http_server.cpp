#include "http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>

namespace kopt::testing {

namespace {

int listen_loopback(int backlog, int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, backlog) != 0) {
    close(fd);
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

HttpServer::HttpServer() {
  m_listen = listen_loopback(64, m_port);
  m_script.push_back({});
  m_acceptor = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
  m_stop = true;
  m_acceptor.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    connections.swap(m_connections);
  }
  for (auto& t : connections) t.join();
  close(m_listen);
}

void HttpServer::script(std::vector<ScriptedResponse> responses) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_script = std::move(responses);
  m_next = 0;
}

std::vector<ReceivedRequest> HttpServer::requests() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_received;
}

ScriptedResponse HttpServer::next_response() {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_script.empty()) return {};
  const size_t i = std::min(m_next, m_script.size() - 1);
  ++m_next;
  return m_script[i];
}

bool HttpServer::wait_or_stop(std::chrono::milliseconds delay) const {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (m_stop) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return !m_stop;
}

void HttpServer::accept_loop() {
  while (!m_stop) {
    pollfd p{m_listen, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const int fd = accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_connections.emplace_back([this, fd] { serve(fd); });
  }
}

void HttpServer::serve(int fd) {
  // Read the head, then Content-Length bytes of body.
  std::string data;
  char buf[65536];
  size_t head_end = std::string::npos;
  size_t content_length = 0;
  ReceivedRequest request;
  bool continued = false;
  while (!m_stop) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = data.substr(0, head_end);
        size_t line_end = head.find("\r\n");
        const std::string first = head.substr(0, line_end);
        const size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
        request.method = first.substr(0, sp1);
        request.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
        size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
          size_t end = head.find("\r\n", pos);
          if (end == std::string::npos) end = head.size();
          const std::string line = head.substr(pos, end - pos);
          const size_t colon = line.find(':');
          if (colon != std::string::npos) {
            size_t v = colon + 1;
            while (v < line.size() && line[v] == ' ') ++v;
            request.headers[lower(line.substr(0, colon))] = line.substr(v);
          }
          pos = end + 2;
        }
        if (request.headers.count("content-length")) content_length = std::stoul(request.headers["content-length"]);
        if (!continued && lower(request.headers["expect"]) == "100-continue") {
          send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
          continued = true;
        }
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + content_length) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      close(fd);
      return;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  if (m_stop) {
    close(fd);
    return;
  }
  request.body = data.substr(head_end + 4, content_length);
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_received.push_back(request);
  }
  const ScriptedResponse response = next_response();
  if (response.hang) {
    wait_or_stop(std::chrono::hours(1));
    close(fd);
    return;
  }
  if (response.delay.count() > 0 && !wait_or_stop(response.delay)) {
    close(fd);
    return;
  }
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) + "\r\n";
  bool has_type = false;
  for (const auto& [name, value] : response.headers) {
    out += name + ": " + value + "\r\n";
    if (lower(name) == "content-type") has_type = true;
  }
  if (!has_type) out += "Content-Type: application/json\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\nConnection: close\r\n\r\n";
  if (response.close_mid_body) {
    out += response.body.substr(0, response.body.size() / 2);
    send_all(fd, out);
  } else {
    send_all(fd, out + response.body);
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

int unused_port() {
  int port = 0;
  const int fd = listen_loopback(1, port);
  close(fd);
  return port;
}

FullBacklogListener::FullBacklogListener() {
  m_listen = listen_loopback(0, m_port);
  // Fill the accept queue (backlog 0 holds one connection) so further SYNs are dropped.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(m_port));
  for (int i = 0; i < 3; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    m_fillers.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

FullBacklogListener::~FullBacklogListener() {
  for (int fd : m_fillers) close(fd);
  close(m_listen);
}

}  // namespace kopt::testing
