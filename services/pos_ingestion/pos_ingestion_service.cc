#include "pos_ingestion/pos_ingestion_service.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "channelops/server/rpc.h"
#include "channelops/server/runtime.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/decider.h"
#include "pos_ingestion/domain/inventory.h"
#include "pos_ingestion/domain/validation.h"
#include "pos_ingestion/read_models.h"
#include "pos_ingestion/report_ingestion.h"

namespace channelops::pos {
namespace {

using domain::Context;
using eventstore::CommandMeta;
using eventstore::CommandResult;
using eventstore::EventStore;
using eventstore::Tx;

constexpr char kService[] = "channelops.pos.v1.PosIngestionService/";
constexpr char kSweeperActor[] = "system:price_sweeper";
constexpr int kMaxRetries = 100;
constexpr size_t kSweepBatch = 256;

std::string Method(const char* name) { return absl::StrCat(kService, name); }

// ---- RPC plumbing ----

absl::Status NotYours() {
  return absl::PermissionDeniedError("this report belongs to another partner");
}

// A committed report the caller may see: NOT_FOUND if there is none,
// PERMISSION_DENIED if it is another partner's.
absl::StatusOr<v1::Report> LoadVisibleReport(const EventStore& store, const server::Caller& caller,
                                             const std::string& report_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto report, StoreGet<v1::Report>(store, kReportsCf, report_id));
  if (!report) return absl::NotFoundError(absl::StrCat("report_id: no report ", report_id));
  if (!caller.CanSeePartner(report->header().partner_id())) return NotYours();
  return std::move(*report);
}

// Like Submit for a command that may ask to be retried once the SKU's pending
// movements are durable (IsRetryLater): it is rebuilt and queued again from
// the store's callback (queueing never blocks), at most kMaxRetries times.
struct RetryingCommand {
  EventStore* store;
  CommandMeta meta;
  std::function<eventstore::Command()> make;
  std::function<void(absl::StatusOr<CommandResult>)> done;
  int retries_left = kMaxRetries;
};

void RunRetrying(std::shared_ptr<RetryingCommand> c) {
  c->store->Execute(c->meta, c->make(), [c](absl::StatusOr<CommandResult> r) {
    if (!r.ok() && IsRetryLater(r.status()) && c->retries_left-- > 0) {
      RunRetrying(c);
      return;
    }
    c->done(std::move(r));
  });
}

absl::StatusOr<CommandResult> ExecuteSyncRetrying(
    EventStore& store, const CommandMeta& meta, const std::function<eventstore::Command()>& make) {
  for (int attempt = 0;; ++attempt) {
    auto r = store.ExecuteSync(meta, make());
    if (r.ok() || !IsRetryLater(r.status()) || attempt >= kMaxRetries) return r;
  }
}

// ---- commands ----

// The price change command: plans it and, when it takes effect now or took
// effect in the past, applies it with the partners' holdings at that instant.
eventstore::Command ChangePriceCommand(const EventStore& store, v1::ChangePriceRequest r,
                                       std::string actor) {
  return [&store, r = std::move(r),
          actor = std::move(actor)](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Product product,
                                TxGetOrEmpty<v1::Product>(tx, kProductsCf, r.sku()));
    domain::ChangePrice cmd;
    cmd.change_id = core::NewUuidV7(tx.now());
    cmd.new_price = r.new_price();
    cmd.effective_at = r.has_effective_at() ? domain::FromProtoTime(r.effective_at()) : tx.now();
    CHANNELOPS_ASSIGN_OR_RETURN(domain::PricePlan plan, domain::PlanPriceChange(product, cmd, c));
    v1::ChangePriceResponse out;
    if (!plan.apply_now) {
      CHANNELOPS_RETURN_IF_ERROR(
          AppendEvents(tx, domain::SkuStream(r.sku()), plan.events).status());
      v1::Product after = domain::Evolve(product, plan.events.front());
      tx.Put(kProductsCf, r.sku(), after.SerializeAsString());
      const std::string at = TimeKey(cmd.effective_at);
      tx.Put(kPriceChangesCf, Join0(r.sku(), at), plan.change.SerializeAsString());
      tx.Put(kPendingPricesCf, absl::StrCat(at, Join0(r.sku(), plan.change.change_id())), "");
      *out.mutable_change() = std::move(plan.change);
      return out.SerializeAsString();
    }
    CHANNELOPS_ASSIGN_OR_RETURN(bool settled, SkuSettled(tx, store, r.sku()));
    if (!settled) return RetryLater(r.sku());
    domain::ApplyPriceChange apply;
    apply.change = std::move(plan.change);
    CHANNELOPS_ASSIGN_OR_RETURN(apply.holdings, LoadHoldings(tx, store, r.sku(), cmd.effective_at));
    CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(product, apply, c));
    CHANNELOPS_ASSIGN_OR_RETURN(*out.mutable_change(),
                                CommitPriceChange(tx, product, events, false));
    for (size_t i = 1; i < events.size(); ++i) {
      *out.add_credits() = std::get<v1::PriceProtectionCredited>(events[i]).credit();
    }
    return out.SerializeAsString();
  };
}

