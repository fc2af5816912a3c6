// Talking to a synod-fenced-store on 127.0.0.1: one request line, one reply
// line, over a short-lived TCP connection (plain POSIX sockets, blocking with
// a timeout). Shared by the store's CLI and the election worker.
#pragma once

#include <cstdint>
#include <string>

namespace synod::examples {

enum class StoreCall {
  kReplied,       // `reply` holds the store's reply line
  kNotConnected,  // could not connect: the request surely had no effect
  kNoReply,       // connected but no reply: it may or may not have had effect
};

// Sends `request` (one line, no '\n') to 127.0.0.1:`port` and reads the reply
// line into `reply`, waiting at most `timeout_ms` for it. Thread: any.
StoreCall CallStore(uint16_t port, const std::string& request, std::string& reply, int timeout_ms);

// Reads one line (without '\n') from `fd` into `line`, keeping what follows in
// `buffer`; false at EOF, error, timeout or a line over 1 MiB.
bool ReadStoreLine(int fd, std::string& buffer, std::string& line);
// Writes all of `text` to `fd`; false on error.
bool SendAllToStore(int fd, const std::string& text);

}  // namespace synod::examples
