#include "projections/analytics_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "channelops/analytics/v1/read_models.pb.h"
#include "channelops/comp/v1/read_models.pb.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/strings.h"
#include "channelops/dealreg/v1/dealreg.pb.h"
#include "channelops/server/rpc.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/crediting.h"
#include "projections/domain/ledger.h"
#include "projections/projector.h"
#include "projections/roi_query.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace channelops::projections {
namespace {

namespace av1 = ::channelops::analytics::v1;
namespace cd = comp::domain;
using eventstore::EventStore;

constexpr int32_t kMaxPageSize = 500;
constexpr int32_t kDefaultPageSize = 50;

absl::Status Corrupt(const char* cf, const std::string& key) {
  return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
}

template <class M>
absl::StatusOr<std::optional<M>> Get(const EventStore& store, const char* cf,
                                     const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> raw, store.Get(cf, key));
  if (!raw) return std::optional<M>();
  M m;
  if (!m.ParseFromString(*raw)) return Corrupt(cf, key);
  return std::optional<M>(std::move(m));
}

template <class M>
absl::StatusOr<M> GetOr(const EventStore& store, const char* cf, const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto m, Get<M>(store, cf, key));
  return m ? std::move(*m) : M();
}

// The keys under `prefix`, with the prefix removed.
absl::StatusOr<std::vector<std::string>> Suffixes(const EventStore& store, const char* cf,
                                                  const std::string& prefix) {
  std::vector<std::string> out;
  CHANNELOPS_RETURN_IF_ERROR(
      store.Scan(cf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view) {
        out.emplace_back(key.substr(prefix.size()));
        return true;
      }));
  return out;
}

template <class T>
grpc::ServerUnaryReactor* Answer(grpc::ServerUnaryReactor* reactor, absl::StatusOr<T> result,
                                 T* resp) {
  if (!result.ok()) return server::FinishRpc(reactor, result.status());
  *resp = std::move(*result);
  return server::FinishRpc(reactor, absl::OkStatus());
}

void RequireId(core::FieldViolations& v, const char* field, const std::string& value) {
  if (value.empty()) {
    v.Add(field, "is required");
  } else if (!core::IsValidIdentifier(value, 128)) {
    v.Add(field, "must be 1..128 printable ASCII characters without spaces");
  }
}

void RequirePeriod(core::FieldViolations& v, const std::string& value) {
  if (value.empty()) {
    v.Add("period_id", "is required");
  } else if (!cd::ParsePeriodId(value)) {
    v.Add("period_id", "must be a month YYYY-MM");
  }
}

void Currency(core::FieldViolations& v, const std::string& value) {
  if (!value.empty() && !core::IsIsoCurrencyCode(value)) {
    v.Add("currency_code", "must be an ISO 4217 currency code");
  }
}

std::string CurrencyOr(const std::string& c) { return c.empty() ? "USD" : c; }

std::string Describe(const av1::EventRef& r) {
  return absl::StrCat(r.role(), ": ", r.event_type(), " on ", r.stream_id(), " v",
                      r.stream_version(),
                      r.line_number() > 0 ? absl::StrCat(" line ", r.line_number()) : "", " (",
                      r.source(), " position ", r.global_position(), ", event ", r.event_id(),
                      ")");
}

std::string KindName(av1::LineKind k) {
  std::string n = av1::LineKind_Name(k);
  return absl::StartsWith(n, "LINE_KIND_") ? n.substr(10) : n;
}

}  // namespace

AnalyticsService::AnalyticsService(const EventStore& store, prometheus::Registry* metrics,
                                   AnalyticsOptions options)
    : store_(store), metrics_(metrics), options_(std::move(options)) {
  if (metrics_ != nullptr) {
    auto& family = prometheus::BuildGauge()
                       .Name("channelops_projections_state")
                       .Help("Size of the projections: credit lines, sales, uncredited sales")
                       .Register(*metrics_);
    credit_lines_gauge_ = &family.Add({{"what", "credit_lines"}});
    sales_gauge_ = &family.Add({{"what", "sales"}});
    uncredited_gauge_ = &family.Add({{"what", "uncredited_sales"}});
  }
}

