#include "deal_registration/deal_registration_service.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/wire.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/dealreg/v1/read_models.pb.h"
#include "channelops/server/rpc.h"
#include "channelops/server/runtime.h"
#include "deal_registration/domain/convert.h"
#include "deal_registration/domain/customer_index.h"
#include "deal_registration/domain/decider.h"
#include "deal_registration/domain/validation.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace channelops::dealreg {
namespace {

using domain::Context;
using domain::CustomerKeys;
using eventstore::CommandMeta;
using eventstore::CommandResult;
using eventstore::EventStore;
using eventstore::Tx;

constexpr size_t kSweepBatch = 512;
constexpr size_t kMaxHistoryEvents = 100000;
constexpr char kSweeperActor[] = "system:expiry_sweeper";

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string ExpiryKey(const v1::Deal& d) {
  int64_t us = absl::ToUnixMicros(domain::FromProtoTime(d.expires_at()));
  return absl::StrCat(eventstore::EncodeU64(static_cast<uint64_t>(std::max<int64_t>(us, 0))),
                      d.deal_id());
}

// ---- reads through the writer's Tx ----

absl::StatusOr<std::optional<v1::ProgramRules>> LoadRules(Tx& tx, const std::string& program_id) {
  return server::GetProto<v1::ProgramRules>(tx, kRulesCf, program_id);
}

}  // namespace

void WriterRulesCache::Validate(Tx& tx) {
  if (has_epoch_ && epoch_ == tx.discard_epoch() && rules_.size() < kMaxEntries) return;
  rules_.clear();
  has_epoch_ = true;
  epoch_ = tx.discard_epoch();
}

absl::StatusOr<std::optional<v1::ProgramRules>> WriterRulesCache::Load(
    Tx& tx, const std::string& program_id) {
  Validate(tx);
  if (auto it = rules_.find(program_id); it != rules_.end()) return it->second;
  CHANNELOPS_ASSIGN_OR_RETURN(auto rules, LoadRules(tx, program_id));
  rules_.emplace(program_id, rules);
  return rules;
}

void WriterRulesCache::Set(Tx& tx, const v1::ProgramRules& rules) {
  Validate(tx);
  rules_.insert_or_assign(rules.program_id(), rules);
}

namespace {

// The deal, or an empty Deal if there is none.
absl::StatusOr<v1::Deal> LoadDealOrEmpty(Tx& tx, const std::string& deal_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto deal, server::GetProto<v1::Deal>(tx, kDealsCf, deal_id));
  return deal ? std::move(*deal) : v1::Deal();
}

absl::Status DealNotFound(const std::string& deal_id) {
  return absl::NotFoundError(absl::StrCat("deal_id: no deal ", deal_id));
}

// Observes the seconds from construction to destruction (nothing if null).
class ObserveSeconds {
 public:
  explicit ObserveSeconds(prometheus::Histogram* h)
      : h_(h), start_(h != nullptr ? std::chrono::steady_clock::now()
                                   : std::chrono::steady_clock::time_point()) {}
  ~ObserveSeconds() {
    if (h_ != nullptr) {
      h_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }
  ObserveSeconds(const ObserveSeconds&) = delete;
  ObserveSeconds& operator=(const ObserveSeconds&) = delete;

 private:
  prometheus::Histogram* h_;
  std::chrono::steady_clock::time_point start_;
};

absl::StatusOr<std::vector<v1::CustomerClaim>> LoadClaims(Tx& tx, const CustomerKeys& keys) {
  std::vector<v1::CustomerClaims> per_key;
  for (const std::string& key : keys.All()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto claims,
                                server::GetProto<v1::CustomerClaims>(tx, kCustomerIndexCf, key));
    if (claims) per_key.push_back(std::move(*claims));
  }
  return domain::MergeClaims(per_key);
}

// ---- reads of committed data (queries) ----

absl::StatusOr<std::vector<v1::CustomerClaim>> StoreClaims(const EventStore& store,
                                                           const CustomerKeys& keys) {
  std::vector<v1::CustomerClaims> per_key;
  for (const std::string& key : keys.All()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto claims,
                                server::GetProto<v1::CustomerClaims>(store, kCustomerIndexCf, key));
    if (claims) per_key.push_back(std::move(*claims));
  }
  return domain::MergeClaims(per_key);
}

// ---- writes ----

