// Check: validates the operations, drops those that constrain nothing,
// splits kv histories by key (P-compositionality) and runs one Search per
// independent part under one shared deadline and step budget.
#include "lincheck/checker.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <stdexcept>

#include "lincheck/model.h"
#include "lincheck/search.h"

namespace synod::lincheck {

namespace {

// Throws std::invalid_argument unless every operation fits `model` and no
// call shares its position with a known return (that would leave their
// real-time order undefined; calls among themselves, or returns among
// themselves, may share one).
void Validate(const std::vector<Operation>& operations, const std::string& model) {
  if (!IsKnownModel(model)) {
    throw std::invalid_argument("unknown model '" + model + "' (expected register, counter or kv)");
  }
  std::vector<size_t> calls, returns;
  for (const Operation& op : operations) {
    std::string problem = ValidateOperation(op, model);
    if (!problem.empty()) throw std::invalid_argument(op.Describe() + ": " + problem);
    calls.push_back(op.call);
    if (op.known) returns.push_back(op.ret);
  }
  std::sort(calls.begin(), calls.end());
  std::sort(returns.begin(), returns.end());
  std::vector<size_t> shared;
  std::set_intersection(calls.begin(), calls.end(), returns.begin(), returns.end(),
                        std::back_inserter(shared));
  if (!shared.empty()) {
    throw std::invalid_argument("a call and a return share position " + std::to_string(shared[0]));
  }
}

}  // namespace

CheckResult Check(const std::vector<Operation>& operations, const std::string& model,
                  const CheckLimits& limits) {
  Validate(operations, model);
  std::map<std::string, std::vector<Operation>> parts;
  for (const Operation& op : operations) {
    if (IsObserver(op.f) && !op.known) continue;  // an unknown read or get constrains nothing
    parts[model == "kv" ? op.key : std::string()].push_back(op);
  }
  CheckResult total;
  std::string undecided;
  for (auto& [key, ops] : parts) {
    uint64_t budget = limits.max_steps - std::min(limits.max_steps, total.steps);
    CheckLimits part_limits = limits;
    part_limits.max_steps = budget;
    CheckResult part = Search(std::move(ops), model, part_limits).Run();
    total.steps += part.steps;
    if (part.verdict == Verdict::kLinearizable) continue;
    std::string where = model == "kv" ? "key " + key + ": " : "";
    if (part.verdict == Verdict::kNotLinearizable) {
      total.verdict = Verdict::kNotLinearizable;
      total.explanation = where + part.explanation;
      return total;
    }
    // Undecided here: another key may still show a definite violation.
    total.verdict = Verdict::kUndecided;
    if (undecided.empty()) undecided = where + part.explanation;
  }
  total.explanation = undecided;
  return total;
}

}  // namespace synod::lincheck
