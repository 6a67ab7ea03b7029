#pragma once

// The credit ledger of one sale: what has been posted per component versus
// what the sale earns now, and the lines that bring the one to the other.
//
// Lines are never rewritten. A component's first posting is a CREDIT line;
// later changes of what it earns (a plan or assignment published late, an
// attribution that changed, a report line reversed) are ADJUSTMENT lines; the
// part taken back by returns is posted as CLAWBACK lines that reference the
// original credit (also when a component is first credited on a sale that was
// already partly returned). Whatever order the facts arrive in, the posted totals end
// equal to what the sale earns given all the facts. Pure and thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "channelops/analytics/v1/analytics.pb.h"
#include "channelops/analytics/v1/read_models.pb.h"
#include "channelops/core/money.h"
#include "compensation/domain/crediting.h"

namespace channelops::projections {
namespace v1 = ::channelops::analytics::v1;
}  // namespace channelops::projections

namespace channelops::projections::domain {

// The part of a component taken back by one return.
struct ReturnPart {
  std::string return_key;
  std::string date;    // the return's date: the clawback's effective date
  core::Money amount;  // <= 0
};

// What one component earns now.
struct DesiredComponent {
  comp::domain::CreditComponent credit;  // credit.amount: the gross earned on the whole sale
  std::vector<ReturnPart> clawbacks;     // per return that claws back
};

// Per-return parts of `gross` for `returns` (key, date, quantity), taken in
// (date, key) order as ReturnedShare(total so far) - ReturnedShare(before), so
// they add up exactly, whatever order the returns arrived in. Quantities
// beyond `quantity` are ignored.
struct ReturnUnits {
  std::string return_key;
  std::string date;
  int64_t quantity = 0;
};
absl::StatusOr<std::vector<ReturnPart>> SplitClawback(const core::Money& gross,
                                                      std::vector<ReturnUnits> returns,
                                                      int64_t quantity);

// Why a sale is credited again (the caller's bookkeeping and the lines'
// reason; Reconcile names each line from what moved, not from the trigger).
enum class Trigger {
  kSale,      // the sale itself arrived
  kReturn,    // a return of part of it
  kChange,    // a plan, assignment, registration or opportunity changed
  kReversal,  // the report line (sale or return) was reversed by a correction
};

struct LineDraft {
  LineDraft(std::string line_id, std::string component_key, comp::v1::Role role,
            std::string payee_id, comp::v1::CreditKind credit_kind, v1::LineKind kind,
            core::Money amount)
      : line_id(std::move(line_id)),
        component_key(std::move(component_key)),
        role(role),
        payee_id(std::move(payee_id)),
        credit_kind(credit_kind),
        kind(kind),
        amount(std::move(amount)) {}

  std::string line_id;  // "<sale_key>#<n>"
  std::string component_key;
  comp::v1::Role role = comp::v1::ROLE_UNSPECIFIED;
  std::string payee_id;
  comp::v1::CreditKind credit_kind = comp::v1::CREDIT_KIND_UNSPECIFIED;
  v1::LineKind kind = v1::LINE_KIND_UNSPECIFIED;
  core::Money amount;
  bool clawback_part = false;    // moves the clawback side (else the gross side)
  std::string return_key;        // clawback side: the return
  std::string return_date;       // clawback side: its date
  std::string original_line_id;  // the component's first CREDIT line (itself for a CREDIT)
  std::optional<comp::domain::CreditComponent> rule;  // what it earns now (absent: nothing)
};

// Brings `posted` to `desired` (components matched by key, clawbacks by
// return; whatever is no longer desired goes to zero). Lines get ids
// "<sale_key>#<n>" from *next_line on. Returns the lines in component-key
// order, gross before clawbacks (by return date, then key). A clawback line is
// CLAWBACK when it first takes back for a return, ADJUSTMENT otherwise. INVALID_ARGUMENT if a
// component changes currency; OUT_OF_RANGE on overflow.
absl::StatusOr<std::vector<LineDraft>> Reconcile(const std::string& sale_key, int64_t* next_line,
                                                 std::vector<v1::PostedComponent>* posted,
                                                 const std::vector<DesiredComponent>& desired);

// Sum of a component's posted lines (gross + clawback).
absl::StatusOr<core::Money> PostedNet(const v1::PostedComponent& c);

// Helpers for money kept per currency in repeated fields.
absl::Status AddTo(google::protobuf::RepeatedPtrField<common::v1::Money>* totals,
                   const core::Money& amount);
// The amount in `currency` (zero if absent).
core::Money AmountIn(const google::protobuf::RepeatedPtrField<common::v1::Money>& totals,
                     const std::string& currency);

}  // namespace channelops::projections::domain