// Applies one scheduled change (the sweeper's command). "0": nothing to do
// (already applied, or superseded); "1": applied.
eventstore::Command ApplyScheduledCommand(const EventStore& store, std::string sku,
                                          std::string history_key) {
  return [&store, sku = std::move(sku),
          history_key = std::move(history_key)](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), kSweeperActor};
    CHANNELOPS_ASSIGN_OR_RETURN(auto change,
                                TxGet<v1::PriceChange>(tx, kPriceChangesCf, history_key));
    if (!change || change->status() != v1::PRICE_CHANGE_STATUS_SCHEDULED) return std::string("0");
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Product product,
                                TxGetOrEmpty<v1::Product>(tx, kProductsCf, sku));
    CHANNELOPS_ASSIGN_OR_RETURN(bool settled, SkuSettled(tx, store, sku));
    if (!settled) return RetryLater(sku);
    domain::ApplyPriceChange apply;
    apply.change = *change;
    apply.was_scheduled = true;
    CHANNELOPS_ASSIGN_OR_RETURN(
        apply.holdings,
        LoadHoldings(tx, store, sku, domain::FromProtoTime(change->effective_at())));
    CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(product, apply, c));
    CHANNELOPS_RETURN_IF_ERROR(CommitPriceChange(tx, product, events, true).status());
    return std::string("1");
  };
}

absl::Status RecordShipment(Tx& tx, MovementWriter& w, const domain::Event& e) {
  const std::string partner = std::holds_alternative<v1::ShipmentRecorded>(e)
                                  ? std::get<v1::ShipmentRecorded>(e).partner_id()
                                  : std::get<v1::ShipmentReceived>(e).partner_id();
  CHANNELOPS_ASSIGN_OR_RETURN(auto pos, AppendEvents(tx, domain::PartnerStream(partner), {e}));
  const uint64_t position = LedgerSeq(pos.front(), 0);  // one entry per CF and instant
  if (const auto* r = std::get_if<v1::ShipmentRecorded>(&e)) {
    v1::Shipment s = domain::Evolve(v1::Shipment(), e);
    tx.Put(kShipmentsCf, s.shipment_id(), s.SerializeAsString());
    const absl::Time shipped = domain::FromProtoTime(r->shipped_at());
    const bool received_at_once =
        r->has_received_at() && domain::FromProtoTime(r->received_at()) == shipped;
    if (!received_at_once) {  // (+q and -q at one instant would share a key; they cancel anyway)
      CHANNELOPS_RETURN_IF_ERROR(w.Ledger(r->partner_id(), r->sku(), shipped, position,
                                          domain::TransitEntryOf(r->shipment_id(), r->quantity()),
                                          /*transit=*/true));
    }
    if (r->has_received_at()) {
      const absl::Time received = domain::FromProtoTime(r->received_at());
      if (!received_at_once) {
        CHANNELOPS_RETURN_IF_ERROR(
            w.Ledger(r->partner_id(), r->sku(), received, position,
                     domain::TransitEntryOf(r->shipment_id(), -r->quantity()), true));
      }
      CHANNELOPS_RETURN_IF_ERROR(w.Ledger(r->partner_id(), r->sku(), received, position,
                                          domain::ReceivedEntryOf(r->shipment_id(), r->quantity()),
                                          false));
    }
    return absl::OkStatus();
  }
  const auto& r = std::get<v1::ShipmentReceived>(e);
  CHANNELOPS_ASSIGN_OR_RETURN(v1::Shipment s,
                              TxGetOrEmpty<v1::Shipment>(tx, kShipmentsCf, r.shipment_id()));
  s = domain::Evolve(std::move(s), e);
  tx.Put(kShipmentsCf, s.shipment_id(), s.SerializeAsString());
  const absl::Time received = domain::FromProtoTime(r.received_at());
  CHANNELOPS_RETURN_IF_ERROR(w.Ledger(r.partner_id(), r.sku(), received, position,
                                      domain::TransitEntryOf(r.shipment_id(), -r.quantity()),
                                      true));
  return w.Ledger(r.partner_id(), r.sku(), received, position,
                  domain::ReceivedEntryOf(r.shipment_id(), r.quantity()), false);
}

