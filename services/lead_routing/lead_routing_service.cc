#include "lead_routing/lead_routing_service.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/wire.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/leads/v1/read_models.pb.h"
#include "channelops/server/log.h"
#include "channelops/server/rpc.h"
#include "channelops/server/runtime.h"
#include "lead_routing/domain/decider.h"
#include "lead_routing/domain/events.h"
#include "lead_routing/domain/routing_index.h"
#include "lead_routing/domain/validation.h"

namespace channelops::leads {
namespace {

using domain::Context;
using eventstore::CommandMeta;
using eventstore::CommandResult;
using eventstore::DecodeU64;
using eventstore::EncodeU64;
using eventstore::EventStore;
using eventstore::Tx;

constexpr char kEpochKey[] = "epoch";
constexpr char kSweeperActor[] = "system:sla_sweeper";
constexpr size_t kSweepBatch = 512;
constexpr size_t kMaxHistoryEvents = 100000;
constexpr int kAcceptSamples = 1000;

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

uint64_t Micros(const google::protobuf::Timestamp& ts) {
  return static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMicros(domain::FromProtoTime(ts)), 0));
}

absl::Status Corrupt(const char* what, absl::string_view key) {
  return absl::DataLossError(
      absl::StrCat("corrupt ", what, " read model at '", absl::CHexEscape(key), "'"));
}

absl::Status LeadNotFound(const std::string& lead_id) {
  return absl::NotFoundError(absl::StrCat("lead_id: no lead ", lead_id));
}

// ---- lead read-model keys ----

// The inbox a lead is in: its holder's, and its last holder's once closed.
std::optional<std::string> InboxKey(const v1::Lead& l) {
  if (l.lead_id().empty() || l.partner_id().empty() || l.status() == v1::LEAD_STATUS_UNROUTED) {
    return std::nullopt;
  }
  return Join0(l.partner_id(), l.lead_id());
}

std::optional<std::string> DeadlineKey(const v1::Lead& l) {
  if (l.status() != v1::LEAD_STATUS_ASSIGNED) return std::nullopt;
  return absl::StrCat(EncodeU64(Micros(l.accept_deadline())), l.lead_id());
}

std::optional<std::string> UnroutedKey(const v1::Lead& l) {
  if (l.status() != v1::LEAD_STATUS_UNROUTED) return std::nullopt;
  return absl::StrCat(EncodeU64(Micros(l.queued_at())), l.lead_id());
}

// `after_bytes`: `after` serialized (the lead read model's value).
void WriteLeadReadModels(Tx& tx, const v1::Lead& before, const v1::Lead& after,
                         std::string after_bytes) {
  tx.Put(kLeadsCf, after.lead_id(), std::move(after_bytes));
  auto move = [&tx](const char* cf, const std::optional<std::string>& old_key,
                    const std::optional<std::string>& new_key, const std::string& value) {
    if (old_key && old_key != new_key) tx.Delete(cf, *old_key);
    if (new_key) tx.Put(cf, *new_key, value);
  };
  move(kInboxCf, InboxKey(before), InboxKey(after), "");
  move(kDeadlinesCf, DeadlineKey(before), DeadlineKey(after), after.partner_id());
  move(kUnroutedCf, UnroutedKey(before), UnroutedKey(after), "");
}

// ---- RPC plumbing ----

// How a lead command's caller sees the lead after it: not at all (the SLA
// sweeper), whole (channel managers, marketing), or as one partner may
// (contact withheld until that partner accepts: domain::PartnerView).
struct LeadAnswer {
  enum Kind { kNone, kFull, kPartner } kind = kNone;
  std::string partner_id;  // kPartner

  static LeadAnswer Full() { return {kFull, ""}; }
  static LeadAnswer OfPartner(std::string partner_id) { return {kPartner, std::move(partner_id)}; }
  static LeadAnswer OfPartnerOrFull(const std::string& partner_id) {
    return partner_id.empty() ? Full() : OfPartner(partner_id);
  }
};

// Fills `out` (when given) with `lead` as `answer` shows it and returns the
// response's bytes. `lead_bytes`: `lead` serialized, when the caller has them
// (a full answer is then framed around them instead of serialized again).
std::string Answer(const LeadAnswer& answer, v1::Lead lead, const std::string* lead_bytes,
                   v1::LeadResponse* out) {
  std::string bytes;
  switch (answer.kind) {
    case LeadAnswer::kNone:
      return bytes;
    case LeadAnswer::kFull:
      if (lead_bytes != nullptr) {
        bytes.reserve(lead_bytes->size() + 6);
        core::AppendLengthDelimited(&bytes, 1, *lead_bytes);  // LeadResponse.lead
        if (out != nullptr) *out->mutable_lead() = std::move(lead);
        return bytes;
      }
      break;
    case LeadAnswer::kPartner:
      lead = domain::PartnerView(lead, answer.partner_id);
      break;
  }
  v1::LeadResponse local;
  v1::LeadResponse& r = out != nullptr ? *out : local;
  *r.mutable_lead() = std::move(lead);
  r.SerializeToString(&bytes);
  return bytes;
}

