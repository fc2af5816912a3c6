// AsioStream implementation (see asio_stream.h).

#include "transport/asio_stream.h"

#include <kj/debug.h>
#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace synod::transport {

namespace asio = boost::asio;

namespace {
constexpr size_t kReadBufferBytes = 64 * 1024;
}  // namespace

struct AsioStream::State : std::enable_shared_from_this<AsioStream::State> {
  State(asio::ip::tcp::socket s, size_t hw, Clock::duration stall)
      : socket(std::move(s)),
        stall_timer(socket.get_executor()),
        high_water(hw),
        stall_timeout(stall),
        read_buffer(kReadBufferBytes) {}

  asio::ip::tcp::socket socket;
  asio::steady_timer stall_timer;
  const size_t high_water;
  const Clock::duration stall_timeout;
  bool closed = false;

  // Read side. [read_begin, read_end) of read_buffer holds unread bytes.
  std::vector<char> read_buffer;
  size_t read_begin = 0;
  size_t read_end = 0;
  bool reading = false;  // an Asio read is in flight
  bool eof = false;
  std::string read_error;
  // The kj read waiting for data (if any).
  kj::Own<kj::PromiseFulfiller<size_t>> read_fulfiller;
  char* read_dst = nullptr;
  size_t read_min = 0;
  size_t read_max = 0;
  size_t read_got = 0;

  // Write side.
  std::string pending;   // accepted, not yet handed to Asio
  std::string inflight;  // being written by Asio
  bool writing = false;
  bool shutdown_after_flush = false;
  std::string write_error;
  uint64_t write_generation = 0;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> drain_waiters;
  kj::Own<kj::PromiseFulfiller<void>> disconnect_fulfiller;
  kj::Maybe<kj::ForkedPromise<void>> disconnected;

  size_t Available() const { return read_end - read_begin; }

  size_t CopyOut(char* dst, size_t max) {
    size_t n = std::min(max, Available());
    if (n > 0) std::memcpy(dst, read_buffer.data() + read_begin, n);
    read_begin += n;
    if (read_begin == read_end) read_begin = read_end = 0;
    return n;
  }

  void StartRead() {
    if (reading || closed || eof || !read_error.empty()) return;
    if (read_end == read_buffer.size()) {  // compact
      std::memmove(read_buffer.data(), read_buffer.data() + read_begin, Available());
      read_end -= read_begin;
      read_begin = 0;
    }
    reading = true;
    socket.async_read_some(
        asio::buffer(read_buffer.data() + read_end, read_buffer.size() - read_end),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          self->OnRead(ec, n);
        });
  }

  void OnRead(const boost::system::error_code& ec, size_t n) {
    reading = false;
    if (closed) return;
    read_end += n;
    if (ec == asio::error::eof) {
      eof = true;
    } else if (ec) {
      read_error = ec.message();
    }
    ServeRead();
  }

  // Moves buffered bytes to the waiting kj read; completes it when satisfied.
  void ServeRead() {
    if (read_fulfiller.get() == nullptr) return;
    if (!read_fulfiller->isWaiting()) {  // the reader gave up (promise dropped)
      read_fulfiller = nullptr;
      return;
    }
    read_got += CopyOut(read_dst + read_got, read_max - read_got);
    if (read_got >= read_min || eof) {
      read_fulfiller->fulfill(size_t{read_got});
      read_fulfiller = nullptr;
    } else if (!read_error.empty()) {
      read_fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "read failed", read_error.c_str()));
      read_fulfiller = nullptr;
    } else {
      StartRead();
    }
  }

  void Append(const void* data, size_t size) {
    pending.append(static_cast<const char*>(data), size);
  }

  void StartWrite() {
    if (writing || closed || pending.empty() || !write_error.empty()) return;
    inflight.clear();
    std::swap(pending, inflight);
    writing = true;
    uint64_t generation = ++write_generation;
    stall_timer.expires_after(stall_timeout);
    stall_timer.async_wait(
        [self = shared_from_this(), generation](const boost::system::error_code& ec) {
          if (ec || self->closed || !self->writing || self->write_generation != generation) return;
          self->FailWrites("write stalled: peer is not reading");
          self->CloseSocket();
        });
    asio::async_write(socket, asio::buffer(inflight),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->OnWritten(ec);
                      });
  }

  void OnWritten(const boost::system::error_code& ec) {
    writing = false;
    stall_timer.cancel();
    if (closed) return;
    if (ec) {
      FailWrites(ec.message());
      return;
    }
    inflight.clear();
    StartWrite();
    if (!writing && shutdown_after_flush) {
      boost::system::error_code ignored;
      socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
    if (pending.size() + inflight.size() < high_water) {
      for (auto& waiter : drain_waiters) waiter->fulfill();
      drain_waiters.clear();
    }
  }

  void FailWrites(const std::string& why) {
    if (write_error.empty()) write_error = why;
    for (auto& waiter : drain_waiters) {
      waiter->reject(KJ_EXCEPTION(DISCONNECTED, "write failed", write_error.c_str()));
    }
    drain_waiters.clear();
    if (disconnect_fulfiller.get() != nullptr) {
      disconnect_fulfiller->fulfill();
      disconnect_fulfiller = nullptr;
    }
  }

  void CloseSocket() {
    boost::system::error_code ignored;
    socket.close(ignored);
    stall_timer.cancel();
  }
};

