// Socket helpers for the fenced store's clients (see fenced_store_client.h).
#include "examples/lock/fenced_store_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace synod::examples {

bool SendAllToStore(int fd, const std::string& text) {
  size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool ReadStoreLine(int fd, std::string& buffer, std::string& line) {
  constexpr size_t kMaxLine = 1 << 20;
  while (true) {
    size_t newline = buffer.find('\n');
    if (newline != std::string::npos) {
      line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      return true;
    }
    if (buffer.size() > kMaxLine) return false;
    char chunk[4096];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

StoreCall CallStore(uint16_t port, const std::string& request, std::string& reply, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return StoreCall::kNotConnected;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return StoreCall::kNotConnected;
  }
  timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string buffer;
  bool answered = SendAllToStore(fd, request + "\n") && ReadStoreLine(fd, buffer, reply);
  close(fd);
  return answered ? StoreCall::kReplied : StoreCall::kNoReply;
}

}  // namespace synod::examples
