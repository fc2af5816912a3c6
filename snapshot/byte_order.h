// Fixed-width little-endian integer encoding for the snapshot files' small
// binary records. Header-only, pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synod::snapshot {

// Appends the low `bytes` bytes of `value`, least significant first.
inline void PutLittle(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// Reads `bytes` bytes written by PutLittle from the front of `in` and drops
// them. Caller checks in.size() >= bytes first.
inline uint64_t TakeLittle(std::string_view& in, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) {
    value |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  }
  in.remove_prefix(bytes);
  return value;
}

}  // namespace synod::snapshot