std::vector<eventstore::NewEvent> ToNewEvents(const std::vector<domain::Event>& events) {
  std::vector<eventstore::NewEvent> out;
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(eventstore::NewEvent::Of(domain::AsMessage(e)));
  return out;
}

// Every read model derived from one deal, updated from its state before and
// after a command (before may be empty: a new registration).
// `deal_bytes` (optional): gets the deal's serialized state too.
absl::Status WriteDealReadModels(Tx& tx, const v1::Deal& before, const v1::Deal& after,
                                 std::string* deal_bytes = nullptr) {
  const std::string& id = after.deal_id();
  std::string bytes = after.SerializeAsString();
  if (deal_bytes != nullptr) *deal_bytes = bytes;
  tx.Put(kDealsCf, id, std::move(bytes));
  if (before.deal_id().empty()) {
    tx.Put(kPartnerDealsCf, Join0(after.partner_id(), id), "");
    for (const std::string& key : domain::KeysOf(after).All()) {
      tx.Put(kCustomerDealsCf, Join0(key, id), "");
    }
  }
  // The customer keys never change after registration.
  for (const std::string& key : domain::KeysOf(after).All()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto stored,
                                server::GetProto<v1::CustomerClaims>(tx, kCustomerIndexCf, key));
    v1::CustomerClaims claims = stored ? std::move(*stored) : v1::CustomerClaims();
    if (!domain::ApplyDealTransition(claims, before, after)) continue;
    if (claims.claims().empty()) {
      tx.Delete(kCustomerIndexCf, key);
    } else {
      tx.Put(kCustomerIndexCf, key, claims.SerializeAsString());
    }
  }
  bool was_active = domain::IsActive(before.status()) && before.has_expires_at();
  bool is_active = domain::IsActive(after.status()) && after.has_expires_at();
  if (was_active && (!is_active || ExpiryKey(before) != ExpiryKey(after))) {
    tx.Delete(kExpiryCf, ExpiryKey(before));
  }
  if (is_active) tx.Put(kExpiryCf, ExpiryKey(after), "");
  bool had_spa = domain::CommittedSpecialPricing(before) != nullptr;
  bool has_spa = domain::CommittedSpecialPricing(after) != nullptr;
  if (has_spa && !had_spa) tx.Put(kSpaCf, id, "");
  if (had_spa && !has_spa) tx.Delete(kSpaCf, id);
  return absl::OkStatus();
}

// A new registration's RegisterDealResponse (existing = false) from its deal's
// bytes, as protobuf would write it: the deal is serialized once, for its read
// model and the answer.
std::string RegisterDealResponseBytes(absl::string_view deal_bytes) {
  std::string out;
  out.reserve(deal_bytes.size() + 6);
  core::AppendLengthDelimited(&out, 1, deal_bytes);  // RegisterDealResponse.deal
  return out;
}

// Appends a deal's events (expected version: the state's), evolves the state
// and updates the read models. Returns the state after.
absl::StatusOr<v1::Deal> CommitDeal(Tx& tx, const v1::Deal& before,
                                    const std::vector<domain::Event>& events,
                                    std::string* deal_bytes = nullptr) {
  if (events.empty()) return before;
  v1::Deal after = before;
  for (const auto& e : events) after = domain::Evolve(std::move(after), e);
  CHANNELOPS_CHECK(!after.deal_id().empty()) << "deal events name the deal";
  int64_t expected =
      before.deal_id().empty() ? eventstore::kNoStream : static_cast<int64_t>(before.version());
  CHANNELOPS_RETURN_IF_ERROR(
      tx.Append(domain::DealStream(after.deal_id()), expected, ToNewEvents(events)).status());
  CHANNELOPS_RETURN_IF_ERROR(WriteDealReadModels(tx, before, after, deal_bytes));
  return after;
}

// Loads the deal, builds the domain command from it, decides and commits.
using CommandBuilder =
    std::function<absl::StatusOr<domain::DealCommand>(Tx&, const v1::Deal& state)>;

absl::StatusOr<v1::Deal> RunDealCommand(Tx& tx, const std::string& deal_id, const Context& ctx,
                                        const CommandBuilder& build) {
  CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal before, LoadDealOrEmpty(tx, deal_id));
  if (before.deal_id().empty()) return DealNotFound(deal_id);
  CHANNELOPS_ASSIGN_OR_RETURN(domain::DealCommand command, build(tx, before));
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<domain::Event> events,
                              domain::Decide(before, command, ctx));
  return CommitDeal(tx, before, events);
}

