// SnapshotChunkSink: where a SnapshotFetcher puts the snapshot it receives.
// transport/ declares it and knows only the snapshot's metadata; the runtime
// implements it over its snapshot store (node/store_chunk_sink.h), with the
// writes and fsyncs on a thread of its own.
//
// Threading: the fetcher calls every method on the network thread. Each
// completion runs later on the network thread (never inside the call), and
// calls take effect in the order they were made. Completions of calls still
// pending when the sink is destroyed may be dropped; the sink must outlive
// every fetcher that uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "snapshot/snapshot_meta.h"
#include "util/status.h"

namespace synod::transport {

// One receive at a time: Begin, Appends in offset order, then Finish or Stop.
class SnapshotChunkSink {
 public:
  virtual ~SnapshotChunkSink() = default;

  // Starts receiving `meta`, or resumes a receive of the same meta that an
  // earlier attempt (also of an earlier process) left durable. `done` gets
  // how many leading bytes are already held (the transfer continues there),
  // or why the receive cannot start (e.g. `meta` is not newer than the
  // latest local snapshot, or another receive is open).
  virtual void Begin(const snapshot::SnapshotMeta& meta,
                     std::function<void(Result<uint64_t> held)> done) = 0;

  // Appends `bytes` at `offset`, which is where the bytes held so far end.
  // `done` gets ok, or why not (an I/O error; every later Append and Finish
  // of this receive then fails too).
  virtual void Append(uint64_t offset, std::string bytes, std::function<void(Status)> done) = 0;

  // Every byte is here: checks the size and CRC32C against the meta and
  // installs the snapshot durably and atomically. `done` gets the installed
  // meta, or why not (on a size or checksum mismatch the partial data is
  // discarded). Ends the receive.
  virtual void Finish(std::function<void(Result<snapshot::SnapshotMeta> installed)> done) = 0;

  // Ends the receive without installing: the bytes received are made durable
  // and kept for a later Begin of the same meta (abandon false), or deleted
  // (abandon true). No completion; a no-op when no receive is open.
  virtual void Stop(bool abandon) = 0;
};

}  // namespace synod::transport
