// AddressBook: the configuration's address wins, the static list fills
// gaps, members nobody knows an address for are absent, retired ids and
// static-only ids are never in the book; ToString and Conflicts.
#include "node/address_book.h"

#include <gtest/gtest.h>

namespace synod::node {
namespace {

ClusterConfig Static(const std::string& text) { return ParseClusterConfig(text).value(); }

std::vector<transport::PeerEndpoint> Expect(
    std::vector<std::tuple<paxos::ReplicaId, std::string, uint16_t>> list) {
  std::vector<transport::PeerEndpoint> endpoints;
  for (auto& [id, host, port] : list) endpoints.push_back({id, host, port});
  return endpoints;
}

void ExpectEndpoints(const std::vector<transport::PeerEndpoint>& got,
                     const std::vector<transport::PeerEndpoint>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id) << i;
    EXPECT_EQ(got[i].host, want[i].host) << i;
    EXPECT_EQ(got[i].port, want[i].port) << i;
  }
}

TEST(AddressBook, TheInitialConfigurationTakesEveryAddressFromTheStaticList) {
  // Today's runtime: the initial configuration records no addresses.
  ClusterConfig fixed = Static("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003");
  AddressBook book = AddressBook::From(paxos::ConfigAt{0, paxos::Configuration({1, 2, 3})}, fixed);
  EXPECT_EQ(book.ToString(), fixed.ToString());
  ExpectEndpoints(book.Endpoints(2), Expect({{1, "127.0.0.1", 7001}, {3, "127.0.0.1", 7003}}));
  ExpectEndpoints(book.Endpoints(),
                  Expect({{1, "127.0.0.1", 7001}, {2, "127.0.0.1", 7002}, {3, "127.0.0.1", 7003}}));
  EXPECT_TRUE(book.Conflicts(fixed).empty());
  ASSERT_NE(book.Find(3), nullptr);
  EXPECT_EQ(book.Find(3)->Endpoint(), "127.0.0.1:7003");
  EXPECT_EQ(book.Find(4), nullptr);
}

TEST(AddressBook, TheConfigurationsAddressWinsAndTheStaticListFillsGaps) {
  // 1: no configuration address (static fills); 2: both (configuration
  // wins); 4: only the configuration; 5: nobody knows (absent); 3: retired
  // (absent although the static list names it); 9: static only (absent).
  paxos::Configuration config({paxos::Member{1, paxos::MemberRole::kVoter, ""},
                               paxos::Member{2, paxos::MemberRole::kVoter, "10.0.0.2:8002"},
                               paxos::Member{4, paxos::MemberRole::kLearner, "host-4.example:8004"},
                               paxos::Member{5, paxos::MemberRole::kLearner, ""}},
                              {3});
  ClusterConfig fixed =
      Static("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003,9=127.0.0.1:7009");
  AddressBook book = AddressBook::From(paxos::ConfigAt{7, config}, fixed);
  ASSERT_NE(book.Find(1), nullptr);
  EXPECT_EQ(book.Find(1)->Endpoint(), "127.0.0.1:7001");
  ASSERT_NE(book.Find(2), nullptr);
  EXPECT_EQ(book.Find(2)->Endpoint(), "10.0.0.2:8002");
  ASSERT_NE(book.Find(4), nullptr);
  EXPECT_EQ(book.Find(4)->host, "host-4.example");
  EXPECT_EQ(book.Find(4)->port, 8004);
  EXPECT_EQ(book.Find(5), nullptr);
  EXPECT_EQ(book.Find(3), nullptr) << "a retired id is no member";
  EXPECT_EQ(book.Find(9), nullptr) << "a static entry the configuration does not name";
  // ToString leaves out the member without an address.
  EXPECT_EQ(book.ToString(), "1=127.0.0.1:7001,2=10.0.0.2:8002,4=host-4.example:8004");
  ExpectEndpoints(book.Endpoints(1), Expect({{2, "10.0.0.2", 8002}, {4, "host-4.example", 8004}}));
}

TEST(AddressBook, AMalformedConfigurationAddressCountsAsNone) {
  paxos::Configuration config({paxos::Member{1, paxos::MemberRole::kVoter, "no-port"},
                               paxos::Member{2, paxos::MemberRole::kVoter, "h:99999"},
                               paxos::Member{3, paxos::MemberRole::kVoter, "h:1,4=h:2"}},
                              {});
  AddressBook book = AddressBook::From(paxos::ConfigAt{1, config}, Static("1=127.0.0.1:7001"));
  EXPECT_EQ(book.ToString(), "1=127.0.0.1:7001");
  EXPECT_TRUE(book.Conflicts(Static("1=127.0.0.1:7001")).empty());
}

TEST(AddressBook, ConflictsAreStaticEntriesThatDifferFromTheConfiguration) {
  paxos::Configuration config({paxos::Member{1, paxos::MemberRole::kVoter, "127.0.0.1:7001"},
                               paxos::Member{2, paxos::MemberRole::kVoter, "127.0.0.1:8002"},
                               paxos::Member{3, paxos::MemberRole::kVoter, ""},
                               paxos::Member{4, paxos::MemberRole::kLearner, "127.0.0.1:8004"}},
                              {});
  AddressBook book = AddressBook::From(
      paxos::ConfigAt{3, config}, Static("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"));
  // 1 agrees, 3 has no configuration address, 4 is not in this static list.
  EXPECT_EQ(book.Conflicts(Static("1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003")),
            std::vector<paxos::ReplicaId>{2});
  EXPECT_EQ(book.Conflicts(Static("2=127.0.0.1:8002,4=localhost:8004")),
            std::vector<paxos::ReplicaId>{4});
  EXPECT_TRUE(AddressBook().Conflicts(Static("1=127.0.0.1:1")).empty());
  EXPECT_EQ(AddressBook().ToString(), "");
  EXPECT_TRUE(AddressBook().Endpoints().empty());
}

}  // namespace
}  // namespace synod::node