AsioStream::AsioStream(asio::ip::tcp::socket socket, size_t high_water,
                       Clock::duration stall_timeout)
    : state_(std::make_shared<State>(std::move(socket), high_water, stall_timeout)) {
  boost::system::error_code ignored;
  state_->socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  state_->socket.set_option(asio::socket_base::keep_alive(true), ignored);
  auto paf = kj::newPromiseAndFulfiller<void>();
  state_->disconnect_fulfiller = kj::mv(paf.fulfiller);
  state_->disconnected = paf.promise.fork();
}

AsioStream::~AsioStream() noexcept(false) { Close(); }

void AsioStream::Close() {
  State& s = *state_;
  if (s.closed) return;
  s.FailWrites("connection closed");
  s.closed = true;
  s.CloseSocket();
  if (s.read_fulfiller.get() != nullptr && s.read_fulfiller->isWaiting()) {
    s.read_fulfiller->reject(KJ_EXCEPTION(DISCONNECTED, "connection closed"));
  }
  s.read_fulfiller = nullptr;
}

size_t AsioStream::UnsentBytes() const { return state_->pending.size() + state_->inflight.size(); }

kj::Promise<size_t> AsioStream::tryRead(void* buffer, size_t min_bytes, size_t max_bytes) {
  State& s = *state_;
  if (s.closed) return KJ_EXCEPTION(DISCONNECTED, "connection closed");
  char* dst = static_cast<char*>(buffer);
  size_t got = s.CopyOut(dst, max_bytes);
  if (got >= min_bytes || s.eof) return got;
  if (!s.read_error.empty()) {
    return KJ_EXCEPTION(DISCONNECTED, "read failed", s.read_error.c_str());
  }
  auto paf = kj::newPromiseAndFulfiller<size_t>();
  s.read_fulfiller = kj::mv(paf.fulfiller);
  s.read_dst = dst;
  s.read_min = min_bytes;
  s.read_max = max_bytes;
  s.read_got = got;
  s.StartRead();
  return kj::mv(paf.promise);
}

kj::Promise<void> AsioStream::write(const void* buffer, size_t size) {
  kj::ArrayPtr<const kj::byte> piece(static_cast<const kj::byte*>(buffer), size);
  return write(kj::arrayPtr(&piece, 1));
}

kj::Promise<void> AsioStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  State& s = *state_;
  if (s.closed || !s.write_error.empty()) {
    return KJ_EXCEPTION(DISCONNECTED, "write failed",
                        s.write_error.empty() ? "closed" : s.write_error.c_str());
  }
  for (auto piece : pieces) s.Append(piece.begin(), piece.size());
  s.StartWrite();
  if (s.pending.size() + s.inflight.size() < s.high_water) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  s.drain_waiters.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

kj::Promise<void> AsioStream::whenWriteDisconnected() {
  KJ_IF_MAYBE (forked, state_->disconnected) {
    return forked->addBranch();
  }
  return kj::READY_NOW;
}

void AsioStream::shutdownWrite() {
  State& s = *state_;
  if (s.closed) return;
  if (s.writing || !s.pending.empty()) {
    s.shutdown_after_flush = true;
    return;
  }
  boost::system::error_code ignored;
  s.socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

void AsioStream::abortRead() {
  State& s = *state_;
  if (s.closed) return;
  boost::system::error_code ignored;
  s.socket.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
}

void AsioStream::getsockopt(int level, int option, void* value, uint* length) {
  socklen_t len = *length;
  if (::getsockopt(state_->socket.native_handle(), level, option, value, &len) != 0) {
    KJ_FAIL_SYSCALL("getsockopt", errno);
  }
  *length = len;
}

void AsioStream::setsockopt(int level, int option, const void* value, uint length) {
  if (::setsockopt(state_->socket.native_handle(), level, option, value, length) != 0) {
    KJ_FAIL_SYSCALL("setsockopt", errno);
  }
}

void AsioStream::getsockname(struct sockaddr* addr, uint* length) {
  socklen_t len = *length;
  if (::getsockname(state_->socket.native_handle(), addr, &len) != 0) {
    KJ_FAIL_SYSCALL("getsockname", errno);
  }
  *length = len;
}

void AsioStream::getpeername(struct sockaddr* addr, uint* length) {
  socklen_t len = *length;
  if (::getpeername(state_->socket.native_handle(), addr, &len) != 0) {
    KJ_FAIL_SYSCALL("getpeername", errno);
  }
  *length = len;
}

}  // namespace synod::transport
