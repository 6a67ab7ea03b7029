#include "mdf/mdf_service.h"

#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "channelops/server/rpc.h"
#include "channelops/server/runtime.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/ledger.h"
#include "mdf/domain/validation.h"
#include "mdf/storage.h"

namespace channelops::mdf {
namespace {

using domain::Context;
using eventstore::CommandMeta;
using eventstore::EventStore;
using eventstore::Tx;

constexpr size_t kSweepBatch = 512;
constexpr size_t kMaxStatementEntries = 10000;
constexpr char kExpirySweeper[] = "system:fund_expiry_sweeper";
constexpr char kClaimWindowSweeper[] = "system:claim_window_sweeper";

// ---- RPC plumbing ----

std::string Method(absl::string_view name) {
  return absl::StrCat("channelops.mdf.v1.MdfService/", name);
}

absl::Status NotYours(const char* what) {
  return absl::PermissionDeniedError(absl::StrCat("this ", what, " belongs to another partner"));
}

// Partner-scoped callers see and act only on their own funds, requests and
// claims (the partner of each never changes, so the committed read model is
// authoritative for this). An unknown id passes: the command answers NOT_FOUND.
template <class M>
absl::Status CheckOwner(const EventStore& store, const server::Caller& caller, const char* cf,
                        const std::string& id, const char* what) {
  if (!caller.partner_scoped) return absl::OkStatus();
  auto record = server::GetProto<M>(store, cf, id);
  if (!record.ok()) return record.status();
  if (*record && !caller.CanSeePartner((*record)->partner_id())) return NotYours(what);
  return absl::OkStatus();
}

std::string FundBytes(const v1::Fund& fund) {
  v1::FundResponse r;
  *r.mutable_fund() = fund;
  return r.SerializeAsString();
}

std::string RequestBytes(const Aggregates& a) {
  v1::FundRequestResponse r;
  *r.mutable_fund_request() = a.request;
  *r.mutable_fund() = a.fund;
  return r.SerializeAsString();
}

std::string ClaimBytes(const Aggregates& a) {
  v1::ClaimResponse r;
  *r.mutable_claim() = a.claim;
  *r.mutable_fund_request() = a.request;
  *r.mutable_fund() = a.fund;
  return r.SerializeAsString();
}

// ---- commands on the writer ----

absl::StatusOr<Aggregates> RunFundCommand(Tx& tx, const std::string& fund_id, const Context& ctx,
                                          const domain::FundCommand& command, bool must_exist) {
  Aggregates before;
  CHANNELOPS_ASSIGN_OR_RETURN(before.fund, LoadFund(tx, fund_id));
  if (must_exist && before.fund.fund_id().empty()) return FundNotFound(fund_id);
  CHANNELOPS_ASSIGN_OR_RETURN(auto events, domain::Decide(before.fund, command, ctx));
  return Commit(tx, before, events);
}

// The request and its fund. NOT_FOUND if the request does not exist.
absl::StatusOr<Aggregates> LoadRequestAndFund(Tx& tx, const std::string& fund_request_id) {
  Aggregates a;
  CHANNELOPS_ASSIGN_OR_RETURN(a.request, LoadRequest(tx, fund_request_id));
  if (a.request.fund_request_id().empty()) return RequestNotFound(fund_request_id);
  CHANNELOPS_ASSIGN_OR_RETURN(a.fund, LoadFund(tx, a.request.fund_id()));
  if (a.fund.fund_id().empty()) return Corrupt(kRequestsCf, fund_request_id);
  return a;
}

absl::StatusOr<Aggregates> RunRequestCommand(Tx& tx, const std::string& fund_request_id,
                                             const Context& ctx,
                                             const domain::RequestCommand& command) {
  CHANNELOPS_ASSIGN_OR_RETURN(Aggregates before, LoadRequestAndFund(tx, fund_request_id));
  CHANNELOPS_ASSIGN_OR_RETURN(auto events,
                              domain::Decide(before.request, before.fund, command, ctx));
  return Commit(tx, before, events);
}

absl::StatusOr<Aggregates> RunClaimCommand(Tx& tx, const std::string& claim_id, const Context& ctx,
                                           const domain::ClaimCommand& command) {
  CHANNELOPS_ASSIGN_OR_RETURN(v1::Claim claim, LoadClaim(tx, claim_id));
  if (claim.claim_id().empty()) return ClaimNotFound(claim_id);
  auto loaded = LoadRequestAndFund(tx, claim.fund_request_id());
  if (!loaded.ok()) return Corrupt(kClaimsCf, claim_id);
  Aggregates before = std::move(*loaded);
  before.claim = std::move(claim);
  CHANNELOPS_ASSIGN_OR_RETURN(
      auto events, domain::Decide(before.claim, before.request, before.fund, command, ctx));
  return Commit(tx, before, events);
}

// ---- listing ----

// Visits ids > after_id under `prefix` of `index_cf` in key order, loading
// each from `entity_cf` (or parsing the value when the index is the entity
// column family itself), collecting up to page_size + 1 matches.
template <class M>
absl::Status Collect(const EventStore& store, const char* index_cf, const std::string& prefix,
                     const char* entity_cf, const std::string& after_id, size_t page_size,
                     const std::function<bool(const M&)>& matches, std::vector<M>& out) {
  std::string start = prefix + after_id;
  if (!after_id.empty()) start.push_back('\0');
  const bool direct = std::string(index_cf) == entity_cf;
  absl::Status error = absl::OkStatus();
  absl::Status st = store.Scan(
      index_cf, prefix, start, SIZE_MAX, [&](absl::string_view key, absl::string_view value) {
        std::string id(key.substr(prefix.size()));
        std::optional<M> m;
        if (direct) {
          M parsed;
          if (!parsed.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
            error = Corrupt(entity_cf, id);
            return false;
          }
          m = std::move(parsed);
        } else {
          auto loaded = server::GetProto<M>(store, entity_cf, id);
          if (!loaded.ok()) {
            error = loaded.status();
            return false;
          }
          m = std::move(*loaded);
        }
        if (m && matches(*m)) out.push_back(std::move(*m));
        return out.size() <= page_size;
      });
  CHANNELOPS_RETURN_IF_ERROR(st);
  return error;
}

size_t PageSize(int32_t requested) {
  return requested > 0 ? static_cast<size_t>(requested)
                       : static_cast<size_t>(domain::kDefaultPageSize);
}

std::string AfterId(const std::string& page_token) {
  std::string id;
  if (!page_token.empty()) absl::WebSafeBase64Unescape(page_token, &id);
  return id;
}

// ---- sweepers ----

enum class SweepOutcome { kNothing, kStaleRemoved, kRecorded };
using SweepOne =
    std::function<absl::StatusOr<SweepOutcome>(Tx&, const std::string& key, const Context& ctx)>;

// Finds the keys of one schedule due at the clock's now (committed data), then
// runs a store command that re-checks and applies each; repeats while full
// batches make progress. Returns how many were recorded.
absl::StatusOr<size_t> RunSweep(EventStore& store, const core::Clock& clock, const char* prefix,
                                const char* actor, SweepOne one) {
  size_t total = 0;
  while (true) {
    const std::string cutoff = DeadlineKey(prefix, clock.Now(), "");
    std::vector<std::string> due;
    CHANNELOPS_RETURN_IF_ERROR(store.Scan(
        kDeadlinesCf, prefix, "", kSweepBatch, [&](absl::string_view key, absl::string_view) {
          if (key.size() <= cutoff.size() || key.substr(0, cutoff.size()) > cutoff) {
            return false;
          }
          due.emplace_back(key);
          return true;
        }));
    if (due.empty()) break;
    CommandMeta meta;
    meta.request_id = absl::StrCat(actor, "-", core::NewUuidV7());
    meta.actor = actor;
    auto result = store.ExecuteSync(
        std::move(meta), [due, actor, one](Tx& tx) -> absl::StatusOr<std::string> {
          Context c{tx.now(), actor};
          size_t recorded = 0, progress = 0;
          for (const std::string& key : due) {
            CHANNELOPS_ASSIGN_OR_RETURN(SweepOutcome outcome, one(tx, key, c));
            if (outcome == SweepOutcome::kRecorded) ++recorded;
            if (outcome != SweepOutcome::kNothing) ++progress;
          }
          return absl::StrCat(recorded, ",", progress);
        });
    if (!result.ok()) return result.status();
    const std::string& r = result->response;
    const size_t comma = r.find(',');
    size_t recorded = 0, progress = 0;
    CHANNELOPS_CHECK(comma != std::string::npos &&
                     absl::SimpleAtoi(absl::string_view(r).substr(0, comma), &recorded) &&
                     absl::SimpleAtoi(absl::string_view(r).substr(comma + 1), &progress))
        << "sweep response " << r;
    total += recorded;
    if (due.size() < kSweepBatch || progress == 0) break;
  }
  return total;
}

// A schedule entry that no longer matches its aggregate is removed.
absl::StatusOr<SweepOutcome> RemoveStale(Tx& tx, const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto still, tx.Get(kDeadlinesCf, key));
  if (!still) return SweepOutcome::kNothing;
  tx.Delete(kDeadlinesCf, key);
  return SweepOutcome::kStaleRemoved;
}

absl::StatusOr<SweepOutcome> ExpireOne(Tx& tx, const std::string& key, const Context& c) {
  const std::string id = key.substr(1 + 8);
  Aggregates before;
  CHANNELOPS_ASSIGN_OR_RETURN(before.fund, LoadFund(tx, id));
  const v1::Fund& f = before.fund;
  if (f.fund_id().empty() || f.status() != v1::FUND_STATUS_OPEN ||
      DeadlineKey(kFundExpiryPrefix, domain::FromProtoTime(f.expires_at()), id) != key) {
    return RemoveStale(tx, key);
  }
  auto events = domain::Decide(f, domain::ExpireFund{}, c);
  if (!events.ok()) {
    if (events.status().code() == absl::StatusCode::kFailedPrecondition) {
      return SweepOutcome::kNothing;  // not due yet
    }
    return events.status();
  }
  CHANNELOPS_RETURN_IF_ERROR(Commit(tx, before, *events).status());
  return SweepOutcome::kRecorded;
}

absl::StatusOr<SweepOutcome> CloseOne(Tx& tx, const std::string& key, const Context& c) {
  const std::string id = key.substr(1 + 8);
  CHANNELOPS_ASSIGN_OR_RETURN(v1::FundRequest r, LoadRequest(tx, id));
  if (r.fund_request_id().empty() || r.status() != v1::FUND_REQUEST_STATUS_APPROVED ||
      DeadlineKey(kClaimWindowPrefix, domain::FromProtoTime(r.claim_deadline()), id) != key) {
    return RemoveStale(tx, key);
  }
  CHANNELOPS_ASSIGN_OR_RETURN(Aggregates before, LoadRequestAndFund(tx, id));
  auto events = domain::Decide(before.request, before.fund,
                               domain::CloseFundRequest{"claim window passed", true}, c);
  if (!events.ok()) {
    if (events.status().code() == absl::StatusCode::kFailedPrecondition) {
      return SweepOutcome::kNothing;
    }
    return events.status();
  }
  CHANNELOPS_RETURN_IF_ERROR(Commit(tx, before, *events).status());
  return SweepOutcome::kRecorded;
}

}  // namespace

