// Register, kv and counter specifications (see model.h).
#include "lincheck/model.h"

namespace synod::lincheck {

std::optional<ModelState> ApplyOperation(const ModelState& state, const Operation& op) {
  switch (op.f) {
    case Function::kRead:
      if (op.value.has_value() != state.set) return std::nullopt;
      if (op.value && *op.value != state.value) return std::nullopt;
      return state;
    case Function::kWrite:
      return ModelState{true, *op.value};
    case Function::kCas:
      if (!state.set || state.value != op.cas_old) return std::nullopt;
      return ModelState{true, op.cas_new};
    case Function::kAdd:
      return ModelState{true, static_cast<int64_t>(static_cast<uint64_t>(state.value) +
                                                   static_cast<uint64_t>(*op.value))};
    case Function::kGet:
      if (op.value != state.value) return std::nullopt;
      return state;
  }
  return std::nullopt;
}

bool IsObserver(Function f) { return f == Function::kRead || f == Function::kGet; }

bool IsKnownModel(const std::string& model) {
  return model == "register" || model == "counter" || model == "kv";
}

std::string ValidateOperation(const Operation& op, const std::string& model) {
  bool counter_f = op.f == Function::kAdd || op.f == Function::kGet;
  if (counter_f != (model == "counter")) {
    return std::string(FunctionName(op.f)) + " is not an operation of the " + model + " model";
  }
  if ((op.f == Function::kWrite || op.f == Function::kAdd) && !op.value) {
    return std::string(FunctionName(op.f)) + " without a value";
  }
  if (op.f == Function::kGet && op.known && !op.value) return "a known get without the count read";
  if (op.known && op.ret <= op.call) return "returns before it is called";
  if (op.known && op.ret == SIZE_MAX) return "a known outcome with no return position";
  return "";
}

std::string DescribeState(const ModelState& state, const std::string& model) {
  if (model == "counter") return "the count is " + std::to_string(state.value);
  std::string what = model == "kv" ? "the key" : "the register";
  if (!state.set) return what + " was never written";
  return what + " holds " + std::to_string(state.value);
}

}  // namespace synod::lincheck
