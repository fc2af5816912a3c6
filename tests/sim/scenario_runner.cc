#include "tests/sim/scenario_runner.h"

#include <exception>
#include <sstream>

#include "paxos/invariant.h"
#include "tests/sim/scenario_steps.h"

namespace synod::sim {

namespace {

constexpr const char* kSeparator = "----";

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The words of a line without its comment.
std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line.substr(0, line.find('#')));
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// True if `line` ends an output block: blank, a comment or an expectation.
bool EndsBlock(const std::string& line) {
  std::vector<std::string> words = Words(line);
  return line.find_first_not_of(" \t") == std::string::npos || line.front() == '#' ||
         (!words.empty() && words[0] == "expect");
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

}  // namespace

std::string DiffLines(const std::vector<std::string>& expected,
                      const std::vector<std::string>& actual) {
  // Longest common subsequence, then walk it (blocks are short).
  size_t n = expected.size();
  size_t m = actual.size();
  std::vector<std::vector<size_t>> common(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      common[i][j] = expected[i] == actual[j] ? common[i + 1][j + 1] + 1
                                              : std::max(common[i + 1][j], common[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0;
  size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] == actual[j]) {
      out += "  " + expected[i++] + "\n";
      ++j;
    } else if (i < n && (j == m || common[i + 1][j] >= common[i][j + 1])) {
      out += "- " + expected[i++] + "\n";
    } else {
      out += "+ " + actual[j++] + "\n";
    }
  }
  return out;
}

ScenarioResult RunScenario(const std::string& text) {
  ScenarioResult result;
  ScenarioSteps steps;
  std::vector<std::string> lines = SplitLines(text);
  std::vector<std::string> out;  // the rewritten file
  size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    size_t number = ++i;  // 1-based line of this command
    out.push_back(line);
    std::vector<std::string> words = Words(line);
    if (words.empty()) continue;
    std::string where = "line " + std::to_string(number) + ": ";
    if (words[0] == kSeparator) {
      result.error = where + "'----' without a command above it";
      break;
    }
    bool has_block = words[0] != "expect" && i < lines.size() && lines[i] == kSeparator;
    std::vector<std::string> expected;
    if (has_block) {
      for (++i; i < lines.size() && !EndsBlock(lines[i]); ++i) expected.push_back(lines[i]);
    }
    std::vector<std::string> actual;
    try {
      actual = steps.Execute(words);
    } catch (const ScenarioError& error) {
      result.error = where + error.message;
    } catch (const SimViolation& violation) {
      result.error = where + "safety violation: " + violation.what();
    } catch (const InvariantViolation& violation) {
      result.error = where + violation.what();
    } catch (const std::exception& e) {
      result.error = where + e.what();
    }
    if (!result.error.empty()) {
      i = number;  // keep the rest of the file as it was
      break;
    }
    if (words[0] == "expect") continue;
    if (!has_block) {
      result.mismatches.push_back(where + line + "\nno expected output (a '----' line, then it)\n" +
                                  DiffLines({}, actual));
    } else if (actual != expected) {
      result.mismatches.push_back(where + line + "\noutput differs (- expected, + actual):\n" +
                                  DiffLines(expected, actual));
    }
    out.push_back(kSeparator);
    out.insert(out.end(), actual.begin(), actual.end());
    if (i < lines.size() && !lines[i].empty()) out.push_back("");  // a blank line ends the block
  }
  out.insert(out.end(), lines.begin() + static_cast<std::ptrdiff_t>(i), lines.end());
  result.rewritten = Join(out);
  return result;
}

}  // namespace synod::sim
