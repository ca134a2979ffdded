#include "kopt/sandbox/worker.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "process_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using kopt::sandbox::decode_frame;
using kopt::sandbox::encode_frame;
using kopt::sandbox::Message;
using kopt::sandbox::Worker;
using kopt::sandbox::WorkerSpec;

std::string le32(uint32_t n) {
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

std::string raw_frame(const std::string& header_text, const std::string& payload = "") {
  return le32(static_cast<uint32_t>(header_text.size())) + header_text + payload;
}

constexpr size_t k_max_header = 1u << 20;
constexpr uint64_t k_max_payload = 1u << 24;

// ---- frames ----------------------------------------------------------------

TEST(frame, encode_and_decode_round_trip) {
  Message msg{{{"op", "call"}, {"trial", 3}, {"names", {"a", "b"}}}, std::string("\x00\x01\xff payload", 11)};
  std::string buffer = encode_frame(msg);
  auto decoded = decode_frame(buffer, k_max_header, k_max_payload);
  ASSERT_TRUE(decoded.ok()) << decoded.failure().message;
  ASSERT_TRUE(decoded->has_value());
  const Message& got = **decoded;
  EXPECT_EQ(got.header["op"], "call");
  EXPECT_EQ(got.header["trial"], 3);
  EXPECT_EQ(got.header["names"], nlohmann::json({"a", "b"}));
  EXPECT_EQ(got.header["payload"], 11);
  EXPECT_EQ(got.payload, msg.payload);
  EXPECT_TRUE(buffer.empty());
}

TEST(frame, a_frame_without_payload_says_zero_bytes) {
  std::string buffer = encode_frame(Message{{{"op", "bye"}}, ""});
  auto decoded = decode_frame(buffer, k_max_header, k_max_payload);
  ASSERT_TRUE(decoded.ok());
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((**decoded).header["payload"], 0);
  EXPECT_TRUE((**decoded).payload.empty());
}

TEST(frame, the_length_prefix_is_little_endian) {
  const std::string frame = encode_frame(Message{{{"x", 1}}, ""});
  const std::string text = nlohmann::json({{"payload", 0}, {"x", 1}}).dump();
  EXPECT_EQ(frame, le32(static_cast<uint32_t>(text.size())) + text);
}

TEST(frame, back_to_back_frames_decode_one_at_a_time) {
  std::string buffer = encode_frame(Message{{{"n", 1}}, "abc"}) + encode_frame(Message{{{"n", 2}}, "de"});
  auto first = decode_frame(buffer, k_max_header, k_max_payload);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((**first).header["n"], 1);
  EXPECT_EQ((**first).payload, "abc");
  auto second = decode_frame(buffer, k_max_header, k_max_payload);
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((**second).header["n"], 2);
  EXPECT_EQ((**second).payload, "de");
  EXPECT_TRUE(buffer.empty());
}

TEST(frame, a_partial_frame_needs_more_bytes_and_is_left_in_the_buffer) {
  const std::string full = encode_frame(Message{{{"op", "call"}}, "0123456789"});
  for (size_t n = 0; n < full.size(); ++n) {
    std::string buffer = full.substr(0, n);
    auto decoded = decode_frame(buffer, k_max_header, k_max_payload);
    ASSERT_TRUE(decoded.ok()) << "prefix of " << n << " bytes: " << decoded.failure().message;
    EXPECT_FALSE(decoded->has_value()) << "prefix of " << n << " bytes";
    EXPECT_EQ(buffer, full.substr(0, n));
  }
}

TEST(frame, an_oversized_header_is_a_protocol_failure_before_it_arrives) {
  std::string buffer = le32(0xffffffffu);
  auto decoded = decode_frame(buffer, k_max_header, k_max_payload);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.failure().kind, "protocol");

  std::string small = encode_frame(Message{{{"text", std::string(100, 'x')}}, ""});
  auto capped = decode_frame(small, 64, k_max_payload);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.failure().kind, "protocol");
}

TEST(frame, an_oversized_payload_is_a_protocol_failure_before_it_arrives) {
  std::string buffer = raw_frame(R"({"payload": 1000})");
  auto decoded = decode_frame(buffer, k_max_header, 999);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.failure().kind, "protocol");
  std::string exact = raw_frame(R"({"payload": 1000})");
  auto allowed = decode_frame(exact, k_max_header, 1000);
  ASSERT_TRUE(allowed.ok());
  EXPECT_FALSE(allowed->has_value());  // allowed, waiting for the bytes
}