int32_t PageSize(int32_t requested) {
  return requested == 0 ? domain::kDefaultPageSize : requested;
}

}  // namespace

// ---------------------------------------------------------------------------
// The writer-thread state: the routing index cache and how commands run.
// ---------------------------------------------------------------------------
class LeadRoutingService::WriterState {
 public:
  explicit WriterState(const EventStore& store) : store_(store) {}

  // Makes the cache match what `tx` sees. Must be the first thing a command
  // does. Errors: UNAVAILABLE / DATA_LOSS from storage (the cache is left
  // unloaded and rebuilt by the next command).
  absl::Status EnsureFresh(Tx& tx) {
    CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> raw, tx.Get(kRoutingMetaCf, kEpochKey));
    uint64_t stored = raw ? DecodeU64(*raw) : 0;
    if (loaded_ && stored == epoch_) return absl::OkStatus();
    loaded_ = false;
    // The cache was built from writes a failed batch voided, or never built.
    // Every routing read model write bumps the epoch after checking it, so no
    // routing write is staged on top of what the store committed: the
    // committed read models are exactly what the Tx sees.
    index_.Clear();
    CHANNELOPS_RETURN_IF_ERROR(Load());
    epoch_ = stored;
    loaded_ = true;
    server::LogInfo("routing index loaded",
                    {{"epoch", absl::StrCat(epoch_)},
                     {"territories", absl::StrCat(index_.territory_count())},
                     {"partners", absl::StrCat(index_.partner_count())}});
    return absl::OkStatus();
  }

  const domain::RoutingIndex& index() const { return index_; }

  // Applies events to the cache and stages the read-model writes. Infallible:
  // call only once everything fallible (reads, Append) succeeded.
  void ApplyAndPersist(Tx& tx, const std::vector<domain::Event>& events) {
    domain::IndexChanges changes;
    for (const auto& e : events) changes.Merge(index_.Apply(e));
    for (const std::string& id : changes.territories) {
      const domain::TerritoryEntry* t = index_.FindTerritory(id);
      CHANNELOPS_CHECK(t != nullptr) << id;
      tx.Put(kTerritoriesCf, id, t->territory.SerializeAsString());
    }
    for (const std::string& id : changes.profiles) {
      const domain::PartnerEntry* p = index_.FindPartner(id);
      CHANNELOPS_CHECK(p != nullptr) << id;
      tx.Put(kPartnersCf, id, p->profile.SerializeAsString());
    }
    for (const std::string& id : changes.counters) {
      const domain::PartnerEntry* p = index_.FindPartner(id);
      CHANNELOPS_CHECK(p != nullptr) << id;
      tx.Put(kPartnerStatsCf, id, p->counters.SerializeAsString());
    }
    for (const auto& [tid, pid] : changes.rotation) {
      const domain::TerritoryEntry* t = index_.FindTerritory(tid);
      const domain::PartnerEntry* p = index_.FindPartner(pid);
      CHANNELOPS_CHECK(t != nullptr && p != nullptr) << tid << "/" << pid;
      auto it = t->pass.find(p);
      CHANNELOPS_CHECK(it != t->pass.end() && it->second >= 0 && t->virtual_time >= 0);
      tx.Put(kRotationCf, Join0(tid, pid), EncodeU64(static_cast<uint64_t>(it->second)));
      tx.Put(kRotationCf, Join0(tid, ""), EncodeU64(static_cast<uint64_t>(t->virtual_time)));
    }
    ++epoch_;
    tx.Put(kRoutingMetaCf, kEpochKey, EncodeU64(epoch_));
  }

 private:
  absl::Status Load() {
    absl::Status bad = absl::OkStatus();
    auto each = [&](const char* cf,
                    const std::function<void(absl::string_view, absl::string_view)>& fn) {
      return store_.Scan(cf, "", "", SIZE_MAX, [&](absl::string_view k, absl::string_view v) {
        fn(k, v);
        return bad.ok();
      });
    };
    CHANNELOPS_RETURN_IF_ERROR(each(kPartnersCf, [&](absl::string_view k, absl::string_view v) {
      v1::PartnerProfile p;
      if (!p.ParseFromArray(v.data(), static_cast<int>(v.size())))
        bad = Corrupt(kPartnersCf, k);
      else
        index_.LoadPartner(std::move(p));
    }));
    CHANNELOPS_RETURN_IF_ERROR(bad);
    CHANNELOPS_RETURN_IF_ERROR(each(kPartnerStatsCf, [&](absl::string_view k, absl::string_view v) {
      v1::PartnerCounters c;
      if (!c.ParseFromArray(v.data(), static_cast<int>(v.size())))
        bad = Corrupt(kPartnerStatsCf, k);
      else
        index_.LoadCounters(std::string(k), std::move(c));
    }));
    CHANNELOPS_RETURN_IF_ERROR(bad);
    CHANNELOPS_RETURN_IF_ERROR(each(kTerritoriesCf, [&](absl::string_view k, absl::string_view v) {
      v1::Territory t;
      if (!t.ParseFromArray(v.data(), static_cast<int>(v.size())))
        bad = Corrupt(kTerritoriesCf, k);
      else
        index_.LoadTerritory(std::move(t));
    }));
    CHANNELOPS_RETURN_IF_ERROR(bad);
    CHANNELOPS_RETURN_IF_ERROR(each(kRotationCf, [&](absl::string_view k, absl::string_view v) {
      size_t zero = k.find('\0');
      if (zero == absl::string_view::npos || v.size() != 8) {
        bad = Corrupt(kRotationCf, k);
        return;
      }
      index_.LoadRotation(std::string(k.substr(0, zero)), std::string(k.substr(zero + 1)),
                          static_cast<int64_t>(DecodeU64(v)));
    }));
    return bad;
  }

  const EventStore& store_;
  domain::RoutingIndex index_;
  uint64_t epoch_ = 0;
  bool loaded_ = false;
};

