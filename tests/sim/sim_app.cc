#include "tests/sim/sim_app.h"

namespace synod::sim {

SimCounterApp::Result SimCounterApp::Apply(const std::string& text) {
  ClientCommand command = ClientCommand::Decode(text);
  Session& session = sessions_[command.client];
  ++log_time_;
  if (session_expiry_ != 0 && command.session != 0) {
    if (command.session > session.session) {
      session = Session{0, 0, command.session, log_time_};  // opened by its first command
    } else if (command.session < session.session ||
               log_time_ - session.last_active > session_expiry_) {
      return Result{0, false, true};  // an ended session never applies anything again
    }
    session.last_active = log_time_;
  }
  if (deduplicate_ && command.seq <= session.last_seq) {
    // A retried copy: never applied twice. Only the latest result is kept (a
    // client has one command outstanding, so it never waits for an older one).
    return Result{command.seq == session.last_seq ? session.last_result : 0, true};
  }
  if (command.op == "add") counter_ += command.value;
  session.last_seq = command.seq;
  session.last_result = counter_;
  ++applied_commands_;
  return Result{counter_, false};
}

std::string SimCounterApp::Fingerprint() const {
  std::string out = std::to_string(counter_) + "/" + std::to_string(applied_commands_) + "@" +
                    std::to_string(log_time_);
  for (const auto& [client, session] : sessions_) {
    out += " " + std::to_string(client) + ":" + std::to_string(session.last_seq) + "=" +
           std::to_string(session.last_result) + "/s" + std::to_string(session.session) + "@" +
           std::to_string(session.last_active);
  }
  return out;
}

}  // namespace synod::sim
