// Configuration: the retired members' addresses (recorded on removal, kept
// by every later change, encoded only when there are some) and the bytes of
// configurations without them, which must stay those of earlier builds.
#include "paxos/configuration.h"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

namespace synod::paxos {
namespace {

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Voter 1 (no address), voter 2 at h2:2, learner 4 at h4:4; 3 and 5 retired.
// Its bytes as every build before retired addresses wrote them.
std::string OldBytes() {
  return FromHex(
      "53594e4f4443464731"                                        // SYNODCFG1
      "0300000000000000"                                          // 3 members
      "010000000000000000000000000000000000000000000000"          // 1 voter ""
      "02000000000000000000000000000000040000000000000068323a32"  // 2 voter h2:2
      "04000000000000000100000000000000040000000000000068343a34"  // 4 learner h4:4
      "0200000000000000"                                          // 2 retired
      "03000000000000000500000000000000");                        // 3, 5
}

Configuration OldShape() {
  return Configuration({{1, MemberRole::kVoter, ""},
                        {2, MemberRole::kVoter, "h2:2"},
                        {4, MemberRole::kLearner, "h4:4"}},
                       {3, 5});
}

TEST(Configuration, WithoutRetiredAddressesTheBytesAreThoseOfEarlierBuilds) {
  EXPECT_EQ(OldShape().Encode(), OldBytes());
  std::optional<Configuration> decoded = Configuration::Decode(OldBytes());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, OldShape());
  EXPECT_EQ(*decoded->RetiredAddress(3), "");
  EXPECT_EQ(*decoded->RetiredAddress(5), "");
  // Removing members without addresses records "" and adds no section.
  Configuration removed = Configuration({{1, MemberRole::kVoter, ""},
                                         {2, MemberRole::kVoter, "h2:2"},
                                         {3, MemberRole::kVoter, ""},
                                         {4, MemberRole::kLearner, "h4:4"},
                                         {5, MemberRole::kLearner, ""}},
                                        {})
                              .WithRemoved(3)
                              .WithRemoved(5);
  EXPECT_EQ(removed, OldShape());
  EXPECT_EQ(removed.Encode(), OldBytes());
}

TEST(Configuration, WithRemovedRecordsTheAddressAndEveryDerivationKeepsIt) {
  Configuration config = OldShape().WithRemoved(4);
  ASSERT_NE(config.RetiredAddress(4), nullptr);
  EXPECT_EQ(*config.RetiredAddress(4), "h4:4");
  EXPECT_EQ(config.RetiredAddress(2), nullptr) << "a member is not retired";
  EXPECT_EQ(config.AddressUser("h4:4"), std::optional<ReplicaId>(4));
  EXPECT_EQ(config.AddressUser("h2:2"), std::optional<ReplicaId>(2));
  EXPECT_FALSE(config.AddressUser("h9:9").has_value());
  EXPECT_FALSE(config.AddressUser("").has_value()) << "3 and 5 have no address, 1 neither";

  Configuration later = config.WithLearner(6, "h6:6").WithPromoted(6).WithRemoved(2);
  EXPECT_EQ(*later.RetiredAddress(4), "h4:4");
  EXPECT_EQ(*later.RetiredAddress(2), "h2:2");
  EXPECT_EQ(*later.RetiredAddress(3), "");
  Configuration refilled =
      later.WithMembers({{1, MemberRole::kVoter, "h1:1"}, {6, MemberRole::kVoter, "h6:6"}});
  EXPECT_EQ(*refilled.RetiredAddress(4), "h4:4");
  EXPECT_EQ(refilled.Find(1)->address, "h1:1");

  // Equality sees the address.
  Configuration other({{1, MemberRole::kVoter, ""}, {2, MemberRole::kVoter, "h2:2"}}, {3, 4, 5},
                      {"", "elsewhere:4", ""});
  EXPECT_EQ(other.members(), config.members());
  EXPECT_EQ(other.retired(), config.retired());
  EXPECT_NE(other, config);
}

TEST(Configuration, RetiredAddressesRoundTripAndOnlyTheNonEmptyOnesAreEncoded) {
  Configuration config = OldShape().WithRemoved(4);
  const std::string expected = FromHex(
      "53594e4f4443464731"
      "0200000000000000"
      "010000000000000000000000000000000000000000000000"
      "02000000000000000000000000000000040000000000000068323a32"
      "0300000000000000"                                  // 3 retired
      "030000000000000004000000000000000500000000000000"  // 3, 4, 5
      "0100000000000000"                                  // 1 retired address
      "0400000000000000040000000000000068343a34");        // 4 at h4:4
  EXPECT_EQ(config.Encode(), expected);
  std::optional<Configuration> decoded = Configuration::Decode(expected);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, config);
  EXPECT_EQ(*decoded->RetiredAddress(4), "h4:4");
  EXPECT_EQ(*decoded->RetiredAddress(5), "");

