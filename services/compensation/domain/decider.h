#pragma once

// The compensation decider: pure Decide / Evolve functions over three
// aggregates (plans, assignments, the period calendar). No I/O, no clock
// reads, no randomness: time and actor come in the Context, everything read
// from other aggregates comes in the command. Every function is pure and
// thread-safe.
//
// Errors returned by Decide (nothing is recorded on error):
//   FAILED_PRECONDITION  ClosePeriod of a period that has not ended, that is
//                        already closed, or whose previous period is open
// Shape errors (INVALID_ARGUMENT) are caught before, by validation.h.

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channelops/comp/v1/comp.pb.h"
#include "channelops/comp/v1/events.pb.h"
#include "channelops/comp/v1/read_models.pb.h"
#include "google/protobuf/message.h"

namespace channelops::comp::domain {

struct Context {
  absl::Time now;     // the instant the command is decided at
  std::string actor;  // authenticated principal
};

using Event = std::variant<v1::PlanPublished, v1::RoleAssigned, v1::PeriodClosed>;

// The event as a protobuf message (to pack into an envelope).
const google::protobuf::Message& AsMessage(const Event& e);

// ---------------------------------------------------------------------------
// Plans (stream plan-<id>). State: the latest version (version 0: none yet).
// ---------------------------------------------------------------------------
struct PublishPlan {
  v1::Plan plan;  // shape-validated
};
// Always one PlanPublished: the plan normalised (rates by role, split pairs
// ordered by role, scope lists lower-cased/sorted/de-duplicated) with the next
// version, published_at = ctx.now and published_by = ctx.actor.
absl::StatusOr<std::vector<Event>> Decide(const v1::Plan& latest, const PublishPlan& c,
                                          const Context& ctx);
v1::Plan Evolve(v1::Plan state, const Event& e);

// ---------------------------------------------------------------------------
// Assignments (stream assignment-<assignment_id>). State: v1::Assignment with
// its entries (assignment_id empty: none yet).
// ---------------------------------------------------------------------------
struct AssignRole {
  v1::AssignRoleRequest request;  // shape-validated
};
// One RoleAssigned, or no events when the payee already holds the role from
// that very effective_from (a repeat).
absl::StatusOr<std::vector<Event>> Decide(const v1::Assignment& state, const AssignRole& c,
                                          const Context& ctx);
v1::Assignment Evolve(v1::Assignment state, const Event& e);

// ---------------------------------------------------------------------------
// Periods (stream period-<id>; the calendar is one aggregate so that periods
// close in order).
// ---------------------------------------------------------------------------
struct ClosePeriod {
  std::string period_id;                // shape-validated "YYYY-MM"
  std::vector<v1::Plan> plan_versions;  // every version of every plan (for the snapshot)
};
// FAILED_PRECONDITION unless the period has ended (ctx.now is on or after its
// end date), is after the last closed period, and directly follows it (when
// one was closed).
absl::StatusOr<std::vector<Event>> Decide(const v1::PeriodCalendar& calendar, const ClosePeriod& c,
                                          const Context& ctx);
v1::PeriodCalendar Evolve(v1::PeriodCalendar state, const Event& e);

// The status of a period given the calendar and its closing record (if any):
// CLOSED with the record; CLOSED without one if it precedes the first closed
// period (nothing before the first close can be credited any more); OPEN
// otherwise.
v1::Period PeriodView(const std::string& period_id, const v1::PeriodCalendar& calendar,
                      const v1::Period* closed_record);

}  // namespace channelops::comp::domain