namespace {

using WriterState = LeadRoutingService::WriterState;

// Appends events to their streams in order (consecutive events of one stream
// in one Append). The lead stream's first append checks its version.
absl::Status AppendAll(Tx& tx, const std::vector<domain::Event>& events,
                       const std::string& lead_stream, int64_t lead_version) {
  bool lead_checked = false;
  size_t i = 0;
  while (i < events.size()) {
    std::string stream = domain::StreamOf(events[i]);
    std::vector<eventstore::NewEvent> batch;
    for (; i < events.size() && domain::StreamOf(events[i]) == stream; ++i) {
      batch.push_back(eventstore::NewEvent::Of(domain::AsMessage(events[i])));
    }
    int64_t expected = eventstore::kAnyVersion;
    if (stream == lead_stream && !lead_checked) {
      expected = lead_version;
      lead_checked = true;
    }
    CHANNELOPS_RETURN_IF_ERROR(tx.Append(stream, expected, std::move(batch)).status());
  }
  return absl::OkStatus();
}

// Runs a lead command: load, decide, append, then (infallibly) apply to the
// cache and write the read models. Answers with the lead after the command,
// as `answer` says (filling `out` when given: the RPC's response).
absl::StatusOr<std::string> RunLeadCommand(WriterState& w, Tx& tx, const std::string& lead_id,
                                           const domain::LeadCommand& command,
                                           const std::string& actor, const LeadAnswer& answer,
                                           v1::LeadResponse* out) {
  CHANNELOPS_RETURN_IF_ERROR(w.EnsureFresh(tx));
  Context ctx{tx.now(), actor};
  const bool submit = std::holds_alternative<domain::SubmitLead>(command);
  v1::Lead before;
  if (!submit) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto stored, server::GetProto<v1::Lead>(tx, kLeadsCf, lead_id));
    if (!stored) return LeadNotFound(lead_id);
    before = std::move(*stored);
  }
  // A submitted lead's id is a new UUIDv7 (SubmitLead): there is no lead to
  // read. Were there one, its stream's version (expected 0 below) refuses the
  // append with ABORTED, so a lead is never overwritten.
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<domain::Event> events,
                              domain::Decide(before, command, w.index(), ctx));
  if (events.empty()) return Answer(answer, std::move(before), nullptr, out);
  v1::Lead after = before;
  for (const auto& e : events) after = domain::Evolve(std::move(after), e);
  CHANNELOPS_CHECK(after.lead_id() == lead_id) << "lead events name the lead";

  // Everything fallible first.
  std::optional<v1::LeadAccepted> accepted;
  for (const auto& e : events) {
    if (auto* a = std::get_if<v1::LeadAccepted>(&e)) accepted = *a;
  }
  v1::AcceptTimes times;
  if (accepted) {
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto t, server::GetProto<v1::AcceptTimes>(tx, kAcceptTimesCf, accepted->partner_id()));
    if (t) times = std::move(*t);
  }
  CHANNELOPS_RETURN_IF_ERROR(
      AppendAll(tx, events, domain::LeadStream(lead_id), static_cast<int64_t>(before.version())));

  // From here on nothing fails.
  w.ApplyAndPersist(tx, events);
  std::string after_bytes = after.SerializeAsString();
  WriteLeadReadModels(tx, before, after, after_bytes);
  if (accepted) {
    int64_t secs = absl::ToInt64Seconds(domain::FromProtoDuration(accepted->time_to_accept()));
    if (times.seconds_size() < kAcceptSamples) {
      times.add_seconds(secs);
    } else {
      times.set_seconds(times.next(), secs);
      times.set_next((times.next() + 1) % kAcceptSamples);
    }
    tx.Put(kAcceptTimesCf, accepted->partner_id(), times.SerializeAsString());
  }
  return Answer(answer, std::move(after), &after_bytes, out);
}

