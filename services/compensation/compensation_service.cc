#include "compensation/compensation_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/status_macros.h"
#include "channelops/server/rpc.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/decider.h"
#include "compensation/domain/resolve.h"
#include "compensation/domain/validation.h"

namespace channelops::comp {
namespace {

using domain::Context;
using eventstore::CommandMeta;
using eventstore::CommandResult;
using eventstore::EventStore;
using eventstore::Tx;

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string VersionKey(const std::string& plan_id, uint64_t version) {
  return Join0(plan_id, eventstore::EncodeU64(version));
}

// Every version of every plan, from committed data. Plans are few (tens), so
// the period snapshot reads them all.
absl::StatusOr<std::vector<v1::Plan>> AllPlanVersions(const EventStore& store,
                                                      const std::string& plan_id = "") {
  std::vector<v1::Plan> out;
  absl::Status error;
  std::string prefix = plan_id.empty() ? "" : Join0(plan_id, "");
  CHANNELOPS_RETURN_IF_ERROR(
      store.Scan(kPlanVersionsCf, prefix, prefix, SIZE_MAX,
                 [&](absl::string_view key, absl::string_view value) {
                   v1::Plan p;
                   if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
                     error = absl::DataLossError(
                         absl::StrCat("corrupt ", kPlanVersionsCf, " read model at '", key, "'"));
                     return false;
                   }
                   out.push_back(std::move(p));
                   return true;
                 }));
  CHANNELOPS_RETURN_IF_ERROR(error);
  return out;
}

std::vector<eventstore::NewEvent> ToNewEvents(const std::vector<domain::Event>& events) {
  std::vector<eventstore::NewEvent> out;
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(eventstore::NewEvent::Of(domain::AsMessage(e)));
  return out;
}

// The assignment trimmed to what a ListAssignments filter asks for; nullopt
// if it does not match.
std::optional<v1::Assignment> Filter(v1::Assignment a, const v1::ListAssignmentsRequest& r) {
  if (r.role() != v1::ROLE_UNSPECIFIED && a.role() != r.role()) return std::nullopt;
  if (!r.partner_id().empty() && (a.target().target_case() != v1::AssignmentTarget::kPartnerId ||
                                  a.target().partner_id() != r.partner_id())) {
    return std::nullopt;
  }
  if (!r.as_of().empty()) {
    const v1::AssignmentEntry* e = domain::EntryInForce(a, *domain::ParseDate(r.as_of()));
    if (e == nullptr || e->payee_id().empty()) return std::nullopt;
    if (!r.payee_id().empty() && e->payee_id() != r.payee_id()) return std::nullopt;
    v1::AssignmentEntry keep = *e;
    a.clear_entries();
    *a.add_entries() = std::move(keep);
  } else if (!r.payee_id().empty()) {
    bool named =
        std::any_of(a.entries().begin(), a.entries().end(),
                    [&](const v1::AssignmentEntry& e) { return e.payee_id() == r.payee_id(); });
    if (!named) return std::nullopt;
  }
  return a;
}

}  // namespace

std::vector<std::string> CompensationService::ReadModelCfs() {
  return {kPlansCf, kPlanVersionsCf, kAssignmentsCf, kPayeeAssignmentsCf, kPeriodsCf};
}

