// Status and Result<T>: the error convention at the boundaries between the
// project's folders (log/, snapshot/, transport/, node/, statemachine/).
// A Status is ok or carries a code and a message that names what failed
// (a path, a peer, a field); a Result<T> is a T or a non-ok Status.
//
// Invariant violations (synod::InvariantViolation) and fatal exits (exit 70)
// are not Statuses: they stay as they are. Value types; any thread.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace synod {

class [[nodiscard]] Status {
 public:
  // What kind of failure; callers branch on it only where the reaction differs.
  enum class Code {
    kOk,
    kInvalidArgument,  // bad input or configuration from the caller or user
    kNotFound,         // the named thing does not exist (or no longer does)
    kCorruption,       // stored or received bytes fail their checks
    kIoError,          // the operating system refused (open, write, fsync, ...)
    kUnavailable,      // a peer or resource cannot be reached now; may succeed later
  };

  Status() = default;  // ok

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status NotFound(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status Corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message));
  }
  static Status IoError(std::string message) { return Status(Code::kIoError, std::move(message)); }
  static Status Unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  // Empty when ok.
  const std::string& message() const { return message_; }

  // The same failure with "context: " in front of its message (ok stays ok).
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  // "ok", or the code's name and the message ("I/O error: open /x: ...").
  std::string ToString() const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != Code::kOk);
  }

  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the reason there is none. Construct from a T (ok) or from a
// non-ok Status; value() on a failed Result is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  // Ok status when there is a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace synod
