#include "lincheck/checker.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <unordered_set>

namespace synod::lincheck {

namespace {

// Model state: a register's value (or never written) or a counter.
struct State {
  bool set = false;
  int64_t value = 0;
  bool operator==(const State&) const = default;
};

// Applies `op` to `state`; nullopt if `op` cannot take effect there with the
// result it reported.
std::optional<State> Step(const State& state, const Operation& op) {
  switch (op.f) {
    case Function::kRead:
      if (op.value.has_value() != state.set) return std::nullopt;
      if (op.value && *op.value != state.value) return std::nullopt;
      return state;
    case Function::kWrite:
      return State{true, *op.value};
    case Function::kCas:
      if (!state.set || state.value != op.cas_old) return std::nullopt;
      return State{true, op.cas_new};
    case Function::kAdd:
      return State{true, state.value + *op.value};
    case Function::kGet:
      if (op.value != state.value) return std::nullopt;
      return state;
  }
  return std::nullopt;
}

// Cache key: a 128-bit Zobrist hash of the linearized set (updated in O(1)
// per step) mixed with the model state. Storing the hash instead of the set
// keeps memory per visited configuration at 24 bytes; a false match needs a
// 128-bit collision.
struct CacheKey {
  uint64_t set_hash_a = 0;
  uint64_t set_hash_b = 0;
  State state;
  bool operator==(const CacheKey&) const = default;
};

struct CacheKeyHash {
  size_t operator()(const CacheKey& key) const {
    uint64_t h = key.set_hash_a ^ (key.set_hash_b * 0x9E3779B97F4A7C15ULL);
    h ^= static_cast<uint64_t>(key.state.value) * 0xBF58476D1CE4E5B9ULL;
    h ^= key.state.set ? 0x94D049BB133111EBULL : 0;
    return static_cast<size_t>(h ^ (h >> 31));
  }
};

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Search {
 public:
  Search(std::vector<Operation> ops, const CheckLimits& limits)
      : ops_(std::move(ops)), limits_(limits) {
    BuildEntries();
  }

  CheckResult Run() {
    CheckResult result;
    const size_t n = ops_.size();
    std::vector<uint64_t> linearized((n + 63) / 64, 0);
    uint64_t hash_a = 0, hash_b = 0;
    size_t linearized_count = 0;
    State state;
    std::unordered_set<CacheKey, CacheKeyHash> cache;
    std::vector<std::pair<size_t, State>> stack;  // (call entry, state before it)
    best_ = linearized;
    size_t entry = next_[head_];
    while (true) {
      if (++result.steps > limits_.max_steps ||
          ((result.steps & 1023) == 0 && std::chrono::steady_clock::now() > limits_.deadline)) {
        result.verdict = Verdict::kUndecided;
        return result;
      }
      // Known outcomes return before every unknown one, so reaching the end or
      // an unknown operation's return means every known operation is placed;
      // the unknown ones left may never have taken effect.
      if (entry == kNil || (!is_call_[entry] && !ops_[op_of_[entry]].known)) {
        result.verdict = Verdict::kLinearizable;
        return result;
      }
      if (is_call_[entry]) {
        const Operation& op = ops_[op_of_[entry]];
        std::optional<State> next = Step(state, op);
        if (next) {
          size_t id = op_of_[entry];
          if (cache.insert(CacheKey{hash_a ^ Mix(2 * id), hash_b ^ Mix(2 * id + 1), *next})
                  .second) {
            linearized[id / 64] |= 1ULL << (id % 64);
            hash_a ^= Mix(2 * id);
            hash_b ^= Mix(2 * id + 1);
            stack.emplace_back(entry, state);
            state = *next;
            ++linearized_count;
            if (linearized_count > best_count_) {
              best_count_ = linearized_count;
              best_ = linearized;
            }
            Lift(entry);
            entry = next_[head_];
            continue;
          }
        }
        entry = next_[entry];
        continue;
      }
      // A return entry of an operation not yet linearized: backtrack.
      if (stack.empty()) {
        result.verdict = Verdict::kNotLinearizable;
        result.explanation = Explain();
        return result;
      }
      auto [call, previous] = stack.back();
      stack.pop_back();
      size_t id = op_of_[call];
      linearized[id / 64] &= ~(1ULL << (id % 64));
      hash_a ^= Mix(2 * id);
      hash_b ^= Mix(2 * id + 1);
      --linearized_count;
      state = previous;
      Unlift(call);
      entry = next_[call];
    }
  }

 private:
  static constexpr size_t kNil = std::numeric_limits<size_t>::max();

  void BuildEntries() {
    struct Event {
      size_t position;
      size_t tiebreak;
      bool is_call;
      size_t op;
    };
    std::vector<Event> events;
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

  void Unlink(size_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kNil) prev_[next_[e]] = prev_[e];
  }
  void Relink(size_t e) {
    next_[prev_[e]] = e;
    if (next_[e] != kNil) prev_[next_[e]] = e;
  }
  void Lift(size_t call) {
    Unlink(call);
    Unlink(match_[call]);
  }
  void Unlift(size_t call) {
    Relink(match_[call]);
    Relink(call);
  }

  std::string Explain() const {
    std::vector<const Operation*> stuck;
    for (size_t i = 0; i < ops_.size(); ++i) {
      bool placed = (best_[i / 64] >> (i % 64)) & 1;
      if (!placed && ops_[i].known) stuck.push_back(&ops_[i]);
    }
    std::sort(stuck.begin(), stuck.end(),
              [](const Operation* a, const Operation* b) { return a->ret < b->ret; });
    std::string out = "not linearizable: the longest linearizable prefix orders " +
                      std::to_string(best_count_) + " of " + std::to_string(ops_.size()) +
                      " operations; none of these can come next:\n";
    for (size_t i = 0; i < stuck.size() && i < 10; ++i) out += "  " + stuck[i]->Describe() + "\n";
    if (stuck.size() > 10) out += "  ... and " + std::to_string(stuck.size() - 10) + " more\n";
    return out;
  }

  std::vector<Operation> ops_;
  CheckLimits limits_;
  size_t head_ = 0;
  std::vector<size_t> next_, prev_, op_of_, match_;
  std::vector<bool> is_call_;
  std::vector<uint64_t> best_;
  size_t best_count_ = 0;
};

// Drops operations that constrain nothing: unknown reads and gets.
std::vector<Operation> Relevant(const std::vector<Operation>& ops) {
  std::vector<Operation> out;
  for (const Operation& op : ops) {
    bool observer = op.f == Function::kRead || op.f == Function::kGet;
    if (observer && !op.known) continue;
    out.push_back(op);
  }
  return out;
}

}  // namespace

CheckResult Check(const std::vector<Operation>& operations, const std::string& model,
                  const CheckLimits& limits) {
  std::map<std::string, std::vector<Operation>> partitions;
  for (const Operation& op : Relevant(operations)) {
    partitions[model == "kv" ? op.key : std::string()].push_back(op);
  }
  CheckResult total;
  for (auto& [key, ops] : partitions) {
    CheckResult part = Search(std::move(ops), limits).Run();
    total.steps += part.steps;
    if (part.verdict == Verdict::kLinearizable) continue;
    if (model == "kv") part.explanation = "key " + key + ": " + part.explanation;
    part.steps = total.steps;
    if (part.verdict == Verdict::kNotLinearizable) return part;
    total = part;  // undecided: keep looking for a definite violation elsewhere
  }
  return total;
}

}  // namespace synod::lincheck
