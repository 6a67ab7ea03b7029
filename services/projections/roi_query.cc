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

// The record under `key` (nullptr if absent): shared with the projector's
// cache when the view has one, parsed here otherwise.
template <class M>
absl::StatusOr<std::shared_ptr<const M>> Get(ReadModelView& view, const char* cf,
                                             const std::string& key) {
  if (CachedTx* c = view.cached_tx()) return c->GetParsed<M>(cf, key);
  CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> raw, view.Get(cf, key));
  if (!raw) return std::shared_ptr<const M>();
  auto m = std::make_shared<M>();
  if (!m->ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
  }
  return std::shared_ptr<const M>(std::move(m));
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

absl::StatusOr<std::vector<absl::StatusOr<av1::PartnerRoi>>> ComputePartnerRois(
    ReadModelView& view, const std::string& partner_id, const std::vector<std::string>& period_ids,
    const std::string& currency, int32_t margin_bps) {
  // Per requested month: what is summed, and the first error of its own sums.
  struct Month {
    int64_t leads = 0;
    core::Money pipeline, won, sell_through, attributed;
    absl::Status status;
    bool summed = false;  // its sales (a month requested twice is summed once)
  };
  std::map<std::string, Month> months;
  for (const std::string& p : period_ids) {
    months.try_emplace(p, Month{0, ZeroIn(currency), ZeroIn(currency), ZeroIn(currency),
                                ZeroIn(currency), absl::OkStatus(), false});
  }
  // The month of `date` among the requested ones, or nullptr.
  auto month_of = [&](const std::string& date) -> Month* {
    if (date.size() < 7) return nullptr;
    auto it = months.find(date.substr(0, 7));
    return it == months.end() ? nullptr : &it->second;
  };
  auto add = [](Month& m, core::Money& total, const common::v1::Money& amount) {
    if (!m.status.ok()) return;
    m.status = AddInCurrency(total, amount);
  };

  // The partner's funded campaigns, their leads and its registrations count in
  // every month: read once for all the requested months.
  CHANNELOPS_ASSIGN_OR_RETURN(auto campaign_list,
                              view.Suffixes(kPartnerCampaignsCf, Join0(partner_id, "")));
  const std::set<std::string> funded(campaign_list.begin(), campaign_list.end());

  // Lead -> funded campaign? Each record is read once.
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

  for (const std::string& campaign : funded) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto ids, view.Suffixes(kCampaignLeadsCf, Join0(campaign, "")));
    for (const std::string& id : ids) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Get<av1::LeadRecord>(view, kLeadsCf, id));
      if (!lead) continue;
      lead_funded[id] = funded.contains(lead->campaign_id());
      if (Month* m = month_of(lead->submitted_date())) ++m->leads;
    }
  }

  // The partner's registrations from a funded campaign: open ones registered in
  // a month, and those won in it. Without a funded campaign there are none.
  std::map<std::string, std::string> deal_lead;  // deal id -> lead id
  if (!funded.empty()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto deal_ids,
                                view.Suffixes(kPartnerDealsCf, Join0(partner_id, "")));
    for (const std::string& id : deal_ids) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto deal, Get<av1::DealRecord>(view, kDealsCf, id));
      if (!deal) continue;
      deal_lead[id] = deal->lead_id();
      Month* open_in =
          IsOpenRegistration(deal->status()) ? month_of(deal->registered_date()) : nullptr;
      Month* won_in = month_of(deal->won_date());
      if (open_in == nullptr && won_in == nullptr) continue;
      CHANNELOPS_ASSIGN_OR_RETURN(bool yes, from_funded_lead(deal->lead_id()));
      if (!yes) continue;
      if (open_in != nullptr) add(*open_in, open_in->pipeline, deal->amount());
      if (won_in != nullptr) add(*won_in, won_in->won, deal->final_amount());
    }
  }

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

  // The sales of a month: one index key per sale (projector.cc, ListAdd).
  // OUT_OF_RANGE / INVALID_ARGUMENT are the month's; storage errors everyone's.
  auto sum_sales = [&](const std::string& period_id, Month& m) -> absl::Status {
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto keys,
        view.Suffixes(kSaleIndexCf, PartnerSalesKey(partner_id, period_id) + std::string(1, '\0')));
    for (const std::string& key : keys) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Get<av1::SaleRecord>(view, kSalesCf, key));
      if (!sale || sale->reversed() || sale->basis() == comp::v1::CREDITING_BASIS_SELL_IN) continue;
      if (sale->revenue().currency_code() != currency || sale->quantity() <= 0) continue;
      CHANNELOPS_ASSIGN_OR_RETURN(bool yes, from_funded_campaign(sale->deal_id()));
      if (!m.status.ok()) continue;
      m.status = [&]() -> absl::Status {
        CHANNELOPS_ASSIGN_OR_RETURN(core::Money revenue,
                                    core::Money::FromProto(sale->revenue(), "revenue"));
        int64_t returned = 0;
        for (const auto& r : sale->returns()) returned += r.quantity();
        CHANNELOPS_ASSIGN_OR_RETURN(
            core::Money back,
            cd::ReturnedShare(revenue, std::min(returned, sale->quantity()), sale->quantity()));
        CHANNELOPS_ASSIGN_OR_RETURN(core::Money net, revenue.Sub(back));
        CHANNELOPS_ASSIGN_OR_RETURN(m.sell_through, m.sell_through.Add(net));
        if (yes) {
          CHANNELOPS_ASSIGN_OR_RETURN(m.attributed, m.attributed.Add(net));
        }
        return absl::OkStatus();
      }();
    }
    return absl::OkStatus();
  };

  std::vector<absl::StatusOr<av1::PartnerRoi>> out;
  out.reserve(period_ids.size());
  for (const std::string& period_id : period_ids) {
    Month& m = months.at(period_id);
    if (!m.summed) CHANNELOPS_RETURN_IF_ERROR(sum_sales(period_id, m));
    m.summed = true;
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto money,
        Get<av1::PartnerPeriodMoney>(view, kPartnerMoneyCf, Join0(partner_id, period_id)));
    if (!m.status.ok()) {
      out.push_back(m.status);
      continue;
    }
    out.push_back([&]() -> absl::StatusOr<av1::PartnerRoi> {
      av1::PartnerRoi roi;
      roi.set_partner_id(partner_id);
      roi.set_period_id(period_id);
      roi.set_currency_code(currency);
      roi.set_margin_bps(margin_bps);
      if (!money) money = std::make_shared<const av1::PartnerPeriodMoney>();
      const core::Money mdf_paid = domain::AmountIn(money->mdf_paid(), currency);
      const core::Money coop_paid = domain::AmountIn(money->coop_paid(), currency);
      *roi.mutable_mdf_paid() = mdf_paid.ToProto();
      *roi.mutable_coop_paid() = coop_paid.ToProto();
      *roi.mutable_mdf_committed() = domain::AmountIn(money->mdf_committed(), currency).ToProto();
      *roi.mutable_coop_committed() = domain::AmountIn(money->coop_committed(), currency).ToProto();
      *roi.mutable_price_protection() =
          domain::AmountIn(money->price_protection(), currency).ToProto();
      roi.set_funded_campaigns(static_cast<int64_t>(funded.size()));
      roi.set_leads_from_funded_campaigns(m.leads);
      *roi.mutable_pipeline() = m.pipeline.ToProto();
      *roi.mutable_won_revenue() = m.won.ToProto();
      *roi.mutable_sell_through_revenue() = m.sell_through.ToProto();
      *roi.mutable_attributed_revenue() = m.attributed.ToProto();
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money spend, mdf_paid.Add(coop_paid));
      *roi.mutable_fund_spend() = spend.ToProto();
      CHANNELOPS_ASSIGN_OR_RETURN(auto r, domain::ComputeRoi(m.attributed, margin_bps, spend));
      *roi.mutable_net_return() = r.net_return.ToProto();
      roi.set_roi_defined(r.defined);
      roi.set_roi_bps(r.roi_bps);
      roi.set_roi(r.roi);
      return roi;
    }());
  }
  return out;
}

absl::StatusOr<av1::PartnerRoi> ComputePartnerRoi(ReadModelView& view,
                                                  const std::string& partner_id,
                                                  const std::string& period_id,
                                                  const std::string& currency, int32_t margin_bps) {
  CHANNELOPS_ASSIGN_OR_RETURN(
      auto rois, ComputePartnerRois(view, partner_id, {period_id}, currency, margin_bps));
  return std::move(rois.front());
}

}  // namespace channelops::projections
