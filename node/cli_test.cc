// Tests of flag parsing (ParseCliFlags, bare flags) and of the serve flags for
// limits: parsing (LimitsFromFlags), their ranges (ReplicaOptions::Validate)
// and the usage error `serve` gives for a bad value, before it starts
// anything; `serve --join` without another member to ask.
#include "node/cli.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/replica.h"
#include "node/replica_options.h"
#include "tests/support/temp_dir.h"

namespace synod::node {
namespace {

class NoMachine : public statemachine::StateMachine {
 public:
  std::string Apply(std::string_view, const statemachine::ApplyContext&) override { return ""; }
  void Snapshot(statemachine::SnapshotWriter&) const override {}
  bool Restore(statemachine::SnapshotReader&) override { return true; }
};

ReplicaOptions Usable() {
  ReplicaOptions options;
  options.id = 1;
  options.cluster = ParseClusterConfig("1=127.0.0.1:1").value();
  options.data_dir = "/nonexistent";
  return options;
}

TEST(ServeLimitFlags, DefaultsAreUsableAndFlagsSetThem) {
  ReplicaOptions options = Usable();
  EXPECT_TRUE(options.Validate().ok());
  EXPECT_EQ(options.max_sessions, 4096u);
  EXPECT_EQ(options.max_session_results, 100000u);
  EXPECT_EQ(options.max_session_result_bytes, 1u << 20);
  EXPECT_EQ(options.max_pending_bytes, 256u << 20);
  EXPECT_EQ(options.ToCoreOptions().max_pending_bytes, 256u << 20);
  CliFlags flags;
  flags.values = {{"--max-sessions", "5"},
                  {"--max-session-results", "7"},
                  {"--max-session-result-bytes", "65536"},
                  {"--max-pending-bytes", "2097152"}};
  EXPECT_TRUE(LimitsFromFlags(flags, options).ok());
  EXPECT_EQ(options.max_sessions, 5u);
  EXPECT_EQ(options.max_session_results, 7u);
  EXPECT_EQ(options.max_session_result_bytes, 65536u);
  EXPECT_EQ(options.ToCoreOptions().max_pending_bytes, 2097152u);
  EXPECT_TRUE(options.Validate().ok());
  for (const char* flag : {"--max-sessions", "--max-session-results", "--max-session-result-bytes",
                           "--max-pending-bytes"}) {
    EXPECT_TRUE(ServeFlags().count(flag)) << flag;
    EXPECT_NE(ServeUsage("p").find(flag), std::string::npos) << flag;
  }
}

TEST(ServeLimitFlags, BadValuesAreClearErrors) {
  struct Case {
    const char* flag;
    const char* value;
    const char* problem;
  };
  for (const Case& c :
       {Case{"--max-sessions", "x", "--max-sessions must be a number"},
        Case{"--max-sessions", "-1", "--max-sessions must be a number"},
        Case{"--max-sessions", "0", "--max-sessions must be at least 1"},
        Case{"--max-session-results", "0", "--max-session-results must be at least 1"},
        Case{"--max-session-results", "99999999999999999999",
             "--max-session-results must be a number"},
        Case{"--max-session-result-bytes", "65535",
             "--max-session-result-bytes must be at least 65536"},
        Case{"--max-session-result-bytes", "x", "--max-session-result-bytes must be a number"},
        Case{"--max-pending-bytes", "1048575", "--max-pending-bytes must be at least 1048576"}}) {
    SCOPED_TRACE(std::string(c.flag) + " " + c.value);
    ReplicaOptions options = Usable();
    CliFlags flags;
    flags.values = {{c.flag, c.value}};
    Status problem = LimitsFromFlags(flags, options);
    if (problem.ok()) problem = options.Validate();
    EXPECT_EQ(problem, Status::InvalidArgument(c.problem));
    // `serve` says the same and exits with the usage code, starting nothing.
    flags.values.insert(
        {{"--id", "1"}, {"--members", "1=127.0.0.1:1"}, {"--data", "/nonexistent"}});
    NoMachine machine;
    testing::internal::CaptureStderr();
    int code = RunServe("prog", flags, machine, "usage\n");
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, kExitUsage);
    EXPECT_NE(err.find(std::string("prog: ") + c.problem), std::string::npos) << err;
  }
}

// A client's --timeout is 1 ms to a day: 0, an empty value and values whose
// deadline would overflow the clock (they used to time out at once) are
// usage errors.
TEST(ClientFlags, TimeoutIsBoundedAndNeverEmpty) {
  auto parse = [](std::vector<std::string> words) {
    std::vector<char*> argv;
    for (std::string& word : words) argv.push_back(word.data());
    Result<CliFlags> flags = ParseCliFlags(static_cast<int>(argv.size()), argv.data(), 1);
    EXPECT_TRUE(flags.ok()) << flags.status().ToString();
    ClientOptions options;
    Status status = ClientOptionsFromFlags(*flags, options);
    return std::make_pair(status, options.timeout);
  };
  const std::string members = "1=127.0.0.1:1";
  auto [ok, timeout] = parse({"prog", "--members", members, "--timeout", "86400000"});
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_EQ(timeout, std::chrono::milliseconds(86400000));
  EXPECT_TRUE(parse({"prog", "--members", members}).first.ok());
  for (const char* bad : {"0", "", "86400001", "10000000000000", "18446744073709551615"}) {
    Status status = parse({"prog", "--members", members, "--timeout", bad}).first;
    EXPECT_EQ(status.code(), Status::Code::kInvalidArgument) << "--timeout '" << bad << "'";
  }
}

TEST(CliFlags, ParsesPairsAndWordsAndRejectsAFlagWithoutValue) {
  std::vector<std::string> words = {"prog", "cmd", "--id", "3", "word", "--data"};
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  Result<CliFlags> flags = ParseCliFlags(5, argv.data(), 2);
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->Get("--id"), "3");
  EXPECT_EQ(flags->positional, std::vector<std::string>{"word"});
  Result<CliFlags> missing = ParseCliFlags(6, argv.data(), 2);
  EXPECT_EQ(missing.status(), Status::InvalidArgument("--data needs a value"));
}

