// Client lifetime: results and status answers that its connections deliver
// after the Client is gone (they are posted to the loop) must not reach it.
// The use after free this guards against shows in the sanitizer build, which
// is the one the test suite runs.
#include "node/client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace synod::node {
namespace {

using namespace std::chrono_literals;

// Port 1 on 127.0.0.1: nothing listens there, and the connection attempt is
// still pending when the Client is destroyed (the loop has not run yet).
ClientOptions UnreachableCluster() {
  ClientOptions options;
  options.cluster.members = {{1, "127.0.0.1", 1}, {2, "127.0.0.1", 1}, {3, "127.0.0.1", 1}};
  return options;
}

TEST(Client, DestroyedWithACommandInFlightIgnoresItsLateResult) {
  transport::EventLoop loop;
  bool called = false;
  auto client = std::make_unique<Client>(loop, UnreachableCluster());
  client->Execute("x", [&](ClientResult) { called = true; });
  client.reset();  // its connections post their failed calls' results
  loop.RunFor(50ms);
  EXPECT_FALSE(called) << "a destroyed client reports nothing";
}

TEST(Client, DestroyedWithAStatusQueryInFlightIgnoresItsLateAnswer) {
  transport::EventLoop loop;
  bool called = false;
  auto client = std::make_unique<Client>(loop, UnreachableCluster());
  client->QueryStatuses([&](Client::Statuses) { called = true; });
  client.reset();
  loop.RunFor(50ms);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace synod::node
