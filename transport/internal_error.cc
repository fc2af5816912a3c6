#include "transport/internal_error.h"

#include <cxxabi.h>
#include <kj/exception.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

namespace synod::transport {

namespace {

// The readable name of a type ("std::bad_alloc", not "St9bad_alloc").
std::string TypeName(const std::type_info& type) {
  int status = 0;
  char* readable = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && readable != nullptr ? readable : type.name();
  std::free(readable);
  return name;
}

// What the exception being handled is, on one line.
std::string DescribeCurrentException() {
  std::exception_ptr current = std::current_exception();
  if (!current) return "no exception (std::terminate)";
  try {
    std::rethrow_exception(current);
  } catch (const std::exception& e) {
    return TypeName(typeid(e)) + ": " + e.what();
  } catch (const kj::Exception& e) {
    return std::string("kj::Exception: ") + e.getDescription().cStr();
  } catch (...) {
    return "an exception of a type not derived from std::exception";
  }
}

}  // namespace

void ExitOnInternalError(const char* where) noexcept {
  std::string what;
  try {
    what = DescribeCurrentException();
  } catch (...) {
    what = "(could not describe the exception)";
  }
  ExitOnInternalError(where, what);
}

void ExitOnInternalError(const char* where, const std::string& what) noexcept {
  // One line, whatever the message holds, formatted into a fixed buffer
  // (no allocation; a long message is cut) and written with one write(2), so
  // it is not interleaved with other threads' output byte by byte.
  char line[kMaxFatalLine];
  size_t size = 0;
  auto append = [&](std::string_view text) {
    for (char c : text) {
      if (size + 1 >= sizeof(line)) return;  // keep room for the '\n'
      line[size++] = c == '\n' || c == '\r' ? ' ' : c;
    }
  };
  append("synod: fatal internal error in ");
  append(where);
  append(": ");
  append(what);
  line[size++] = '\n';
  std::fflush(stderr);  // anything already buffered comes first
  for (size_t written = 0; written < size;) {
    ssize_t n = ::write(STDERR_FILENO, line + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  std::_Exit(kExitInternalError);
}

}  // namespace synod::transport
