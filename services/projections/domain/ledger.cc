#include "projections/domain/ledger.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/status_macros.h"

namespace channelops::projections::domain {
namespace {

core::Money Zero(const std::string& currency) {
  auto m = core::Money::Create(currency, 0);
  CHANNELOPS_CHECK(m.ok()) << "currency " << currency;
  return *m;
}

// A posted amount (unset: zero in `currency`).
absl::StatusOr<core::Money> Posted(const common::v1::Money& m, const std::string& currency) {
  if (m.currency_code().empty()) return Zero(currency);
  return core::Money::FromProto(m, "posted");
}

}  // namespace

absl::StatusOr<std::vector<ReturnPart>> SplitClawback(const core::Money& gross,
                                                      std::vector<ReturnUnits> returns,
                                                      int64_t quantity) {
  std::sort(returns.begin(), returns.end(), [](const ReturnUnits& a, const ReturnUnits& b) {
    return std::tie(a.date, a.return_key) < std::tie(b.date, b.return_key);
  });
  std::vector<ReturnPart> out;
  int64_t before = 0;
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money taken, core::Money::Create(gross.currency(), 0));
  for (const ReturnUnits& r : returns) {
    const int64_t now = std::min(quantity, before + std::max<int64_t>(r.quantity, 0));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money share,
                                comp::domain::ReturnedShare(gross, now, quantity));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money part, share.Sub(taken));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money negative, part.Negate());
    out.push_back({r.return_key, r.date, negative});
    taken = share;
    before = now;
  }
  return out;
}

absl::StatusOr<std::vector<LineDraft>> Reconcile(const std::string& sale_key, int64_t* next_line,
                                                 std::vector<v1::PostedComponent>* posted,
                                                 const std::vector<DesiredComponent>& desired) {
  std::map<std::string, const DesiredComponent*> want;
  for (const auto& d : desired) want[d.credit.key] = &d;
  {
    std::set<std::string> have;
    for (const auto& p : *posted) have.insert(p.key());
    for (const auto& [key, d] : want) {
      if (have.contains(key)) continue;
      v1::PostedComponent c;
      c.set_key(key);
      c.set_role(d->credit.role);
      c.set_payee_id(d->credit.payee_id);
      c.set_credit_kind(d->credit.kind);
      posted->push_back(std::move(c));
    }
  }
  std::map<std::string, v1::PostedComponent*> by_key;
  for (auto& p : *posted) by_key[p.key()] = &p;

  std::vector<LineDraft> lines;
  for (auto& entry : by_key) {
    // Not a structured binding: clang 14 (the sanitizer build) cannot capture one in a lambda.
    const auto& key = entry.first;
    auto& p = entry.second;
    auto w = want.find(key);
    const DesiredComponent* d = w == want.end() ? nullptr : w->second;
    // The component's currency: what it was posted in, else what it earns.
    std::string currency = !p->gross().currency_code().empty() ? p->gross().currency_code()
                           : d != nullptr                      ? d->credit.amount.currency()
                                                               : std::string();
    if (currency.empty()) continue;  // nothing posted, nothing desired
    if (d != nullptr && d->credit.amount.currency() != currency) {
      return absl::InvalidArgumentError(absl::StrCat("component ", key, " changes currency from ",
                                                     currency, " to ",
                                                     d->credit.amount.currency()));
    }
    auto draft = [&](const core::Money& amount, v1::LineKind kind) {
      LineDraft l(absl::StrCat(sale_key, "#", (*next_line)++), key, p->role(), p->payee_id(),
                  p->credit_kind(), kind, amount);
      if (kind == v1::LINE_KIND_CREDIT) p->set_original_line_id(l.line_id);
      l.original_line_id = p->original_line_id();
      if (d != nullptr) l.rule = d->credit;
      return l;
    };

    CHANNELOPS_ASSIGN_OR_RETURN(core::Money gross, Posted(p->gross(), currency));
    core::Money want_gross = d ? d->credit.amount : Zero(currency);
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money gross_delta, want_gross.Sub(gross));
    if (!gross_delta.is_zero()) {
      bool first = p->original_line_id().empty();
      lines.push_back(draft(gross_delta, first ? v1::LINE_KIND_CREDIT : v1::LINE_KIND_ADJUSTMENT));
    }
    *p->mutable_gross() = want_gross.ToProto();

    // Clawbacks, per return.
    struct Side {
      std::string date;
      std::optional<core::Money> posted, wanted;
    };
    std::map<std::string, Side> sides;  // return key -> amounts
    for (const auto& c : p->clawbacks()) {
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money m, Posted(c.amount(), currency));
      sides[c.return_key()].date = c.date();
      sides[c.return_key()].posted = m;
    }
    if (d != nullptr) {
      for (const ReturnPart& r : d->clawbacks) {
        if (r.amount.currency() != currency) {
          return absl::InvalidArgumentError(
              absl::StrCat("clawback of ", key, " in ", r.amount.currency()));
        }
        sides[r.return_key].date = r.date;
        sides[r.return_key].wanted = r.amount;
      }
    }
    std::vector<std::pair<std::string, std::string>> order;  // (date, key)
    for (const auto& [rk, side] : sides) order.emplace_back(side.date, rk);
    std::sort(order.begin(), order.end());
    p->clear_clawbacks();
    for (const auto& [date, rk] : order) {
      const Side& side = sides[rk];
      core::Money have = side.posted.value_or(Zero(currency));
      core::Money target = side.wanted.value_or(Zero(currency));
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money delta, target.Sub(have));
      if (!delta.is_zero()) {
        const bool claws = have.is_zero() && delta.is_negative();
        LineDraft l = draft(delta, claws ? v1::LINE_KIND_CLAWBACK : v1::LINE_KIND_ADJUSTMENT);
        l.clawback_part = true;
        l.return_key = rk;
        l.return_date = date;
        lines.push_back(std::move(l));
      }
      if (!target.is_zero()) {
        v1::PostedClawback* c = p->add_clawbacks();
        c->set_return_key(rk);
        c->set_date(date);
        *c->mutable_amount() = target.ToProto();
      }
    }
  }
  return lines;
}

absl::StatusOr<core::Money> PostedNet(const v1::PostedComponent& c) {
  const std::string& currency = c.gross().currency_code();
  if (currency.empty()) return absl::FailedPreconditionError("nothing posted");
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money net, Posted(c.gross(), currency));
  for (const auto& claw : c.clawbacks()) {
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money m, Posted(claw.amount(), currency));
    CHANNELOPS_ASSIGN_OR_RETURN(net, net.Add(m));
  }
  return net;
}

absl::Status AddTo(google::protobuf::RepeatedPtrField<common::v1::Money>* totals,
                   const core::Money& amount) {
  for (auto& t : *totals) {
    if (t.currency_code() != amount.currency()) continue;
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money current, core::Money::FromProto(t, "total"));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money sum, current.Add(amount));
    t = sum.ToProto();
    return absl::OkStatus();
  }
  *totals->Add() = amount.ToProto();
  return absl::OkStatus();
}

core::Money AmountIn(const google::protobuf::RepeatedPtrField<common::v1::Money>& totals,
                     const std::string& currency) {
  for (const auto& t : totals) {
    if (t.currency_code() == currency) return *core::Money::Create(currency, t.amount_micros());
  }
  return Zero(currency);
}

}  // namespace channelops::projections::domain