void AnalyticsService::UpdateMetrics() {
  if (metrics_ == nullptr) return;
  auto c = GetOr<av1::Counters>(store_, kStatusCf, kCountersKey);
  if (!c.ok()) return;
  credit_lines_gauge_->Set(static_cast<double>(c->credit_lines()));
  sales_gauge_->Set(static_cast<double>(c->sales()));
  uncredited_gauge_->Set(static_cast<double>(c->uncredited_sales()));
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

absl::StatusOr<av1::ProjectionStatus> AnalyticsService::Status() const {
  av1::ProjectionStatus out;
  std::map<std::pair<std::string, int32_t>, int64_t> lags;
  if (metrics_ != nullptr) {
    for (const auto& family : metrics_->Collect()) {
      if (family.name != "channelops_consumer_lag_events") continue;
      for (const auto& m : family.metric) {
        std::string consumer, topic, partition;
        for (const auto& l : m.label) {
          if (l.name == "consumer") consumer = l.value;
          if (l.name == "topic") topic = l.value;
          if (l.name == "partition") partition = l.value;
        }
        int32_t p = 0;
        if (consumer != options_.consumer_name || !absl::SimpleAtoi(partition, &p)) continue;
        lags[{topic, p}] = static_cast<int64_t>(m.gauge.value);
      }
    }
  }
  std::map<std::string, int64_t> topic_lag;
  const std::string prefix = absl::StrCat("consumer/", options_.consumer_name, "/");
  absl::Status error;
  CHANNELOPS_RETURN_IF_ERROR(
      store_.Scan(eventstore::kMetaCf, prefix, prefix, SIZE_MAX,
                  [&](absl::string_view key, absl::string_view value) {
                    absl::string_view rest = key.substr(prefix.size());
                    auto slash = rest.rfind('/');
                    int32_t partition = 0;
                    int64_t next = 0;
                    if (slash == absl::string_view::npos ||
                        !absl::SimpleAtoi(rest.substr(slash + 1), &partition) ||
                        !absl::SimpleAtoi(value, &next)) {
                      return true;
                    }
                    av1::PartitionProgress* p = out.add_partitions();
                    p->set_topic(std::string(rest.substr(0, slash)));
                    p->set_partition(partition);
                    p->set_next_offset(next);
                    auto it = lags.find({p->topic(), partition});
                    p->set_lag(it == lags.end() ? -1 : it->second);
                    if (p->lag() >= 0) {
                      topic_lag[p->topic()] += p->lag();
                      out.set_total_lag(out.total_lag() + p->lag());
                    }
                    return true;
                  }));
  CHANNELOPS_RETURN_IF_ERROR(error);
  std::sort(out.mutable_partitions()->begin(), out.mutable_partitions()->end(),
            [](const auto& a, const auto& b) {
              return std::make_pair(a.topic(), a.partition()) <
                     std::make_pair(b.topic(), b.partition());
            });
  for (const std::string& t : SourceTopics()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto status, GetOr<av1::TopicStatus>(store_, kStatusCf, t));
    av1::TopicProgress* p = out.add_topics();
    p->set_topic(t);
    p->set_events_applied(status.events_applied());
    if (status.has_last_occurred_at()) *p->mutable_last_occurred_at() = status.last_occurred_at();
    auto lag = topic_lag.find(t);
    p->set_lag(lag == topic_lag.end() ? -1 : lag->second);
  }
  CHANNELOPS_ASSIGN_OR_RETURN(auto counters, GetOr<av1::Counters>(store_, kStatusCf, kCountersKey));
  out.set_credit_lines(counters.credit_lines());
  out.set_sales(counters.sales());
  out.set_uncredited_sales(counters.uncredited_sales());
  CHANNELOPS_ASSIGN_OR_RETURN(auto calendar,
                              GetOr<comp::v1::PeriodCalendar>(store_, kPeriodsCf, kCalendarKey));
  out.set_last_closed_period_id(calendar.last_closed());
  return out;
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

absl::StatusOr<av1::CommissionStatement> AnalyticsService::Statement(const std::string& payee_id,
                                                                     const std::string& period_id,
                                                                     size_t max_lines) const {
  CHANNELOPS_ASSIGN_OR_RETURN(
      auto st, GetOr<av1::CommissionStatement>(store_, kStatementsCf, Join0(payee_id, period_id)));
  st.set_payee_id(payee_id);
  st.set_period_id(period_id);
  CHANNELOPS_ASSIGN_OR_RETURN(
      auto ids, Suffixes(store_, kPayeeLinesCf, Join0(Join0(payee_id, period_id), "")));
  for (const std::string& id : ids) {
    if (static_cast<size_t>(st.lines_size()) >= max_lines) {
      st.set_lines_truncated(true);
      break;
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto line, Get<av1::CreditLine>(store_, kLinesCf, id));
    if (line) *st.add_lines() = std::move(*line);
  }
  st.set_line_count(static_cast<int64_t>(ids.size()));
  if (!st.frozen()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto calendar,
                                GetOr<comp::v1::PeriodCalendar>(store_, kPeriodsCf, kCalendarKey));
    if (!calendar.last_closed().empty() && period_id <= calendar.last_closed()) {
      st.set_frozen(true);
      CHANNELOPS_ASSIGN_OR_RETURN(auto record,
                                  Get<comp::v1::Period>(store_, kPeriodsCf, period_id));
      if (record && record->has_closed_at()) *st.mutable_frozen_at() = record->closed_at();
    }
  }
  return st;
}

