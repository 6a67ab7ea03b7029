#pragma once

// gRPC <-> domain mapping for channelops.leads.v1.LeadRoutingService.
//
// Every mutating RPC validates the request's shape on the gRPC thread
// (INVALID_ARGUMENT, nothing written), then queues a command on the event
// store's single writer. The command decides with the pure domain (Decide over
// the lead read from rm_leads and the routing index), appends the events and
// updates the read models in the same atomic batch, and returns the serialized
// response; the RPC is finished from the store's callback once the batch is
// durable. No gRPC thread blocks on a write.
//
// The routing index (territories by country -> region -> postal prefix,
// partner profiles and counters, rotation state) is kept in memory on the
// writer thread, so a routing decision costs no storage reads. It is a cache of
// the rm_territories / rm_partners / rm_partner_stats / rm_rotation read
// models, which every command updates in its batch. Coherence: each command
// bumps an epoch stored in rm_routing_meta and compares it, through its Tx, with
// the epoch the cache was built at; a mismatch (a failed batch voided commands
// the cache had already applied, or the process just started) rebuilds the
// cache from the committed read models before deciding. Commands never fail
// after touching the cache. Hence: one LeadRoutingService per store.
//
// Queries read the committed read models directly.
//
// Thread-safe: gRPC calls the handlers from many threads.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"
#include "channelops/leads/v1/leads.grpc.pb.h"

namespace channelops::leads {

// Read-model column families (pass to ServiceRuntime / EventStore options).
inline constexpr char kLeadsCf[] = "rm_leads";                 // lead_id -> Lead
inline constexpr char kTerritoriesCf[] = "rm_territories";     // territory_id -> Territory
inline constexpr char kPartnersCf[] = "rm_partners";           // partner_id -> PartnerProfile
inline constexpr char kPartnerStatsCf[] = "rm_partner_stats";  // partner_id -> PartnerCounters
inline constexpr char kAcceptTimesCf[] = "rm_accept_times";    // partner_id -> AcceptTimes
// territory_id \0 partner_id -> BE u64 rotation pass; territory_id \0 -> BE u64 virtual time
inline constexpr char kRotationCf[] = "rm_rotation";
inline constexpr char kInboxCf[] =
    "rm_inbox";  // partner_id \0 lead_id -> "" (held or closed by it)
inline constexpr char kDeadlinesCf[] =
    "rm_deadlines";  // BE u64 deadline micros + lead_id -> partner_id (ASSIGNED)
inline constexpr char kUnroutedCf[] =
    "rm_unrouted";  // BE u64 queued micros + lead_id -> "" (UNROUTED)
inline constexpr char kRoutingMetaCf[] = "rm_routing_meta";  // "epoch" -> BE u64

class LeadRoutingService final : public v1::LeadRoutingService::CallbackService {
 public:
  // The read models this service needs in its store.
  static std::vector<std::string> ReadModelCfs();

  // `store` must have been opened with ReadModelCfs() and with `clock` (the
  // store's clock decides every command's "now"). Both must outlive this, and
  // the store must be closed (its queued commands reference this service)
  // before this is destroyed. At most one LeadRoutingService may use a store.
  LeadRoutingService(eventstore::EventStore& store, core::Clock& clock);

  // Every RPC is authorized by `authz` first (roles from the policy; a partner
  // acts only on leads offered to itself). Default: allow all. Must outlive
  // this. Call before serving.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }
  ~LeadRoutingService() override;

  grpc::ServerUnaryReactor* UpsertTerritory(grpc::CallbackServerContext* ctx,
                                            const v1::UpsertTerritoryRequest* req,
                                            v1::TerritoryResponse* resp) override;
  grpc::ServerUnaryReactor* GetTerritory(grpc::CallbackServerContext* ctx,
                                         const v1::GetTerritoryRequest* req,
                                         v1::TerritoryResponse* resp) override;
  grpc::ServerUnaryReactor* UpsertPartnerProfile(grpc::CallbackServerContext* ctx,
                                                 const v1::UpsertPartnerProfileRequest* req,
                                                 v1::PartnerProfileResponse* resp) override;
  grpc::ServerUnaryReactor* GetPartnerProfile(grpc::CallbackServerContext* ctx,
                                              const v1::GetPartnerProfileRequest* req,
                                              v1::PartnerProfileResponse* resp) override;
  grpc::ServerUnaryReactor* SubmitLead(grpc::CallbackServerContext* ctx,
                                       const v1::SubmitLeadRequest* req,
                                       v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* AcceptLead(grpc::CallbackServerContext* ctx,
                                       const v1::AcceptLeadRequest* req,
                                       v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* DeclineLead(grpc::CallbackServerContext* ctx,
                                        const v1::DeclineLeadRequest* req,
                                        v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* ConvertLead(grpc::CallbackServerContext* ctx,
                                        const v1::ConvertLeadRequest* req,
                                        v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* CloseLead(grpc::CallbackServerContext* ctx,
                                      const v1::CloseLeadRequest* req,
                                      v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* ReassignLead(grpc::CallbackServerContext* ctx,
                                         const v1::ReassignLeadRequest* req,
                                         v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* GetLead(grpc::CallbackServerContext* ctx, const v1::GetLeadRequest* req,
                                    v1::LeadResponse* resp) override;
  grpc::ServerUnaryReactor* ListLeads(grpc::CallbackServerContext* ctx,
                                      const v1::ListLeadsRequest* req,
                                      v1::ListLeadsResponse* resp) override;
  grpc::ServerUnaryReactor* ListUnroutedLeads(grpc::CallbackServerContext* ctx,
                                              const v1::ListUnroutedLeadsRequest* req,
                                              v1::ListLeadsResponse* resp) override;
  grpc::ServerUnaryReactor* GetRoutingHistory(grpc::CallbackServerContext* ctx,
                                              const v1::GetRoutingHistoryRequest* req,
                                              v1::GetRoutingHistoryResponse* resp) override;
  grpc::ServerUnaryReactor* GetPartnerLeadStats(grpc::CallbackServerContext* ctx,
                                                const v1::GetPartnerLeadStatsRequest* req,
                                                v1::PartnerLeadStats* resp) override;

  // Times out every offer whose acceptance deadline is at or before the
  // clock's now: finds them in rm_deadlines (a range scan of committed data),
  // then runs one store command per lead that re-checks the offer on the writer
  // (an acceptance racing the sweep wins), appends LeadAcceptanceTimedOut
  // (+ PartnerPaused when the partner reaches its miss limit) and re-routes the
  // lead. Returns how many offers timed out. Blocks until the commands are
  // durable: call it from a background thread (ServiceRuntime::AddBackgroundTask),
  // never from a gRPC handler. Errors: UNAVAILABLE / CANCELLED from the store.
  absl::StatusOr<size_t> SweepAcceptanceTimeouts();

  class WriterState;  // the routing index cache; touched only on the store's writer thread

 private:
  eventstore::EventStore& store_;
  const server::Authorizer* authz_ = &kAllowAll;
  static inline const server::Authorizer kAllowAll{};
  core::Clock& clock_;
  std::unique_ptr<WriterState> writer_;
};

}  // namespace channelops::leads
