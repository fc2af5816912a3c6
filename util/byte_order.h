// Fixed-width little-endian integer encoding for the small binary records of
// the log and the snapshot files. Header-only, pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace synod::util {

// Appends the low `bytes` (at most 8) bytes of `value`, least significant first.
inline void PutLittle(std::string& out, uint64_t value, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

// The value of the `bytes` (at most 8) bytes at `data`, least significant
// first. Caller guarantees they are readable.
inline uint64_t LoadLittle(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) value |= uint64_t{p[i]} << (8 * i);
  return value;
}

// LoadLittle(data, 4) in one expression, for hot loops (CRC32C) where the
// compiler may not unroll the general form.
inline uint32_t LoadLittle32(const void* data) {
  const auto* p = static_cast<const unsigned char*>(data);
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Reads `bytes` bytes written by PutLittle from the front of `in` and drops
// them. Caller checks in.size() >= bytes first.
inline uint64_t TakeLittle(std::string_view& in, size_t bytes) {
  uint64_t value = LoadLittle(in.data(), bytes);
  in.remove_prefix(bytes);
  return value;
}

}  // namespace synod::util