// ---- queries ----

// Positions of a partner (one SKU or all) as of an instant, by SKU.
absl::Status InventoryOf(const EventStore& store, const std::string& partner_id,
                         const std::string& sku, absl::Time as_of,
                         std::map<std::string, v1::InventoryPosition>* out) {
  const std::string prefix = sku.empty() ? Join0(partner_id, "") : LedgerPrefix(partner_id, sku);
  const size_t partner_prefix = partner_id.size() + 1;
  absl::Status parse = absl::OkStatus();
  for (const char* cf : {kLedgerCf, kTransitCf}) {
    CHANNELOPS_RETURN_IF_ERROR(
        store.Scan(cf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
          std::string entry_sku;
          absl::Time at;
          if (!ParseLedgerKey(key, partner_prefix, &entry_sku, &at)) {
            parse = Corrupt(cf, key);
            return false;
          }
          if (at > as_of) return true;  // later movements of this SKU: skipped
          v1::LedgerEntry e;
          if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
            parse = Corrupt(cf, key);
            return false;
          }
          v1::InventoryPosition& p = (*out)[entry_sku];
          p.set_sku(entry_sku);
          domain::Accumulate(p, e);
          return true;
        }));
  }
  return parse;
}

}  // namespace

std::vector<std::string> PosIngestionService::ReadModelCfs() { return AllReadModelCfs(); }

absl::Status PosIngestionService::CheckStoreFormat(const EventStore& store) {
  bool legacy = false;
  CHANNELOPS_RETURN_IF_ERROR(store.Scan(kReportLinesCf, "", "", 1,
                                        [&](absl::string_view, absl::string_view) {
                                          legacy = true;
                                          return false;
                                        }));
  if (!legacy) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "the store holds report lines in rm_report_lines, the format before PosLinesAccepted "
      "chunks (2026-11-27), which this version does not read. No migration exists: start "
      "pos_ingestion on an empty data directory together with an empty "
      "channelops.pos_ingestion.events.v1 topic and empty stores for its consumers "
      "(projections, mdf), whose dedupe marks hold the old store's positions "
      "(docs/OPERATIONS.md, Kafka topics)");
}

PosIngestionService::PosIngestionService(EventStore& store, core::Clock& clock)
    : store_(store), clock_(clock) {}

bool PosIngestionService::ClaimReport(const std::string& report_id, const std::string& attempt) {
  absl::MutexLock l(&mu_);
  return active_reports_.emplace(report_id, attempt).second;
}

void PosIngestionService::ReleaseReport(const std::string& report_id) {
  absl::MutexLock l(&mu_);
  active_reports_.erase(report_id);
}

