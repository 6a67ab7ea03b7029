#pragma once

// gRPC <-> domain mapping for channelops.pos.v1.PosIngestionService.
//
// Every mutating unary RPC validates the request's shape on the gRPC thread
// (INVALID_ARGUMENT, nothing written), then queues a command on the event
// store's single writer: the command reads state through the Tx (read models
// rm_*, see read_models.h), calls the pure domain Decide, appends the events
// and updates the read models in the same atomic batch, and returns the
// serialized response. The RPC is finished from the store's callback once the
// batch is durable: no gRPC thread ever blocks.
//
// IngestReport is a client-streaming RPC served by a read reactor
// (report_ingestion.h): the bytes are parsed incrementally, chunk by chunk, and
// the lines are committed in batches of kBatchLines per store command, up to
// kMaxBatchesInFlight of them in flight per stream, so a report of any size is
// held in memory a few batches at a time.
//
// Price protection needs each partner's inventory at the instant of a drop: a
// range scan of the ledger, which the Tx cannot do. The command scans the
// committed ledger from the writer thread after checking that no movement of
// the SKU is still waiting to be committed (else it is retried once that batch
// is durable), so the scan sees exactly what the writer sees.
//
// Queries read the committed read models directly.
//
// Thread-safe: gRPC calls the handlers from many threads.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "channelops/server/authz.h"

namespace channelops::pos {

// Lines per store command while ingesting a report.
inline constexpr size_t kBatchLines = 2000;
// Batch commands of one stream queued together (normal mode): the store
// decides the next while it writes and syncs the one before.
inline constexpr size_t kMaxBatchesInFlight = 4;
// Spent batches a stream keeps to parse later lines into (their items' memory
// kept). A 1 MiB chunk of CSV is ~5 batches: with fewer spares than that, the
// rest of each chunk was parsed into new items and freed when answered
// (bench_pos: the answering thread spent 95% of its time freeing them). The
// stream holds at most this many more batches than its in-flight peak.
inline constexpr size_t kMaxSpareBatches = 8;
// all_or_nothing reports are staged and published by one command: bounded.
inline constexpr int64_t kMaxAllOrNothingLines = 20000;
// Rejects and duplicates listed in an IngestReport answer (all: ListRejectedLines).
inline constexpr int kMaxRejectsInResponse = 1000;

class PosIngestionService final : public v1::PosIngestionService::CallbackService {
 public:
  // The read models this service needs in its store.
  static std::vector<std::string> ReadModelCfs();
  // FAILED_PRECONDITION if `store` holds report lines in the format before
  // PosLinesAccepted chunks (rm_report_lines rows), which this version would
  // not read: refuse to serve rather than answer from half the data.
  static absl::Status CheckStoreFormat(const eventstore::EventStore& store);

  // `store` must have been opened with ReadModelCfs() and with `clock` (the
  // store's clock decides every command's "now"). Both must outlive this.
  PosIngestionService(eventstore::EventStore& store, core::Clock& clock);

  // Every RPC is authorized by `authz` first (roles from the policy; partners
  // send and see only their own reports). Default: allow all. Must outlive
  // this. Not thread-safe: call before serving.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }

  grpc::ServerUnaryReactor* UpsertProduct(grpc::CallbackServerContext* ctx,
                                          const v1::UpsertProductRequest* req,
                                          v1::UpsertProductResponse* resp) override;
  grpc::ServerUnaryReactor* GetProduct(grpc::CallbackServerContext* ctx,
                                       const v1::GetProductRequest* req,
                                       v1::GetProductResponse* resp) override;
  grpc::ServerUnaryReactor* ChangePrice(grpc::CallbackServerContext* ctx,
                                        const v1::ChangePriceRequest* req,
                                        v1::ChangePriceResponse* resp) override;
  grpc::ServerUnaryReactor* SetPriceProtectionTerms(
      grpc::CallbackServerContext* ctx, const v1::SetPriceProtectionTermsRequest* req,
      v1::SetPriceProtectionTermsResponse* resp) override;
  grpc::ServerUnaryReactor* RecordShipments(grpc::CallbackServerContext* ctx,
                                            const v1::RecordShipmentsRequest* req,
                                            v1::RecordShipmentsResponse* resp) override;
  grpc::ServerReadReactor<v1::IngestReportRequest>* IngestReport(
      grpc::CallbackServerContext* ctx, v1::IngestReportResponse* resp) override;
  grpc::ServerUnaryReactor* GetReport(grpc::CallbackServerContext* ctx,
                                      const v1::GetReportRequest* req,
                                      v1::GetReportResponse* resp) override;
  grpc::ServerUnaryReactor* ListRejectedLines(grpc::CallbackServerContext* ctx,
                                              const v1::ListRejectedLinesRequest* req,
                                              v1::ListRejectedLinesResponse* resp) override;
  grpc::ServerUnaryReactor* GetChannelInventory(grpc::CallbackServerContext* ctx,
                                                const v1::GetChannelInventoryRequest* req,
                                                v1::GetChannelInventoryResponse* resp) override;
  grpc::ServerUnaryReactor* ReconcileInventory(grpc::CallbackServerContext* ctx,
                                               const v1::ReconcileInventoryRequest* req,
                                               v1::ReconcileInventoryResponse* resp) override;
  grpc::ServerUnaryReactor* GetSellThrough(grpc::CallbackServerContext* ctx,
                                           const v1::GetSellThroughRequest* req,
                                           v1::GetSellThroughResponse* resp) override;
  grpc::ServerUnaryReactor* ListPriceProtectionCredits(
      grpc::CallbackServerContext* ctx, const v1::ListPriceProtectionCreditsRequest* req,
      v1::ListPriceProtectionCreditsResponse* resp) override;

  // Applies every scheduled price change whose effective instant is at or
  // before the clock's now, in effective order, issuing the credits of drops.
  // Returns how many were applied. Blocks until the commands are durable: call
  // it from a background thread (ServiceRuntime::AddBackgroundTask), never from
  // a gRPC handler. Errors: UNAVAILABLE / CANCELLED from the store.
  absl::StatusOr<size_t> ApplyDuePriceChanges();

  // Deletes staged lines of all_or_nothing streams that ended without a
  // result (the process died mid-stream) and are older than `older_than`.
  // Returns how many rows were removed. Blocking, like ApplyDuePriceChanges.
  absl::StatusOr<size_t> SweepAbandonedStaging(absl::Duration older_than);

  // ---- used by the report reactor (report_ingestion.cc) ----
  eventstore::EventStore& store() { return store_; }
  core::Clock& clock() { return clock_; }
  const server::Authorizer& authorizer() const { return *authz_; }
  // Claims a report id for one stream; false if another stream holds it.
  bool ClaimReport(const std::string& report_id, const std::string& attempt);
  void ReleaseReport(const std::string& report_id);

 private:
  bool AttemptActive(absl::string_view attempt) const;

  eventstore::EventStore& store_;
  core::Clock& clock_;
  const server::Authorizer* authz_ = &kAllowAll;
  static inline const server::Authorizer kAllowAll{};

  mutable absl::Mutex mu_;
  // report id -> attempt id of the stream ingesting it
  absl::flat_hash_map<std::string, std::string> active_reports_ ABSL_GUARDED_BY(mu_);
};

}  // namespace channelops::pos
