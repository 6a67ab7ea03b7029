#include "compensation/domain/decider.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/vectors.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/resolve.h"

namespace channelops::comp::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void SortUnique(google::protobuf::RepeatedPtrField<std::string>* list, bool lower) {
  std::set<std::string> s;
  for (const auto& v : *list) s.insert(lower ? NormalizeProductLine(v) : v);
  list->Clear();
  for (const auto& v : s) *list->Add() = v;
}

v1::Plan Normalize(v1::Plan p) {
  std::sort(p.mutable_rates()->begin(), p.mutable_rates()->end(),
            [](const v1::RoleRate& a, const v1::RoleRate& b) { return a.role() < b.role(); });
  for (auto& s : *p.mutable_splits()) {
    if (s.first_role() > s.second_role()) {
      v1::Role r = s.first_role();
      int32_t share = s.first_share_bps();
      s.set_first_role(s.second_role());
      s.set_first_share_bps(s.second_share_bps());
      s.set_second_role(r);
      s.set_second_share_bps(share);
    }
    if (s.mode() == v1::SPLIT_MODE_UNSPECIFIED) s.set_mode(v1::SPLIT_MODE_OVERLAY);
    if (s.mode() == v1::SPLIT_MODE_OVERLAY) {
      s.set_first_share_bps(0);
      s.set_second_share_bps(0);
    }
  }
  std::sort(p.mutable_splits()->begin(), p.mutable_splits()->end(),
            [](const v1::SplitRule& a, const v1::SplitRule& b) {
              return std::make_pair(a.first_role(), a.second_role()) <
                     std::make_pair(b.first_role(), b.second_role());
            });
  if (p.crediting_basis() == v1::CREDITING_BASIS_UNSPECIFIED) {
    p.set_crediting_basis(v1::CREDITING_BASIS_SELL_THROUGH);
  }
  SortUnique(p.mutable_scope()->mutable_partner_ids(), false);
  SortUnique(p.mutable_scope()->mutable_product_lines(), true);
  return p;
}

}  // namespace

