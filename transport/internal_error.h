// Internal failures end the process. An exception that is not a command's
// result (statemachine/applier.h turns those into failed results) means the
// replica's state can no longer be trusted: std::bad_alloc, an
// InvariantViolation, an exception of a type not derived from std::exception,
// or any exception on the network or a storage thread. Carrying on after one
// (Cap'n Proto would turn it into an RPC error, a KJ task set would drop it)
// could leave a replica silently wedged or diverged, so the boundaries where
// such an exception could be swallowed call ExitOnInternalError instead.
//
// Thread: any. Never returns; runs no destructors (like a crash).
#pragma once

#include <kj/exception.h>

#include <cstddef>
#include <string>
#include <utility>

namespace synod::transport {

// Exit status of a process stopped by an internal failure (EX_SOFTWARE).
inline constexpr int kExitInternalError = 70;

// Longest fatal line written, '\n' included; a longer message is cut.
inline constexpr size_t kMaxFatalLine = 4096;

// Prints one line "synod: fatal internal error in <where>: <what>" on stderr
// with a single write(2) and ends the process with kExitInternalError. Describes the exception
// being handled (call it inside a catch block), or says there is none.
[[noreturn]] void ExitOnInternalError(const char* where) noexcept;
// The same with the failure described by `what`.
[[noreturn]] void ExitOnInternalError(const char* where, const std::string& what) noexcept;

// Runs `fn` and returns what it returns; an exception escaping `fn` ends the
// process through ExitOnInternalError(where).
template <typename Fn>
decltype(auto) CallOrExit(const char* where, Fn&& fn) noexcept {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    ExitOnInternalError(where);
  }
}

// Like CallOrExit, except that a kj::Exception propagates: for code whose
// kj::Exceptions are a call's own failure (bad input, a lost connection),
// run where Cap'n Proto or KJ would otherwise turn any exception into one.
template <typename Fn>
decltype(auto) CallOrExitUnlessKj(const char* where, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const kj::Exception&) {
    throw;
  } catch (...) {
    ExitOnInternalError(where);
  }
}

}  // namespace synod::transport
