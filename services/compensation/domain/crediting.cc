#include "compensation/domain/crediting.h"

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "channelops/core/status_macros.h"
#include "compensation/domain/convert.h"

namespace channelops::comp::domain {
namespace {

struct RoleCredit {
  v1::Role role;
  std::string payee_id;
  std::string source;
  int32_t rate_bps;
  std::optional<core::Money> credited;
  int32_t share_bps = 10000;
  v1::SplitMode mode = v1::SPLIT_MODE_UNSPECIFIED;
  v1::Role with = v1::ROLE_UNSPECIFIED;
};

std::string KindName(v1::CreditKind kind) {
  switch (kind) {
    case v1::CREDIT_KIND_COMMISSION:
      return "COMMISSION";
    case v1::CREDIT_KIND_REGISTERED_DEAL_BONUS:
      return "REGISTERED_DEAL_BONUS";
    case v1::CREDIT_KIND_INCENTIVE:
      return "INCENTIVE";
    default:
      return "UNSPECIFIED";
  }
}

std::string PlanRef(const v1::Plan& plan) {
  return absl::StrCat("plan ", plan.plan_id(), " v", plan.version(), " (effective ",
                      plan.effective_from(), ")");
}

}  // namespace

std::string ComponentKey(v1::Role role, const std::string& payee_id, v1::CreditKind kind) {
  return absl::StrCat(RoleName(role), "|", payee_id, "|", KindName(kind));
}

absl::StatusOr<std::vector<CreditComponent>> ComputeCredits(const v1::Plan& plan,
                                                            const SaleForCredit& sale) {
  if (sale.revenue.currency() != plan.currency_code()) {
    return absl::InvalidArgumentError(
        absl::StrCat("revenue in ", sale.revenue.currency(), ", plan in ", plan.currency_code()));
  }
  if (sale.revenue.is_negative()) return absl::InvalidArgumentError("negative revenue");
  std::map<v1::Role, int32_t> rates;
  for (const auto& r : plan.rates()) rates[r.role()] = r.rate_bps();

  // The credited roles, in role order.
  std::map<v1::Role, RoleCredit> credited;
  auto add = [&](v1::Role role, const std::string& payee, const std::string& source) {
    auto rate = rates.find(role);
    if (rate == rates.end() || payee.empty()) return;
    credited.emplace(role, RoleCredit{role, payee, source, rate->second, sale.revenue});
  };
  add(v1::ROLE_PARTNER, sale.partner_id, "seller");
  for (const CreditParty& p : sale.parties) {
    if (p.role == v1::ROLE_PARTNER || p.role == v1::ROLE_UNSPECIFIED) {
      return absl::InvalidArgumentError("a party cannot have the partner role");
    }
    if (credited.contains(p.role)) {
      return absl::InvalidArgumentError(absl::StrCat("role ", RoleName(p.role), " given twice"));
    }
    add(p.role, p.payee_id, p.source);
  }

  // Split rules between roles that are both credited.
  for (const v1::SplitRule& rule : plan.splits()) {
    auto a = credited.find(rule.first_role());
    auto b = credited.find(rule.second_role());
    if (a == credited.end() || b == credited.end()) continue;
    a->second.with = rule.second_role();
    b->second.with = rule.first_role();
    if (rule.mode() == v1::SPLIT_MODE_SPLIT) {
      CHANNELOPS_ASSIGN_OR_RETURN(
          std::vector<core::Money> parts,
          core::Allocate(sale.revenue, {rule.first_share_bps(), rule.second_share_bps()}));
      a->second.credited = parts[0];
      b->second.credited = parts[1];
      a->second.share_bps = rule.first_share_bps();
      b->second.share_bps = rule.second_share_bps();
      a->second.mode = b->second.mode = v1::SPLIT_MODE_SPLIT;
    } else {
      a->second.mode = b->second.mode = v1::SPLIT_MODE_OVERLAY;
    }
  }

  std::vector<CreditComponent> out;
  for (const auto& [role, rc] : credited) {
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money amount, rc.credited->ApplyBasisPoints(rc.rate_bps));
    std::string split;
    if (rc.mode == v1::SPLIT_MODE_SPLIT) {
      split = absl::StrCat("; SPLIT with ", RoleName(rc.with), ": ", rc.share_bps, " bps of ",
                           sale.revenue.ToString());
    } else if (rc.mode == v1::SPLIT_MODE_OVERLAY) {
      split = absl::StrCat("; OVERLAY with ", RoleName(rc.with), ": full credit");
    }
    CreditComponent c{ComponentKey(role, rc.payee_id, v1::CREDIT_KIND_COMMISSION),
                      role,
                      rc.payee_id,
                      v1::CREDIT_KIND_COMMISSION,
                      *rc.credited,
                      rc.rate_bps,
                      amount,
                      rc.share_bps,
                      rc.mode,
                      rc.with,
                      rc.source,
                      absl::StrCat(PlanRef(plan), ": ", RoleName(role), " rate ", rc.rate_bps,
                                   " bps of credited revenue ", rc.credited->ToString(), split)};
    if (!amount.is_zero()) out.push_back(c);
    if (role != v1::ROLE_PARTNER || !sale.registered) continue;
    const v1::RegisteredDealBonus& bonus = plan.registered_deal_bonus();
    if (bonus.extra_margin_bps() > 0) {
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money extra,
                                  rc.credited->ApplyBasisPoints(bonus.extra_margin_bps()));
      CreditComponent b = c;
      b.key = ComponentKey(role, rc.payee_id, v1::CREDIT_KIND_REGISTERED_DEAL_BONUS);
      b.kind = v1::CREDIT_KIND_REGISTERED_DEAL_BONUS;
      b.rate_bps = bonus.extra_margin_bps();
      b.amount = extra;
      b.source = absl::StrCat("deal_registration:", sale.deal_id);
      b.rule = absl::StrCat(PlanRef(plan), ": registered-deal bonus ", bonus.extra_margin_bps(),
                            " bps of credited revenue ", rc.credited->ToString(),
                            " (approved registration ", sale.deal_id, ")");
      if (!extra.is_zero()) out.push_back(std::move(b));
    }
    if (sale.carries_incentive && bonus.has_incentive()) {
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money incentive,
                                  core::Money::FromProto(bonus.incentive(), "incentive"));
      if (incentive.is_zero()) continue;
      CreditComponent i = c;
      i.key = ComponentKey(role, rc.payee_id, v1::CREDIT_KIND_INCENTIVE);
      i.kind = v1::CREDIT_KIND_INCENTIVE;
      i.rate_bps = 0;
      i.amount = incentive;
      i.source = absl::StrCat("deal_registration:", sale.deal_id);
      i.rule =
          absl::StrCat(PlanRef(plan), ": registered-deal incentive ", incentive.ToString(),
                       ", once per registration (first sale attributed to ", sale.deal_id, ")");
      out.push_back(std::move(i));
    }
  }
  return out;
}

absl::StatusOr<core::Money> ReturnedShare(const core::Money& amount, int64_t returned,
                                          int64_t quantity) {
  if (quantity <= 0 || returned < 0 || returned > quantity) {
    return absl::InvalidArgumentError(
        absl::StrCat("returned ", returned, " of ", quantity, " units"));
  }
  if (returned == 0) return core::Money::Create(amount.currency(), 0);
  if (returned == quantity) return amount;
  CHANNELOPS_ASSIGN_OR_RETURN(std::vector<core::Money> parts,
                              core::Allocate(amount, {returned, quantity - returned}));
  return parts[0];
}

bool ClawbackApplies(const v1::Plan& plan, absl::CivilDay sale_day, absl::CivilDay return_day) {
  if (!plan.clawback_on_return()) return false;
  if (plan.clawback_window_days() <= 0) return true;
  return return_day - sale_day <= plan.clawback_window_days();
}

absl::CivilDay PayableOn(const v1::Plan& plan, absl::CivilDay sale_day) {
  return sale_day + plan.hold_days();
}

}  // namespace channelops::comp::domain
