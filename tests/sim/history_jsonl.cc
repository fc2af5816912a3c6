#include "tests/sim/history_jsonl.h"

namespace synod::sim {

namespace {

const char* TypeName(HistoryEvent::Type type) {
  switch (type) {
    case HistoryEvent::Type::kInvoke:
      return "invoke";
    case HistoryEvent::Type::kOk:
      return "ok";
    case HistoryEvent::Type::kFail:
      return "fail";
    case HistoryEvent::Type::kInfo:
      return "info";
  }
  return "info";
}

}  // namespace

void WriteHistoryJsonl(const std::vector<HistoryEvent>& history, std::ostream& out) {
  for (const HistoryEvent& event : history) {
    out << "{\"process\":" << event.process << ",\"type\":\"" << TypeName(event.type)
        << "\",\"f\":\"" << event.f << "\"";
    bool has_value = event.f == "add" || event.type == HistoryEvent::Type::kOk;
    if (has_value) {
      out << ",\"value\":" << event.value;
    } else {
      out << ",\"value\":null";
    }
    out << ",\"time\":" << event.time << "}\n";
  }
}

}  // namespace synod::sim
