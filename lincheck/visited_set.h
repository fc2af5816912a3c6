// VisitedSet: the search's memo of configurations already explored, kept as
// 128-bit fingerprints of (linearized set, model state) in one open-addressing
// table (16 bytes a slot, linear probing, grown at 3/4 load).
//
// A fingerprint stands for its configuration: two configurations that differ
// are confused only if their 128-bit fingerprints collide (about 2^-128 per
// pair). A collision can only make the search skip a configuration it never
// saw, so its worst effect is a false "not linearizable", never a false
// "linearizable".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace synod::lincheck {

// A 128-bit fingerprint; {0, 0} is reserved (the empty slot) and mapped to
// {0, 1} by Insert.
struct Fingerprint {
  uint64_t a = 0;
  uint64_t b = 0;
};

// Not thread-safe. Memory grows with the number of fingerprints inserted
// (std::bad_alloc if the machine runs out).
class VisitedSet {
 public:
  VisitedSet();

  // Adds `fp`; true if it was not there yet.
  bool Insert(Fingerprint fp);

  // Number of distinct fingerprints inserted.
  size_t size() const { return count_; }

  // True if the next new fingerprint would grow the table beyond `max_bytes`.
  bool WouldGrowBeyond(size_t max_bytes) const {
    return (count_ + 1) * 4 > slots_.size() * 3 &&
           slots_.size() * 2 * sizeof(Fingerprint) > max_bytes;
  }

 private:
  void Grow();

  std::vector<Fingerprint> slots_;
  size_t count_ = 0;
  size_t mask_ = 0;
};

}  // namespace synod::lincheck
