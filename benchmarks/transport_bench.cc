// Transport micro-benchmark: Cap'n Proto RPC calls/s and CPU per call at 1,
// 64 and 256 calls in flight with 100 B and 4 KiB payloads, beside a raw
// Boost.Asio baseline (length-prefixed frames, one ack frame per request).
//
// Both ends run in this process on one EventLoop thread over 127.0.0.1, so
// "cpu_us/call" is the CPU of BOTH sides of a call (client + server). Each RPC
// call is a real PeerService.deliver() carrying one Accept whose value holds
// one command of the payload size, through the same Server, handshake and
// codec the replicas use. Run (Release build):
//   build/<dir>/benchmarks/synod-transport-bench --benchmark_min_time=1

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <cstring>
#include <functional>

#include "transport/codec.h"
#include "transport/event_loop.h"
#include "transport/rpc_connection.h"
#include "transport/server.h"

namespace synod::transport {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Calls per benchmark iteration at `in_flight`.
int64_t CallsPerIteration(int64_t in_flight) { return std::max<int64_t>(2000, 40 * in_flight); }

void Report(benchmark::State& state, int64_t calls, double cpu_seconds) {
  state.counters["calls/s"] =
      benchmark::Counter(static_cast<double>(calls), benchmark::Counter::kIsRate);
  state.counters["cpu_us/call"] = cpu_seconds * 1e6 / static_cast<double>(calls);
  state.SetItemsProcessed(calls);
}

// Counts delivered messages.
class CountingHandler : public PeerMessageHandler {
 public:
  void OnPeerMessage(paxos::Message) override { ++received; }
  int64_t received = 0;
};

class IgnoreErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override {
    std::fprintf(stderr, "call failed: %s\n", e.getDescription().cStr());
  }
};

void BM_CapnpRpcDeliver(benchmark::State& state) {
  const int64_t in_flight = state.range(0);
  const size_t payload = static_cast<size_t>(state.range(1));
  EventLoop loop;
  CountingHandler handler;
  ServerOptions options;
  options.cluster_id = 1;
  options.self = 1;
  options.peers = {2};
  Server server(loop, options, &handler, nullptr);
  if (Status listening = server.Listen(); !listening.ok()) {
    state.SkipWithError(listening.message().c_str());
    return;
  }
  tcp::socket socket(loop.io());
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  auto conn = kj::heap<RpcConnection>(std::move(socket), Limits{}, 30s);
  auto hello = conn->Handshake().helloRequest();
  hello.setClusterId(1);
  hello.setFromReplica(2);
  hello.setRole(wire::ConnectionRole::PEER);
  kj::Maybe<wire::PeerService::Client> peer;
  IgnoreErrors errors;
  kj::TaskSet tasks(errors);
  tasks.add(hello.send().then(
      [&](capnp::Response<wire::Handshake::HelloResults>&& r) { peer = r.getPeer(); }));
  if (!loop.RunUntil([&] { return peer != nullptr; }, 5s)) {
    state.SkipWithError("handshake failed");
    return;
  }
  wire::PeerService::Client& client = KJ_ASSERT_NONNULL(peer);
  const paxos::Message message{
      2, 1, paxos::Accept{{1, 2}, 1, paxos::MakeCommandsValue({std::string(payload, 'x')}), 0}};

  int64_t issued = 0, done = 0, target = 0;
  std::function<void()> issue = [&] {
    ++issued;
    auto request = client.deliverRequest();
    EncodeMessage(message, request.initMessages(1)[0]);
    tasks.add(request.send().then([&](auto&&) {
      ++done;
      if (issued < target) issue();
    }));
  };

  int64_t calls = 0;
  double cpu = 0;
  for (auto _ : state) {
    const int64_t n = CallsPerIteration(in_flight);
    target = issued + n;
    const int64_t goal = done + n;
    double cpu_start = ProcessCpuSeconds();
    for (int64_t i = 0; i < in_flight && issued < target; ++i) issue();
    if (!loop.RunUntil([&] { return done >= goal; }, 60s)) {
      state.SkipWithError("calls did not complete");
      break;
    }
    cpu += ProcessCpuSeconds() - cpu_start;
    calls += n;
  }
  Report(state, calls, cpu);
  // Teardown in reverse declaration order: tasks, capability, connection, server, loop.
}

