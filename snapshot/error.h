// How the snapshot store's functions report failure to their callers: false
// (or null) with the message in *error when error is not null. These helpers
// produce that from a message or from a util/ Status. Header-only, any thread.
#pragma once

#include <string>

#include "util/status.h"

namespace synod::snapshot {

// Stores `message` in *error when error is not null. Returns false, so that
// callers can write `return Fail(error, "...")`.
inline bool Fail(std::string* error, const std::string& message) {
  if (error != nullptr) *error = message;
  return false;
}

// status.ok(); a failure's message goes to *error when error is not null.
inline bool Check(const Status& status, std::string* error) {
  if (status.ok()) return true;
  return Fail(error, status.message());
}

}  // namespace synod::snapshot
