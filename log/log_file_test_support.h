// Shared helpers of the log tests that work on LevelDB write-ahead log
// files: records encoded from the documented format, and file utilities for
// crash images. Test-only; included by presented_log_length_test.cc,
// preallocated_log_env_test.cc and preallocated_log_storage_test.cc.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "log/preallocated_log_env.h"
#include "util/crc32c.h"

namespace synod::log::test_files {

namespace fs = std::filesystem;

inline constexpr size_t kBlock = 32768;

// One physical log record, encoded from the documented format.
inline std::string Record(uint8_t type, const std::string& payload) {
  std::string typed(1, static_cast<char>(type));
  typed += payload;
  uint32_t crc = util::Crc32c(typed);
  uint32_t masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(masked >> (8 * i)));
  out.push_back(static_cast<char>(payload.size() & 0xff));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out += typed;
  return out;
}

inline std::string Zeros(size_t n) { return std::string(n, '\0'); }

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFileAt(const fs::path& path, size_t offset, const std::string& bytes) {
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

inline std::vector<fs::path> LogFiles(const fs::path& dir) {
  std::vector<fs::path> logs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") logs.push_back(entry.path());
  }
  return logs;
}

// The single write-ahead log in `dir`.
inline fs::path TheLog(const fs::path& dir) {
  std::vector<fs::path> logs = LogFiles(dir);
  EXPECT_EQ(logs.size(), 1u);
  return logs.empty() ? fs::path() : logs[0];
}

inline uint64_t AllocatedBytes(const fs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// A crash image of a DB that is still open: its files as they are now. The
// env's spare (and the temporary file it is made under) are left out: the
// background thread may rename or replace them while the copy runs.
inline void CopyDir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (name == "LOCK" || name.rfind(kSpareLogName, 0) == 0) continue;
    fs::copy_file(entry.path(), to / entry.path().filename());
  }
}

}  // namespace synod::log::test_files
