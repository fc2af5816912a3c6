// VisitedSet: open addressing with linear probing over 128-bit fingerprints.
// The fingerprints are already well mixed, so the low bits of `a` pick the
// slot directly.
#include "lincheck/visited_set.h"

namespace synod::lincheck {

namespace {

constexpr size_t kInitialSlots = 1 << 12;

bool Empty(const Fingerprint& fp) { return fp.a == 0 && fp.b == 0; }

}  // namespace

VisitedSet::VisitedSet() : slots_(kInitialSlots), mask_(kInitialSlots - 1) {}

bool VisitedSet::Insert(Fingerprint fp) {
  if (Empty(fp)) fp.b = 1;
  for (size_t i = fp.a & mask_;; i = (i + 1) & mask_) {
    Fingerprint& slot = slots_[i];
    if (Empty(slot)) {
      slot = fp;
      if (++count_ * 4 > slots_.size() * 3) Grow();
      return true;
    }
    if (slot.a == fp.a && slot.b == fp.b) return false;
  }
}

void VisitedSet::Grow() {
  std::vector<Fingerprint> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Fingerprint& fp : old) {
    if (Empty(fp)) continue;
    size_t i = fp.a & mask_;
    while (!Empty(slots_[i])) i = (i + 1) & mask_;
    slots_[i] = fp;
  }
}

}  // namespace synod::lincheck
