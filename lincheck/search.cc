// Search: the linearization search loop, its undo stack and the explanation
// of a violation (see search.h for the algorithm).
#include "lincheck/search.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

namespace synod::lincheck {

namespace {

constexpr size_t kNil = std::numeric_limits<size_t>::max();
constexpr size_t kTailShown = 3;  // prefix operations named in an explanation
constexpr size_t kCandidatesShown = 10;

// SplitMix64's finaliser: a bijective, well-mixing function of x.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The two 64-bit Zobrist keys of operation `id` in the linearized-set hash.
uint64_t ZobristA(size_t id) { return Mix(2 * static_cast<uint64_t>(id)); }
uint64_t ZobristB(size_t id) { return Mix(2 * static_cast<uint64_t>(id) + 1); }

// Hash of a model state, salted so that the two halves are independent.
uint64_t StateHash(const ModelState& state, uint64_t salt) {
  return Mix(Mix(static_cast<uint64_t>(state.value) ^ salt) ^ (state.set ? 0x5BD1E995ULL : 0));
}

}  // namespace

Search::Search(std::vector<Operation> ops, std::string model, const CheckLimits& limits)
    : ops_(std::move(ops)), model_(std::move(model)), limits_(limits) {
  for (Operation& op : ops_) {
    if (!op.known) op.ret = SIZE_MAX;
    known_total_ += op.known;
  }
  linearized_.assign((ops_.size() + 63) / 64, 0);
  best_linearized_ = linearized_;
  BuildEntries();
  FindSymmetricUnknowns();
}

CheckResult Search::Run() {
  enum class Mode { kFrontier, kBranch, kBacktrack };
  CheckResult result;
  Mode mode = Mode::kFrontier;
  size_t entry = kNil;         // kBranch: the next candidate to try
  bool unknown_phase = false;  // kBranch: trying unknown operations (after the known ones)
  while (true) {
    std::string limit = LimitReached(++result.steps);
    if (!limit.empty()) {
      result.verdict = Verdict::kUndecided;
      result.explanation = limit + " after " + std::to_string(result.steps - 1) + " steps";
      return result;
    }
    switch (mode) {
      case Mode::kFrontier: {
        // A new configuration: done if no known operation is left; else
        // place a legal observer without choice, or branch.
        size_t observer = kNil;
        size_t e = next_[head_];
        for (; IsCall(e); e = next_[e]) {
          const Operation& op = ops_[op_of_[e]];
          if (observer == kNil && IsObserver(op.f) && ApplyOperation(state_, op)) observer = e;
        }
        if (e == kNil || !ops_[op_of_[e]].known) {
          result.verdict = Verdict::kLinearizable;
          return result;
        }
        if (observer != kNil) {
          mode = Place(observer, /*unknown_phase=*/false, /*forced=*/true) ? Mode::kFrontier
                                                                           : Mode::kBacktrack;
        } else {
          entry = next_[head_];
          unknown_phase = false;
          mode = Mode::kBranch;
        }
        break;
      }
      case Mode::kBranch: {
        if (!IsCall(entry)) {  // this pass reached the first return
          if (!unknown_phase) {
            unknown_phase = true;
            entry = next_[head_];
          } else {
            mode = Mode::kBacktrack;
          }
          break;
        }
        const Operation& op = ops_[op_of_[entry]];
        // Observers were all illegal here (else one would have been forced).
        if (op.known != unknown_phase && !IsObserver(op.f) &&
            !(unknown_phase && Shadowed(op_of_[entry])) &&
            Place(entry, unknown_phase, /*forced=*/false)) {
          mode = Mode::kFrontier;
        } else {
          entry = next_[entry];
        }
        break;
      }
      case Mode::kBacktrack: {
        if (stack_.empty()) {
          result.verdict = Verdict::kNotLinearizable;
          result.explanation = Explain();
          return result;
        }
        Frame frame = stack_.back();
        stack_.pop_back();
        Undo(frame);
        if (!frame.forced) {  // resume the candidate pass that chose it
          entry = next_[frame.call];
          unknown_phase = frame.unknown_phase;
          mode = Mode::kBranch;
        }
        break;
      }
    }
  }
}

std::string Search::LimitReached(uint64_t steps) const {
  if (steps > limits_.max_steps) return "step budget exhausted";
  if (memory_exhausted_) {
    return "memory limit of " + std::to_string(limits_.max_memory_bytes >> 20) + " MiB reached";
  }
  if ((steps & 1023) == 0 && std::chrono::steady_clock::now() > limits_.deadline) {
    return "deadline passed";
  }
  return "";
}

bool Search::Place(size_t call, bool unknown_phase, bool forced) {
  size_t id = op_of_[call];
  std::optional<ModelState> next = ApplyOperation(state_, ops_[id]);
  if (!next) return false;
  if (visited_.WouldGrowBeyond(limits_.max_memory_bytes)) {
    memory_exhausted_ = true;  // Run stops at its next step, before any verdict
    return false;
  }
  if (!visited_.Insert(FingerprintAfter(id, *next))) return false;  // explored: it failed
  stack_.push_back(Frame{call, state_, unknown_phase, forced});
  linearized_[id / 64] |= 1ULL << (id % 64);
  set_hash_a_ ^= ZobristA(id);
  set_hash_b_ ^= ZobristB(id);
  state_ = *next;
  known_linearized_ += ops_[id].known;
  Lift(call);
  if (known_linearized_ > best_known_) {
    best_known_ = known_linearized_;
    best_linearized_ = linearized_;
    best_state_ = state_;
    best_tail_.clear();
    for (size_t i = stack_.size() - std::min(stack_.size(), kTailShown); i < stack_.size(); ++i) {
      best_tail_.push_back(op_of_[stack_[i].call]);
    }
  }
  return true;
}

void Search::Undo(const Frame& frame) {
  size_t id = op_of_[frame.call];
  linearized_[id / 64] &= ~(1ULL << (id % 64));
  set_hash_a_ ^= ZobristA(id);
  set_hash_b_ ^= ZobristB(id);
  state_ = frame.before;
  known_linearized_ -= ops_[id].known;
  Unlift(frame.call);
}

Fingerprint Search::FingerprintAfter(size_t op, const ModelState& next) const {
  return Fingerprint{set_hash_a_ ^ ZobristA(op) ^ StateHash(next, 0x243F6A8885A308D3ULL),
                     set_hash_b_ ^ ZobristB(op) ^ StateHash(next, 0x13198A2E03707344ULL)};
}

void Search::FindSymmetricUnknowns() {
  previous_alike_.assign(ops_.size(), kNoOp);
  std::vector<size_t> unknown;
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (!ops_[i].known) unknown.push_back(i);
  }
  std::sort(unknown.begin(), unknown.end(),
            [&](size_t a, size_t b) { return ops_[a].call < ops_[b].call; });
  // (f, has value, value, cas old, cas new) -> the latest such op so far.
  std::map<std::tuple<Function, bool, int64_t, int64_t, int64_t>, size_t> latest;
  for (size_t id : unknown) {
    const Operation& op = ops_[id];
    auto kind =
        std::make_tuple(op.f, op.value.has_value(), op.value.value_or(0), op.cas_old, op.cas_new);
    auto [it, inserted] = latest.emplace(kind, id);
    if (!inserted) {
      previous_alike_[id] = it->second;
      it->second = id;
    }
  }
}

