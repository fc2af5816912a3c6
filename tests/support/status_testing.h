// GoogleTest helpers for synod::Status and Result<T>: StatusOf gives the
// status of either, and failed assertions print a Status by its ToString.
// Test-only; header-only.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <utility>

#include "util/status.h"

namespace synod {

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}

// How gtest prints a Status (found by argument-dependent lookup).
inline void PrintTo(const Status& status, std::ostream* os) { *os << status.ToString(); }

// The value of `result`; a test failure naming the status and a
// value-initialised T if there is none (e.g. a null pointer the caller asserts on).
template <typename T>
T ValueOrFail(Result<T> result) {
  if (!result.ok()) {
    ADD_FAILURE() << result.status().ToString();
    return T{};
  }
  return std::move(result).value();
}

}  // namespace synod
