// AsioStream: a kj::AsyncIoStream on a Boost.Asio TCP socket, with buffered
// reads and coalesced writes, so Cap'n Proto RPC runs on the Asio loop.
// Internal to transport/.
//
// Reads: one Asio read fills a 64 KiB buffer; tryRead() is served from it.
// EOF is reported as a short read (as KJ expects), other errors as a
// DISCONNECTED exception. Writes: bytes are appended to a pending buffer and
// written by one Asio write at a time; write() completes at once while less
// than `high_water` bytes are unsent, otherwise when the backlog drains below
// it. A write that makes no progress for `stall_timeout` closes the socket
// (a peer that stops reading cannot pin memory forever).
//
// Threading: network thread only. Destroying the stream closes the socket;
// pending Asio handlers keep only shared internal state alive.
#pragma once

#include <kj/async-io.h>

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "transport/types.h"

namespace synod::transport {

class AsioStream final : public kj::AsyncIoStream {
 public:
  // Takes ownership of a connected socket.
  AsioStream(boost::asio::ip::tcp::socket socket, size_t high_water, Clock::duration stall_timeout);
  ~AsioStream() noexcept(false);

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;
  void getsockopt(int level, int option, void* value, uint* length) override;
  void setsockopt(int level, int option, const void* value, uint length) override;
  void getsockname(struct sockaddr* addr, uint* length) override;
  void getpeername(struct sockaddr* addr, uint* length) override;

  // Closes the socket now: pending and later reads and writes fail.
  void Close();

  // Bytes accepted by write() but not yet handed to the kernel.
  size_t UnsentBytes() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace synod::transport