TEST(frame, malformed_headers_are_protocol_failures) {
  for (const std::string& text : {std::string("{oops"), std::string("[1, 2]"), std::string("\"str\""),
                                 std::string(R"({"payload": -1})"), std::string(R"({"payload": "12"})"),
                                 std::string(R"({"payload": 1.5})"), std::string("\xff\xfe")}) {
    std::string buffer = raw_frame(text);
    auto decoded = decode_frame(buffer, k_max_header, k_max_payload);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.failure().kind, "protocol") << text;
  }
}

// ---- a Worker against a fake worker program ------------------------------

// A protocol-only worker: standard library, no torch.
const char* const k_fake_worker = R"PY(
import json, os, signal, socket, struct, sys, time

mode = sys.argv[1]
sock = socket.socket(fileno=3)

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def recv():
    head = read_exact(4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    header = json.loads(read_exact(n))
    size = header.get("payload", 0)
    return header, (read_exact(size) if size else b"")

def send(header, payload=b""):
    header = dict(header)
    header["payload"] = len(payload)
    text = json.dumps(header).encode()
    return struct.pack("<I", len(text)) + text + payload

if mode == "logs":
    sys.stderr.write("\x1b[31mred\x1b[0m\x1b]0;title\x07 token=" + sys.argv[2] + "\n")
    sys.stderr.flush()
    mode = "echo"

while True:
    frame = recv()
    if frame is None:
        sys.exit(0)
    header, payload = frame
    if mode == "echo":
        sock.sendall(send({"echo": header}, payload))
    elif mode == "trickle":
        for b in send({"echo": header}, payload):
            sock.sendall(bytes([b]))
            time.sleep(0.001)
    elif mode == "big":
        sock.sendall(send({"echo": header}, b"\xab" * (4 << 20)))
    elif mode == "silent":
        time.sleep(60)
    elif mode == "exit":
        sys.stderr.write("dying now\n")
        sys.exit(7)
    elif mode == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "flood":
        while True:
            sys.stdout.write("x" * 65536)
            sys.stdout.flush()
    elif mode == "malformed":
        sock.sendall(struct.pack("<I", 5) + b"{oops")
        time.sleep(60)
    elif mode == "oversized":
        sock.sendall(struct.pack("<I", 0xFFFFFFFF) + b"{")
        time.sleep(60)
)PY";

class fake_worker : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kopt-worker-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    std::ofstream(m_dir + "/fake_worker.py") << k_fake_worker;
  }
  void TearDown() override {
    unlink((m_dir + "/fake_worker.py").c_str());
    rmdir(m_dir.c_str());
  }

  WorkerSpec spec(const std::string& mode, const std::string& arg = "") const {
    WorkerSpec s;
    s.argv = {"/usr/bin/python3", "-I", m_dir + "/fake_worker.py", mode};
    if (!arg.empty()) s.argv.push_back(arg);
    s.env = {"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"};
    s.cwd = m_dir;
    return s;
  }

  std::unique_ptr<Worker> start(const WorkerSpec& s) const {
    auto worker = Worker::start(s);
    if (!worker.ok()) {
      ADD_FAILURE() << worker.failure().message;
      return nullptr;
    }
    return std::move(worker.value());
  }

  std::string m_dir;
};

TEST_F(fake_worker, a_request_gets_the_reply) {
  auto worker = start(spec("echo"));
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "hello"}}, "bytes"}, 10s);
  ASSERT_TRUE(reply.ok()) << reply.failure().kind << ": " << reply.failure().message;
  EXPECT_EQ(reply->header["echo"]["op"], "hello");
  EXPECT_EQ(reply->payload, "bytes");
  // The same worker answers again.
  auto second = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_TRUE(second.ok()) << second.failure().message;
  EXPECT_EQ(second->header["echo"]["op"], "call");
  const auto info = worker->stop(5s);  // the fake exits on EOF
  EXPECT_EQ(info.describe(), "exit status 0");
}

TEST_F(fake_worker, a_reply_arriving_byte_by_byte_is_reassembled) {
  auto worker = start(spec("trickle"));
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, "0123456789"}, 10s);
  ASSERT_TRUE(reply.ok()) << reply.failure().message;
  EXPECT_EQ(reply->payload, "0123456789");
}