CommandBuilder Fixed(domain::DealCommand c) {
  return
      [c = std::move(c)](Tx&, const v1::Deal&) -> absl::StatusOr<domain::DealCommand> { return c; };
}

// ---- RPC plumbing ----

// Partner-scoped callers act only on their own registrations (the partner of a
// deal never changes, so the committed read model is authoritative for this).
absl::Status CheckOwner(const EventStore& store, const server::Caller& caller,
                        const std::string& deal_id) {
  if (!caller.partner_scoped) return absl::OkStatus();
  auto deal = server::GetProto<v1::Deal>(store, kDealsCf, deal_id);
  if (!deal.ok()) return deal.status();
  if (*deal && !caller.CanSeePartner((*deal)->partner_id())) {
    return absl::PermissionDeniedError("this registration belongs to another partner");
  }
  return absl::OkStatus();
}

absl::Status NotYours() {
  return absl::PermissionDeniedError("this registration belongs to another partner");
}

// Partner-scoped callers act only on their own registrations (the partner of a
// deal never changes, so the committed read model is authoritative for this).

std::string DealResponseBytes(const v1::Deal& deal) {
  v1::DealResponse r;
  *r.mutable_deal() = deal;
  return r.SerializeAsString();
}

std::string SpaResponseBytes(const v1::Deal& deal, const std::string& spa_id) {
  v1::SpecialPricingResponse r;
  *r.mutable_deal() = deal;
  for (const auto& spa : deal.special_pricing()) {
    if (spa_id.empty() || spa.spa_id() == spa_id) *r.mutable_special_pricing() = spa;
  }
  return r.SerializeAsString();
}

}  // namespace

std::vector<std::string> DealRegistrationService::ReadModelCfs() {
  return {kRulesCf,        kDealsCf,  kCustomerIndexCf, kCustomerDealsCf,
          kPartnerDealsCf, kDirectCf, kExpiryCf,        kSpaCf};
}

std::vector<std::string> DealRegistrationService::MemoryReadCfs() { return {kCustomerIndexCf}; }

DealRegistrationService::DealRegistrationService(EventStore& store, core::Clock& clock)
    : store_(store), clock_(clock) {}

void DealRegistrationService::set_metrics(prometheus::Registry& registry) {
  auto& family = prometheus::BuildHistogram()
                     .Name("channelops_dealreg_conflict_check_seconds")
                     .Help("The conflict check alone (end-customer normalisation, customer-index "
                           "reads, evaluation; for RegisterDeal the whole decision on the writer)")
                     .Register(registry);
  const prometheus::Histogram::BucketBoundaries bounds = {5e-6,   10e-6,  20e-6, 30e-6,
                                                          50e-6,  75e-6,  100e-6, 250e-6,
                                                          500e-6, 1e-3,   10e-3};
  check_seconds_ = &family.Add({{"rpc", "CheckConflicts"}}, bounds);
  register_seconds_ = &family.Add({{"rpc", "RegisterDeal"}}, bounds);
}