absl::StatusOr<av1::ExplainCreditResponse> AnalyticsService::Explain(
    const std::string& line_id) const {
  CHANNELOPS_ASSIGN_OR_RETURN(auto line, Get<av1::CreditLine>(store_, kLinesCf, line_id));
  if (!line) return absl::NotFoundError(absl::StrCat("line_id: no credit line ", line_id));
  av1::ExplainCreditResponse out;
  for (const auto& r : line->evidence()) out.add_chain(Describe(r));
  if (!line->deal_id().empty()) {
    out.add_chain(absl::StrCat(
        "attribution: registration ", line->deal_id(), " (", line->attribution(), ")",
        line->lead_id().empty() ? "" : absl::StrCat(", lead ", line->lead_id()),
        line->campaign_id().empty() ? "" : absl::StrCat(", campaign ", line->campaign_id())));
  }
  if (line->channel_conflict()) {
    out.add_chain(absl::StrCat(
        "channel conflict: a direct rep is credited on this sale",
        line->direct_opportunity_id().empty()
            ? " (named account)"
            : absl::StrCat(" (direct opportunity ", line->direct_opportunity_id(), ")")));
  }
  out.add_chain(absl::StrCat("payee ", line->payee_id(), " as ", cd::RoleName(line->role()), " (",
                             line->payee_source(), ")"));
  out.add_chain(absl::StrCat("rule: ", line->rule()));
  out.add_chain(absl::StrCat(
      KindName(line->kind()), " ", core::Money::FromProto(line->amount(), "amount")->ToString(),
      " in period ", line->period_id(),
      line->adjusted_from_closed_period()
          ? absl::StrCat(" (its date ", line->effective_date(), " is in a closed period)")
          : "",
      ", payable on ", line->payable_on(), " (released in ", line->release_period_id(), ")",
      line->reason().empty() ? "" : absl::StrCat("; because: ", line->reason())));
  CHANNELOPS_ASSIGN_OR_RETURN(auto plans, GetOr<av1::PlanSet>(store_, kPlansCf, kAllPlansKey));
  for (const auto& v : plans.versions()) {
    if (v.plan().plan_id() == line->plan_id() && v.plan().version() == line->plan_version()) {
      *out.mutable_plan() = v.plan();
    }
  }
  if (!line->original_line_id().empty()) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto original,
                                Get<av1::CreditLine>(store_, kLinesCf, line->original_line_id()));
    if (original) *out.mutable_original() = std::move(*original);
  }
  CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Get<av1::SaleRecord>(store_, kSalesCf, line->sale_key()));
  if (sale) {
    for (int64_t n = 1; n < sale->next_line(); ++n) {
      CHANNELOPS_ASSIGN_OR_RETURN(
          auto l, Get<av1::CreditLine>(store_, kLinesCf, absl::StrCat(line->sale_key(), "#", n)));
      if (l && l->component_key() == line->component_key()) {
        *out.add_component_history() = std::move(*l);
      }
    }
  }
  *out.mutable_line() = std::move(*line);
  return out;
}

// ---------------------------------------------------------------------------
// ROI
// ---------------------------------------------------------------------------

absl::StatusOr<av1::PartnerRoi> AnalyticsService::Roi(const std::string& partner_id,
                                                      const std::string& period_id,
                                                      const std::string& currency) const {
  CommittedView view(store_);
  return ComputePartnerRoi(view, partner_id, period_id, CurrencyOr(currency),
                           options_.roi_margin_bps);
}