Result<CliFlags> Parse(std::vector<std::string> words, int from = 2) {
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  return ParseCliFlags(static_cast<int>(argv.size()), argv.data(), from);
}

// `--join` takes no value wherever it stands, and never swallows the next flag.
TEST(CliFlags, JoinIsABareFlagFirstInTheMiddleOrLast) {
  const std::string members = "1=127.0.0.1:1,4=127.0.0.1:4";
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"prog", "serve", "--join", "--id", "4", "--members", members,
                                 "--data", "d"},
        std::vector<std::string>{"prog", "serve", "--id", "4", "--join", "--members", members,
                                 "--data", "d"},
        std::vector<std::string>{"prog", "serve", "--id", "4", "--members", members, "--data", "d",
                                 "--join"}}) {
    Result<CliFlags> flags = Parse(words);
    ASSERT_TRUE(flags.ok()) << flags.status().ToString();
    EXPECT_EQ(flags->Get("--join"), "yes");
    EXPECT_EQ(flags->Get("--id"), "4");
    EXPECT_EQ(flags->Get("--members"), members);
    EXPECT_EQ(flags->Get("--data"), "d");
    EXPECT_TRUE(flags->positional.empty());
    EXPECT_EQ(flags->FirstUnknown(ServeFlags()), "");
  }
  // A word after it is a positional word, not its value.
  Result<CliFlags> flags = Parse({"prog", "serve", "--join", "yes", "--id", "4"});
  ASSERT_TRUE(flags.ok());
  EXPECT_EQ(flags->positional, std::vector<std::string>{"yes"});
  EXPECT_EQ(flags->Get("--id"), "4");
  EXPECT_NE(ServeUsage("p").find("[--join]"), std::string::npos);
}

TEST(CliFlags, JoinIsAnUnknownOptionForOtherCommands) {
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"prog", "members", "list", "--join", "--members", "1=127.0.0.1:1"},
        std::vector<std::string>{"prog", "members", "list", "--members", "1=127.0.0.1:1",
                                 "--join"}}) {
    Result<CliFlags> flags = Parse(words);
    ASSERT_TRUE(flags.ok()) << flags.status().ToString();
    testing::internal::CaptureStderr();
    int code = RunMembers("prog", *flags, "usage\n");
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(code, kExitUsage);
    EXPECT_EQ(err, "prog: unknown option --join for members list\nusage\n");
  }
}

uint16_t FreePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

// `serve --join` with a --members that names no other replica has nobody to
// ask: a usage error before anything is written (not even the directory),
// and it never forms a cluster from that list (a single member, which would
// otherwise serve at once).
TEST(ServeJoin, WithoutAnotherMemberItIsAUsageErrorAndWritesNothing) {
  test_support::TempDir tmp("synod-join");
  const std::string members = "1=127.0.0.1:" + std::to_string(FreePort());
  const std::string absent = tmp / "absent";
  Result<CliFlags> flags =
      Parse({"prog", "serve", "--id", "1", "--join", "--members", members, "--data", absent});
  ASSERT_TRUE(flags.ok());
  NoMachine machine;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int code = RunServe("prog", *flags, machine, "usage\n");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "") << "it must not print ready";
  EXPECT_EQ(code, kExitUsage) << err;
  EXPECT_EQ(err,
            "prog: --join needs at least one current member in --members besides replica 1\n"
            "usage\n");
  EXPECT_FALSE(std::filesystem::exists(absent));
}

// Two spellings of one address in serve's --members: a usage error naming
// both, before anything is written.
TEST(Serve, AMembersListNamingOneAddressTwiceIsAUsageError) {
  test_support::TempDir tmp("synod-serve-twice");
  const std::string absent = tmp / "absent";
  Result<CliFlags> flags = Parse({"prog", "serve", "--id", "1", "--members",
                                  "1=127.0.0.1:7001,2=localhost:7001", "--data", absent});
  ASSERT_TRUE(flags.ok());
  NoMachine machine;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int code = RunServe("prog", *flags, machine, "usage\n");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(code, kExitUsage) << err;
  EXPECT_EQ(err,
            "prog: --members: members 1=127.0.0.1:7001 and 2=localhost:7001 name one address\n"
            "usage\n");
  EXPECT_FALSE(std::filesystem::exists(absent));
}

TEST(TransferLeaderCommand, ABadReplicaIdIsAUsageError) {
  ClientOptions options;
  options.cluster = ParseClusterConfig("1=127.0.0.1:1").value();
  for (const char* id : {"", "0", "x", "-1", "4294967296"}) {
    EXPECT_EQ(RunTransferLeader("prog", options, id, "usage\n"), kExitUsage) << id;
  }
}

TEST(TransferLeaderCommand, NoMemberAnsweringIsAFailureAtTheTimeout) {
  ClientOptions options;
  options.cluster = ParseClusterConfig("1=127.0.0.1:1").value();  // nothing listens
  options.timeout = std::chrono::milliseconds(200);
  options.attempt_timeout = options.timeout;
  EXPECT_EQ(RunTransferLeader("prog", options, "1", "usage\n"), kExitFailed)
      << "no request could have started a transfer";
}

}  // namespace
}  // namespace synod::node