// Territory and profile commands.
absl::StatusOr<std::vector<domain::Event>> CommitRoutingConfig(
    WriterState& w, Tx& tx,
    const std::function<absl::StatusOr<std::vector<domain::Event>>(const domain::RoutingIndex&)>&
        decide) {
  CHANNELOPS_RETURN_IF_ERROR(w.EnsureFresh(tx));
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<domain::Event> events, decide(w.index()));
  CHANNELOPS_RETURN_IF_ERROR(AppendAll(tx, events, "", 0));
  w.ApplyAndPersist(tx, events);
  return events;
}

// A lead command from an RPC: validated request -> queued command, which
// fills the RPC's response itself (server::SubmitTypedCommand).
grpc::ServerUnaryReactor* SubmitLeadCommand(EventStore& store, WriterState* w,
                                            grpc::ServerUnaryReactor* reactor, CommandMeta meta,
                                            std::string lead_id, domain::LeadCommand command,
                                            LeadAnswer answer, v1::LeadResponse* resp) {
  std::string actor = meta.actor;
  auto run = [w, lead_id = std::move(lead_id), command = std::move(command), actor,
              answer = std::move(answer)](Tx& tx,
                                          v1::LeadResponse& out) -> absl::StatusOr<std::string> {
    return RunLeadCommand(*w, tx, lead_id, command, actor, answer, &out);
  };
  return server::SubmitTypedCommand<v1::LeadResponse>(store, reactor, std::move(meta),
                                                      std::move(run), resp);
}

}  // namespace

std::vector<std::string> LeadRoutingService::ReadModelCfs() {
  return {kLeadsCf,    kTerritoriesCf, kPartnersCf,  kPartnerStatsCf, kAcceptTimesCf,
          kRotationCf, kInboxCf,       kDeadlinesCf, kUnroutedCf,     kRoutingMetaCf};
}

LeadRoutingService::LeadRoutingService(EventStore& store, core::Clock& clock)
    : store_(store), clock_(clock), writer_(std::make_unique<WriterState>(store)) {}

LeadRoutingService::~LeadRoutingService() = default;