// ---------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------

absl::StatusOr<av1::PartnerPipeline> AnalyticsService::Pipeline(
    const std::string& partner_id, const std::string& currency_in) const {
  const std::string currency = CurrencyOr(currency_in);
  av1::PartnerPipeline out;
  out.set_partner_id(partner_id);
  std::map<int32_t, std::pair<int64_t, core::Money>> stages;
  core::Money open = ZeroIn(currency), spa = ZeroIn(currency);
  CHANNELOPS_ASSIGN_OR_RETURN(auto deal_ids,
                              Suffixes(store_, kPartnerDealsCf, Join0(partner_id, "")));
  for (const std::string& id : deal_ids) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto deal, Get<av1::DealRecord>(store_, kDealsCf, id));
    if (!deal) continue;
    const bool is_open = IsOpenRegistration(deal->status());
    if (is_open || deal->status() == dealreg::v1::DEAL_STATUS_WON) {
      CHANNELOPS_RETURN_IF_ERROR(AddInCurrency(spa, deal->spa_committed()));
    }
    if (!is_open) continue;
    auto [it, inserted] = stages.try_emplace(deal->stage(), 0, ZeroIn(currency));
    it->second.first += 1;
    CHANNELOPS_RETURN_IF_ERROR(AddInCurrency(it->second.second, deal->amount()));
    CHANNELOPS_RETURN_IF_ERROR(AddInCurrency(open, deal->amount()));
    out.set_open_deals(out.open_deals() + 1);
  }
  for (auto& [stage, agg] : stages) {
    av1::StagePipeline* s = out.add_by_stage();
    s->set_stage(stage);
    s->set_stage_name(dealreg::v1::DealStage_Name(static_cast<dealreg::v1::DealStage>(stage)));
    s->set_deals(agg.first);
    *s->mutable_amount() = agg.second.ToProto();
  }
  *out.mutable_open_amount() = open.ToProto();
  *out.mutable_spa_committed() = spa.ToProto();
  CHANNELOPS_ASSIGN_OR_RETURN(auto totals,
                              GetOr<av1::PartnerTotals>(store_, kPartnerTotalsCf, partner_id));
  *out.mutable_price_protection_exposure() =
      domain::AmountIn(totals.price_protection(), currency).ToProto();
  out.set_price_protection_credits(totals.price_protection_credits());
  av1::LeadFunnel f = totals.lead_funnel();
  const int64_t decided = f.accepted() + f.timed_out();
  f.set_sla_compliance_bps(decided == 0 ? 10000
                                        : (f.accepted() * 10000 * 2 + decided) / (2 * decided));
  *out.mutable_lead_funnel() = f;
  return out;
}

// ---------------------------------------------------------------------------
// RPCs
// ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* AnalyticsService::GetProjectionStatus(
    grpc::CallbackServerContext* ctx, const av1::GetProjectionStatusRequest* req,
    av1::ProjectionStatus* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.analytics.v1.AnalyticsService/GetProjectionStatus", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  return Answer(reactor, Status(), resp);
}

grpc::ServerUnaryReactor* AnalyticsService::GetCommissionStatement(
    grpc::CallbackServerContext* ctx, const av1::GetCommissionStatementRequest* req,
    av1::CommissionStatement* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller = authz_->Authorize(
      *ctx, "channelops.analytics.v1.AnalyticsService/GetCommissionStatement", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  core::FieldViolations v;
  RequireId(v, "payee_id", req->payee_id());
  RequirePeriod(v, req->period_id());
  if (!v.empty()) return server::FinishRpc(reactor, v.ToStatus());
  if (!caller->CanSeePartner(req->payee_id())) {
    return server::FinishRpc(reactor,
                             absl::PermissionDeniedError("payee_id: not the caller's partner"));
  }
  if (req->max_lines() < 0 || req->max_lines() > 10000) {
    return server::FinishRpc(reactor, core::InvalidArgument("max_lines", "must be 0..10000"));
  }
  const size_t max_lines = req->max_lines() == 0 ? 1000 : static_cast<size_t>(req->max_lines());
  return Answer(reactor, Statement(req->payee_id(), req->period_id(), max_lines), resp);
}

grpc::ServerUnaryReactor* AnalyticsService::ExplainCredit(grpc::CallbackServerContext* ctx,
                                                          const av1::ExplainCreditRequest* req,
                                                          av1::ExplainCreditResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.analytics.v1.AnalyticsService/ExplainCredit", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  if (req->line_id().empty() || req->line_id().size() > 1000) {
    return server::FinishRpc(reactor,
                             core::InvalidArgument("line_id", "is required (at most 1000 bytes)"));
  }
  auto explained = Explain(req->line_id());
  if (explained.ok() && !caller->CanSeePartner(explained->line().payee_id())) {
    // Not the caller's: answered like an unknown line.
    return server::FinishRpc(
        reactor, absl::NotFoundError(absl::StrCat("line_id: no credit line ", req->line_id())));
  }
  return Answer(reactor, std::move(explained), resp);
}