// Buffered reader of [u32 length][payload] frames; calls on_frame per frame.
class FrameReader {
 public:
  FrameReader(tcp::socket& socket, std::function<void(size_t)> on_frame)
      : socket_(socket), on_frame_(std::move(on_frame)), buffer_(64 * 1024) {}

  void Start() {
    if (end_ == buffer_.size()) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    socket_.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                            [this](const boost::system::error_code& ec, size_t n) {
                              if (ec) return;
                              end_ += n;
                              Parse();
                              Start();
                            });
  }

 private:
  void Parse() {
    while (end_ - begin_ >= 4) {
      uint32_t length;
      std::memcpy(&length, buffer_.data() + begin_, 4);
      if (end_ - begin_ < 4 + length) {
        if (4 + length > buffer_.size()) buffer_.resize(4 + length);
        break;
      }
      begin_ += 4 + length;
      on_frame_(length);
    }
    if (begin_ == end_) begin_ = end_ = 0;
  }

  tcp::socket& socket_;
  std::function<void(size_t)> on_frame_;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Coalescing writer: one async_write at a time, later bytes wait in `pending_`.
class FrameWriter {
 public:
  explicit FrameWriter(tcp::socket& socket) : socket_(socket) {}

  void Send(const std::string& payload) {
    uint32_t length = static_cast<uint32_t>(payload.size());
    pending_.append(reinterpret_cast<const char*>(&length), 4);
    pending_.append(payload);
    Flush();
  }

 private:
  void Flush() {
    if (writing_ || pending_.empty()) return;
    inflight_.clear();
    std::swap(inflight_, pending_);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(inflight_),
                      [this](const boost::system::error_code& ec, size_t) {
                        writing_ = false;
                        if (!ec) Flush();
                      });
  }

  tcp::socket& socket_;
  std::string pending_;
  std::string inflight_;
  bool writing_ = false;
};

void BM_RawAsioFrames(benchmark::State& state) {
  const int64_t in_flight = state.range(0);
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  EventLoop loop;
  tcp::acceptor acceptor(loop.io(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(loop.io());
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  client.set_option(tcp::no_delay(true));
  server.set_option(tcp::no_delay(true));

  FrameWriter server_writer(server);
  FrameWriter client_writer(client);
  const std::string ack;
  FrameReader server_reader(server, [&](size_t) { server_writer.Send(ack); });
  int64_t issued = 0, done = 0, target = 0;
  FrameReader client_reader(client, [&](size_t) {
    ++done;
    if (issued < target) {
      ++issued;
      client_writer.Send(payload);
    }
  });
  server_reader.Start();
  client_reader.Start();

  int64_t calls = 0;
  double cpu = 0;
  for (auto _ : state) {
    const int64_t n = CallsPerIteration(in_flight);
    target = issued + n;
    const int64_t goal = done + n;
    double cpu_start = ProcessCpuSeconds();
    for (int64_t i = 0; i < in_flight && issued < target; ++i) {
      ++issued;
      client_writer.Send(payload);
    }
    if (!loop.RunUntil([&] { return done >= goal; }, 60s)) {
      state.SkipWithError("frames did not complete");
      break;
    }
    cpu += ProcessCpuSeconds() - cpu_start;
    calls += n;
  }
  Report(state, calls, cpu);
  client.close();
  server.close();
}

void Args(benchmark::internal::Benchmark* b) {
  for (int64_t payload : {100, 4096}) {
    for (int64_t in_flight : {1, 64, 256}) b->Args({in_flight, payload});
  }
  b->ArgNames({"in_flight", "bytes"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_CapnpRpcDeliver)->Apply(Args);
BENCHMARK(BM_RawAsioFrames)->Apply(Args);

}  // namespace
}  // namespace synod::transport
