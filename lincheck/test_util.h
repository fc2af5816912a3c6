// Helpers shared by the lincheck tests: parse a history given as text and
// check it, failing the test if the text does not parse.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "lincheck/checker.h"
#include "lincheck/history.h"

namespace synod::lincheck::testing {

// Parses `text` for `model` (a test failure if it is malformed) and checks it.
inline CheckResult CheckText(const std::string& text, const std::string& model,
                             const CheckLimits& limits = CheckLimits{}) {
  std::istringstream in(text);
  ParsedHistory history = ParseHistory(in, model);
  EXPECT_EQ(history.error, "") << "line " << history.error_line;
  return Check(history.operations, model, limits);
}

// The verdict alone.
inline Verdict VerdictOf(const std::string& text, const std::string& model) {
  return CheckText(text, model).verdict;
}

// The parse error of `text` ("" if it parses), with its line in `line`.
inline std::string ParseError(const std::string& text, const std::string& model, int* line) {
  std::istringstream in(text);
  ParsedHistory history = ParseHistory(in, model);
  *line = history.error_line;
  return history.error;
}

constexpr Verdict kOk = Verdict::kLinearizable;
constexpr Verdict kBad = Verdict::kNotLinearizable;

}  // namespace synod::lincheck::testing
