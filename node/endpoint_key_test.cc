// EndpointKey: spellings of one address share a key; other addresses do not.
#include "node/endpoint_key.h"

#include <gtest/gtest.h>

namespace synod::node {
namespace {

TEST(EndpointKey, EveryIpv4SpellingOfAnAddressHasTheDottedQuadsKey) {
  for (const char* spelling : {"127.0.0.1:7001", "127.1:7001", "127.0.0.01:7001", "0x7f.0.0.1:7001",
                               "0177.0.0.1:7001", "127.0.0.1:07001"}) {
    EXPECT_EQ(EndpointKey(spelling), "127.0.0.1:7001") << spelling;
  }
}

TEST(EndpointKey, LocalhostNamesAreTheLoopbackAddress) {
  EXPECT_EQ(EndpointKey("localhost:7001"), "127.0.0.1:7001");
  EXPECT_EQ(EndpointKey("LocalHost.:7001"), "127.0.0.1:7001");
  EXPECT_EQ(EndpointKey("db.localhost:7001"), "127.0.0.1:7001");
  EXPECT_EQ(EndpointKey("notlocalhost:7001"), "notlocalhost:7001");
}

TEST(EndpointKey, NamesCompareWithoutCaseOrTrailingDot) {
  EXPECT_EQ(EndpointKey("Node-1.Example.COM.:7001"), "node-1.example.com:7001");
}

TEST(EndpointKey, OtherAddressesAndPortsStayApart) {
  EXPECT_NE(EndpointKey("127.0.0.2:7001"), EndpointKey("127.0.0.1:7001"));
  EXPECT_NE(EndpointKey("127.0.0.1:7002"), EndpointKey("127.0.0.1:7001"));
  EXPECT_NE(EndpointKey("10.0.0.1:7001"), EndpointKey("localhost:7001"));
}

TEST(EndpointKey, TextThatIsNoEndpointIsItsOwnKey) {
  EXPECT_EQ(EndpointKey(""), "");
  EXPECT_EQ(EndpointKey("nocolon"), "nocolon");
  EXPECT_EQ(EndpointKey("host:"), "host:");
  EXPECT_EQ(EndpointKey("host:7x"), "host:7x");
}

TEST(EndpointKey, AListNamingOneSocketTwiceIsFound) {
  EXPECT_EQ(RepeatedSocket(ParseClusterConfig("1=127.0.0.1:7001,2=127.1:7001").value()),
            "members 1=127.0.0.1:7001 and 2=127.1:7001 name one address");
  EXPECT_EQ(RepeatedSocket(ParseClusterConfig("1=localhost:7001,2=127.0.0.1:7002").value()), "");
}

TEST(EndpointKey, AListThatAnOlderBuildRecordedWithTwoSpellingsStaysReadable) {
  EXPECT_TRUE(ParseClusterConfig("1=localhost:7001,2=127.0.0.1:7001").ok());
}

}  // namespace
}  // namespace synod::node
