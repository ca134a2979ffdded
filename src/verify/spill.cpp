// Spill (an unnamed file for streamed tensors) and Digest (a keyed hash of bytes kopt does
// not keep): what lets the host path compare outputs of any size in bounded memory.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "kopt/verify/value.hpp"

namespace kopt::verify {

Result<std::shared_ptr<Spill>> Spill::open(const std::string& dir, uint64_t memory_budget) {
  // Unnamed: no path for another process to open, and the space returns when kopt closes
  // it or dies. O_TMPFILE where the file system has it, else a name unlinked at once.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string path = dir + "/.kopt-spill-XXXXXX";
    fd = mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return Failure{"io", "cannot create a spill file in " + dir + ": " + strerror(errno)};
    unlink(path.c_str());
  }
  return std::shared_ptr<Spill>(new Spill(fd, memory_budget));
}

Spill::~Spill() {
  if (m_fd >= 0) close(m_fd);
}

uint64_t Spill::reserve(uint64_t n) {
  const uint64_t at = m_end;
  m_end += (n + 63) / 64 * 64;  // aligned starts: chunks read back stay aligned for any dtype
  return at;
}

Status Spill::write(uint64_t offset, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t k = pwrite(m_fd, data, n, static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return Failure{"io", std::string("spill file write: ") + (k < 0 ? strerror(errno) : "no space")};
    data += k;
    offset += static_cast<uint64_t>(k);
    n -= static_cast<size_t>(k);
  }
  return Status{};
}

Status Spill::read(uint64_t offset, char* into, size_t n) const {
  while (n > 0) {
    const ssize_t k = pread(m_fd, into, n, static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return Failure{"io", std::string("spill file read: ") + (k < 0 ? strerror(errno) : "short file")};
    into += k;
    offset += static_cast<uint64_t>(k);
    n -= static_cast<size_t>(k);
  }
  return Status{};
}

namespace {

constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

}  // namespace

uint64_t digest_key() {
  static const uint64_t key = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  return key;
}

Digest::Digest(uint64_t key) {
  for (int k = 0; k < 4; ++k) m_lane[k] = mix(key + kMul * static_cast<uint64_t>(k + 1));
}

void Digest::block(const char* p) {
  for (int k = 0; k < 4; ++k) {
    uint64_t w;
    std::memcpy(&w, p + 8 * k, 8);
    m_lane[k] = rotl((m_lane[k] ^ w) * kMul, 29) * 0xc4ceb9fe1a85ec53ull;
  }
}

void Digest::update(const char* data, size_t n) {
  m_total += n;
  if (m_tail_n > 0) {
    const size_t take = std::min(n, sizeof m_tail - m_tail_n);
    std::memcpy(m_tail + m_tail_n, data, take);
    m_tail_n += take;
    data += take;
    n -= take;
    if (m_tail_n < sizeof m_tail) return;
    block(reinterpret_cast<const char*>(m_tail));
    m_tail_n = 0;
  }
  for (; n >= 32; data += 32, n -= 32) block(data);
  std::memcpy(m_tail, data, n);
  m_tail_n = n;
}

uint64_t Digest::finish() const {
  Digest d = *this;
  if (d.m_tail_n > 0) {
    std::memset(d.m_tail + d.m_tail_n, 0, sizeof d.m_tail - d.m_tail_n);
    d.block(reinterpret_cast<const char*>(d.m_tail));
  }
  uint64_t h = mix(m_total);
  for (int k = 0; k < 4; ++k) h = mix(h ^ d.m_lane[k]) + kMul;
  return h;
}

}  // namespace kopt::verify
