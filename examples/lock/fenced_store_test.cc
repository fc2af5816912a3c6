// Tests of the fenced store's rule: a write with a token older than the
// highest seen for that lock is rejected and changes nothing; equal or newer
// tokens are accepted; locks are independent; bad requests are errors.
#include "examples/lock/fenced_store.h"

#include <gtest/gtest.h>

namespace synod::examples {
namespace {

TEST(FencedStore, RejectsOlderTokensPerLock) {
  FencedStore store;
  EXPECT_EQ(store.Handle("READ job"), "EMPTY");
  EXPECT_EQ(store.Handle("WRITE job 1 from alice"), "OK");
  EXPECT_EQ(store.Handle("WRITE job 1 alice again"), "OK");
  EXPECT_EQ(store.Handle("WRITE job 2 from bob"), "OK");
  EXPECT_EQ(store.Handle("WRITE job 1 stale alice"), "REJECTED 2");
  EXPECT_EQ(store.Handle("READ job"), "VALUE 2 from bob");
  EXPECT_EQ(store.Handle("WRITE other 1 x"), "OK");
  EXPECT_EQ(store.Handle("WRITE job 5 "), "OK");
  EXPECT_EQ(store.Handle("READ job"), "VALUE 5 ");
}

TEST(FencedStore, BadRequestsAreErrorsAndChangeNothing) {
  FencedStore store;
  store.Handle("WRITE job 3 keep");
  for (const char* bad : {"", "WRITE", "WRITE job", "WRITE job x data", "WRITE job 0 data",
                          "WRITE job -1 data", "WRITE  3 data", "READ", "READ a b", "DELETE job",
                          "WRITE job 9 two\nlines", "WRITE job 99999999999999999999 d"}) {
    EXPECT_EQ(store.Handle(bad).rfind("ERROR ", 0), 0u) << bad;
  }
  EXPECT_EQ(store.Handle("READ job"), "VALUE 3 keep");
}

}  // namespace
}  // namespace synod::examples