// ---------------------------------------------------------------------------
// Territories and partner profiles
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* LeadRoutingService::UpsertTerritory(grpc::CallbackServerContext* ctx,
                                                              const v1::UpsertTerritoryRequest* req,
                                                              v1::TerritoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/UpsertTerritory", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  auto territory = domain::ValidateUpsertTerritory(*req);
  if (!territory.ok()) return server::FinishRpc(reactor, territory.status());
  CommandMeta meta = server::CommandMetaFor(*ctx, "UpsertTerritory", req->request_id());
  auto command = [w = writer_.get(), t = std::move(*territory),
                  actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    CHANNELOPS_ASSIGN_OR_RETURN(auto events,
                                CommitRoutingConfig(*w, tx, [&](const domain::RoutingIndex& index) {
                                  return domain::Decide(index, domain::UpsertTerritory{t}, c);
                                }));
    v1::TerritoryResponse r;
    *r.mutable_territory() = std::get<v1::TerritoryUpserted>(events.front()).territory();
    return r.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::GetTerritory(grpc::CallbackServerContext* ctx,
                                                           const v1::GetTerritoryRequest* req,
                                                           v1::TerritoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/GetTerritory", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateGetTerritory(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto t = server::GetProto<v1::Territory>(store_, kTerritoriesCf, req->territory_id());
  if (!t.ok()) return server::FinishRpc(reactor, t.status());
  if (!*t) {
    return server::FinishRpc(reactor, absl::NotFoundError(absl::StrCat(
                                          "territory_id: no territory ", req->territory_id())));
  }
  *resp->mutable_territory() = std::move(**t);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* LeadRoutingService::UpsertPartnerProfile(
    grpc::CallbackServerContext* ctx, const v1::UpsertPartnerProfileRequest* req,
    v1::PartnerProfileResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller = authz_->Authorize(
          *ctx, "channelops.leads.v1.LeadRoutingService/UpsertPartnerProfile", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  auto profile = domain::ValidateUpsertPartnerProfile(*req);
  if (!profile.ok()) return server::FinishRpc(reactor, profile.status());
  CommandMeta meta = server::CommandMetaFor(*ctx, "UpsertPartnerProfile", req->request_id());
  auto command = [w = writer_.get(), p = std::move(*profile), clear = req->clear_pause(),
                  actor = meta.actor](Tx& tx) -> absl::StatusOr<std::string> {
    Context c{tx.now(), actor};
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events, CommitRoutingConfig(*w, tx, [&](const domain::RoutingIndex& index) {
          return domain::Decide(index, domain::UpsertPartnerProfile{p, clear}, c);
        }));
    const domain::PartnerEntry* entry = w->index().FindPartner(p.partner_id());
    CHANNELOPS_CHECK(entry != nullptr);
    v1::PartnerProfileResponse r;
    *r.mutable_profile() = entry->profile;
    if (entry->PausedAt(c.now))
      *r.mutable_profile()->mutable_paused_until() = entry->counters.paused_until();
    return r.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::GetPartnerProfile(
    grpc::CallbackServerContext* ctx, const v1::GetPartnerProfileRequest* req,
    v1::PartnerProfileResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/GetPartnerProfile", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateGetPartnerProfile(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto p = server::GetProto<v1::PartnerProfile>(store_, kPartnersCf, req->partner_id());
  if (!p.ok()) return server::FinishRpc(reactor, p.status());
  if (!*p) {
    return server::FinishRpc(
        reactor, absl::NotFoundError(absl::StrCat("partner_id: no partner ", req->partner_id())));
  }
  auto c = server::GetProto<v1::PartnerCounters>(store_, kPartnerStatsCf, req->partner_id());
  if (!c.ok()) return server::FinishRpc(reactor, c.status());
  *resp->mutable_profile() = std::move(**p);
  if (*c && (*c)->has_paused_until() &&
      domain::FromProtoTime((*c)->paused_until()) > clock_.Now()) {
    *resp->mutable_profile()->mutable_paused_until() = (*c)->paused_until();
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Lead lifecycle
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* LeadRoutingService::SubmitLead(grpc::CallbackServerContext* ctx,
                                                         const v1::SubmitLeadRequest* req,
                                                         v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/SubmitLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  auto request = domain::ValidateSubmitLead(*req);
  if (!request.ok()) return server::FinishRpc(reactor, request.status());
  CommandMeta meta = server::CommandMetaFor(*ctx, "SubmitLead", req->request_id());
  // The id is chosen here, not in the command: an idempotent retry answers with
  // the first attempt's response (and id) without running the command.
  std::string lead_id = core::NewUuidV7(clock_.Now());
  domain::SubmitLead command{lead_id, std::move(*request)};
  return SubmitLeadCommand(store_, writer_.get(), reactor, std::move(meta), lead_id,
                           std::move(command), LeadAnswer::Full(), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::AcceptLead(grpc::CallbackServerContext* ctx,
                                                         const v1::AcceptLeadRequest* req,
                                                         v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/AcceptLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateAcceptLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  return SubmitLeadCommand(store_, writer_.get(), reactor,
                           server::CommandMetaFor(*ctx, "AcceptLead", req->request_id()),
                           req->lead_id(), domain::AcceptLead{req->partner_id()},
                           LeadAnswer::OfPartner(req->partner_id()), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::DeclineLead(grpc::CallbackServerContext* ctx,
                                                          const v1::DeclineLeadRequest* req,
                                                          v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/DeclineLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateDeclineLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  return SubmitLeadCommand(store_, writer_.get(), reactor,
                           server::CommandMetaFor(*ctx, "DeclineLead", req->request_id()),
                           req->lead_id(), domain::DeclineLead{req->partner_id(), req->reason()},
                           LeadAnswer::OfPartner(req->partner_id()), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::ConvertLead(grpc::CallbackServerContext* ctx,
                                                          const v1::ConvertLeadRequest* req,
                                                          v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/ConvertLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateConvertLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  return SubmitLeadCommand(store_, writer_.get(), reactor,
                           server::CommandMetaFor(*ctx, "ConvertLead", req->request_id()),
                           req->lead_id(), domain::ConvertLead{req->partner_id(), req->deal_id()},
                           LeadAnswer::OfPartner(req->partner_id()), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::CloseLead(grpc::CallbackServerContext* ctx,
                                                        const v1::CloseLeadRequest* req,
                                                        v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/CloseLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateCloseLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  return SubmitLeadCommand(store_, writer_.get(), reactor,
                           server::CommandMetaFor(*ctx, "CloseLead", req->request_id()),
                           req->lead_id(), domain::CloseLead{req->partner_id(), req->reason()},
                           LeadAnswer::OfPartnerOrFull(req->partner_id()), resp);
}

grpc::ServerUnaryReactor* LeadRoutingService::ReassignLead(grpc::CallbackServerContext* ctx,
                                                           const v1::ReassignLeadRequest* req,
                                                           v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/ReassignLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateReassignLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  return SubmitLeadCommand(store_, writer_.get(), reactor,
                           server::CommandMetaFor(*ctx, "ReassignLead", req->request_id()),
                           req->lead_id(), domain::ReassignLead{req->partner_id(), req->reason()},
                           LeadAnswer::Full(), resp);
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* LeadRoutingService::GetLead(grpc::CallbackServerContext* ctx,
                                                      const v1::GetLeadRequest* req,
                                                      v1::LeadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller = authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/GetLead", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateGetLead(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto lead = server::GetProto<v1::Lead>(store_, kLeadsCf, req->lead_id());
  if (!lead.ok()) return server::FinishRpc(reactor, lead.status());
  // A partner sees only the leads in its inbox; anything else does not exist for it.
  if (!*lead || (!req->partner_id().empty() && (*lead)->partner_id() != req->partner_id())) {
    return server::FinishRpc(reactor, LeadNotFound(req->lead_id()));
  }
  *resp->mutable_lead() = req->partner_id().empty()
                              ? std::move(**lead)
                              : domain::PartnerView(**lead, req->partner_id());
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* LeadRoutingService::ListLeads(grpc::CallbackServerContext* ctx,
                                                        const v1::ListLeadsRequest* req,
                                                        v1::ListLeadsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/ListLeads", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateListLeads(*req); !st.ok()) return server::FinishRpc(reactor, st);
  const size_t page = static_cast<size_t>(PageSize(req->page_size()));
  const std::string prefix = Join0(req->partner_id(), "");
  // The token is the last lead id returned; "\0" makes the scan start after it.
  std::string start = req->page_token().empty() ? prefix : Join0(prefix + req->page_token(), "");
  absl::Status error = absl::OkStatus();
  bool more = false;
  std::string last;
  auto st =
      store_.Scan(kInboxCf, prefix, start, SIZE_MAX, [&](absl::string_view key, absl::string_view) {
        std::string lead_id(key.substr(prefix.size()));
        auto lead = server::GetProto<v1::Lead>(store_, kLeadsCf, lead_id);
        if (!lead.ok() || !*lead) {
          error = lead.ok() ? Corrupt(kInboxCf, key) : lead.status();
          return false;
        }
        if (req->status() != v1::LEAD_STATUS_UNSPECIFIED && (*lead)->status() != req->status()) {
          return true;
        }
        if (static_cast<size_t>(resp->leads_size()) == page) {
          more = true;
          return false;
        }
        *resp->add_leads() = domain::PartnerView(**lead, req->partner_id());
        last = lead_id;
        return true;
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!error.ok()) return server::FinishRpc(reactor, error);
  if (more) resp->set_next_page_token(last);
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* LeadRoutingService::ListUnroutedLeads(
    grpc::CallbackServerContext* ctx, const v1::ListUnroutedLeadsRequest* req,
    v1::ListLeadsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/ListUnroutedLeads", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateListUnroutedLeads(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  std::string start;
  if (!req->page_token().empty()) {
    std::string last_key;
    if (!absl::WebSafeBase64Unescape(req->page_token(), &last_key) || last_key.size() <= 8) {
      return server::FinishRpc(reactor,
                               core::InvalidArgument("page_token", "is not a valid page token"));
    }
    start = Join0(last_key, "");
  }
  const size_t page = static_cast<size_t>(PageSize(req->page_size()));
  absl::Status error = absl::OkStatus();
  bool more = false;
  std::string last;
  auto st =
      store_.Scan(kUnroutedCf, "", start, page + 1, [&](absl::string_view key, absl::string_view) {
        if (static_cast<size_t>(resp->leads_size()) == page) {
          more = true;
          return false;
        }
        auto lead = server::GetProto<v1::Lead>(store_, kLeadsCf, std::string(key.substr(8)));
        if (!lead.ok() || !*lead) {
          error = lead.ok() ? Corrupt(kUnroutedCf, key) : lead.status();
          return false;
        }
        *resp->add_leads() = std::move(**lead);
        last = std::string(key);
        return true;
      });
  if (!st.ok()) return server::FinishRpc(reactor, st);
  if (!error.ok()) return server::FinishRpc(reactor, error);
  if (more) resp->set_next_page_token(absl::WebSafeBase64Escape(last));
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* LeadRoutingService::GetRoutingHistory(
    grpc::CallbackServerContext* ctx, const v1::GetRoutingHistoryRequest* req,
    v1::GetRoutingHistoryResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller =
          authz_->Authorize(*ctx, "channelops.leads.v1.LeadRoutingService/GetRoutingHistory", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateGetRoutingHistory(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto events = store_.ReadStream(domain::LeadStream(req->lead_id()), 1, kMaxHistoryEvents);
  if (!events.ok()) return server::FinishRpc(reactor, events.status());
  if (events->empty()) return server::FinishRpc(reactor, LeadNotFound(req->lead_id()));
  resp->set_lead_id(req->lead_id());
  v1::Lead lead;
  for (const auto& env : *events) {
    v1::RoutingHistoryEntry* h = resp->add_entries();
    h->set_sequence(env.stream_version());
    *h->mutable_occurred_at() = env.occurred_at();
    h->set_event_type(env.event_type());
    h->set_actor(env.actor());
    std::optional<domain::Event> e;
    const auto& any = env.payload();
    if (v1::LeadSubmitted m; any.UnpackTo(&m)) {
      h->set_reason(absl::StrCat(
          "submitted", m.keys().source().empty() ? "" : " via ", m.keys().source(),
          m.keys().campaign_id().empty() ? "" : " for campaign ", m.keys().campaign_id()));
      e = std::move(m);
    } else if (v1::LeadRouted m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_rule(m.rule());
      h->set_reason(m.reason());
      *h->mutable_steps() = m.steps();
      e = std::move(m);
    } else if (v1::LeadUnrouted m; any.UnpackTo(&m)) {
      h->set_territory_id(m.territory_id());
      h->set_rule(m.rule());
      h->set_reason(m.reason());
      *h->mutable_steps() = m.steps();
      e = std::move(m);
    } else if (v1::LeadAccepted m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_reason(absl::StrCat(
          "accepted after ", absl::FormatDuration(domain::FromProtoDuration(m.time_to_accept()))));
      e = std::move(m);
    } else if (v1::LeadDeclined m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_reason(absl::StrCat("declined: ", m.reason()));
      e = std::move(m);
    } else if (v1::LeadAcceptanceTimedOut m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_reason(absl::StrCat(
          "not accepted by the deadline ",
          absl::FormatTime(absl::RFC3339_sec, domain::FromProtoTime(m.accept_deadline()),
                           absl::UTCTimeZone()),
          " (SLA miss ", m.misses_in_window(), " in the window)"));
      e = std::move(m);
    } else if (v1::LeadConverted m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_reason(absl::StrCat("converted to deal ", m.deal_id()));
      e = std::move(m);
    } else if (v1::LeadClosed m; any.UnpackTo(&m)) {
      h->set_partner_id(m.partner_id());
      h->set_territory_id(m.territory_id());
      h->set_reason(absl::StrCat("closed lost by ", m.closed_by(), ": ", m.reason()));
      e = std::move(m);
    }
    if (e) lead = domain::Evolve(std::move(lead), *e);
    h->set_status_after(lead.status());
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* LeadRoutingService::GetPartnerLeadStats(
    grpc::CallbackServerContext* ctx, const v1::GetPartnerLeadStatsRequest* req,
    v1::PartnerLeadStats* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (auto caller = authz_->Authorize(
          *ctx, "channelops.leads.v1.LeadRoutingService/GetPartnerLeadStats", *req);
      !caller.ok()) {
    return server::FinishRpc(reactor, caller.status());
  }
  if (auto st = domain::ValidateGetPartnerLeadStats(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  auto profile = server::GetProto<v1::PartnerProfile>(store_, kPartnersCf, req->partner_id());
  if (!profile.ok()) return server::FinishRpc(reactor, profile.status());
  if (!*profile) {
    return server::FinishRpc(
        reactor, absl::NotFoundError(absl::StrCat("partner_id: no partner ", req->partner_id())));
  }
  auto counters = server::GetProto<v1::PartnerCounters>(store_, kPartnerStatsCf, req->partner_id());
  if (!counters.ok()) return server::FinishRpc(reactor, counters.status());
  auto times = server::GetProto<v1::AcceptTimes>(store_, kAcceptTimesCf, req->partner_id());
  if (!times.ok()) return server::FinishRpc(reactor, times.status());
  v1::PartnerCounters c = *counters ? std::move(**counters) : v1::PartnerCounters();
  resp->set_partner_id(req->partner_id());
  resp->set_received(c.received());
  resp->set_accepted(c.accepted());
  resp->set_declined(c.declined());
  resp->set_timed_out(c.timed_out());
  resp->set_converted(c.converted());
  resp->set_closed_lost(c.closed_lost());
  resp->set_reassigned_away(c.reassigned_away());
  resp->set_open_leads(c.open_leads());
  if (c.received() > 0) {
    resp->set_acceptance_rate_bps(static_cast<int32_t>(c.accepted() * 10000 / c.received()));
  }
  if (c.accepted() > 0) {
    resp->set_conversion_rate_bps(static_cast<int32_t>(c.converted() * 10000 / c.accepted()));
  }
  absl::Time now = clock_.Now();
  if (c.has_paused_until() && domain::FromProtoTime(c.paused_until()) > now) {
    *resp->mutable_paused_until() = c.paused_until();
  }
  absl::Time since = now - domain::PolicyOf(**profile).window;
  int32_t misses = 0;
  for (const auto& t : c.recent_misses()) {
    if (domain::FromProtoTime(t) > since) ++misses;
  }
  resp->set_recent_sla_misses(misses);
  if (*times && (*times)->seconds_size() > 0) {
    std::vector<int64_t> s((*times)->seconds().begin(), (*times)->seconds().end());
    size_t mid = s.size() / 2;
    std::nth_element(s.begin(), s.begin() + mid, s.end());
    int64_t median = s[mid];
    if (s.size() % 2 == 0) {
      int64_t lower = *std::max_element(s.begin(), s.begin() + mid);
      median = (lower + median) / 2;
    }
    *resp->mutable_median_time_to_accept() = domain::ToProtoDuration(absl::Seconds(median));
    resp->set_accept_time_samples(static_cast<int64_t>(s.size()));
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// SLA sweeper
// ---------------------------------------------------------------------------

absl::StatusOr<size_t> LeadRoutingService::SweepAcceptanceTimeouts() {
  const uint64_t cutoff =
      static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMicros(clock_.Now()), 0));
  size_t timed_out = 0;
  std::string start;
  while (true) {
    struct Due {
      std::string lead_id, partner_id;
      uint64_t deadline_us;
    };
    std::vector<Due> due;
    std::string last_key;
    CHANNELOPS_RETURN_IF_ERROR(store_.Scan(
        kDeadlinesCf, "", start, kSweepBatch, [&](absl::string_view key, absl::string_view value) {
          if (key.size() <= 8) return true;
          uint64_t deadline = DecodeU64(key.substr(0, 8));
          if (deadline > cutoff) return false;
          due.push_back(Due{std::string(key.substr(8)), std::string(value), deadline});
          last_key = std::string(key);
          return true;
        }));
    if (due.empty()) break;
    // Shared with the callbacks, which run on the store's threads.
    struct Batch {
      absl::Mutex mu;
      size_t pending ABSL_GUARDED_BY(mu) = 0;
      size_t timed_out ABSL_GUARDED_BY(mu) = 0;
      absl::Status first_error ABSL_GUARDED_BY(mu);
    };
    auto batch = std::make_shared<Batch>();
    {
      absl::MutexLock l(&batch->mu);
      batch->pending = due.size();
    }
    for (const Due& d : due) {
      CommandMeta meta;
      meta.request_id = absl::StrCat("sla-sweep-", d.lead_id, "-", d.deadline_us);
      meta.actor = kSweeperActor;
      domain::TimeOutLead command{d.partner_id,
                                  absl::FromUnixMicros(static_cast<int64_t>(d.deadline_us))};
      store_.Execute(
          std::move(meta),
          [w = writer_.get(), lead_id = d.lead_id,
           command = std::move(command)](Tx& tx) -> absl::StatusOr<std::string> {
            return RunLeadCommand(*w, tx, lead_id, command, kSweeperActor, LeadAnswer(), nullptr);
          },
          [batch](absl::StatusOr<CommandResult> r) {
            absl::MutexLock l(&batch->mu);
            --batch->pending;
            if (r.ok()) {
              ++batch->timed_out;
            } else if (r.status().code() != absl::StatusCode::kFailedPrecondition &&
                       batch->first_error.ok()) {
              // FAILED_PRECONDITION: the offer moved on (accepted, declined,
              // reassigned) between the scan and the command; nothing to do.
              batch->first_error = r.status();
            }
          });
    }
    size_t batch_timed_out = 0;
    absl::Status first_error;
    {
      absl::MutexLock l(&batch->mu);
      batch->mu.Await(absl::Condition(
          +[](Batch* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(b->mu) { return b->pending == 0; },
          batch.get()));
      batch_timed_out = batch->timed_out;
      first_error = batch->first_error;
    }
    timed_out += batch_timed_out;
    if (!first_error.ok()) return first_error;
    if (due.size() < kSweepBatch) break;
    start = Join0(last_key, "");
  }
  return timed_out;
}

}  // namespace channelops::leads