TEST_F(fake_worker, a_payload_larger_than_the_socket_buffer_arrives_whole) {
  auto worker = start(spec("echo"));
  ASSERT_TRUE(worker);
  const std::string big(3u << 20, 'z');
  auto reply = worker->request(Message{{{"op", "call"}}, big}, 10s);
  ASSERT_TRUE(reply.ok()) << reply.failure().message;
  EXPECT_EQ(reply->payload.size(), big.size());
  EXPECT_EQ(reply->payload, big);
}

TEST_F(fake_worker, a_reply_payload_over_the_cap_is_a_protocol_failure) {
  WorkerSpec s = spec("big");
  s.max_payload_bytes = 1u << 20;
  auto worker = start(s);
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "protocol");
}

TEST_F(fake_worker, a_worker_that_never_answers_times_out_within_the_deadline) {
  auto worker = start(spec("silent"));
  ASSERT_TRUE(worker);
  const auto start_time = std::chrono::steady_clock::now();
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 500ms);
  const auto took = std::chrono::steady_clock::now() - start_time;
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "timeout");
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 1500ms);
  const pid_t pid = worker->pid();
  worker.reset();  // the destructor kills the worker
  EXPECT_EQ(kopt::test::process_state(pid), 0);
}

TEST_F(fake_worker, a_worker_that_exits_mid_request_is_reported_with_its_status) {
  auto worker = start(spec("exit"));
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "exited");
  EXPECT_NE(reply.failure().message.find("exit status 7"), std::string::npos) << reply.failure().message;
  EXPECT_NE(reply.failure().message.find("dying now"), std::string::npos) << reply.failure().message;
  ASSERT_TRUE(worker->exit_info());
  EXPECT_EQ(worker->exit_info()->code, 7);
}

TEST_F(fake_worker, a_worker_that_crashes_is_reported_with_its_signal) {
  auto worker = start(spec("crash"));
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "exited");
  EXPECT_NE(reply.failure().message.find("SIGSEGV"), std::string::npos) << reply.failure().message;
}

TEST_F(fake_worker, a_worker_that_prints_too_much_is_a_flood) {
  WorkerSpec s = spec("flood");
  s.max_log_bytes = 100000;
  auto worker = start(s);
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "flood");
  const std::string log = worker->log();
  EXPECT_LE(log.size(), s.max_log_bytes + 200);
  EXPECT_NE(log.find("output truncated"), std::string::npos);
}

TEST_F(fake_worker, a_malformed_reply_is_a_protocol_failure) {
  auto worker = start(spec("malformed"));
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "protocol");
}

TEST_F(fake_worker, an_oversized_reply_header_is_a_protocol_failure) {
  auto worker = start(spec("oversized"));
  ASSERT_TRUE(worker);
  const auto start_time = std::chrono::steady_clock::now();
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "protocol");
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, 5s);  // decided without waiting for 4 GB
}

TEST_F(fake_worker, the_log_is_stripped_of_escapes_and_redacted) {
  const std::string secret = "tok-0123456789abcdef";
  WorkerSpec s = spec("logs", secret);
  s.secrets = {secret};
  auto worker = start(s);
  ASSERT_TRUE(worker);
  auto reply = worker->request(Message{{{"op", "hello"}}, ""}, 10s);
  ASSERT_TRUE(reply.ok()) << reply.failure().message;
  worker->stop(5s);
  const std::string log = worker->log();
  EXPECT_EQ(log, "red token=[REDACTED]\n");
  EXPECT_EQ(log.find('\x1b'), std::string::npos);
  EXPECT_EQ(log.find(secret), std::string::npos);
}

TEST_F(fake_worker, a_request_after_stop_fails_without_blocking) {
  auto worker = start(spec("echo"));
  ASSERT_TRUE(worker);
  worker->stop(5s);
  worker->stop(5s);  // safe twice
  auto reply = worker->request(Message{{{"op", "call"}}, ""}, 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.failure().kind, "exited");
}

TEST(worker, a_program_that_cannot_start_is_a_spawn_failure) {
  WorkerSpec s;
  s.argv = {"/nonexistent/python3", "worker.py"};
  s.env = {"PATH=/usr/bin:/bin"};
  auto worker = Worker::start(s);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.failure().kind, "spawn");
}

}  // namespace
