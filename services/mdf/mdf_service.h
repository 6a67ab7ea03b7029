#pragma once

// gRPC <-> domain mapping for channelops.mdf.v1.MdfService.
//
// Every mutating RPC validates the request's shape on the gRPC thread
// (INVALID_ARGUMENT, nothing written), then queues a command on the event
// store's single writer: the command loads the fund / request / claim from the
// read models through the Tx, calls the pure domain Decide, appends the event
// and updates the read models in the same atomic batch (storage.h), and
// returns the serialized response. The RPC is finished from the store's
// callback once the batch is durable: no gRPC thread ever blocks. Because all
// commands run in one total order on one thread, N approvals racing for the
// last money in a fund are decided in that order: exactly the ones the
// balance still covers are approved, the rest get FAILED_PRECONDITION.
//
// Queries read the committed read models directly.
//
// Authorization (server::Authorizer, --authz_policy) comes first in every
// RPC; a partner-scoped caller may only name its own partner_id, and only
// sees or acts on funds, requests and claims of that partner.
//
// Thread-safe: gRPC calls the handlers from many threads; the sweepers may run
// concurrently with them.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "channelops/server/authz.h"
#include "mdf/domain/decider.h"

namespace channelops::mdf {

struct MdfOptions {
  // Claims are accepted through the end (UTC) of the Nth day after the
  // activity's end date. Recorded on the request at approval. 0..3650.
  int32_t claim_window_days = domain::kDefaultClaimWindowDays;
};

class MdfService final : public v1::MdfService::CallbackService {
 public:
  // The read models this service needs in its store.
  static std::vector<std::string> ReadModelCfs();

  // `store` must have been opened with ReadModelCfs() and with `clock` (the
  // store's clock decides every command's "now"; the sweepers read `clock` to
  // find what is due). Both must outlive this. CHECKs the options' ranges.
  MdfService(eventstore::EventStore& store, core::Clock& clock, MdfOptions options = {});

  // Every RPC is authorized by `authz` first (roles from the policy; partners
  // see and act only on their own funds, requests and claims). Default: allow
  // all. Must outlive this. Not thread-safe: call before serving.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }

  // Funds.
  grpc::ServerUnaryReactor* AllocateFunds(grpc::CallbackServerContext* ctx,
                                          const v1::AllocateFundsRequest* req,
                                          v1::FundResponse* resp) override;
  grpc::ServerUnaryReactor* AdjustFunds(grpc::CallbackServerContext* ctx,
                                        const v1::AdjustFundsRequest* req,
                                        v1::FundResponse* resp) override;
  grpc::ServerUnaryReactor* GetFund(grpc::CallbackServerContext* ctx, const v1::GetFundRequest* req,
                                    v1::FundResponse* resp) override;
  grpc::ServerUnaryReactor* ListFunds(grpc::CallbackServerContext* ctx,
                                      const v1::ListFundsRequest* req,
                                      v1::ListFundsResponse* resp) override;

  // Fund requests.
  grpc::ServerUnaryReactor* SubmitFundRequest(grpc::CallbackServerContext* ctx,
                                              const v1::SubmitFundRequestRequest* req,
                                              v1::FundRequestResponse* resp) override;
  grpc::ServerUnaryReactor* ResubmitFundRequest(grpc::CallbackServerContext* ctx,
                                                const v1::ResubmitFundRequestRequest* req,
                                                v1::FundRequestResponse* resp) override;
  grpc::ServerUnaryReactor* DecideFundRequest(grpc::CallbackServerContext* ctx,
                                              const v1::DecideFundRequestRequest* req,
                                              v1::FundRequestResponse* resp) override;
  grpc::ServerUnaryReactor* CloseFundRequest(grpc::CallbackServerContext* ctx,
                                             const v1::CloseFundRequestRequest* req,
                                             v1::FundRequestResponse* resp) override;
  grpc::ServerUnaryReactor* GetFundRequest(grpc::CallbackServerContext* ctx,
                                           const v1::GetFundRequestRequest* req,
                                           v1::FundRequestResponse* resp) override;
  grpc::ServerUnaryReactor* ListFundRequests(grpc::CallbackServerContext* ctx,
                                             const v1::ListFundRequestsRequest* req,
                                             v1::ListFundRequestsResponse* resp) override;

  // Claims.
  grpc::ServerUnaryReactor* SubmitClaim(grpc::CallbackServerContext* ctx,
                                        const v1::SubmitClaimRequest* req,
                                        v1::ClaimResponse* resp) override;
  grpc::ServerUnaryReactor* DecideClaim(grpc::CallbackServerContext* ctx,
                                        const v1::DecideClaimRequest* req,
                                        v1::ClaimResponse* resp) override;
  grpc::ServerUnaryReactor* RecordPayment(grpc::CallbackServerContext* ctx,
                                          const v1::RecordPaymentRequest* req,
                                          v1::ClaimResponse* resp) override;
  grpc::ServerUnaryReactor* GetClaim(grpc::CallbackServerContext* ctx,
                                     const v1::GetClaimRequest* req,
                                     v1::ClaimResponse* resp) override;
  grpc::ServerUnaryReactor* ListClaims(grpc::CallbackServerContext* ctx,
                                       const v1::ListClaimsRequest* req,
                                       v1::ListClaimsResponse* resp) override;

  // Statement.
  grpc::ServerUnaryReactor* GetPartnerStatement(grpc::CallbackServerContext* ctx,
                                                const v1::GetPartnerStatementRequest* req,
                                                v1::GetPartnerStatementResponse* resp) override;

  // Expires every OPEN fund whose expires_at is at or before the clock's now:
  // finds candidates in rm_deadlines (a range scan of committed data), then
  // runs store commands that re-check each fund on the writer and append
  // FundExpired (the available balance expires; reservations stay). Returns how
  // many funds expired.
  // Closes every APPROVED request whose claim_deadline is at or before now the
  // same way (FundRequestClosed, CLAIM_WINDOW_PASSED: the unclaimed
  // reservation is released). Returns how many requests were closed.
  // Both block until their commands are durable: call them from a background
  // thread (ServiceRuntime::AddBackgroundTask), never from a gRPC handler.
  // Errors: UNAVAILABLE / CANCELLED from the store.
  absl::StatusOr<size_t> SweepExpiredFunds();
  absl::StatusOr<size_t> SweepClaimWindows();

 private:
  eventstore::EventStore& store_;
  core::Clock& clock_;
  const MdfOptions options_;
  const server::Authorizer* authz_ = &kAllowAll;
  static inline const server::Authorizer kAllowAll{};
};

}  // namespace channelops::mdf
