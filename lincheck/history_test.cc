// Tests of ParseHistory: pairing of invokes and completions, fail / info /
// never-completed outcomes, and malformed input named by its line.
#include "lincheck/history.h"

#include <gtest/gtest.h>

#include <sstream>

#include "lincheck/test_util.h"

namespace synod::lincheck {
namespace {

using testing::ParseError;

ParsedHistory Parse(const std::string& text, const std::string& model) {
  std::istringstream in(text);
  return ParseHistory(in, model);
}

TEST(Parse, PairsInvokesWithTheSameProcessCompletions) {
  ParsedHistory h = Parse(R"({"process":0,"type":"invoke","f":"write","value":3,"time":1}
{"process":1,"type":"invoke","f":"read","time":2}

{"process":1,"type":"ok","f":"read","value":null,"time":3}
{"process":0,"type":"ok","f":"write","value":3,"time":4}
{"process":2,"type":"invoke","f":"cas","value":[3,4]}
{"process":2,"type":"info","f":"cas","value":[3,4]}
{"process":3,"type":"invoke","f":"write","value":9}
{"process":3,"type":"fail","f":"write","value":9}
{"process":4,"type":"invoke","f":"write","value":-7})",
                          "register");
  ASSERT_EQ(h.error, "");
  ASSERT_EQ(h.operations.size(), 4u);  // the failed write is dropped
  const Operation& read = h.operations[0];
  EXPECT_EQ(read.process, 1);
  EXPECT_EQ(read.f, Function::kRead);
  EXPECT_FALSE(read.value.has_value());
  EXPECT_TRUE(read.known);
  EXPECT_EQ(read.invoke_line, 2);
  EXPECT_EQ(read.complete_line, 4);
  EXPECT_LT(read.call, read.ret);
  const Operation& write = h.operations[1];
  EXPECT_EQ(write.value, 3);
  EXPECT_LT(write.call, read.call);
  EXPECT_GT(write.ret, read.ret);
  EXPECT_EQ(write.invoke_text, R"({"process":0,"type":"invoke","f":"write","value":3,"time":1})");
  const Operation& cas = h.operations[2];
  EXPECT_FALSE(cas.known);
  EXPECT_EQ(cas.ret, SIZE_MAX);
  EXPECT_EQ(cas.cas_old, 3);
  EXPECT_EQ(cas.cas_new, 4);
  const Operation& open = h.operations[3];  // never completed: unknown
  EXPECT_FALSE(open.known);
  EXPECT_EQ(open.value, -7);
  EXPECT_EQ(open.complete_line, 0);
}

TEST(Parse, ProcessMayInvokeAgainAfterInfo) {
  ParsedHistory h = Parse(R"({"process":0,"type":"invoke","f":"add","value":1}
{"process":0,"type":"info","f":"add","value":1}
{"process":0,"type":"invoke","f":"get"}
{"process":0,"type":"ok","f":"get","value":1})",
                          "counter");
  ASSERT_EQ(h.error, "");
  EXPECT_EQ(h.operations.size(), 2u);
}

TEST(Parse, KvKeysMayBeStringsOrIntegers) {
  ParsedHistory h = Parse(R"({"process":0,"type":"invoke","f":"write","key":7,"value":1}
{"process":0,"type":"ok","f":"write","key":7,"value":1}
{"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"process":0,"type":"ok","f":"write","key":"x","value":1})",
                          "kv");
  ASSERT_EQ(h.error, "");
  EXPECT_EQ(h.operations[0].key, "7");
  EXPECT_EQ(h.operations[1].key, "x");
}

TEST(Parse, ExtremeValuesAreKept) {
  ParsedHistory h = Parse(R"({"process":0,"type":"invoke","f":"write","value":9223372036854775807}
{"process":0,"type":"ok","f":"write","value":9223372036854775807}
{"process":0,"type":"invoke","f":"write","value":-9223372036854775808}
{"process":0,"type":"ok","f":"write","value":-9223372036854775808})",
                          "register");
  ASSERT_EQ(h.error, "");
  EXPECT_EQ(h.operations[0].value, INT64_MAX);
  EXPECT_EQ(h.operations[1].value, INT64_MIN);
}

TEST(Parse, UnknownModelIsAnError) {
  ParsedHistory h = Parse("", "queue");
  EXPECT_NE(h.error, "");
  EXPECT_EQ(h.error_line, 0);
}

TEST(Parse, EmptyInputIsAnEmptyHistory) {
  ParsedHistory h = Parse("\n  \n", "register");
  EXPECT_EQ(h.error, "");
  EXPECT_TRUE(h.operations.empty());
}

// Every malformed line is reported with its number, never accepted.
TEST(Parse, MalformedInputNamesTheLine) {
  struct Case {
    const char* text;
    const char* model;
    int line;
  };
  const std::string read = R"({"process":0,"type":"invoke","f":"read"})";
  for (const Case& c : std::initializer_list<Case>{
           // not JSON, not an object
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\nnot json\n", "register", 2},
           {"[1,2]\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"} trailing\n", "register", 1},
           // missing or mistyped fields
           {"{\"type\":\"invoke\",\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":\"a\",\"type\":\"invoke\",\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":0.5,\"type\":\"invoke\",\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":0,\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\"}\n", "register", 1},
           // unknown type or f; f of another model
           {"{\"process\":0,\"type\":\"begin\",\"f\":\"read\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"delete\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"value\":1}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n", "counter", 1},
           // completion without an invoke; a second invoke while one is open
           {"{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n",
            "register", 3},
           // completion of another f or key
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
            "register", 2},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\"}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":\"b\",\"value\":1}\n",
            "kv", 2},
           // wrong value shapes
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":\"3\"}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1.5}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":9223372036854775808}\n",
            "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":3}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1]}\n", "register", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"value\":[1,null]}\n", "register",
            1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"add\"}\n", "counter", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"get\"}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"value\":null}\n",
            "counter", 2},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"read\"}\n",
            "register", 2},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[1]}\n",
            "register", 2},
           // kv keys: missing, mistyped, or one key both a string and an integer
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n", "kv", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":[1]}\n", "kv", 1},
           {"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"key\":1,\"value\":null}\n"
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"1\"}\n",
            "kv", 3},
       }) {
    int line = -1;
    std::string error = ParseError(c.text, c.model, &line);
    EXPECT_NE(error, "") << c.text;
    EXPECT_EQ(line, c.line) << c.text << " -> " << error;
  }
}

}  // namespace
}  // namespace synod::lincheck