std::vector<std::string> MdfService::ReadModelCfs() { return mdf::ReadModelCfs(); }

MdfService::MdfService(EventStore& store, core::Clock& clock, MdfOptions options)
    : store_(store), clock_(clock), options_(options) {
  CHANNELOPS_CHECK(options_.claim_window_days >= 0 &&
                   options_.claim_window_days <= domain::kMaxClaimWindowDays)
      << "claim_window_days " << options_.claim_window_days;
}

// ---------------------------------------------------------------------------
// Funds
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* MdfService::AllocateFunds(grpc::CallbackServerContext* ctx,
                                                    const v1::AllocateFundsRequest* req,
                                                    v1::FundResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("AllocateFunds"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateAllocateFunds(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "AllocateFunds", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after,
                                RunFundCommand(tx, r.fund_id(), Context{tx.now(), actor},
                                               domain::AllocateFunds{r}, /*must_exist=*/false));
    return FundBytes(after.fund);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::AdjustFunds(grpc::CallbackServerContext* ctx,
                                                  const v1::AdjustFundsRequest* req,
                                                  v1::FundResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("AdjustFunds"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateAdjustFunds(*req); !st.ok()) return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::Fund>(store_, *caller, kFundsCf, req->fund_id(), "fund"); !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "AdjustFunds", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after,
                                RunFundCommand(tx, r.fund_id(), Context{tx.now(), actor},
                                               domain::AdjustFunds{r}, /*must_exist=*/true));
    return FundBytes(after.fund);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::GetFund(grpc::CallbackServerContext* ctx,
                                              const v1::GetFundRequest* req,
                                              v1::FundResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetFund"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetFund(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto fund = server::GetProto<v1::Fund>(store_, kFundsCf, req->fund_id());
  if (!fund.ok()) return server::FinishRpc(reactor, fund.status());
  if (!*fund) return server::FinishRpc(reactor, FundNotFound(req->fund_id()));
  if (!caller->CanSeePartner((*fund)->partner_id())) {
    return server::FinishRpc(reactor, NotYours("fund"));
  }
  *resp->mutable_fund() = std::move(**fund);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* MdfService::ListFunds(grpc::CallbackServerContext* ctx,
                                                const v1::ListFundsRequest* req,
                                                v1::ListFundsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ListFunds"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListFunds(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto list = server::GetProto<v1::PartnerFunds>(store_, kPartnerFundsCf, req->partner_id());
  if (!list.ok()) return server::FinishRpc(reactor, list.status());
  if (!*list) return server::FinishRpc(reactor, absl::OkStatus());
  for (const std::string& id : (*list)->fund_ids()) {
    auto fund = server::GetProto<v1::Fund>(store_, kFundsCf, id);
    if (!fund.ok()) return server::FinishRpc(reactor, fund.status());
    if (!*fund) return server::FinishRpc(reactor, Corrupt(kPartnerFundsCf, req->partner_id()));
    if (req->kind() != v1::FUND_KIND_UNSPECIFIED && (*fund)->kind() != req->kind()) continue;
    if (req->status() != v1::FUND_STATUS_UNSPECIFIED && (*fund)->status() != req->status()) {
      continue;
    }
    *resp->add_funds() = std::move(**fund);
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Fund requests
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* MdfService::SubmitFundRequest(grpc::CallbackServerContext* ctx,
                                                        const v1::SubmitFundRequestRequest* req,
                                                        v1::FundRequestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("SubmitFundRequest"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateSubmitFundRequest(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "SubmitFundRequest", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Aggregates before;
    CHANNELOPS_ASSIGN_OR_RETURN(before.fund, LoadFund(tx, r.fund_id()));
    if (before.fund.fund_id().empty()) return FundNotFound(r.fund_id());
    domain::SubmitFundRequest cmd{r, core::NewUuidV7(tx.now())};
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events, domain::Decide(before.request, before.fund, cmd, Context{tx.now(), actor}));
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after, Commit(tx, before, events));
    return RequestBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::ResubmitFundRequest(grpc::CallbackServerContext* ctx,
                                                          const v1::ResubmitFundRequestRequest* req,
                                                          v1::FundRequestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ResubmitFundRequest"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateResubmitFundRequest(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::FundRequest>(store_, *caller, kRequestsCf, req->fund_request_id(),
                                            "fund request");
      !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "ResubmitFundRequest", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after,
                                RunRequestCommand(tx, r.fund_request_id(), Context{tx.now(), actor},
                                                  domain::ResubmitFundRequest{r}));
    return RequestBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::DecideFundRequest(grpc::CallbackServerContext* ctx,
                                                        const v1::DecideFundRequestRequest* req,
                                                        v1::FundRequestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("DecideFundRequest"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateDecideFundRequest(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::FundRequest>(store_, *caller, kRequestsCf, req->fund_request_id(),
                                            "fund request");
      !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "DecideFundRequest", req->request_id());
  auto command = [r = *req, actor = meta.actor,
                  window = options_.claim_window_days](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after,
                                RunRequestCommand(tx, r.fund_request_id(), Context{tx.now(), actor},
                                                  domain::DecideFundRequest{r, window}));
    return RequestBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::CloseFundRequest(grpc::CallbackServerContext* ctx,
                                                       const v1::CloseFundRequestRequest* req,
                                                       v1::FundRequestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("CloseFundRequest"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateCloseFundRequest(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::FundRequest>(store_, *caller, kRequestsCf, req->fund_request_id(),
                                            "fund request");
      !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "CloseFundRequest", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after,
                                RunRequestCommand(tx, r.fund_request_id(), Context{tx.now(), actor},
                                                  domain::CloseFundRequest{r.reason(), false}));
    return RequestBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::GetFundRequest(grpc::CallbackServerContext* ctx,
                                                     const v1::GetFundRequestRequest* req,
                                                     v1::FundRequestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetFundRequest"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetFundRequest(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto request = server::GetProto<v1::FundRequest>(store_, kRequestsCf, req->fund_request_id());
  if (!request.ok()) return server::FinishRpc(reactor, request.status());
  if (!*request) return server::FinishRpc(reactor, RequestNotFound(req->fund_request_id()));
  if (!caller->CanSeePartner((*request)->partner_id())) {
    return server::FinishRpc(reactor, NotYours("fund request"));
  }
  auto fund = server::GetProto<v1::Fund>(store_, kFundsCf, (*request)->fund_id());
  if (!fund.ok()) return server::FinishRpc(reactor, fund.status());
  if (!*fund) return server::FinishRpc(reactor, Corrupt(kRequestsCf, req->fund_request_id()));
  *resp->mutable_fund_request() = std::move(**request);
  *resp->mutable_fund() = std::move(**fund);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* MdfService::ListFundRequests(grpc::CallbackServerContext* ctx,
                                                       const v1::ListFundRequestsRequest* req,
                                                       v1::ListFundRequestsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ListFundRequests"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListFundRequests(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  // A partner lists only its own requests, whatever filter it sent.
  v1::ListFundRequestsRequest scoped;
  if (caller->partner_scoped) {
    scoped = *req;
    scoped.set_partner_id(caller->partner_id);
    req = &scoped;
  }
  const size_t page_size = PageSize(req->page_size());
  std::function<bool(const v1::FundRequest&)> matches = [req](const v1::FundRequest& r) {
    if (!req->fund_id().empty() && r.fund_id() != req->fund_id()) return false;
    if (!req->partner_id().empty() && r.partner_id() != req->partner_id()) return false;
    return req->status() == v1::FUND_REQUEST_STATUS_UNSPECIFIED || r.status() == req->status();
  };
  std::vector<v1::FundRequest> found;
  absl::Status st;
  const std::string after = AfterId(req->page_token());
  if (!req->fund_id().empty()) {
    st = Collect(store_, kIndexCf, IndexPrefix("fr", req->fund_id()), kRequestsCf, after, page_size,
                 matches, found);
  } else if (!req->partner_id().empty()) {
    st = Collect(store_, kIndexCf, IndexPrefix("pr", req->partner_id()), kRequestsCf, after,
                 page_size, matches, found);
  } else {
    st = Collect(store_, kRequestsCf, "", kRequestsCf, after, page_size, matches, found);
  }
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (found.size() > page_size) {
    found.resize(page_size);
    resp->set_next_page_token(absl::WebSafeBase64Escape(found.back().fund_request_id()));
  }
  for (auto& r : found) *resp->add_fund_requests() = std::move(r);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* MdfService::SubmitClaim(grpc::CallbackServerContext* ctx,
                                                  const v1::SubmitClaimRequest* req,
                                                  v1::ClaimResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("SubmitClaim"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateSubmitClaim(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "SubmitClaim", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates before, LoadRequestAndFund(tx, r.fund_request_id()));
    domain::SubmitClaim cmd{r, core::NewUuidV7(tx.now())};
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events,
        domain::Decide(before.claim, before.request, before.fund, cmd, Context{tx.now(), actor}));
    CHANNELOPS_ASSIGN_OR_RETURN(Aggregates after, Commit(tx, before, events));
    return ClaimBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::DecideClaim(grpc::CallbackServerContext* ctx,
                                                  const v1::DecideClaimRequest* req,
                                                  v1::ClaimResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("DecideClaim"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateDecideClaim(*req); !st.ok()) return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::Claim>(store_, *caller, kClaimsCf, req->claim_id(), "claim");
      !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "DecideClaim", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(
        Aggregates after,
        RunClaimCommand(tx, r.claim_id(), Context{tx.now(), actor}, domain::DecideClaim{r}));
    return ClaimBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::RecordPayment(grpc::CallbackServerContext* ctx,
                                                    const v1::RecordPaymentRequest* req,
                                                    v1::ClaimResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("RecordPayment"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateRecordPayment(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  if (auto st = CheckOwner<v1::Claim>(store_, *caller, kClaimsCf, req->claim_id(), "claim");
      !st.ok()) {
    return server::FinishRpc(reactor, st);
  }
  CommandMeta meta = server::CommandMetaFor(*ctx, "RecordPayment", req->request_id());
  auto command = [r = *req, actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(
        Aggregates after,
        RunClaimCommand(tx, r.claim_id(), Context{tx.now(), actor}, domain::RecordPayment{r}));
    return ClaimBytes(after);
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* MdfService::GetClaim(grpc::CallbackServerContext* ctx,
                                               const v1::GetClaimRequest* req,
                                               v1::ClaimResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetClaim"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetClaim(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto claim = server::GetProto<v1::Claim>(store_, kClaimsCf, req->claim_id());
  if (!claim.ok()) return server::FinishRpc(reactor, claim.status());
  if (!*claim) return server::FinishRpc(reactor, ClaimNotFound(req->claim_id()));
  if (!caller->CanSeePartner((*claim)->partner_id())) {
    return server::FinishRpc(reactor, NotYours("claim"));
  }
  auto request =
      server::GetProto<v1::FundRequest>(store_, kRequestsCf, (*claim)->fund_request_id());
  if (!request.ok()) return server::FinishRpc(reactor, request.status());
  auto fund = server::GetProto<v1::Fund>(store_, kFundsCf, (*claim)->fund_id());
  if (!fund.ok()) return server::FinishRpc(reactor, fund.status());
  if (!*request || !*fund) return server::FinishRpc(reactor, Corrupt(kClaimsCf, req->claim_id()));
  *resp->mutable_claim() = std::move(**claim);
  *resp->mutable_fund_request() = std::move(**request);
  *resp->mutable_fund() = std::move(**fund);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* MdfService::ListClaims(grpc::CallbackServerContext* ctx,
                                                 const v1::ListClaimsRequest* req,
                                                 v1::ListClaimsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("ListClaims"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListClaims(*req); !st.ok()) return server::FinishRpc(reactor, st);
  // A partner lists only its own claims, whatever filter it sent.
  v1::ListClaimsRequest scoped;
  if (caller->partner_scoped) {
    scoped = *req;
    scoped.set_partner_id(caller->partner_id);
    req = &scoped;
  }
  const size_t page_size = PageSize(req->page_size());
  std::function<bool(const v1::Claim&)> matches = [req](const v1::Claim& c) {
    if (!req->fund_request_id().empty() && c.fund_request_id() != req->fund_request_id()) {
      return false;
    }
    if (!req->fund_id().empty() && c.fund_id() != req->fund_id()) return false;
    if (!req->partner_id().empty() && c.partner_id() != req->partner_id()) return false;
    return req->status() == v1::CLAIM_STATUS_UNSPECIFIED || c.status() == req->status();
  };
  std::vector<v1::Claim> found;
  absl::Status st;
  const std::string after = AfterId(req->page_token());
  if (!req->fund_request_id().empty()) {
    st = Collect(store_, kIndexCf, IndexPrefix("rc", req->fund_request_id()), kClaimsCf, after,
                 page_size, matches, found);
  } else if (!req->fund_id().empty()) {
    st = Collect(store_, kIndexCf, IndexPrefix("fc", req->fund_id()), kClaimsCf, after, page_size,
                 matches, found);
  } else if (!req->partner_id().empty()) {
    st = Collect(store_, kIndexCf, IndexPrefix("pc", req->partner_id()), kClaimsCf, after,
                 page_size, matches, found);
  } else {
    st = Collect(store_, kClaimsCf, "", kClaimsCf, after, page_size, matches, found);
  }
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (found.size() > page_size) {
    found.resize(page_size);
    resp->set_next_page_token(absl::WebSafeBase64Escape(found.back().claim_id()));
  }
  for (auto& c : found) *resp->add_claims() = std::move(c);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Statement
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* MdfService::GetPartnerStatement(grpc::CallbackServerContext* ctx,
                                                          const v1::GetPartnerStatementRequest* req,
                                                          v1::GetPartnerStatementResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, Method("GetPartnerStatement"), *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetPartnerStatement(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  const absl::Time start = domain::StartOf(*domain::ParseDate(req->period().start_date()));
  const absl::Time end = domain::StartOf(*domain::ParseDate(req->period().end_date()));
  resp->set_partner_id(req->partner_id());
  *resp->mutable_period() = req->period();

  // Every fund of the partner, folded from zero over its ledger entries.
  auto list = server::GetProto<v1::PartnerFunds>(store_, kPartnerFundsCf, req->partner_id());
  if (!list.ok()) return server::FinishRpc(reactor, list.status());
  std::map<std::string, v1::FundStatement> statements;
  if (*list) {
    for (const std::string& id : (*list)->fund_ids()) {
      auto fund = server::GetProto<v1::Fund>(store_, kFundsCf, id);
      if (!fund.ok()) return server::FinishRpc(reactor, fund.status());
      if (!*fund) return server::FinishRpc(reactor, Corrupt(kPartnerFundsCf, req->partner_id()));
      if (domain::FromProtoTime((*fund)->allocated_at()) >= end) continue;
      v1::FundStatement& s = statements[id];
      s.set_fund_id(id);
      s.set_kind((*fund)->kind());
      s.set_currency_code((*fund)->currency_code());
      *s.mutable_opening() = domain::ZeroBalance((*fund)->currency_code());
      *s.mutable_closing() = domain::ZeroBalance((*fund)->currency_code());
      *s.mutable_activity() = domain::ZeroActivity((*fund)->currency_code());
    }
  }
  const std::string prefix = LedgerPrefix(req->partner_id());
  const std::string end_key = LedgerKeyAt(req->partner_id(), end);
  absl::Status error = absl::OkStatus();
  absl::Status st = store_.Scan(
      kLedgerCf, prefix, "", SIZE_MAX, [&](absl::string_view key, absl::string_view value) {
        if (key >= absl::string_view(end_key)) return false;
        v1::LedgerEntry entry;
        if (!entry.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          error = Corrupt(kLedgerCf, std::string(key));
          return false;
        }
        auto it = statements.find(entry.fund_id());
        if (it == statements.end()) {
          error = Corrupt(kLedgerCf, std::string(key));
          return false;
        }
        v1::FundStatement& s = it->second;
        error = domain::ApplyEntry(*s.mutable_closing(), entry);
        if (error.ok() && domain::FromProtoTime(entry.occurred_at()) < start) {
          error = domain::ApplyEntry(*s.mutable_opening(), entry);
        } else if (error.ok()) {
          error = domain::AddToActivity(*s.mutable_activity(), entry);
          if (static_cast<size_t>(resp->entries_size()) < kMaxStatementEntries) {
            *resp->add_entries() = std::move(entry);
          } else {
            resp->set_entries_truncated(true);
          }
        }
        return error.ok();
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!error.ok()) return server::FinishRpc(reactor, error);
  for (auto& [id, s] : statements) *resp->add_funds() = std::move(s);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Sweepers
// ---------------------------------------------------------------------------

absl::StatusOr<size_t> MdfService::SweepExpiredFunds() {
  return RunSweep(store_, clock_, kFundExpiryPrefix, kExpirySweeper, ExpireOne);
}

absl::StatusOr<size_t> MdfService::SweepClaimWindows() {
  return RunSweep(store_, clock_, kClaimWindowPrefix, kClaimWindowSweeper, CloseOne);
}

}  // namespace channelops::mdf