CompensationService::CompensationService(EventStore& store, core::Clock& clock)
    : store_(store), clock_(clock) {}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* CompensationService::PublishPlan(grpc::CallbackServerContext* ctx,
                                                           const v1::PublishPlanRequest* req,
                                                           v1::PlanResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/PublishPlan", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidatePublishPlan(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "PublishPlan", req->request_id());
  std::string actor = meta.actor;
  auto command = [plan = req->plan(), actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(auto current,
                                server::GetProto<v1::Plan>(tx, kPlansCf, plan.plan_id()));
    v1::Plan state = current ? std::move(*current) : v1::Plan();
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events, domain::Decide(state, domain::PublishPlan{plan}, Context{tx.now(), actor}));
    v1::Plan after = state;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_RETURN_IF_ERROR(tx.Append(domain::PlanStream(plan.plan_id()),
                                         static_cast<int64_t>(state.version()), ToNewEvents(events))
                                   .status());
    tx.Put(kPlansCf, plan.plan_id(), after.SerializeAsString());
    tx.Put(kPlanVersionsCf, VersionKey(plan.plan_id(), after.version()), after.SerializeAsString());
    v1::PlanResponse r;
    *r.mutable_plan() = std::move(after);
    return r.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* CompensationService::GetPlan(grpc::CallbackServerContext* ctx,
                                                       const v1::GetPlanRequest* req,
                                                       v1::PlanResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/GetPlan", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetPlan(*req); !st.ok()) return server::FinishRpc(reactor, st);
  absl::StatusOr<std::optional<v1::Plan>> plan;
  if (req->version() != 0) {
    plan = server::GetProto<v1::Plan>(store_, kPlanVersionsCf,
                                      VersionKey(req->plan_id(), req->version()));
  } else if (!req->as_of().empty()) {
    auto versions = AllPlanVersions(store_, req->plan_id());
    if (!versions.ok()) return server::FinishRpc(reactor, versions.status());
    const v1::Plan* p = domain::VersionInForce(*versions, *domain::ParseDate(req->as_of()));
    plan = p ? std::optional<v1::Plan>(*p) : std::nullopt;
  } else {
    plan = server::GetProto<v1::Plan>(store_, kPlansCf, req->plan_id());
  }
  if (!plan.ok()) return server::FinishRpc(reactor, plan.status());
  if (!*plan) {
    return server::FinishRpc(
        reactor, absl::NotFoundError(absl::StrCat(
                     "plan_id: no plan ", req->plan_id(),
                     req->version() ? absl::StrCat(" version ", req->version()) : "",
                     req->as_of().empty() ? "" : absl::StrCat(" in force on ", req->as_of()))));
  }
  *resp->mutable_plan() = std::move(**plan);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Assignments
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* CompensationService::AssignRole(grpc::CallbackServerContext* ctx,
                                                          const v1::AssignRoleRequest* req,
                                                          v1::AssignRoleResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/AssignRole", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateAssignRole(*req); !st.ok()) return server::FinishRpc(reactor, st);
  CommandMeta meta = server::CommandMetaFor(*ctx, "AssignRole", req->request_id());
  std::string actor = meta.actor;
  auto command = [r = *req, actor](Tx& tx) -> absl::StatusOr<std::string> {
    const std::string id =
        domain::AssignmentId(r.role(), domain::TargetKey(r.target()), r.target().target_case());
    CHANNELOPS_ASSIGN_OR_RETURN(auto current,
                                server::GetProto<v1::Assignment>(tx, kAssignmentsCf, id));
    v1::Assignment state = current ? std::move(*current) : v1::Assignment();
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events, domain::Decide(state, domain::AssignRole{r}, Context{tx.now(), actor}));
    v1::AssignRoleResponse out;
    if (events.empty()) {
      // The same assignment again: answer with what is in force.
      const v1::AssignmentEntry* e =
          domain::EntryInForce(state, *domain::ParseDate(r.effective_from()));
      CHANNELOPS_CHECK(e != nullptr) << "a repeat has an entry in force";
      *out.mutable_entry() = *e;
      *out.mutable_assignment() = std::move(state);
      return out.SerializeAsString();
    }
    v1::Assignment after = state;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_RETURN_IF_ERROR(tx.Append(domain::AssignmentStream(id),
                                         static_cast<int64_t>(state.entries_size()),
                                         ToNewEvents(events))
                                   .status());
    tx.Put(kAssignmentsCf, id, after.SerializeAsString());
    if (!r.payee_id().empty()) tx.Put(kPayeeAssignmentsCf, Join0(r.payee_id(), id), "");
    const auto& assigned = std::get<v1::RoleAssigned>(events.front());
    *out.mutable_entry() = assigned.entry();
    out.set_previous_payee_id(assigned.previous_payee_id());
    *out.mutable_assignment() = std::move(after);
    return out.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* CompensationService::ListAssignments(
    grpc::CallbackServerContext* ctx, const v1::ListAssignmentsRequest* req,
    v1::ListAssignmentsResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/ListAssignments", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateListAssignments(*req); !st.ok())
    return server::FinishRpc(reactor, st);
  const size_t page_size = req->page_size() > 0 ? req->page_size() : domain::kDefaultPageSize;
  std::string after_id;
  if (!req->page_token().empty()) absl::WebSafeBase64Unescape(req->page_token(), &after_id);

  std::vector<v1::Assignment> found;
  absl::Status error;
  auto consider = [&](const std::string& id) {
    if (id <= after_id && !after_id.empty()) return true;
    auto a = server::GetProto<v1::Assignment>(store_, kAssignmentsCf, id);
    if (!a.ok()) {
      error = a.status();
      return false;
    }
    if (!*a) return true;
    if (auto kept = Filter(std::move(**a), *req)) found.push_back(std::move(*kept));
    return found.size() <= page_size;
  };
  if (!req->partner_id().empty()) {
    // At most one assignment per role for a partner target.
    std::vector<std::string> ids;
    for (v1::Role role : {v1::ROLE_CHANNEL_ACCOUNT_MANAGER, v1::ROLE_DISTRIBUTOR_REP}) {
      ids.push_back(
          domain::AssignmentId(role, req->partner_id(), v1::AssignmentTarget::kPartnerId));
    }
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) {
      if (!consider(id)) break;
    }
  } else {
    const char* cf = kAssignmentsCf;
    std::string prefix;
    if (!req->payee_id().empty()) {
      cf = kPayeeAssignmentsCf;
      prefix = Join0(req->payee_id(), "");
    }
    std::string start = prefix + after_id;
    if (!after_id.empty()) start.push_back('\0');
    absl::Status st =
        store_.Scan(cf, prefix, start, SIZE_MAX, [&](absl::string_view key, absl::string_view) {
          return consider(std::string(key.substr(prefix.size())));
        });
    if (!st.ok()) error = st;
  }
  if (!error.ok()) return server::FinishRpc(reactor, error);
  if (found.size() > page_size) {
    found.resize(page_size);
    resp->set_next_page_token(absl::WebSafeBase64Escape(found.back().assignment_id()));
  }
  for (auto& a : found) *resp->add_assignments() = std::move(a);
  return server::FinishRpc(reactor, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* CompensationService::ClosePeriod(grpc::CallbackServerContext* ctx,
                                                           const v1::ClosePeriodRequest* req,
                                                           v1::PeriodResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/ClosePeriod", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateClosePeriod(*req); !st.ok()) return server::FinishRpc(reactor, st);
  // The plan versions for the snapshot are read from committed data before the
  // command: a plan published in the same instant may or may not be included,
  // which is the same as it arriving just after the close.
  auto versions = AllPlanVersions(store_);
  if (!versions.ok()) return server::FinishRpc(reactor, versions.status());
  CommandMeta meta = server::CommandMetaFor(*ctx, "ClosePeriod", req->request_id());
  std::string actor = meta.actor;
  auto command = [id = req->period_id(), versions = std::move(*versions),
                  actor](Tx& tx) -> absl::StatusOr<std::string> {
    CHANNELOPS_ASSIGN_OR_RETURN(auto stored,
                                server::GetProto<v1::PeriodCalendar>(tx, kPeriodsCf, kCalendarKey));
    v1::PeriodCalendar calendar = stored ? std::move(*stored) : v1::PeriodCalendar();
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto events,
        domain::Decide(calendar, domain::ClosePeriod{id, versions}, Context{tx.now(), actor}));
    v1::PeriodCalendar after = calendar;
    for (const auto& e : events) after = domain::Evolve(std::move(after), e);
    CHANNELOPS_RETURN_IF_ERROR(
        tx.Append(domain::PeriodStream(id), eventstore::kNoStream, ToNewEvents(events)).status());
    const v1::Period& period = std::get<v1::PeriodClosed>(events.front()).period();
    tx.Put(kPeriodsCf, id, period.SerializeAsString());
    tx.Put(kPeriodsCf, kCalendarKey, after.SerializeAsString());
    v1::PeriodResponse r;
    *r.mutable_period() = period;
    return r.SerializeAsString();
  };
  return server::SubmitCommand(store_, reactor, std::move(meta), std::move(command), resp);
}

grpc::ServerUnaryReactor* CompensationService::GetPeriod(grpc::CallbackServerContext* ctx,
                                                         const v1::GetPeriodRequest* req,
                                                         v1::PeriodResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(*ctx, "channelops.comp.v1.CompensationService/GetPeriod", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (auto st = domain::ValidateGetPeriod(*req); !st.ok()) return server::FinishRpc(reactor, st);
  auto calendar = server::GetProto<v1::PeriodCalendar>(store_, kPeriodsCf, kCalendarKey);
  if (!calendar.ok()) return server::FinishRpc(reactor, calendar.status());
  auto record = server::GetProto<v1::Period>(store_, kPeriodsCf, req->period_id());
  if (!record.ok()) return server::FinishRpc(reactor, record.status());
  *resp->mutable_period() =
      domain::PeriodView(req->period_id(), *calendar ? **calendar : v1::PeriodCalendar(),
                         *record ? &**record : nullptr);
  return server::FinishRpc(reactor, absl::OkStatus());
}

}  // namespace channelops::comp