// ---------------------------------------------------------------------------
// Programme rules
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* DealRegistrationService::SetProgramRules(
    grpc::CallbackServerContext* ctx, const v1::SetProgramRulesRequest* req,
    v1::SetProgramRulesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/SetProgramRules", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateSetProgramRules(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "SetProgramRules", req->request_id());
  std::string actor = meta.actor;
  auto command = [rules = req->rules(), actor,
                  cache = &rules_cache_](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    CHANNELOPS_ASSIGN_OR_RETURN(auto current, cache->Load(tx, rules.program_id()));
    v1::ProgramRules state = current ? *current : v1::ProgramRules();
    CHANNELOPS_ASSIGN_OR_RETURN(auto events,
                                domain::Decide(state, domain::SetProgramRules{rules}, c));
    v1::ProgramRules after = state;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_RETURN_IF_ERROR(tx.Append(domain::RulesStream(rules.program_id()),
                                         static_cast<int64_t>(state.version()), ToNewEvents(events))
                                   .status());
    tx.Put(kRulesCf, rules.program_id(), after.SerializeAsString());
    cache->Set(tx, after);
    v1::SetProgramRulesResponse r;
    *r.mutable_rules() = std::move(after);
    return r.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::GetProgramRules(
    grpc::CallbackServerContext* ctx, const v1::GetProgramRulesRequest* req,
    v1::GetProgramRulesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/GetProgramRules", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetProgramRules(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto not_found = absl::NotFoundError(
      absl::StrCat("program_id: no rules for programme ", req->program_id(),
                   req->version() ? absl::StrCat(" version ", req->version()) : ""));
  if (req->version() == 0) {
    auto rules = server::GetProto<v1::ProgramRules>(store_, kRulesCf, req->program_id());
    if (!rules.ok()) return server::FinishRpc(reactor, rules.status());
    if (!*rules) return server::FinishRpc(reactor, not_found);
    *resp->mutable_rules() = std::move(**rules);
    return server::FinishRpc(reactor, absl::OkStatus());
  }
  auto events = store_.ReadStream(domain::RulesStream(req->program_id()), req->version(), 1);
  if (!events.ok()) return server::FinishRpc(reactor, events.status());
  v1::ProgramRulesSet set;
  if (events->empty() || events->front().stream_version() != req->version()) {
    return server::FinishRpc(reactor, not_found);
  }
  if (!events->front().payload().UnpackTo(&set)) {
    return server::FinishRpc(reactor, absl::DataLossError("rules event is not ProgramRulesSet"));
  }
  *resp->mutable_rules() = set.rules();
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Registration, conflicts, direct sales
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* DealRegistrationService::RegisterDeal(grpc::CallbackServerContext* ctx,
                                                                const v1::RegisterDealRequest* req,
                                                                v1::RegisterDealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/RegisterDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRegisterDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "RegisterDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor, timer = register_seconds_, cache = &rules_cache_](
                     Tx& tx, v1::RegisterDealResponse& out) mutable -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    // Built in the variant Decide takes: converting a RegisterDeal to it
    // copied the whole request.
    domain::DealCommand command(std::in_place_type<domain::RegisterDeal>);
    domain::RegisterDeal& cmd = std::get<domain::RegisterDeal>(command);
    cmd.request = std::move(r);  // the command runs once
    const v1::RegisterDealRequest& request = cmd.request;
    std::vector<domain::Event> events;
    {
      ObserveSeconds observe(timer);
      CHANNELOPS_ASSIGN_OR_RETURN(cmd.rules, cache->Load(tx, request.program_id()));
      CHANNELOPS_ASSIGN_OR_RETURN(cmd.claims,
                                  LoadClaims(tx, domain::KeysOf(request.end_customer())));
      cmd.deal_id = core::NewUuidV7(tx.now());
      CHANNELOPS_ASSIGN_OR_RETURN(events, domain::Decide(v1::Deal(), command, c));
    }
    if (events.empty()) {
      // The partner registered this deal before: answer with that registration.
      auto own = domain::FindOwnRegistration(cmd.claims, request.partner_id(),
                                             domain::ProductKeys(request.lines()));
      CHANNELOPS_CHECK(own.has_value()) << "Decide recorded nothing for a new registration";
      CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal existing, LoadDealOrEmpty(tx, *own));
      CHANNELOPS_CHECK(!existing.deal_id().empty()) << "index names a missing deal " << *own;
      *out.mutable_deal() = std::move(existing);
      out.set_existing(true);
      return out.SerializeAsString();
    }
    std::string deal_bytes;
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after, CommitDeal(tx, v1::Deal(), events, &deal_bytes));
    *out.mutable_deal() = std::move(after);
    return RegisterDealResponseBytes(deal_bytes);
  };
  return server::SubmitTypedCommand<v1::RegisterDealResponse>(store_, reactor, std::move(meta),
                                                              std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::CheckConflicts(
    grpc::CallbackServerContext* ctx, const v1::CheckConflictsRequest* req,
    v1::CheckConflictsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/CheckConflicts", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateCheckConflicts(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto rules = server::GetProto<v1::ProgramRules>(store_, kRulesCf, req->program_id());
  if (!rules.ok()) return server::FinishRpc(reactor, rules.status());
  if (!*rules) {
    return server::FinishRpc(
        reactor, core::InvalidArgument(
                     "program_id",
                     std::string(absl::StrCat("unknown programme '", req->program_id(), "'"))));
  }
  {
    ObserveSeconds observe(check_seconds_);
    auto claims = StoreClaims(store_, domain::KeysOf(req->end_customer()));
    if (!claims.ok()) return server::FinishRpc(reactor, claims.status());
    std::vector<std::string> keys;
    for (const auto& p : req->product_lines()) keys.push_back(domain::NormalizeProductKey(p));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (auto& r : domain::AccountAndProductReasons(req->end_customer(), keys, **rules)) {
      *resp->add_conflicts() = std::move(r);
    }
    for (auto& r : domain::ConflictReasons(*claims, req->partner_id(), keys)) {
      *resp->add_conflicts() = std::move(r);
    }
    if (!req->partner_id().empty()) {
      if (auto own = domain::FindOwnRegistration(*claims, req->partner_id(), keys)) {
        resp->set_existing_deal_id(*own);
      }
    }
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* DealRegistrationService::RecordDirectOpportunity(
    grpc::CallbackServerContext* ctx, const v1::RecordDirectOpportunityRequest* req,
    v1::RecordDirectOpportunityResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/RecordDirectOpportunity", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRecordDirectOpportunity(*req); !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "RecordDirectOpportunity", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    domain::RecordDirectOpportunity cmd;
    cmd.request = r;
    CHANNELOPS_ASSIGN_OR_RETURN(
        cmd.existing, server::GetProto<v1::DirectOpportunity>(tx, kDirectCf, r.opportunity_id()));
    CustomerKeys keys = domain::KeysOf(r.end_customer());
    CHANNELOPS_ASSIGN_OR_RETURN(cmd.claims, LoadClaims(tx, keys));
    CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(cmd, c));
    v1::RecordDirectOpportunityResponse out;
    if (events.empty()) {
      // Already recorded: the same answer, rebuilt from the current deals.
      for (const std::string& id : cmd.existing->partner_deal_ids()) {
        CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal d, LoadDealOrEmpty(tx, id));
        auto* ref = out.add_partner_got_there_first();
        ref->set_deal_id(id);
        ref->set_partner_id(d.partner_id());
        ref->set_status(d.status());
        std::vector<std::string> theirs(d.product_keys().begin(), d.product_keys().end());
        std::vector<std::string> mine(cmd.existing->product_lines().begin(),
                                      cmd.existing->product_lines().end());
        for (auto& p : domain::Intersect(theirs, mine)) ref->add_product_lines(std::move(p));
      }
      *out.mutable_opportunity() = std::move(*cmd.existing);
      out.set_existing(true);
      return out.SerializeAsString();
    }
    const auto& recorded = std::get<v1::DirectOpportunityRecorded>(events.front());
    const std::string stream =
        domain::AccountStream(keys.customer_key.empty() ? keys.domain_key : keys.customer_key);
    CHANNELOPS_RETURN_IF_ERROR(
        tx.Append(stream, eventstore::kAnyVersion, ToNewEvents(events)).status());
    tx.Put(kDirectCf, r.opportunity_id(), recorded.opportunity().SerializeAsString());
    for (const std::string& key : keys.All()) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto stored,
                                  server::GetProto<v1::CustomerClaims>(tx, kCustomerIndexCf, key));
      v1::CustomerClaims claims = stored ? std::move(*stored) : v1::CustomerClaims();
      if (domain::AddDirectClaim(claims, recorded.opportunity())) {
        tx.Put(kCustomerIndexCf, key, claims.SerializeAsString());
      }
    }
    // Both facts are kept: the earlier registrations note the opportunity.
    for (const std::string& id : recorded.opportunity().partner_deal_ids()) {
      CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal before, LoadDealOrEmpty(tx, id));
      v1::Deal after = domain::Evolve(before, events.front());
      tx.Put(kDealsCf, id, after.SerializeAsString());
    }
    *out.mutable_opportunity() = recorded.opportunity();
    *out.mutable_partner_got_there_first() = recorded.partner_got_there_first();
    return out.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