  Configuration two = config.WithRemoved(2);
  std::optional<Configuration> again = Configuration::Decode(two.Encode());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, two);
}

TEST(Configuration, DecodeRefusesAMalformedRetiredAddressSection) {
  const std::string base = OldShape().Encode();  // retired 3, 5
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return out;
  };
  auto entry = [&](uint64_t id, const std::string& address) {
    return u64(id) + u64(address.size()) + address;
  };
  ASSERT_TRUE(Configuration::Decode(base + u64(1) + entry(3, "a:1")).has_value());
  ASSERT_TRUE(Configuration::Decode(base + u64(2) + entry(3, "a:1") + entry(5, "b:2")).has_value());
  EXPECT_FALSE(Configuration::Decode(base + "x").has_value()) << "a stray byte";
  EXPECT_FALSE(Configuration::Decode(base + u64(0)).has_value())
      << "an empty section is never written";
  EXPECT_FALSE(Configuration::Decode(base + u64(1) + entry(4, "a:1")).has_value())
      << "4 is a member";
  EXPECT_FALSE(Configuration::Decode(base + u64(1) + entry(7, "a:1")).has_value())
      << "7 is not retired";
  EXPECT_FALSE(Configuration::Decode(base + u64(1) + entry(3, "")).has_value())
      << "an empty address";
  EXPECT_FALSE(Configuration::Decode(base + u64(2) + entry(5, "b:2") + entry(3, "a:1")).has_value())
      << "ids out of order";
  EXPECT_FALSE(Configuration::Decode(base + u64(2) + entry(3, "a:1") + entry(3, "a:1")).has_value())
      << "an id twice";
  EXPECT_FALSE(Configuration::Decode(base + u64(3) + entry(3, "a:1") + entry(5, "b:2")).has_value())
      << "more entries than retired ids";
  EXPECT_FALSE(Configuration::Decode(base + u64(1) + entry(3, "a:1") + "x").has_value())
      << "a stray byte";
  std::string cut = base + u64(1) + entry(3, "a:1");
  cut.pop_back();
  EXPECT_FALSE(Configuration::Decode(cut).has_value()) << "a cut address";
  EXPECT_THROW(Configuration({{1, MemberRole::kVoter, ""}}, {2}, {}), std::invalid_argument);
  EXPECT_THROW(Configuration({{1, MemberRole::kVoter, ""}}, {2, 2}, {"a:1", "b:2"}),
               std::invalid_argument);
}

// Decided by ValidateChange alone, on every replica and replay alike.
TEST(Configuration, AChangeThatDropsOrAltersARetiredAddressIsVoid) {
  Configuration from = OldShape().WithRemoved(4);  // 4 retired at h4:4
  Configuration dropped({{1, MemberRole::kVoter, ""},
                         {2, MemberRole::kVoter, "h2:2"},
                         {6, MemberRole::kLearner, "h6:6"}},
                        {3, 4, 5});
  EXPECT_EQ(ValidateChange(from, dropped), "removed replica 4 must keep its address");
  Configuration altered({{1, MemberRole::kVoter, ""},
                         {2, MemberRole::kVoter, "h2:2"},
                         {6, MemberRole::kLearner, "h6:6"}},
                        {3, 4, 5}, {"", "h6:6", ""});
  EXPECT_EQ(ValidateChange(from, altered), "removed replica 4 must keep its address");
  Configuration kept = from.WithLearner(6, "h6:6");
  EXPECT_EQ(ValidateChange(from, kept), "");

  ConfigAt current{7, from};
  EXPECT_EQ(NextConfiguration(current, 9, *MakeConfigurationValue(7, dropped)), current);
  EXPECT_EQ(NextConfiguration(current, 9, *MakeConfigurationValue(7, altered)), current);
  EXPECT_EQ(NextConfiguration(current, 9, *MakeConfigurationValue(7, kept)), (ConfigAt{9, kept}));

  // What earlier builds wrote (no addresses recorded) still takes effect:
  // a retired "" stays "", and a member they retired gets "".
  Configuration old_from = OldShape();
  Configuration old_to({{1, MemberRole::kVoter, ""}, {2, MemberRole::kVoter, "h2:2"}}, {3, 4, 5});
  EXPECT_EQ(ValidateChange(old_from, old_to), "");
  EXPECT_EQ(ValidateChange(old_from, OldShape().WithRemoved(4)), "");
}

}  // namespace
}  // namespace synod::paxos
