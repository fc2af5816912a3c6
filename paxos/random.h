// Injected source of randomness for the core (election timeouts). The core
// never seeds itself: the runtime passes a seeded generator, the simulator a
// generator derived from the run's seed, so every run replays exactly.
#pragma once

#include <cstdint>

namespace synod::paxos {

// Interface: a stream of uniformly distributed 64-bit values. Not thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t Next() = 0;
  // Uniform in [lo, hi), requires lo < hi.
  uint64_t Uniform(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo); }
};

// SplitMix64: small, fast, deterministic from its seed.
class SplitMix64 final : public RandomSource {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() override {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace synod::paxos
