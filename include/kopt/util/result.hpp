#pragma once
// Expected failures as values: Result<T> holds either a T or a Failure.
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kopt {

// What went wrong, in one line for a person, plus a machine-readable kind.
struct Failure {
  std::string kind;     // short tag, e.g. "timeout", "exited", "io", "protocol"
  std::string message;  // one line, no trailing newline
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_state(std::move(value)) {}            // NOLINT: implicit by design
  Result(Failure failure) : m_state(std::move(failure)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(m_state); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(m_state); }
  const T& value() const { return std::get<T>(m_state); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Failure& failure() const { return std::get<Failure>(m_state); }

 private:
  std::variant<T, Failure> m_state;
};

// Result<void>: success or a Failure.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Failure failure) : m_failure(std::move(failure)) {}  // NOLINT
  bool ok() const { return !m_failure.has_value(); }
  explicit operator bool() const { return ok(); }
  const Failure& failure() const { return *m_failure; }

 private:
  std::optional<Failure> m_failure;
};

}  // namespace kopt
