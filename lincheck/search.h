// Search: the Wing–Gong / Lowe just-in-time linearization search over one
// independent history (a whole register or counter history, or one kv key).
//
// Calls and returns sit in one doubly linked list in real-time order; unknown
// operations return at +infinity, after every known return. At each
// configuration the candidates are the calls before the first return still
// in the list. A candidate whose model step is legal is linearized: its call
// and return are lifted out and the search restarts from the head; reaching
// the return of an operation not yet linearized backtracks. Configurations
// (linearized set, model state) already explored are memoised as fingerprints
// (VisitedSet), the set's part kept as an incrementally updated Zobrist hash.
//
// Two refinements that keep the result exact:
// - A legal observer (read / get) among the candidates is linearized at once
//   and is not a choice point: it does not change the state, and every
//   operation that must precede it is already linearized, so if no order
//   exists with it placed now, none exists at all.
// - Known operations are tried before unknown ones at each configuration, so
//   an unknown write or add that never took effect costs little.
// - Unknown operations with the same f and arguments that are both pending
//   are interchangeable (everything that must precede either is already
//   linearized, and neither must precede anything), so only the earliest
//   invoked of them is tried; the ones linearized are always the earliest of
//   their kind, which also keeps equivalent configurations identical.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lincheck/checker.h"
#include "lincheck/history.h"
#include "lincheck/model.h"
#include "lincheck/visited_set.h"

namespace synod::lincheck {

// One search; single use, not thread-safe. `ops` must be valid for `model`
// (ValidateOperation) with distinct event positions, and hold no unknown
// observers (they constrain nothing; Check drops them).
class Search {
 public:
  Search(std::vector<Operation> ops, std::string model, const CheckLimits& limits);

  // Runs to a verdict, or kUndecided once a limit runs out. The explanation
  // of kNotLinearizable names the linearizable prefix with the most known
  // operations found and the known operations that cannot follow it.
  CheckResult Run();

 private:
  // A linearized operation on the search stack.
  struct Frame {
    size_t call;         // its call entry
    ModelState before;   // the state before it took effect
    bool unknown_phase;  // the candidate pass it was chosen in
    bool forced;         // an observer placed without choice: backtrack past it
  };

  void BuildEntries();
  bool IsCall(size_t entry) const { return entry < is_call_.size() && is_call_[entry]; }
  // "" while within the limits, else which limit ran out.
  std::string LimitReached(uint64_t steps) const;
  bool Place(size_t call, bool unknown_phase, bool forced);
  void Undo(const Frame& frame);
  void Lift(size_t call);
  void Unlift(size_t call);
  Fingerprint FingerprintAfter(size_t op, const ModelState& next) const;
  void FindSymmetricUnknowns();
  bool IsLinearized(size_t op) const { return (linearized_[op / 64] >> (op % 64)) & 1; }
  // True if an earlier-invoked unknown operation identical to unknown `op`
  // is still pending (so trying `op` would only repeat it).
  bool Shadowed(size_t op) const {
    return previous_alike_[op] != kNoOp && !IsLinearized(previous_alike_[op]);
  }
  std::string Explain() const;

  std::vector<Operation> ops_;
  std::string model_;
  CheckLimits limits_;
  bool memory_exhausted_ = false;  // set by Place when the memo may not grow

  // The entry list: entry i < 2n is a call or a return; head_ == 2n.
  size_t head_ = 0;
  std::vector<size_t> next_, prev_, op_of_, match_;
  std::vector<bool> is_call_;
  static constexpr size_t kNoOp = SIZE_MAX;
  std::vector<size_t> previous_alike_;  // per op: the previous identical unknown op, or kNoOp

  // The current configuration.
  ModelState state_;
  std::vector<uint64_t> linearized_;  // bitset over ops_
  uint64_t set_hash_a_ = 0, set_hash_b_ = 0;
  std::vector<Frame> stack_;
  VisitedSet visited_;

  size_t known_linearized_ = 0;  // operations with a known outcome in the current set
  size_t known_total_ = 0;

  // The first configuration reached with the most known operations
  // linearized, for Explain: no known candidate can take effect there.
  size_t best_known_ = 0;
  std::vector<uint64_t> best_linearized_;
  ModelState best_state_;
  std::vector<size_t> best_tail_;  // the last few operations of that prefix, in order
};

}  // namespace synod::lincheck
