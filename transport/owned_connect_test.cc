// ConnectOwned: an owner may close and drop the socket while the connect is
// pending (a deadline), and nothing touches freed memory (under ASan the old
// unique_ptr + async_connect pattern fails this test with a use after free).
#include "transport/owned_connect.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <vector>

namespace synod::transport {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A listening socket on 127.0.0.1 that never accepts, with its accept queue
// filled, so that one more connect hangs (its SYN is dropped) instead of
// completing or being refused. Closes everything it opened.
class HangingListener {
 public:
  HangingListener() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 0) != 0) {
      return;
    }
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    // Connect until one does not complete within 200 ms: the queue is full.
    for (int i = 0; i < 16 && !full_; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      fillers_.push_back(fd);
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      pollfd waiting{fd, POLLOUT, 0};
      full_ = ::poll(&waiting, 1, 200) == 0;
    }
  }
  ~HangingListener() {
    for (int fd : fillers_) ::close(fd);
    if (listener_ >= 0) ::close(listener_);
  }
  // True if a connect to port() now hangs.
  bool full() const { return full_; }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  bool full_ = false;
  std::vector<int> fillers_;
};

TEST(ConnectOwned, OwnerMayCloseAndDropTheSocketWhileTheConnectIsPending) {
  HangingListener listener;
  ASSERT_TRUE(listener.full()) << "could not make a connect hang on 127.0.0.1";
  asio::io_context io;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve("127.0.0.1", std::to_string(listener.port()));
  auto socket = std::make_shared<tcp::socket>(io);
  std::optional<boost::system::error_code> result;
  ConnectOwned(socket, endpoints, [&](const boost::system::error_code& error) { result = error; });
  // The owner's deadline: close and drop its only pointer mid-connect.
  asio::steady_timer deadline(io, std::chrono::milliseconds(50));
  deadline.async_wait([&](const boost::system::error_code&) {
    boost::system::error_code ignored;
    socket->close(ignored);
    socket.reset();
  });
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(result.has_value()) << "the connect never completed";
  EXPECT_TRUE(*result) << "a connect into a full accept queue cannot have succeeded";
}

TEST(ConnectOwned, ConnectsWhenTheServerAccepts) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve("127.0.0.1", std::to_string(acceptor.local_endpoint().port()));
  auto socket = std::make_shared<tcp::socket>(io);
  std::optional<boost::system::error_code> result;
  ConnectOwned(socket, endpoints, [&](const boost::system::error_code& error) { result = error; });
  io.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result) << result->message();
  EXPECT_TRUE(socket->is_open());
}

}  // namespace
}  // namespace synod::transport