bool PosIngestionService::AttemptActive(absl::string_view attempt) const {
  absl::MutexLock l(&mu_);
  for (const auto& [report, a] : active_reports_) {
    if (a == attempt) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Catalogue, prices, programmes
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* PosIngestionService::UpsertProduct(grpc::CallbackServerContext* ctx,
                                                             const v1::UpsertProductRequest* req,
                                                             v1::UpsertProductResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("UpsertProduct"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateUpsertProduct(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "UpsertProduct", req->request_id());
  auto command = [p = req->product(), actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Product before,
                                TxGetOrEmpty<v1::Product>(tx, kProductsCf, p.sku()));
    CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(before, domain::UpsertProduct{p}, c));
    v1::UpsertProductResponse out;
    v1::Product after = before;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    if (!events.empty()) {
      CHANNELOPS_RETURN_IF_ERROR(AppendEvents(tx, domain::SkuStream(p.sku()), events).status());
      tx.Put(kProductsCf, p.sku(), after.SerializeAsString());
      out.set_created(std::get<v1::ProductUpserted>(events.front()).created());
    }
    *out.mutable_product() = std::move(after);
    return out.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* PosIngestionService::GetProduct(grpc::CallbackServerContext* ctx,
                                                          const v1::GetProductRequest* req,
                                                          v1::GetProductResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetProduct"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetProduct(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto product = StoreGet<v1::Product>(store_, kProductsCf, req->sku());
  if (!product.ok()) return server::FinishRpc(reactor, product.status());
  if (!*product)
    return server::FinishRpc(reactor,
                             absl::NotFoundError(absl::StrCat("sku: no product ", req->sku())));
  *resp->mutable_product() = std::move(**product);
  absl::Status parse = absl::OkStatus();
  const std::string prefix = Join0(req->sku(), "");
  absl::Status st = store_.Scan(
      kPriceChangesCf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
        if (!resp->add_price_changes()->ParseFromArray(v.data(), static_cast<int>(v.size()))) {
          parse = Corrupt(kPriceChangesCf, key);
          return false;
        }
        return true;
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  return server::FinishRpc(reactor, parse);
}

grpc::ServerUnaryReactor* PosIngestionService::ChangePrice(grpc::CallbackServerContext* ctx,
                                                           const v1::ChangePriceRequest* req,
                                                           v1::ChangePriceResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ChangePrice"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateChangePrice(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto c = std::make_shared<RetryingCommand>();
  c->store = &store_;
  c->meta = server::CommandMetaFor(*ctx, "ChangePrice", req->request_id());
  c->make = [&store = store_, r = *req, actor = c->meta.actor] {
    return ChangePriceCommand(store, r, actor);
  };
  c->done = [reactor, resp](absl::StatusOr<CommandResult> result) {
    server::FinishWithResult(reactor, resp, std::move(result));
  };
  RunRetrying(std::move(c));
  return reactor;
}

grpc::ServerUnaryReactor* PosIngestionService::SetPriceProtectionTerms(
    grpc::CallbackServerContext* ctx, const v1::SetPriceProtectionTermsRequest* req,
    v1::SetPriceProtectionTermsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("SetPriceProtectionTerms"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateSetPriceProtectionTerms(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "SetPriceProtectionTerms", req->request_id());
  auto command = [t = req->terms(), actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    const std::string& program = t.program_id();
    CHANNELOPS_ASSIGN_OR_RETURN(auto before,
                                TxGetOrEmpty<v1::PriceProtectionTerms>(tx, kTermsCf, program));
    CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(before, domain::SetTerms{t}, c));
    CHANNELOPS_RETURN_IF_ERROR(AppendEvents(tx, domain::ProgramStream(program), events).status());
    v1::PriceProtectionTerms after = domain::Evolve(before, events.front());
    tx.Put(kTermsCf, program, after.SerializeAsString());
    for (const std::string& p : after.partner_ids()) tx.Put(kEnrolmentCf, p, program);
    for (const std::string& p :
         std::get<v1::PriceProtectionTermsSet>(events.front()).unenrolled_partner_ids()) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto current, tx.Get(kEnrolmentCf, p));
      if (current && *current == program) tx.Delete(kEnrolmentCf, p);
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto current_default, tx.Get(kEnrolmentCf, kDefaultProgramKey));
    if (after.default_program()) {
      tx.Put(kEnrolmentCf, kDefaultProgramKey, program);
    } else if (current_default && *current_default == program) {
      tx.Delete(kEnrolmentCf, kDefaultProgramKey);
    }
    v1::SetPriceProtectionTermsResponse out;
    *out.mutable_terms() = std::move(after);
    return out.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

// ---------------------------------------------------------------------------
// Sell-in
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* PosIngestionService::RecordShipments(
    grpc::CallbackServerContext* ctx, const v1::RecordShipmentsRequest* req,
    v1::RecordShipmentsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("RecordShipments"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRecordShipments(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "RecordShipments", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    domain::RecordShipments cmd;
    cmd.shipments.assign(r.shipments().begin(), r.shipments().end());
    for (const v1::Shipment& s : r.shipments()) {
      if (!cmd.products.contains(s.sku())) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto p, TxGet<v1::Product>(tx, kProductsCf, s.sku()));
        if (p) cmd.products.emplace(s.sku(), std::move(*p));
      }
      CHANNELOPS_ASSIGN_OR_RETURN(auto old, TxGet<v1::Shipment>(tx, kShipmentsCf, s.shipment_id()));
      if (old) cmd.existing.emplace(s.shipment_id(), std::move(*old));
    }
    CHANNELOPS_ASSIGN_OR_RETURN(domain::ShipmentsDecision d, domain::Decide(cmd, c));
    MovementWriter w(tx);
    for (const domain::Event& e : d.events) CHANNELOPS_RETURN_IF_ERROR(RecordShipment(tx, w, e));
    CHANNELOPS_RETURN_IF_ERROR(w.Flush());
    v1::RecordShipmentsResponse out;
    out.set_recorded(d.recorded);
    out.set_already_recorded(d.already_recorded);
    out.set_received_updates(d.received_updates);
    return out.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

grpc::ServerReadReactor<v1::IngestReportRequest>* PosIngestionService::IngestReport(
    grpc::CallbackServerContext* ctx, v1::IngestReportResponse* resp) {
  // Authorization and validation need the header: the reactor does both first.
  return NewIngestReactor(*this, ctx, resp);
}

grpc::ServerUnaryReactor* PosIngestionService::GetReport(grpc::CallbackServerContext* ctx,
                                                         const v1::GetReportRequest* req,
                                                         v1::GetReportResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetReport"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetReport(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto report = LoadVisibleReport(store_, *caller, req->report_id());
  if (!report.ok()) return server::FinishRpc(reactor, report.status());
  *resp->mutable_report() = std::move(*report);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* PosIngestionService::ListRejectedLines(
    grpc::CallbackServerContext* ctx, const v1::ListRejectedLinesRequest* req,
    v1::ListRejectedLinesResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ListRejectedLines"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListRejectedLines(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto report = LoadVisibleReport(store_, *caller, req->report_id());
  if (!report.ok()) return server::FinishRpc(reactor, report.status());
  const size_t page = req->page_size() > 0 ? req->page_size() : domain::kDefaultPageSize;
  const std::string prefix = Join0(req->report_id(), "");
  std::string start = prefix;
  if (std::string last; domain::DecodePageToken(req->page_token(), &last)) {
    start = last;
    start.push_back('\0');
  }
  std::string last_key;
  absl::Status parse = absl::OkStatus();
  bool more = false;
  absl::Status st = store_.Scan(
      kRejectsCf, prefix, start, page + 1, [&](absl::string_view key, absl::string_view v) {
        if (static_cast<size_t>(resp->rejects_size()) == page) {
          more = true;
          return false;
        }
        if (!resp->add_rejects()->ParseFromArray(v.data(), static_cast<int>(v.size()))) {
          parse = Corrupt(kRejectsCf, key);
          return false;
        }
        last_key = std::string(key);
        return true;
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!parse.ok()) return server::FinishRpc(reactor, parse);
  if (more) resp->set_next_page_token(domain::EncodePageToken(last_key));
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Inventory, sell-through, credits
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* PosIngestionService::GetChannelInventory(
    grpc::CallbackServerContext* ctx, const v1::GetChannelInventoryRequest* req,
    v1::GetChannelInventoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetChannelInventory"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetChannelInventory(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  const absl::Time as_of = req->has_as_of() ? domain::FromProtoTime(req->as_of()) : clock_.Now();
  std::map<std::string, v1::InventoryPosition> positions;
  if (auto st = InventoryOf(store_, req->partner_id(), req->sku(), as_of, &positions); !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  resp->set_partner_id(req->partner_id());
  *resp->mutable_as_of() = domain::ToProtoTime(as_of);
  for (auto& [sku, p] : positions) *resp->add_positions() = std::move(p);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* PosIngestionService::ReconcileInventory(
    grpc::CallbackServerContext* ctx, const v1::ReconcileInventoryRequest* req,
    v1::ReconcileInventoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ReconcileInventory"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateReconcileInventory(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto report = LoadVisibleReport(store_, *caller, req->report_id());
  if (!report.ok()) return server::FinishRpc(reactor, report.status());
  const v1::Report& r = *report;
  const std::string& partner = r.header().partner_id();
  if (r.header().kind() != v1::REPORT_KIND_INVENTORY) {
    return server::FinishRpc(reactor,
                             core::FailedPrecondition(absl::StrCat("report/", req->report_id()),
                                                      "is not an INVENTORY report"));
  }
  // Reported on hand per SKU: the latest count date, locations summed.
  struct Reported {
    std::string date;
    int64_t quantity = 0;
  };
  std::map<std::string, Reported> reported;
  const std::string prefix = Join0(req->report_id(), "");
  absl::Status parse = absl::OkStatus();
  std::vector<v1::ChunkRecord> chunks;
  absl::Status st = store_.Scan(kReportChunksCf, prefix, prefix, SIZE_MAX,
                                [&](absl::string_view key, absl::string_view v) {
                                  v1::ChunkRecord& rec = chunks.emplace_back();
                                  if (!rec.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                                    parse = Corrupt(kReportChunksCf, key);
                                    return false;
                                  }
                                  if (rec.reversed()) chunks.pop_back();
                                  return true;
                                });
  for (size_t i = 0; st.ok() && parse.ok() && i < chunks.size(); ++i) {
    auto chunk = LoadChunk(store_, req->report_id(), chunks[i]);
    if (!chunk.ok()) {
      st = chunk.status();
      break;
    }
    for (const v1::PosLine& l : chunk->lines()) {
      if (l.activity() != v1::LINE_ACTIVITY_ON_HAND) continue;
      Reported& rep = reported[l.sku()];
      if (l.date() > rep.date) {
        rep.date = l.date();
        rep.quantity = 0;
      }
      if (l.date() == rep.date) rep.quantity += l.quantity();
    }
  }
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!parse.ok()) return server::FinishRpc(reactor, parse);
  resp->set_report_id(req->report_id());
  resp->set_partner_id(partner);
  std::string latest;
  for (const auto& [sku, rep] : reported) latest = std::max(latest, rep.date);
  if (latest.empty()) {
    latest = domain::FormatDate(*domain::ParseDate(r.header().period().end_date()) - 1);
  }
  // Everything the partner holds at the latest count date: SKUs it holds but
  // did not report are discrepancies too.
  std::map<std::string, v1::InventoryPosition> held;
  if (auto s = InventoryOf(store_, partner, "", domain::EndOf(*domain::ParseDate(latest)), &held);
      !s.ok()) {
    return server::FinishRpc(reactor, s);
  }
  for (const auto& [sku, rep] : reported) {
    v1::InventoryPosition p;
    if (auto s = FoldLedger(store_, partner, sku, domain::EndOf(*domain::ParseDate(rep.date)), &p);
        !s.ok()) {
      return server::FinishRpc(reactor, s);
    }
    auto* d = resp->add_lines();
    d->set_sku(sku);
    d->set_as_of_date(rep.date);
    d->set_reported_on_hand(rep.quantity);
    d->set_computed_on_hand(p.on_hand());
    d->set_discrepancy(rep.quantity - p.on_hand());
    d->set_reported(true);
  }
  for (const auto& [sku, p] : held) {
    if (reported.contains(sku) || p.on_hand() == 0) continue;
    auto* d = resp->add_lines();
    d->set_sku(sku);
    d->set_as_of_date(latest);
    d->set_computed_on_hand(p.on_hand());
    d->set_discrepancy(-p.on_hand());
    d->set_reported(false);
  }
  std::sort(resp->mutable_lines()->begin(), resp->mutable_lines()->end(),
            [](const auto& a, const auto& b) { return a.sku() < b.sku(); });
  int32_t off = 0;
  for (const auto& d : resp->lines()) off += d.discrepancy() != 0;
  resp->set_skus_with_discrepancy(off);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* PosIngestionService::GetSellThrough(grpc::CallbackServerContext* ctx,
                                                              const v1::GetSellThroughRequest* req,
                                                              v1::GetSellThroughResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetSellThrough"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetSellThrough(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  const absl::CivilDay start = *domain::ParseDate(req->period().start_date());
  const absl::CivilDay end = *domain::ParseDate(req->period().end_date());
  const std::string& partner = req->partner_id();
  const std::string prefix =
      req->sku().empty() ? Join0(partner, "") : LedgerPrefix(partner, req->sku());
  std::map<std::string, v1::SellThrough> totals;
  absl::Status problem = absl::OkStatus();
  absl::Status st = store_.Scan(
      kSellThroughCf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
        // <partner>\0<sku>\0<8 day>
        if (key.size() < partner.size() + 10 || key[key.size() - 9] != '\0') {
          problem = Corrupt(kSellThroughCf, key);
          return false;
        }
        std::string sku(key.substr(partner.size() + 1, key.size() - 9 - partner.size() - 1));
        const int64_t days = static_cast<int64_t>(
            eventstore::DecodeU64(key.substr(key.size() - 8)) ^ (uint64_t{1} << 63));
        const absl::CivilDay day = absl::CivilDay(1970, 1, 1) + days;
        if (day < start || day >= end) return true;
        v1::SellThroughDay d;
        if (!d.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
          problem = Corrupt(kSellThroughCf, key);
          return false;
        }
        v1::SellThrough& t = totals[sku];
        t.set_sku(sku);
        problem = domain::AddDay(t, d);
        return problem.ok();
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!problem.ok()) return server::FinishRpc(reactor, problem);
  resp->set_partner_id(partner);
  for (auto& [sku, t] : totals) *resp->add_items() = std::move(t);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* PosIngestionService::ListPriceProtectionCredits(
    grpc::CallbackServerContext* ctx, const v1::ListPriceProtectionCreditsRequest* req,
    v1::ListPriceProtectionCreditsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ListPriceProtectionCredits"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListPriceProtectionCredits(*req); !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  // A partner lists only its own credits, whatever filter it sent.
  const std::string partner = caller->partner_scoped ? caller->partner_id : req->partner_id();
  const size_t page = req->page_size() > 0 ? req->page_size() : domain::kDefaultPageSize;
  const std::string prefix = partner.empty() ? "" : Join0(partner, "");
  std::string start = prefix;
  if (std::string last; domain::DecodePageToken(req->page_token(), &last)) {
    start = last;
    start.push_back('\0');
  }
  std::string last_key;
  bool more = false;
  absl::Status parse = absl::OkStatus();
  absl::Status st = store_.Scan(kCreditsCf, prefix, start, SIZE_MAX,
                                [&](absl::string_view key, absl::string_view v) {
                                  v1::PriceProtectionCredit c;
                                  if (!c.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                                    parse = Corrupt(kCreditsCf, key);
                                    return false;
                                  }
                                  if (!req->sku().empty() && c.sku() != req->sku()) return true;
                                  if (static_cast<size_t>(resp->credits_size()) == page) {
                                    more = true;
                                    return false;
                                  }
                                  *resp->add_credits() = std::move(c);
                                  last_key = std::string(key);
                                  return true;
                                });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!parse.ok()) return server::FinishRpc(reactor, parse);
  if (more) resp->set_next_page_token(domain::EncodePageToken(last_key));
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Sweepers
// ---------------------------------------------------------------------------

absl::StatusOr<size_t> PosIngestionService::ApplyDuePriceChanges() {
  size_t applied = 0;
  while (true) {
    const std::string cutoff = TimeKey(clock_.Now());
    std::vector<std::pair<std::string, std::string>> due;  // (sku, history key)
    absl::Status parse = absl::OkStatus();
    CHANNELOPS_RETURN_IF_ERROR(store_.Scan(
        kPendingPricesCf, "", "", kSweepBatch, [&](absl::string_view key, absl::string_view) {
          if (key.size() < 10 || key.substr(0, 8) > cutoff) return false;
          absl::string_view rest = key.substr(8);
          size_t zero = rest.find('\0');
          if (zero == absl::string_view::npos) {
            parse = Corrupt(kPendingPricesCf, key);
            return false;
          }
          std::string sku(rest.substr(0, zero));
          due.emplace_back(sku, Join0(sku, std::string(key.substr(0, 8))));
          return true;
        }));
    CHANNELOPS_RETURN_IF_ERROR(parse);
    if (due.empty()) return applied;
    for (const auto& [sku, history_key] : due) {
      CommandMeta meta;
      meta.request_id = absl::StrCat("price-sweep-", core::NewUuidV7());
      meta.actor = kSweeperActor;
      auto r = ExecuteSyncRetrying(store_, meta, [this, sku = sku, key = history_key] {
        return ApplyScheduledCommand(store_, sku, key);
      });
      if (!r.ok()) return r.status();
      applied += r->response == "1";
    }
    if (due.size() < kSweepBatch) return applied;
  }
}

absl::StatusOr<size_t> PosIngestionService::SweepAbandonedStaging(absl::Duration older_than) {
  const absl::Time cutoff = clock_.Now() - older_than;
  std::vector<std::string> doomed;
  CHANNELOPS_RETURN_IF_ERROR(
      store_.Scan(kStagingCf, "", "", SIZE_MAX, [&](absl::string_view key, absl::string_view) {
        size_t zero = key.find('\0');
        absl::string_view attempt = key.substr(0, zero);
        // Attempt ids are UUIDv7: the first 48 bits are the creation time in ms.
        if (attempt.size() != 36) return true;
        uint64_t ms = 0;
        for (char ch : std::string(attempt.substr(0, 8)) + std::string(attempt.substr(9, 4))) {
          ms = ms * 16 +
               static_cast<uint64_t>(absl::ascii_isdigit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10);
        }
        if (absl::FromUnixMillis(static_cast<int64_t>(ms)) >= cutoff) return true;
        if (AttemptActive(attempt)) return true;
        doomed.emplace_back(key);
        return true;
      }));
  size_t removed = 0;
  for (size_t i = 0; i < doomed.size(); i += kBatchLines) {
    std::vector<std::string> keys(doomed.begin() + i,
                                  doomed.begin() + std::min(doomed.size(), i + kBatchLines));
    CommandMeta meta;
    meta.request_id = absl::StrCat("staging-sweep-", core::NewUuidV7());
    meta.actor = kSweeperActor;
    auto r = store_.ExecuteSync(meta, [keys](Tx& tx) -> absl::StatusOr<std::string> {
      for (const std::string& k : keys) tx.Delete(kStagingCf, k);
      return std::string();
    });
    if (!r.ok()) return r.status();
    removed += keys.size();
  }
  return removed;
}

}  // namespace channelops::pos
