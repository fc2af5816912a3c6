// CRC32C (Castagnoli polynomial, as in iSCSI, ext4 and LevelDB), computed in
// software with lookup tables. Used for whole-file checksums of snapshots, the
// small metadata records next to them, and to check LevelDB's log records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace synod::util {

// Extends `crc` (the CRC32C of some bytes A) to the CRC32C of A followed by
// data[0..size). Start from 0 for empty input. Pure function, any thread.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

// CRC32C of `bytes`. Crc32c("123456789") == 0xE3069283.
inline uint32_t Crc32c(std::string_view bytes) {
  return Crc32cExtend(0, bytes.data(), bytes.size());
}

// Running CRC32C over a stream of pieces. Value type; not shared between threads.
class Crc32cStream {
 public:
  Crc32cStream() = default;
  // Continues a stream whose bytes so far have CRC32C `crc`.
  static Crc32cStream Resume(uint32_t crc) {
    Crc32cStream stream;
    stream.crc_ = crc;
    return stream;
  }
  void Update(std::string_view bytes) { crc_ = Crc32cExtend(crc_, bytes.data(), bytes.size()); }
  uint32_t value() const { return crc_; }

 private:
  uint32_t crc_ = 0;
};

}  // namespace synod::util