void Search::BuildEntries() {
  struct Event {
    size_t position;
    size_t tiebreak;  // orders the returns of unknown operations, all at +infinity
    bool is_call;
    size_t op;
  };
  std::vector<Event> events;
  events.reserve(2 * ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i) {
    events.push_back({ops_[i].call, 0, true, i});
    events.push_back({ops_[i].ret, i, false, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.position != b.position ? a.position < b.position : a.tiebreak < b.tiebreak;
  });
  size_t count = events.size();
  head_ = count;
  next_.assign(count + 1, kNil);
  prev_.assign(count + 1, kNil);
  is_call_.resize(count);
  op_of_.resize(count);
  match_.resize(count);
  std::vector<size_t> call_of(ops_.size());
  size_t previous = head_;
  for (size_t i = 0; i < count; ++i) {
    is_call_[i] = events[i].is_call;
    op_of_[i] = events[i].op;
    if (events[i].is_call) call_of[events[i].op] = i;
    next_[previous] = i;
    prev_[i] = previous;
    previous = i;
  }
  for (size_t i = 0; i < count; ++i) {
    if (!is_call_[i]) {
      match_[call_of[op_of_[i]]] = i;
      match_[i] = call_of[op_of_[i]];
    }
  }
}

void Search::Lift(size_t call) {
  for (size_t e : {call, match_[call]}) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kNil) prev_[next_[e]] = prev_[e];
  }
}

void Search::Unlift(size_t call) {
  for (size_t e : {match_[call], call}) {
    next_[prev_[e]] = e;
    if (next_[e] != kNil) prev_[next_[e]] = e;
  }
}

std::string Search::Explain() const {
  // At the best configuration no known candidate can take effect, now or
  // after any choice of pending unknown ones (that would have made a better
  // prefix). The candidates are the operations not in it that were invoked
  // before the earliest return among the known ones.
  auto placed = [&](size_t i) { return (best_linearized_[i / 64] >> (i % 64)) & 1; };
  size_t first_return = SIZE_MAX;
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (!placed(i) && ops_[i].known) first_return = std::min(first_return, ops_[i].ret);
  }
  std::vector<const Operation*> stuck;
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (!placed(i) && ops_[i].known && ops_[i].call < first_return) stuck.push_back(&ops_[i]);
  }
  std::sort(stuck.begin(), stuck.end(),
            [](const Operation* a, const Operation* b) { return a->call < b->call; });

  std::string out = "not linearizable: the longest linearizable prefix orders " +
                    std::to_string(best_known_) + " of " + std::to_string(known_total_) +
                    " operations with a known outcome";
  if (!best_tail_.empty()) {
    out += ", ending with";
    for (size_t id : best_tail_) out += "\n    " + ops_[id].Describe();
  }
  out += "\n  after it " + DescribeState(best_state_, model_) +
         ", and none of these can come next, with or without the unknown operations "
         "still pending:\n";
  for (size_t i = 0; i < stuck.size() && i < kCandidatesShown; ++i) {
    const Operation& op = *stuck[i];
    if (op.invoke_text.empty()) {
      out += "    " + op.Describe() + "\n";
      continue;
    }
    out += "    line " + std::to_string(op.invoke_line) + ": " + op.invoke_text + "\n";
    out += "    line " + std::to_string(op.complete_line) + ": " + op.complete_text + "\n";
  }
  if (stuck.size() > kCandidatesShown) {
    out += "    ... and " + std::to_string(stuck.size() - kCandidatesShown) + " more\n";
  }
  return out;
}

}  // namespace synod::lincheck
