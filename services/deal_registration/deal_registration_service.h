#pragma once

// gRPC <-> domain mapping for channelops.dealreg.v1.DealRegistrationService.
//
// Every mutating RPC validates the request's shape on the gRPC thread
// (INVALID_ARGUMENT, nothing written), then queues a command on the event
// store's single writer: the command reads state through the Tx (read models
// rm_*), calls the pure domain Decide, appends the events and updates the read
// models in the same atomic batch, and returns the serialized response. The RPC
// is finished from the store's callback once the batch is durable: no gRPC
// thread ever blocks. Because all commands run in one total order on one
// thread, two partners registering the same customer at the same instant are
// decided deterministically: the earlier command wins.
//
// Queries read the committed read models directly.
//
// Thread-safe: gRPC calls the handlers from many threads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "channelops/core/clock.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"

namespace prometheus {
class Histogram;
class Registry;
}  // namespace prometheus

namespace channelops::dealreg {

// Read-model column families (pass to ServiceRuntime / EventStore options).
inline constexpr char kRulesCf[] = "rm_rules";  // program_id -> ProgramRules (latest)
inline constexpr char kDealsCf[] = "rm_deals";  // deal_id -> Deal
inline constexpr char kCustomerIndexCf[] =
    "rm_customer_index";  // customer/domain key -> CustomerClaims (active)
inline constexpr char kCustomerDealsCf[] =
    "rm_customer_deals";  // key \0 deal_id -> "" (all deals, ListDeals)
inline constexpr char kPartnerDealsCf[] =
    "rm_partner_deals";                           // partner_id \0 deal_id -> "" (ListDeals)
inline constexpr char kDirectCf[] = "rm_direct";  // opportunity_id -> DirectOpportunity
inline constexpr char kExpiryCf[] =
    "rm_expiry";                            // BE u64 expiry micros + deal_id -> "" (active deals)
inline constexpr char kSpaCf[] = "rm_spa";  // deal_id -> "" (deals with an approved SPA)

// The programme rules in force as the store's writer sees them, kept between
// commands; every command that decides under the rules reads them here.
// RegisterDeal read and parsed them from the engine for every registration
// (~1,900 instructions on the writer). Used only inside commands
// (on the writer thread). Valid while the store's discard_epoch() stays the
// same: a command that failed, or a batch that failed to write, may have
// thrown away a SetProgramRules whose rules the cache holds.
class WriterRulesCache {
 public:
  // The programme's rules (nullopt: none set), read through `tx` on a miss.
  absl::StatusOr<std::optional<v1::ProgramRules>> Load(eventstore::Tx& tx,
                                                       const std::string& program_id);
  // SetProgramRules staged `rules` (after every fallible step of the command).
  void Set(eventstore::Tx& tx, const v1::ProgramRules& rules);

 private:
  static constexpr size_t kMaxEntries = 4096;  // unknown programme ids are cached too
  void Validate(eventstore::Tx& tx);
  bool has_epoch_ = false;
  uint64_t epoch_ = 0;
  absl::flat_hash_map<std::string, std::optional<v1::ProgramRules>> rules_;
};

class DealRegistrationService final : public v1::DealRegistrationService::CallbackService {
 public:
  // The read models this service needs in its store.
  static std::vector<std::string> ReadModelCfs();
  // The read models held whole in memory for readers (eventstore::Options::
  // memory_read_cfs): the customer index, read by every conflict check.
  static std::vector<std::string> MemoryReadCfs();

  // `store` must have been opened with ReadModelCfs() and with `clock` (the
  // store's clock decides every command's "now"). Both must outlive this.
  DealRegistrationService(eventstore::EventStore& store, core::Clock& clock);

  // Every RPC is authorized by `authz` first (roles from the policy; partners
  // see and act only on their own registrations). Default: allow all. Must
  // outlive this. Not thread-safe: call before serving.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }
  // Exports channelops_dealreg_conflict_check_seconds{rpc}: the conflict check
  // on its own, without gRPC or the commit — normalising the end customer,
  // reading its claims from the customer index and evaluating them (and, for
  // RegisterDeal, the rest of the decision, on the store's writer thread).
  // Not thread-safe: call before serving.
  void set_metrics(prometheus::Registry& registry);

