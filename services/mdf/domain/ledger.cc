#include "mdf/domain/ledger.h"

#include <type_traits>

#include "channelops/core/check.h"
#include "channelops/core/status_macros.h"
#include "mdf/domain/convert.h"

namespace channelops::mdf::domain {
namespace {

using v1::LedgerEntry;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// field += delta (both in the same currency).
absl::Status AddTo(common::v1::Money* field, const core::Money& delta) {
  CHANNELOPS_CHECK(field->currency_code() == delta.currency())
      << "ledger currency " << field->currency_code() << " vs " << delta.currency();
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money sum, MoneyOf(*field).Add(delta));
  *field = sum.ToProto();
  return absl::OkStatus();
}

absl::Status SubFrom(common::v1::Money* field, const core::Money& delta) {
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money neg, delta.Negate());
  return AddTo(field, neg);
}

template <class Keys>
LedgerEntry Entry(const Keys& k, v1::LedgerEntryType type, const common::v1::Money& amount,
                  const google::protobuf::Timestamp& at) {
  LedgerEntry e;
  *e.mutable_occurred_at() = at;
  e.set_fund_id(k.fund_id());
  e.set_partner_id(k.partner_id());
  if constexpr (std::is_same_v<Keys, v1::FundKeys>) {
    e.set_fund_kind(k.kind());
  } else {
    e.set_fund_kind(k.fund_kind());
    e.set_fund_request_id(k.fund_request_id());
    e.set_campaign_id(k.campaign_id());
  }
  if constexpr (std::is_same_v<Keys, v1::ClaimKeys>) e.set_claim_id(k.claim_id());
  e.set_type(type);
  *e.mutable_amount() = amount;
  *e.mutable_available_delta() = AvailableDelta(e).ToProto();
  return e;
}

bool Positive(const common::v1::Money& m) { return HasMoney(m) && m.amount_micros() > 0; }

// RELEASED (and EXPIRED at once when the fund had expired).
template <class Keys>
void Release(const Keys& k, const common::v1::Money& released, const common::v1::Money& expired,
             const google::protobuf::Timestamp& at, const std::string& description,
             std::vector<LedgerEntry>& out) {
  if (Positive(released)) {
    out.push_back(Entry(k, v1::LEDGER_ENTRY_TYPE_RELEASED, released, at));
    out.back().set_description(description);
  }
  if (Positive(expired)) {
    out.push_back(Entry(k, v1::LEDGER_ENTRY_TYPE_EXPIRED, expired, at));
    out.back().set_description("released after the fund expired");
  }
}

}  // namespace

v1::FundBalance ZeroBalance(const std::string& currency) {
  common::v1::Money z = Zero(currency).ToProto();
  v1::FundBalance b;
  *b.mutable_allocated() = z;
  *b.mutable_accrued() = z;
  *b.mutable_adjustments() = z;
  *b.mutable_reserved() = z;
  *b.mutable_paid() = z;
  *b.mutable_expired() = z;
  *b.mutable_available() = z;
  return b;
}

v1::FundActivity ZeroActivity(const std::string& currency) {
  common::v1::Money z = Zero(currency).ToProto();
  v1::FundActivity a;
  *a.mutable_allocated() = z;
  *a.mutable_accrued() = z;
  *a.mutable_adjustments() = z;
  *a.mutable_reserved() = z;
  *a.mutable_released() = z;
  *a.mutable_paid() = z;
  *a.mutable_expired() = z;
  return a;
}

std::vector<LedgerEntry> LedgerEntriesOf(const Event& event) {
  std::vector<LedgerEntry> out;
  std::visit(
      Overloaded{
          [&](const v1::FundAllocated& e) {
            out.push_back(
                Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_ALLOCATED, e.amount(), e.occurred_at()));
            out.back().set_description(e.name());
          },
          [&](const v1::FundsAdjusted& e) {
            out.push_back(
                Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_ADJUSTED, e.amount(), e.occurred_at()));
            out.back().set_description(e.reason());
          },
          [&](const v1::CoopAccrued& e) {
            out.push_back(
                Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_ACCRUED, e.amount(), e.occurred_at()));
            out.back().set_shipment_id(e.shipment_id());
          },
          [&](const v1::FundExpired& e) {
            if (Positive(e.expired_amount())) {
              out.push_back(Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_EXPIRED, e.expired_amount(),
                                  e.occurred_at()));
              out.back().set_description("fund expired");
            }
          },
          [&](const v1::FundRequestApproved& e) {
            out.push_back(Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_RESERVED, e.approved_amount(),
                                e.occurred_at()));
            out.back().set_description(e.reason());
          },
          [&](const v1::FundRequestClosed& e) {
            Release(e.keys(), e.released_amount(), e.expired_amount(), e.occurred_at(),
                    "request closed", out);
          },
          [&](const v1::ClaimApproved& e) {
            Release(e.keys(), e.released_amount(), e.expired_amount(), e.occurred_at(),
                    "claim approved for less than claimed on a closed request", out);
          },
          [&](const v1::ClaimRejected& e) {
            Release(e.keys(), e.released_amount(), e.expired_amount(), e.occurred_at(),
                    "claim rejected on a closed request", out);
          },
          [&](const v1::ClaimPaid& e) {
            out.push_back(Entry(e.keys(), v1::LEDGER_ENTRY_TYPE_PAID, e.amount(), e.occurred_at()));
            out.back().set_description(e.payment_reference());
          },
          [](const auto&) {},
      },
      event);
  return out;
}