const google::protobuf::Message& AsMessage(const Event& e) {
  return std::visit([](const auto& m) -> const google::protobuf::Message& { return m; }, e);
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Plan& latest, const PublishPlan& c,
                                          const Context& ctx) {
  v1::PlanPublished e;
  v1::Plan plan = Normalize(c.plan);
  plan.set_version(latest.version() + 1);
  *plan.mutable_published_at() = ToProtoTime(ctx.now);
  plan.set_published_by(ctx.actor);
  *e.mutable_plan() = std::move(plan);
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

v1::Plan Evolve(v1::Plan state, const Event& e) {
  if (const auto* p = std::get_if<v1::PlanPublished>(&e)) return p->plan();
  return state;
}

// ---------------------------------------------------------------------------
// Assignments
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Assignment& state, const AssignRole& c,
                                          const Context& ctx) {
  const v1::AssignRoleRequest& r = c.request;
  auto day = ParseDate(r.effective_from());
  CHANNELOPS_CHECK(day.has_value()) << "validated effective_from " << r.effective_from();
  const v1::AssignmentEntry* current = EntryInForce(state, *day);
  if (current != nullptr && current->payee_id() == r.payee_id() &&
      current->effective_from() == r.effective_from()) {
    return std::vector<Event>{};  // the same fact again
  }
  v1::RoleAssigned e;
  std::string key = TargetKey(r.target());
  e.set_assignment_id(AssignmentId(r.role(), key, r.target().target_case()));
  e.set_role(r.role());
  *e.mutable_target() = r.target();
  e.set_target_key(key);
  v1::AssignmentEntry* entry = e.mutable_entry();
  entry->set_payee_id(r.payee_id());
  entry->set_effective_from(r.effective_from());
  entry->set_version(static_cast<uint64_t>(state.entries_size()) + 1);
  *entry->mutable_assigned_at() = ToProtoTime(ctx.now);
  entry->set_assigned_by(ctx.actor);
  if (current != nullptr) e.set_previous_payee_id(current->payee_id());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

v1::Assignment Evolve(v1::Assignment state, const Event& e) {
  const auto* a = std::get_if<v1::RoleAssigned>(&e);
  if (a == nullptr) return state;
  if (state.assignment_id().empty()) {
    state.set_assignment_id(a->assignment_id());
    state.set_role(a->role());
    *state.mutable_target() = a->target();
    state.set_target_key(a->target_key());
  }
  *state.add_entries() = a->entry();
  std::stable_sort(state.mutable_entries()->begin(), state.mutable_entries()->end(),
                   [](const v1::AssignmentEntry& x, const v1::AssignmentEntry& y) {
                     return std::make_pair(x.effective_from(), x.version()) <
                            std::make_pair(y.effective_from(), y.version());
                   });
  return state;
}

// ---------------------------------------------------------------------------
// Periods
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::PeriodCalendar& calendar, const ClosePeriod& c,
                                          const Context& ctx) {
  auto month = ParsePeriodId(c.period_id);
  CHANNELOPS_CHECK(month.has_value()) << "validated period id " << c.period_id;
  const std::string subject = absl::StrCat("period/", c.period_id);
  if (DayOf(ctx.now) < PeriodEnd(*month)) {
    return core::FailedPrecondition(subject, absl::StrCat("the period has not ended (it ends on ",
                                                          FormatDate(PeriodEnd(*month)), ")"));
  }
  if (!calendar.last_closed().empty()) {
    if (c.period_id <= calendar.last_closed()) {
      return core::FailedPrecondition(subject,
                                      absl::StrCat("the period is already closed (periods up to ",
                                                   calendar.last_closed(), " are closed)"));
    }
    const std::string expected = NextPeriodId(calendar.last_closed());
    if (c.period_id != expected) {
      return core::FailedPrecondition(
          subject, absl::StrCat("periods close in order: close ", expected, " first"));
    }
  }
  v1::PeriodClosed e;
  v1::Period* p = e.mutable_period();
  p->set_period_id(c.period_id);
  p->set_start_date(FormatDate(PeriodStart(*month)));
  p->set_end_date(FormatDate(PeriodEnd(*month)));
  p->set_status(v1::PERIOD_STATUS_CLOSED);
  *p->mutable_closed_at() = ToProtoTime(ctx.now);
  p->set_closed_by(ctx.actor);
  for (auto& ref : VersionsInForceDuring(c.plan_versions, PeriodStart(*month), PeriodEnd(*month))) {
    *p->add_plan_versions() = std::move(ref);
  }
  p->set_adjustments_period_id(PeriodId(*month + 1));
  e.set_previous_period_id(calendar.last_closed());
  *e.mutable_occurred_at() = ToProtoTime(ctx.now);
  return core::VectorOf<Event>(std::move(e));
}

v1::PeriodCalendar Evolve(v1::PeriodCalendar state, const Event& e) {
  if (const auto* p = std::get_if<v1::PeriodClosed>(&e)) {
    if (state.first_closed().empty()) state.set_first_closed(p->period().period_id());
    state.set_last_closed(p->period().period_id());
  }
  return state;
}

v1::Period PeriodView(const std::string& period_id, const v1::PeriodCalendar& calendar,
                      const v1::Period* closed_record) {
  if (closed_record != nullptr) return *closed_record;
  v1::Period p;
  auto month = ParsePeriodId(period_id);
  CHANNELOPS_CHECK(month.has_value()) << "validated period id " << period_id;
  p.set_period_id(period_id);
  p.set_start_date(FormatDate(PeriodStart(*month)));
  p.set_end_date(FormatDate(PeriodEnd(*month)));
  if (!calendar.first_closed().empty() && period_id < calendar.first_closed()) {
    p.set_status(v1::PERIOD_STATUS_CLOSED);
    p.set_adjustments_period_id(NextPeriodId(calendar.last_closed()));
  } else {
    p.set_status(v1::PERIOD_STATUS_OPEN);
  }
  return p;
}

}  // namespace channelops::comp::domain