  grpc::ServerUnaryReactor* SetProgramRules(grpc::CallbackServerContext* ctx,
                                            const v1::SetProgramRulesRequest* req,
                                            v1::SetProgramRulesResponse* resp) override;
  grpc::ServerUnaryReactor* GetProgramRules(grpc::CallbackServerContext* ctx,
                                            const v1::GetProgramRulesRequest* req,
                                            v1::GetProgramRulesResponse* resp) override;
  grpc::ServerUnaryReactor* RegisterDeal(grpc::CallbackServerContext* ctx,
                                         const v1::RegisterDealRequest* req,
                                         v1::RegisterDealResponse* resp) override;
  grpc::ServerUnaryReactor* CheckConflicts(grpc::CallbackServerContext* ctx,
                                           const v1::CheckConflictsRequest* req,
                                           v1::CheckConflictsResponse* resp) override;
  grpc::ServerUnaryReactor* RecordDirectOpportunity(
      grpc::CallbackServerContext* ctx, const v1::RecordDirectOpportunityRequest* req,
      v1::RecordDirectOpportunityResponse* resp) override;
  grpc::ServerUnaryReactor* ApproveDeal(grpc::CallbackServerContext* ctx,
                                        const v1::ApproveDealRequest* req,
                                        v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* RejectDeal(grpc::CallbackServerContext* ctx,
                                       const v1::RejectDealRequest* req,
                                       v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* ReturnDeal(grpc::CallbackServerContext* ctx,
                                       const v1::ReturnDealRequest* req,
                                       v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateDeal(grpc::CallbackServerContext* ctx,
                                       const v1::UpdateDealRequest* req,
                                       v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* CloseDeal(grpc::CallbackServerContext* ctx,
                                      const v1::CloseDealRequest* req,
                                      v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* RequestSpecialPricing(grpc::CallbackServerContext* ctx,
                                                  const v1::RequestSpecialPricingRequest* req,
                                                  v1::SpecialPricingResponse* resp) override;
  grpc::ServerUnaryReactor* DecideSpecialPricing(grpc::CallbackServerContext* ctx,
                                                 const v1::DecideSpecialPricingRequest* req,
                                                 v1::SpecialPricingResponse* resp) override;
  grpc::ServerUnaryReactor* ForecastSpecialPricing(
      grpc::CallbackServerContext* ctx, const v1::ForecastSpecialPricingRequest* req,
      v1::ForecastSpecialPricingResponse* resp) override;
  grpc::ServerUnaryReactor* GetDeal(grpc::CallbackServerContext* ctx, const v1::GetDealRequest* req,
                                    v1::DealResponse* resp) override;
  grpc::ServerUnaryReactor* ListDeals(grpc::CallbackServerContext* ctx,
                                      const v1::ListDealsRequest* req,
                                      v1::ListDealsResponse* resp) override;
  grpc::ServerUnaryReactor* GetDealHistory(grpc::CallbackServerContext* ctx,
                                           const v1::GetDealHistoryRequest* req,
                                           v1::GetDealHistoryResponse* resp) override;

  // Expires every active registration whose last activity + expiry days is at
  // or before the clock's now: finds candidates in rm_expiry (a range scan of
  // committed data), then runs store commands that re-check each one on the
  // writer (an update racing the sweep wins) and append DealExpired. Returns
  // how many were expired. Blocks until the commands are durable: call it from
  // a background thread (ServiceRuntime::AddBackgroundTask), never from a gRPC
  // handler. Errors: UNAVAILABLE / CANCELLED from the store.
  absl::StatusOr<size_t> SweepExpired();

 private:
  eventstore::EventStore& store_;
  core::Clock& clock_;
  const server::Authorizer* authz_ = &kAllowAll;
  prometheus::Histogram* check_seconds_ = nullptr;     // CheckConflicts
  prometheus::Histogram* register_seconds_ = nullptr;  // RegisterDeal's decision
  WriterRulesCache rules_cache_;                       // only inside commands
  static inline const server::Authorizer kAllowAll{};
};

}  // namespace channelops::dealreg