core::Money AvailableDelta(const LedgerEntry& entry) {
  core::Money amount = MoneyOf(entry.amount());
  switch (entry.type()) {
    case v1::LEDGER_ENTRY_TYPE_ALLOCATED:
    case v1::LEDGER_ENTRY_TYPE_ACCRUED:
    case v1::LEDGER_ENTRY_TYPE_ADJUSTED:
    case v1::LEDGER_ENTRY_TYPE_RELEASED:
      return amount;
    case v1::LEDGER_ENTRY_TYPE_RESERVED:
    case v1::LEDGER_ENTRY_TYPE_EXPIRED: {
      auto neg = amount.Negate();
      CHANNELOPS_CHECK(neg.ok()) << neg.status();
      return *neg;
    }
    case v1::LEDGER_ENTRY_TYPE_PAID:
      return Zero(amount.currency());
    default:
      CHANNELOPS_CHECK(false) << "ledger entry without a type";
      return amount;
  }
}

absl::Status ApplyEntry(v1::FundBalance& b, const LedgerEntry& entry) {
  core::Money amount = MoneyOf(entry.amount());
  switch (entry.type()) {
    case v1::LEDGER_ENTRY_TYPE_ALLOCATED:
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_allocated(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_ACCRUED:
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_accrued(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_ADJUSTED:
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_adjustments(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_RESERVED:
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_reserved(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_RELEASED:
      CHANNELOPS_RETURN_IF_ERROR(SubFrom(b.mutable_reserved(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_PAID:
      CHANNELOPS_RETURN_IF_ERROR(SubFrom(b.mutable_reserved(), amount));
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_paid(), amount));
      break;
    case v1::LEDGER_ENTRY_TYPE_EXPIRED:
      CHANNELOPS_RETURN_IF_ERROR(AddTo(b.mutable_expired(), amount));
      break;
    default:
      CHANNELOPS_CHECK(false) << "ledger entry without a type";
  }
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money available, ComputeAvailable(b));
  *b.mutable_available() = available.ToProto();
  return absl::OkStatus();
}

absl::Status AddToActivity(v1::FundActivity& a, const LedgerEntry& entry) {
  core::Money amount = MoneyOf(entry.amount());
  switch (entry.type()) {
    case v1::LEDGER_ENTRY_TYPE_ALLOCATED:
      return AddTo(a.mutable_allocated(), amount);
    case v1::LEDGER_ENTRY_TYPE_ACCRUED:
      return AddTo(a.mutable_accrued(), amount);
    case v1::LEDGER_ENTRY_TYPE_ADJUSTED:
      return AddTo(a.mutable_adjustments(), amount);
    case v1::LEDGER_ENTRY_TYPE_RESERVED:
      return AddTo(a.mutable_reserved(), amount);
    case v1::LEDGER_ENTRY_TYPE_RELEASED:
      return AddTo(a.mutable_released(), amount);
    case v1::LEDGER_ENTRY_TYPE_PAID:
      return AddTo(a.mutable_paid(), amount);
    case v1::LEDGER_ENTRY_TYPE_EXPIRED:
      return AddTo(a.mutable_expired(), amount);
    default:
      CHANNELOPS_CHECK(false) << "ledger entry without a type";
      return absl::OkStatus();
  }
}

absl::StatusOr<core::Money> ComputeAvailable(const v1::FundBalance& b) {
  core::Money total = MoneyOf(b.allocated());
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Add(MoneyOf(b.accrued())));
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Add(MoneyOf(b.adjustments())));
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Sub(MoneyOf(b.reserved())));
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Sub(MoneyOf(b.paid())));
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Sub(MoneyOf(b.expired())));
  return total;
}

}  // namespace channelops::mdf::domain
