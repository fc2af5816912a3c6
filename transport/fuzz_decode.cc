// libFuzzer target for the transport's decode path: arbitrary bytes are read
// as a serialized PeerBatch and converted to paxos messages. Decoding must
// return a value or an error, never crash, hang or leak. Built only with
// clang and -DSYNOD_FUZZ=ON; run by `make fuzz`.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "transport/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  synod::transport::Limits limits;
  limits.max_message_bytes = 1 << 20;  // keep iterations fast
  limits.max_list_items = 1 << 12;
  std::vector<synod::paxos::Message> messages;
  // Unaligned sizes are padded so the Cap'n Proto reader sees the bytes too.
  std::string padded(reinterpret_cast<const char*>(data), size);
  padded.resize((size + 7) / 8 * 8, '\0');
  synod::Status decoded =
      synod::transport::DecodePeerBatchBytes(padded.data(), padded.size(), limits, &messages);
  if (decoded.ok()) {
    // Whatever decoded must encode and decode again to the same messages.
    std::string again = synod::transport::EncodePeerBatchBytes(messages);
    std::vector<synod::paxos::Message> round_trip;
    if (!synod::transport::DecodePeerBatchBytes(again.data(), again.size(), limits, &round_trip)
             .ok() ||
        round_trip.size() != messages.size() ||
        synod::transport::EncodePeerBatchBytes(round_trip) != again) {
      __builtin_trap();
    }
  }
  return 0;
}