grpc::ServerUnaryReactor* AnalyticsService::GetPartnerRoi(grpc::CallbackServerContext* ctx,
                                                          const av1::GetPartnerRoiRequest* req,
                                                          av1::PartnerRoi* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.analytics.v1.AnalyticsService/GetPartnerRoi", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  core::FieldViolations v;
  RequireId(v, "partner_id", req->partner_id());
  RequirePeriod(v, req->period_id());
  Currency(v, req->currency_code());
  if (!v.empty()) return server::FinishRpc(reactor, v.ToStatus());
  return Answer(reactor, Roi(req->partner_id(), req->period_id(), req->currency_code()), resp);
}

grpc::ServerUnaryReactor* AnalyticsService::ListPartnerRoi(grpc::CallbackServerContext* ctx,
                                                           const av1::ListPartnerRoiRequest* req,
                                                           av1::ListPartnerRoiResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.analytics.v1.AnalyticsService/ListPartnerRoi", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  core::FieldViolations v;
  RequirePeriod(v, req->period_id());
  Currency(v, req->currency_code());
  if (req->page_size() < 0 || req->page_size() > kMaxPageSize) {
    v.Add("page_size", absl::StrCat("must be between 0 and ", kMaxPageSize));
  }
  size_t offset = 0;
  if (!req->page_token().empty()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(req->page_token(), &raw) || !absl::SimpleAtoi(raw, &offset)) {
      v.Add("page_token", "is not a token from a previous response");
    }
  }
  if (!v.empty()) return server::FinishRpc(reactor, v.ToStatus());
  auto partners = Suffixes(store_, kPartnersCf, "");
  if (!partners.ok()) return server::FinishRpc(reactor, partners.status());
  std::vector<av1::PartnerRoi> all;
  for (const std::string& p : *partners) {
    if (!caller->CanSeePartner(p)) continue;
    auto roi = Roi(p, req->period_id(), req->currency_code());
    if (!roi.ok()) return server::FinishRpc(reactor, roi.status());
    all.push_back(std::move(*roi));
  }
  std::sort(all.begin(), all.end(), [](const av1::PartnerRoi& a, const av1::PartnerRoi& b) {
    if (a.roi_defined() != b.roi_defined()) return a.roi_defined();
    if (a.roi_bps() != b.roi_bps()) return a.roi_bps() > b.roi_bps();
    return a.partner_id() < b.partner_id();
  });
  const size_t page = req->page_size() > 0 ? req->page_size() : kDefaultPageSize;
  for (size_t i = offset; i < all.size() && i < offset + page; ++i) *resp->add_partners() = all[i];
  if (offset + page < all.size()) {
    resp->set_next_page_token(absl::WebSafeBase64Escape(absl::StrCat(offset + page)));
  }
  return server::FinishRpc(reactor, absl::OkStatus());
}

grpc::ServerUnaryReactor* AnalyticsService::GetPartnerPipeline(
    grpc::CallbackServerContext* ctx, const av1::GetPartnerPipelineRequest* req,
    av1::PartnerPipeline* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto caller =
      authz_->Authorize(*ctx, "channelops.analytics.v1.AnalyticsService/GetPartnerPipeline", *req);
  if (!caller.ok()) return server::FinishRpc(reactor, caller.status());
  core::FieldViolations v;
  RequireId(v, "partner_id", req->partner_id());
  Currency(v, req->currency_code());
  if (!v.empty()) return server::FinishRpc(reactor, v.ToStatus());
  return Answer(reactor, Pipeline(req->partner_id(), req->currency_code()), resp);
}

}  // namespace channelops::projections
