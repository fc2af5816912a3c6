// Replica's snapshot handling: restore at start, take when due (then compact
// the log), fetch and install a peer's snapshot when behind its compacted log.
#include <spdlog/logger.h>

#include <chrono>

#include "node/replica.h"

namespace synod::node {

Result<paxos::Slot> Replica::RestoreLatestSnapshot(const log::RecoveredLog& recovered) {
  std::optional<snapshot::SnapshotMeta> latest = snapshotter_->store().Latest();
  paxos::Slot slot = latest ? latest->applied_slot : 0;
  if (recovered.paxos.compacted > slot) {
    return Status::Corruption("the log in " + options_.data_dir + " was compacted through slot " +
                              std::to_string(recovered.paxos.compacted) +
                              " but the latest snapshot covers only slot " + std::to_string(slot) +
                              " (snapshots missing?): refusing to start with a gap in the state");
  }
  if (!latest) return paxos::Slot{0};
  Status restored = snapshotter_->Restore(*latest, *applier_);
  if (!restored.ok()) {
    return restored.WithContext("cannot restore the snapshot in " + snapshotter_->store().dir());
  }
  if (join_cluster_id_ != 0 && applier_->cluster_id() != join_cluster_id_) {
    return Status::InvalidArgument(
        fmt::format("the snapshot at slot {} belongs to cluster {:016x}, not to cluster {:016x} "
                    "whose members this replica asked to join",
                    slot, applier_->cluster_id(), join_cluster_id_));
  }
  logger_->info("restored snapshot at slot {} ({} bytes; configuration {} set at slot {})", slot,
                latest->size_bytes, applier_->config().config.ToString(), applier_->config().slot);
  RecordClusterId(applier_->cluster_id());
  return slot;
}

void Replica::MaybeTakeSnapshot(const paxos::CommittedEntry& entry) {
  if (options_.snapshot_every == 0 || entry.value == nullptr) return;
  commands_since_snapshot_ += entry.value->commands.size();
  bytes_since_snapshot_ += entry.value->ByteSize();
  if (commands_since_snapshot_ < options_.snapshot_every &&
      bytes_since_snapshot_ < options_.snapshot_log_bytes) {
    return;
  }
  TakeSnapshotNow();
}

void Replica::TakeSnapshotNow() {
  if (!applier_ || applier_->applied() == 0) return;
  std::optional<snapshot::SnapshotMeta> latest = snapshotter_->store().Latest();
  if (latest && latest->applied_slot >= applier_->applied()) return;  // nothing new
  bool started = snapshotter_->Take(*applier_, [this](Result<snapshot::SnapshotMeta> meta) {
    if (!meta.ok()) {
      // The state is still whole in memory and the log is not compacted:
      // nothing is lost; try again after more commands.
      logger_->error("taking a snapshot failed: {}", meta.status().message());
      snapshot_again_ = false;
      return;
    }
    if (!core_) return;
    core_->Compact(meta->applied_slot, options_.log_tail);
    logger_->debug("snapshot at slot {} durable ({} bytes); log compacted through {}",
                   meta->applied_slot, meta->size_bytes, core_->Status().compacted);
    if (snapshot_again_) {
      snapshot_again_ = false;
      TakeSnapshotNow();
    }
    AfterInput();
  });
  if (started) {
    commands_since_snapshot_ = 0;
    bytes_since_snapshot_ = 0;
  }
}

void Replica::FetchSnapshot(const paxos::SnapshotFetch& fetch) {
  if (fetching_) return;  // the core asks again if this one fails
  const MemberAddress* peer = book_.Find(fetch.from);
  if (peer == nullptr) {
    // The core asks again: logged once per 10 s (then a summary).
    fetch_log_.Warn("fetch/" + std::to_string(fetch.from),
                    fmt::format("behind replica {}'s compacted log (needs slot {}) but no address "
                                "is known for replica {} (members {}): cannot fetch its snapshot",
                                fetch.from, fetch.at_least, fetch.from, book_.ToString()));
    return;
  }
  transport::SnapshotFetcherOptions fetch_options;
  fetch_options.peer = transport::PeerEndpoint{fetch.from, peer->host, peer->port};
  fetch_options.cluster_id = wire_cluster_id_;
  fetch_options.self = options_.id;
  fetch_options.logger = logger_;
  // As for peer messages (FollowConfiguration): nothing from a build that
  // cannot read the configuration in effect.
  fetch_options.required_features =
      RecordsRemovedAddress(applier_->config().config) ? transport::kFeatureRetiredAddresses : 0;
  if (!chunk_sink_) {
    chunk_sink_ = std::make_unique<StoreChunkSink>(loop_.io(), snapshotter_->store(), logger_);
  }
  fetcher_ = std::make_unique<transport::SnapshotFetcher>(loop_, *chunk_sink_, fetch_options);
  logger_->info("behind replica {}'s compacted log (needs slot {}): fetching its snapshot",
                fetch.from, fetch.at_least);
  fetching_ = true;
  fetcher_->Fetch(fetch.at_least,
                  [this](transport::FetchResult result) { OnSnapshotFetched(result); });
}

void Replica::OnSnapshotFetched(const transport::FetchResult& result) {
  fetching_ = false;
  if (result.ok()) {
    logger_->info("fetched snapshot at slot {}: {} bytes in {:.2f} s (resumed from {})",
                  result.meta.applied_slot, result.bytes_transferred, result.seconds,
                  result.resumed_from);
  } else {
    logger_->warn("snapshot fetch failed after {:.2f} s ({} bytes): {}", result.seconds,
                  result.bytes_transferred, result.status.message());
  }
  InstallLatestFromStore();
}

void Replica::InstallLatestFromStore() {
  std::optional<snapshot::SnapshotMeta> latest = snapshotter_->store().Latest();
  if (!core_ || !latest || latest->applied_slot <= core_->Status().delivered) return;
  paxos::ConfigAt before = applier_->config();
  Status restored = snapshotter_->Restore(*latest, *applier_);
  if (!restored.ok()) {
    // The state machine may be half restored: stopping is the only safe move.
    Fatal("cannot install snapshot " + std::to_string(latest->applied_slot) + ": " +
          restored.message());
    return;
  }
  // The configuration the snapshot holds (in effect after its slot).
  core_->InstallSnapshot(latest->applied_slot, applier_->config());
  // The core keeps the configurations it knew below the snapshot's.
  if (applier_->config().slot > before.slot) previous_config_ = std::move(before);
  leader_clock_.Applied(applier_->log_time_ms(), std::chrono::steady_clock::now());
  logger_->info("installed snapshot at slot {}; continuing from the log", latest->applied_slot);
  RecordClusterId(applier_->cluster_id());  // its slot may be inside the snapshot
  if (!FollowConfiguration()) return;       // the snapshot's configuration removed us
  commands_since_snapshot_ = 0;
  bytes_since_snapshot_ = 0;
  AfterInput();
}

}  // namespace synod::node
