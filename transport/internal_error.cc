#include "transport/internal_error.h"

#include <cxxabi.h>
#include <kj/exception.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
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
  // One line, whatever the message holds; no allocation.
  std::fprintf(stderr, "synod: fatal internal error in %s: ", where);
  for (char c : what) std::fputc(c == '\n' || c == '\r' ? ' ' : c, stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::_Exit(kExitInternalError);
}

}  // namespace synod::transport