// ---------------------------------------------------------------------------
// Deal lifecycle
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* DealRegistrationService::ApproveDeal(grpc::CallbackServerContext* ctx,
                                                               const v1::ApproveDealRequest* req,
                                                               v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/ApproveDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateApproveDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "ApproveDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [id = req->deal_id(), reason = req->reason(),
                  actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after, RunDealCommand(tx, id, Context{tx.now(), actor},
                                                               Fixed(domain::ApproveDeal{reason})));
    return DealResponseBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::RejectDeal(grpc::CallbackServerContext* ctx,
                                                              const v1::RejectDealRequest* req,
                                                              v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/RejectDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRejectDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "RejectDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [id = req->deal_id(), reason = req->reason(),
                  actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after, RunDealCommand(tx, id, Context{tx.now(), actor},
                                                               Fixed(domain::RejectDeal{reason})));
    return DealResponseBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::ReturnDeal(grpc::CallbackServerContext* ctx,
                                                              const v1::ReturnDealRequest* req,
                                                              v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/ReturnDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateReturnDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "ReturnDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [id = req->deal_id(), reason = req->reason(),
                  actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after, RunDealCommand(tx, id, Context{tx.now(), actor},
                                                               Fixed(domain::ReturnDeal{reason})));
    return DealResponseBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::UpdateDeal(grpc::CallbackServerContext* ctx,
                                                              const v1::UpdateDealRequest* req,
                                                              v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/UpdateDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateUpdateDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner(store_, *caller, req->deal_id()); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "UpdateDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor, cache = &rules_cache_](Tx& tx) -> absl::StatusOr<std::string> {
    CommandBuilder build =
        [&r, cache](Tx& tx, const v1::Deal& deal) -> absl::StatusOr<domain::DealCommand> {
      domain::UpdateDeal cmd;
      cmd.request = r;
      if (r.replace_lines()) {
        CHANNELOPS_ASSIGN_OR_RETURN(cmd.rules, cache->Load(tx, deal.program_id()));
        CHANNELOPS_ASSIGN_OR_RETURN(cmd.claims, LoadClaims(tx, domain::KeysOf(deal)));
      }
      return cmd;
    };
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after,
                                RunDealCommand(tx, r.deal_id(), Context{tx.now(), actor}, build));
    return DealResponseBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::CloseDeal(grpc::CallbackServerContext* ctx,
                                                             const v1::CloseDealRequest* req,
                                                             v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/CloseDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateCloseDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner(store_, *caller, req->deal_id()); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "CloseDeal", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(
        v1::Deal after,
        RunDealCommand(tx, r.deal_id(), Context{tx.now(), actor}, Fixed(domain::CloseDeal{r})));
    return DealResponseBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

// ---------------------------------------------------------------------------
// Special pricing
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* DealRegistrationService::RequestSpecialPricing(
    grpc::CallbackServerContext* ctx, const v1::RequestSpecialPricingRequest* req,
    v1::SpecialPricingResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/RequestSpecialPricing", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRequestSpecialPricing(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner(store_, *caller, req->deal_id()); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "RequestSpecialPricing", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor, cache = &rules_cache_](Tx& tx) -> absl::StatusOr<std::string> {
    CommandBuilder build =
        [&r, cache](Tx& tx, const v1::Deal& deal) -> absl::StatusOr<domain::DealCommand> {
      domain::RequestSpecialPricing cmd;
      cmd.request = r;
      CHANNELOPS_ASSIGN_OR_RETURN(cmd.rules, cache->Load(tx, deal.program_id()));
      return cmd;
    };
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after,
                                RunDealCommand(tx, r.deal_id(), Context{tx.now(), actor}, build));
    CHANNELOPS_CHECK(!after.special_pricing().empty()) << "a request was recorded";
    return SpaResponseBytes(after, after.special_pricing().rbegin()->spa_id());
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::DecideSpecialPricing(
    grpc::CallbackServerContext* ctx, const v1::DecideSpecialPricingRequest* req,
    v1::SpecialPricingResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/DecideSpecialPricing", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateDecideSpecialPricing(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "DecideSpecialPricing", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor, cache = &rules_cache_](Tx& tx) -> absl::StatusOr<std::string> {
    CommandBuilder build =
        [&r, cache](Tx& tx, const v1::Deal& deal) -> absl::StatusOr<domain::DealCommand> {
      domain::DecideSpecialPricing cmd;
      cmd.request = r;
      CHANNELOPS_ASSIGN_OR_RETURN(cmd.rules, cache->Load(tx, deal.program_id()));
      return cmd;
    };
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal after,
                                RunDealCommand(tx, r.deal_id(), Context{tx.now(), actor}, build));
    return SpaResponseBytes(after, r.spa_id());
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* DealRegistrationService::ForecastSpecialPricing(
    grpc::CallbackServerContext* ctx, const v1::ForecastSpecialPricingRequest* req,
    v1::ForecastSpecialPricingResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.dealreg.v1.DealRegistrationService/ForecastSpecialPricing", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateForecastSpecialPricing(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  absl::CivilDay start = *domain::ParseDate(req->period().start_date());
  absl::CivilDay end = *domain::ParseDate(req->period().end_date());
  std::vector<std::string> ids;
  absl::Status st =
      store_.Scan(kSpaCf, "", "", SIZE_MAX, [&](absl::string_view k, absl::string_view) {
        ids.emplace_back(k);
        return true;
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  std::vector<v1::ForecastItem> items;
  for (const std::string& id : ids) {
    auto deal = server::GetProto<v1::Deal>(store_, kDealsCf, id);
    if (!deal.ok()) return server::FinishRpc(reactor, deal.status());
    if (!*deal) continue;
    if (!req->program_id().empty() && (*deal)->program_id() != req->program_id()) continue;
    if (auto item = domain::ForecastItemOf(**deal, start, end)) items.push_back(std::move(*item));
  }
  for (auto& t : domain::ForecastTotals(items)) *resp->add_totals() = std::move(t);
  for (auto& i : items) *resp->add_items() = std::move(i);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* DealRegistrationService::GetDeal(grpc::CallbackServerContext* ctx,
                                                           const v1::GetDealRequest* req,
                                                           v1::DealResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/GetDeal", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetDeal(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto deal = server::GetProto<v1::Deal>(store_, kDealsCf, req->deal_id());
  if (!deal.ok()) return server::FinishRpc(reactor, deal.status());
  if (!*deal) return server::FinishRpc(reactor, DealNotFound(req->deal_id()));
  if (!caller->CanSeePartner((*deal)->partner_id())) return server::FinishRpc(reactor, NotYours());
  *resp->mutable_deal() = std::move(**deal);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* DealRegistrationService::ListDeals(grpc::CallbackServerContext* ctx,
                                                             const v1::ListDealsRequest* req,
                                                             v1::ListDealsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/ListDeals", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListDeals(*req); !st.ok()) return server::FinishRpc(reactor, st);
  const size_t page_size = req->page_size() > 0 ? req->page_size() : domain::kDefaultPageSize;
  std::string after_id;
  if (!req->page_token().empty()) absl::WebSafeBase64Unescape(req->page_token(), &after_id);
  CustomerKeys customer;
  if (req->has_customer()) customer = domain::KeysOf(req->customer());

  // A partner lists only its own deals, whatever filter it sent.
  v1::ListDealsRequest scoped;
  if (caller->partner_scoped) {
    scoped = *req;
    scoped.set_partner_id(caller->partner_id);
    req = &scoped;
  }
  auto matches = [&](const v1::Deal& d) {
    if (!req->partner_id().empty() && d.partner_id() != req->partner_id()) return false;
    if (req->status() != v1::DEAL_STATUS_UNSPECIFIED && d.status() != req->status()) return false;
    if (req->has_customer()) {
      bool by_name = !customer.customer_key.empty() && d.customer_key() == customer.customer_key;
      bool by_domain = !customer.domain_key.empty() && d.domain_key() == customer.domain_key;
      if (!by_name && !by_domain) return false;
    }
    return true;
  };
  // Visits deal ids > after_id under `prefix` of an index (ids sort in
  // registration order: UUIDv7), collecting up to page_size + 1 matches.
  absl::Status error = absl::OkStatus();
  auto collect = [&](const char* cf, const std::string& prefix, std::vector<v1::Deal>& out) {
    std::string start = prefix + after_id;
    if (!after_id.empty()) start.push_back('\0');
    absl::Status st =
        store_.Scan(cf, prefix, start, SIZE_MAX, [&](absl::string_view key, absl::string_view) {
          std::string id(key.substr(prefix.size()));
          auto deal = server::GetProto<v1::Deal>(store_, kDealsCf, id);
          if (!deal.ok()) {
            error = deal.status();
            return false;
          }
          if (*deal && matches(**deal)) out.push_back(std::move(**deal));
          return out.size() <= page_size;
        });
    if (!st.ok()) error = st;
  };
  std::vector<v1::Deal> found;
  if (!req->partner_id().empty()) {
    collect(kPartnerDealsCf, Join0(req->partner_id(), ""), found);
  } else if (req->has_customer()) {
    for (const std::string& key : customer.All()) {
      std::vector<v1::Deal> part;
      collect(kCustomerDealsCf, Join0(key, ""), part);
      for (auto& d : part) {
        bool dup = std::any_of(found.begin(), found.end(),
                               [&](const v1::Deal& f) { return f.deal_id() == d.deal_id(); });
        if (!dup) found.push_back(std::move(d));
      }
    }
    std::sort(found.begin(), found.end(),
              [](const v1::Deal& a, const v1::Deal& b) { return a.deal_id() < b.deal_id(); });
  } else {
    collect(kDealsCf, "", found);
  }
  if (!error.ok()) return server::FinishRpc(reactor, error);
  if (found.size() > page_size) {
    found.resize(page_size);
    resp->set_next_page_token(absl::WebSafeBase64Escape(found.back().deal_id()));
  }
  for (auto& d : found) *resp->add_deals() = std::move(d);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* DealRegistrationService::GetDealHistory(
    grpc::CallbackServerContext* ctx, const v1::GetDealHistoryRequest* req,
    v1::GetDealHistoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.dealreg.v1.DealRegistrationService/GetDealHistory", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetDealHistory(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto events = store_.ReadStream(domain::DealStream(req->deal_id()), 1, kMaxHistoryEvents);
  if (!events.ok()) return server::FinishRpc(reactor, events.status());
  if (events->empty()) return server::FinishRpc(reactor, DealNotFound(req->deal_id()));
  if (caller->partner_scoped) {
    auto deal = server::GetProto<v1::Deal>(store_, kDealsCf, req->deal_id());
    if (!deal.ok()) return server::FinishRpc(reactor, deal.status());
    if (!*deal || !caller->CanSeePartner((*deal)->partner_id()))
      return server::FinishRpc(reactor, NotYours());
  }
  for (auto& e : *events) *resp->add_events() = std::move(e);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Expiry sweeper
// ---------------------------------------------------------------------------

absl::StatusOr<size_t> DealRegistrationService::SweepExpired() {
  size_t total = 0;
  while (true) {
    const uint64_t cutoff =
        static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMicros(clock_.Now()), 0));
    std::vector<std::string> due;
    CHANNELOPS_RETURN_IF_ERROR(
        store_.Scan(kExpiryCf, "", "", kSweepBatch, [&](absl::string_view key, absl::string_view) {
          if (key.size() <= 8 || eventstore::DecodeU64(key.substr(0, 8)) > cutoff) return false;
          due.emplace_back(key);
          return true;
        }));
    if (due.empty()) break;
    CommandMeta meta;
    meta.request_id = absl::StrCat("expiry-sweep-", core::NewUuidV7());
    meta.actor = kSweeperActor;
    auto result = store_.ExecuteSync(std::move(meta), [due](Tx& tx) -> absl::StatusOr<std::string> {
      Context c{tx.now(), kSweeperActor};
      size_t expired = 0, progress = 0;
      for (const std::string& key : due) {
        std::string id = key.substr(8);
        CHANNELOPS_ASSIGN_OR_RETURN(v1::Deal before, LoadDealOrEmpty(tx, id));
        bool current = !before.deal_id().empty() && domain::IsActive(before.status()) &&
                       ExpiryKey(before) == key;
        if (!current) {
          // A stale index entry (the deal moved on since the scan read it).
          CHANNELOPS_ASSIGN_OR_RETURN(auto still, tx.Get(kExpiryCf, key));
          if (still) {
            tx.Delete(kExpiryCf, key);
            ++progress;
          }
          continue;
        }
        auto events = domain::Decide(before, domain::ExpireDeal{}, c);
        if (!events.ok()) {
          if (events.status().code() == absl::StatusCode::kFailedPrecondition) continue;  // not due
          return events.status();
        }
        CHANNELOPS_RETURN_IF_ERROR(CommitDeal(tx, before, *events).status());
        ++expired;
        ++progress;
      }
      return absl::StrCat(expired, ",", progress);
    });
    if (!result.ok()) return result.status();
    const std::string& r = result->response;
    size_t comma = r.find(',');
    size_t expired = 0, progress = 0;
    CHANNELOPS_CHECK(comma != std::string::npos &&
                     absl::SimpleAtoi(absl::string_view(r).substr(0, comma), &expired) &&
                     absl::SimpleAtoi(absl::string_view(r).substr(comma + 1), &progress))
        << "sweep response " << r;
    total += expired;
    if (due.size() < kSweepBatch || progress == 0) break;
  }
  return total;
}

}  // namespace channelops::dealreg
