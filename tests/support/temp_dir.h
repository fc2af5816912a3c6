// TempDir: a fresh directory under the system temp dir, made with mkdtemp
// and removed with everything in it when the object is destroyed. For tests
// and benchmarks.
//
// Errors: the constructor throws std::runtime_error if the directory cannot
// be made; removal errors are ignored. Not copyable; one owner, any thread.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace synod::test_support {

class TempDir {
 public:
  // `prefix` names the directory ("<temp dir>/<prefix>-XXXXXX"), so a
  // leftover one says who made it.
  explicit TempDir(const std::string& prefix = "synod-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-")).string();
    pattern.append(6, 'X');  // mkdtemp replaces these
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("cannot create a temporary directory like " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as the string the storage APIs take.
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace synod::test_support
