#include "projections/roi_query.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "channelops/analytics/v1/read_models.pb.h"
#include "channelops/core/status_macros.h"
#include "channelops/dealreg/v1/dealreg.pb.h"
#include "compensation/domain/crediting.h"
#include "projections/domain/ledger.h"
#include "projections/domain/roi.h"
#include "projections/projector.h"

namespace channelops::projections {
namespace {

namespace av1 = ::channelops::analytics::v1;
namespace cd = comp::domain;

template <class M>
absl::StatusOr<std::optional<M>> Get(ReadModelView& view, const char* cf, const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> raw, view.Get(cf, key));
  if (!raw) return std::optional<M>();
  M m;
  if (!m.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
  }
  return std::optional<M>(std::move(m));
}

bool InPeriod(const std::string& date, const std::string& period_id) {
  return date.size() >= 7 && date.compare(0, 7, period_id) == 0;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> CommittedView::Get(const char* cf,
                                                              const std::string& key) {
  return store_.Get(cf, key);
}

absl::StatusOr<std::vector<std::string>> CommittedView::Suffixes(const char* cf,
                                                                 const std::string& prefix) {
  std::vector<std::string> out;
  CHANNELOPS_RETURN_IF_ERROR(
      store_.Scan(cf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view) {
        out.emplace_back(key.substr(prefix.size()));
        return true;
      }));
  return out;
}

absl::StatusOr<std::optional<std::string>> CommandView::Get(const char* cf,
                                                            const std::string& key) {
  return tx_.Get(cf, key);
}

absl::StatusOr<std::vector<std::string>> CommandView::Suffixes(const char* cf,
                                                               const std::string& prefix) {
  std::vector<std::string> out;
  CHANNELOPS_RETURN_IF_ERROR(tx_.Scan(cf, prefix, [&](absl::string_view key, absl::string_view) {
    out.emplace_back(key.substr(prefix.size()));
  }));
  return out;
}

bool IsOpenRegistration(int32_t status) {
  return status == dealreg::v1::DEAL_STATUS_PENDING_APPROVAL ||
         status == dealreg::v1::DEAL_STATUS_APPROVED || status == dealreg::v1::DEAL_STATUS_RETURNED;
}

core::Money ZeroIn(const std::string& currency) { return *core::Money::Create(currency, 0); }

absl::Status AddInCurrency(core::Money& total, const common::v1::Money& m) {
  if (m.currency_code() != total.currency()) return absl::OkStatus();
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money add, core::Money::FromProto(m, "amount"));
  CHANNELOPS_ASSIGN_OR_RETURN(total, total.Add(add));
  return absl::OkStatus();
}

absl::StatusOr<av1::PartnerRoi> ComputePartnerRoi(ReadModelView& view,
                                                  const std::string& partner_id,
                                                  const std::string& period_id,
                                                  const std::string& currency, int32_t margin_bps) {
  av1::PartnerRoi out;
  out.set_partner_id(partner_id);
  out.set_period_id(period_id);
  out.set_currency_code(currency);
  out.set_margin_bps(margin_bps);

  CHANNELOPS_ASSIGN_OR_RETURN(auto money, Get<av1::PartnerPeriodMoney>(
                                              view, kPartnerMoneyCf, Join0(partner_id, period_id)));
  if (!money) money.emplace();
  const core::Money mdf_paid = domain::AmountIn(money->mdf_paid(), currency);
  const core::Money coop_paid = domain::AmountIn(money->coop_paid(), currency);
  *out.mutable_mdf_paid() = mdf_paid.ToProto();
  *out.mutable_coop_paid() = coop_paid.ToProto();
  *out.mutable_mdf_committed() = domain::AmountIn(money->mdf_committed(), currency).ToProto();
  *out.mutable_coop_committed() = domain::AmountIn(money->coop_committed(), currency).ToProto();
  *out.mutable_price_protection() = domain::AmountIn(money->price_protection(), currency).ToProto();

  CHANNELOPS_ASSIGN_OR_RETURN(auto campaign_list,
                              view.Suffixes(kPartnerCampaignsCf, Join0(partner_id, "")));
  const std::set<std::string> funded(campaign_list.begin(), campaign_list.end());
  out.set_funded_campaigns(static_cast<int64_t>(funded.size()));

  // Lead -> funded campaign? Each record is read once (this runs inside
  // batches too, once per partner and month the batch changed).
  std::map<std::string, bool> lead_funded;
  auto from_funded_lead = [&](const std::string& lead_id) -> absl::StatusOr<bool> {
    if (lead_id.empty() || funded.empty()) return false;
    auto it = lead_funded.find(lead_id);
    if (it != lead_funded.end()) return it->second;
    CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Get<av1::LeadRecord>(view, kLeadsCf, lead_id));
    const bool yes = lead && funded.contains(lead->campaign_id());
    lead_funded[lead_id] = yes;
    return yes;
  };

  int64_t leads = 0;
  for (const std::string& campaign : funded) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto ids, view.Suffixes(kCampaignLeadsCf, Join0(campaign, "")));
    for (const std::string& id : ids) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Get<av1::LeadRecord>(view, kLeadsCf, id));
      if (!lead) continue;
      lead_funded[id] = funded.contains(lead->campaign_id());
      if (InPeriod(lead->submitted_date(), period_id)) ++leads;
    }
  }
  out.set_leads_from_funded_campaigns(leads);

  // The partner's registrations from a funded campaign: open ones registered in
  // the period, and those won in it. Without a funded campaign there are none.
  std::map<std::string, std::string> deal_lead;  // deal id -> lead id
  core::Money pipeline = ZeroIn(currency), won = ZeroIn(currency);
  if (!funded.empty()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto deal_ids,
                                view.Suffixes(kPartnerDealsCf, Join0(partner_id, "")));
    for (const std::string& id : deal_ids) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto deal, Get<av1::DealRecord>(view, kDealsCf, id));
      if (!deal) continue;
      deal_lead[id] = deal->lead_id();
      const bool open_in_period =
          IsOpenRegistration(deal->status()) && InPeriod(deal->registered_date(), period_id);
      const bool won_in_period = InPeriod(deal->won_date(), period_id);
      if (!open_in_period && !won_in_period) continue;
      CHANNELOPS_ASSIGN_OR_RETURN(bool yes, from_funded_lead(deal->lead_id()));
      if (!yes) continue;
      if (open_in_period) CHANNELOPS_RETURN_IF_ERROR(AddInCurrency(pipeline, deal->amount()));
      if (won_in_period) CHANNELOPS_RETURN_IF_ERROR(AddInCurrency(won, deal->final_amount()));
    }
  }
  *out.mutable_pipeline() = pipeline.ToProto();
  *out.mutable_won_revenue() = won.ToProto();

  // Registration -> lead -> funded campaign?
  auto from_funded_campaign = [&](const std::string& deal_id) -> absl::StatusOr<bool> {
    if (deal_id.empty() || funded.empty()) return false;
    auto it = deal_lead.find(deal_id);
    if (it == deal_lead.end()) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto deal, Get<av1::DealRecord>(view, kDealsCf, deal_id));
      it = deal_lead.emplace(deal_id, deal ? deal->lead_id() : "").first;
    }
    return from_funded_lead(it->second);
  };

  core::Money sell_through = ZeroIn(currency), attributed = ZeroIn(currency);
  // The partner's sales in the period: one index key per sale (projector.cc, ListAdd).
  CHANNELOPS_ASSIGN_OR_RETURN(
      auto keys,
      view.Suffixes(kSaleIndexCf, PartnerSalesKey(partner_id, period_id) + std::string(1, '\0')));
  for (const std::string& key : keys) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Get<av1::SaleRecord>(view, kSalesCf, key));
    if (!sale || sale->reversed() || sale->basis() == comp::v1::CREDITING_BASIS_SELL_IN) continue;
    if (sale->revenue().currency_code() != currency || sale->quantity() <= 0) continue;
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money revenue,
                                core::Money::FromProto(sale->revenue(), "revenue"));
    int64_t returned = 0;
    for (const auto& r : sale->returns()) returned += r.quantity();
    CHANNELOPS_ASSIGN_OR_RETURN(
        core::Money back,
        cd::ReturnedShare(revenue, std::min(returned, sale->quantity()), sale->quantity()));
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money net, revenue.Sub(back));
    CHANNELOPS_ASSIGN_OR_RETURN(sell_through, sell_through.Add(net));
    CHANNELOPS_ASSIGN_OR_RETURN(bool yes, from_funded_campaign(sale->deal_id()));
    if (yes) {
      CHANNELOPS_ASSIGN_OR_RETURN(attributed, attributed.Add(net));
    }
  }
  *out.mutable_sell_through_revenue() = sell_through.ToProto();
  *out.mutable_attributed_revenue() = attributed.ToProto();

  CHANNELOPS_ASSIGN_OR_RETURN(core::Money spend, mdf_paid.Add(coop_paid));
  *out.mutable_fund_spend() = spend.ToProto();
  CHANNELOPS_ASSIGN_OR_RETURN(auto roi, domain::ComputeRoi(attributed, margin_bps, spend));
  *out.mutable_net_return() = roi.net_return.ToProto();
  out.set_roi_defined(roi.defined);
  out.set_roi_bps(roi.roi_bps);
  out.set_roi(roi.roi);
  return out;
}

}  // namespace channelops::projections
