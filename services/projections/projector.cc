#include "projections/projector.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "channelops/analytics/v1/analytics.pb.h"
#include "channelops/analytics/v1/events.pb.h"
#include "channelops/analytics/v1/read_models.pb.h"
#include "channelops/comp/v1/events.pb.h"
#include "channelops/comp/v1/read_models.pb.h"
#include "channelops/core/check.h"
#include "channelops/core/money.h"
#include "channelops/core/normalize.h"
#include "channelops/core/status_macros.h"
#include "channelops/dealreg/v1/events.pb.h"
#include "channelops/leads/v1/events.pb.h"
#include "channelops/mdf/v1/events.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/server/log.h"
#include "compensation/domain/convert.h"
#include "compensation/domain/crediting.h"
#include "compensation/domain/decider.h"
#include "compensation/domain/resolve.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "projections/domain/attribution.h"
#include "projections/domain/ledger.h"
#include "projections/roi_query.h"

namespace channelops::projections {
namespace {

namespace cd = comp::domain;
using absl::CivilDay;
using eventstore::Tx;
using kafka::ConsumedEvent;

absl::Status Corrupt(const char* cf, const std::string& key) {
  return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
}

// Through the projector's cache: the parsed message is kept (and copied out).
template <class M>
absl::StatusOr<std::optional<M>> Load(CachedTx& tx, const char* cf, const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::shared_ptr<const M> m, tx.GetParsed<M>(cf, key));
  if (!m) return std::optional<M>();
  return std::optional<M>(*m);
}

template <class M>
absl::StatusOr<M> LoadOr(CachedTx& tx, const char* cf, const std::string& key) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::optional<M> m, Load<M>(tx, cf, key));
  return m ? std::move(*m) : M();
}

// The cache keeps `m` parsed (moved in by callers done with it); it is
// serialized once, when the command's writes are staged.
template <class M>
void Save(CachedTx& tx, const char* cf, const std::string& key, M m) {
  tx.PutMessage(cf, key, std::make_shared<M>(std::move(m)));
}

// Adds `value` to the sorted list under `key`; false if it was there.
// A set of strings stored one key per element ("<key>\0<element>"), so adding
// to a large set (a day's or a partner's sales) costs one write, not a rewrite
// of the whole list. Elements come back in sorted order.
std::string ListPrefix(const std::string& key) { return key + std::string(1, '\0'); }

absl::StatusOr<bool> ListAdd(Tx& tx, const char* cf, const std::string& key,
                             const std::string& value) {
  const std::string k = ListPrefix(key) + value;
  CHANNELOPS_ASSIGN_OR_RETURN(auto existing, tx.Get(cf, k));
  if (existing) return false;
  tx.Put(cf, k, "");
  return true;
}

// The wire form of a message whose field `field` (a message) holds
// `message_bytes`: tag (length-delimited), length, bytes.
std::string EmbedAsField(int field, absl::string_view message_bytes) {
  namespace wire = google::protobuf::internal;
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(
        wire::WireFormatLite::MakeTag(field, wire::WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint32(static_cast<uint32_t>(message_bytes.size()));
    coded.WriteRaw(message_bytes.data(), static_cast<int>(message_bytes.size()));
  }
  return out;
}

// Adds `value` to the list under `key` when it cannot be there yet (an
// element naming a record this command is creating): a write, no read.
void ListAddNew(Tx& tx, const char* cf, const std::string& key, const std::string& value) {
  tx.Put(cf, ListPrefix(key) + value, "");
}

absl::StatusOr<std::vector<std::string>> ListGet(Tx& tx, const char* cf, const std::string& key) {
  std::vector<std::string> out;
  const std::string prefix = ListPrefix(key);
  CHANNELOPS_RETURN_IF_ERROR(tx.Scan(cf, prefix, [&](absl::string_view k, absl::string_view) {
    out.emplace_back(k.substr(prefix.size()));
  }));
  return out;
}

template <class M>
absl::Status Unpack(const ConsumedEvent& ev, M* m) {
  if (!ev.envelope.payload().UnpackTo(m)) {
    return absl::DataLossError(absl::StrCat("payload of ", ev.envelope.event_id(), " is not ",
                                            M::descriptor()->full_name()));
  }
  return absl::OkStatus();
}

template <class M>
bool Is(const ConsumedEvent& ev) {
  return ev.envelope.event_type() == M::descriptor()->full_name();
}

std::string DayString(const google::protobuf::Timestamp& ts) {
  return cd::FormatDate(cd::DayOf(cd::FromProtoTime(ts)));
}

v1::EventRef RefOf(const ConsumedEvent& ev, const std::string& role) {
  v1::EventRef r;
  r.set_source(ev.ce_source);
  r.set_topic(ev.topic);
  r.set_event_type(ev.envelope.event_type());
  r.set_event_id(ev.envelope.event_id());
  r.set_stream_id(ev.envelope.stream_id());
  r.set_stream_version(ev.envelope.stream_version());
  r.set_global_position(ev.global_position);
  *r.mutable_occurred_at() = ev.envelope.occurred_at();
  r.set_role(role);
  return r;
}

std::optional<core::Money> MoneyOf(const common::v1::Money& m) {
  if (m.currency_code().empty()) return std::nullopt;
  auto money = core::Money::FromProto(m, "money");
  if (!money.ok()) return std::nullopt;
  return *money;
}

bool IsSale(pos::v1::LineActivity a) {
  return a == pos::v1::LINE_ACTIVITY_STOCK_SALE || a == pos::v1::LINE_ACTIVITY_DROP_SHIP_SALE ||
         a == pos::v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE;
}

std::string LineKey(const pos::v1::PosLine& l) {
  return absl::StrCat("pos:", l.report_id(), "/", l.line_number());
}

std::string InvoiceKey(const std::string& partner, const std::string& invoice,
                       const std::string& sku) {
  return absl::StrCat(partner, "|", invoice, "|", absl::AsciiStrToLower(sku));
}

}  // namespace

std::vector<std::string> SourceTopics() {
  return {kDealRegistrationTopic, kLeadRoutingTopic, kPosIngestionTopic, kMdfTopic,
          kCompensationTopic};
}

std::string DerivedTopicOf(absl::string_view event_type) {
  if (event_type == analytics::v1::PartnerRoiChanged::descriptor()->full_name()) {
    return kPartnerRoiTopic;
  }
  return "";
}

std::vector<std::string> ReadModelCfs() {
  return {kPlansCf,        kAssignmentsCf,      kPeriodsCf,      kDealsCf,
          kDealIndexCf,    kDirectCf,           kLeadsCf,        kCampaignLeadsCf,
          kFundRequestsCf, kPartnerCampaignsCf, kPartnerMoneyCf, kPartnerTotalsCf,
          kPartnersCf,     kPartnerDealsCf,     kSalesCf,        kSaleIndexCf,
          kSalesByDayCf,   kPendingReturnsCf,   kReturnIndexCf,  kIncentivesCf,
          kLinesCf,        kPayeeLinesCf,       kStatementsCf,   kPeriodPayeesCf,
          kStatusCf,       kPricesCf,           kRoiIndexCf,     kRoiDirtyCf};
}

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

std::string PartnerSalesKey(const std::string& partner_id, const std::string& period_id) {
  return absl::StrCat("p|", partner_id, "|", period_id);
}

std::string PayeeStream(const std::string& payee_id) { return absl::StrCat("payee-", payee_id); }

std::string PartnerRoiStream(const std::string& partner_id) {
  return absl::StrCat("partner-", partner_id);
}

std::string RoiDirtyKey(const std::string& partner_id, const std::string& period_id) {
  return absl::StrCat(partner_id, "|", period_id);
}

// ---------------------------------------------------------------------------
// One Apply.
// ---------------------------------------------------------------------------

class Projector::Run {
 public:
  Run(CachedTx& tx, const ConsumedEvent& ev, Projector& projector)
      : tx_(tx), ev_(ev), projector_(projector) {}

  absl::Status Apply() {
    CHANNELOPS_RETURN_IF_ERROR(Dispatch());
    // Sales whose registration incentive moved (to an earlier sale, or free
    // again) are credited again until nothing moves.
    for (int rounds = 0; !requeue_.empty(); ++rounds) {
      CHANNELOPS_CHECK(rounds < 100000) << "incentive reassignment does not converge";
      std::vector<std::string> keys;
      keys.swap(requeue_);
      CHANNELOPS_RETURN_IF_ERROR(RecomputeAll(keys, "registration incentive reassigned"));
    }
    return CountTopic();
  }

 private:
  absl::Status Dispatch() {
    // ---- compensation ----
    if (Is<comp::v1::PlanPublished>(ev_)) return OnPlan();
    if (Is<comp::v1::RoleAssigned>(ev_)) return OnAssignment();
    if (Is<comp::v1::PeriodClosed>(ev_)) return OnPeriodClosed();
    // ---- deal registration ----
    if (Is<dealreg::v1::DealRegistered>(ev_)) return OnDeal<dealreg::v1::DealRegistered>();
    if (Is<dealreg::v1::DealApproved>(ev_)) return OnDeal<dealreg::v1::DealApproved>();
    if (Is<dealreg::v1::DealRejected>(ev_)) return OnDeal<dealreg::v1::DealRejected>();
    if (Is<dealreg::v1::DealReturned>(ev_)) return OnDeal<dealreg::v1::DealReturned>();
    if (Is<dealreg::v1::DealUpdated>(ev_)) return OnDeal<dealreg::v1::DealUpdated>();
    if (Is<dealreg::v1::DealExpired>(ev_)) return OnDeal<dealreg::v1::DealExpired>();
    if (Is<dealreg::v1::DealClosed>(ev_)) return OnDeal<dealreg::v1::DealClosed>();
    if (Is<dealreg::v1::SpecialPricingRequested>(ev_)) {
      return OnDeal<dealreg::v1::SpecialPricingRequested>();
    }
    if (Is<dealreg::v1::SpecialPricingDecided>(ev_)) {
      return OnDeal<dealreg::v1::SpecialPricingDecided>();
    }
    if (Is<dealreg::v1::DirectOpportunityRecorded>(ev_)) return OnDirectOpportunity();
    // ---- lead routing ----
    if (Is<leads::v1::LeadSubmitted>(ev_)) return OnLead<leads::v1::LeadSubmitted>();
    if (Is<leads::v1::LeadRouted>(ev_)) return OnLead<leads::v1::LeadRouted>();
    if (Is<leads::v1::LeadAccepted>(ev_)) return OnLead<leads::v1::LeadAccepted>();
    if (Is<leads::v1::LeadDeclined>(ev_)) return OnLead<leads::v1::LeadDeclined>();
    if (Is<leads::v1::LeadAcceptanceTimedOut>(ev_)) {
      return OnLead<leads::v1::LeadAcceptanceTimedOut>();
    }
    if (Is<leads::v1::LeadConverted>(ev_)) return OnLead<leads::v1::LeadConverted>();
    if (Is<leads::v1::LeadClosed>(ev_)) return OnLead<leads::v1::LeadClosed>();
    // ---- POS ----
    if (Is<pos::v1::PosLinesAccepted>(ev_)) return OnPosLines();
    if (Is<pos::v1::PosLineAccepted>(ev_)) return OnPosLine();
    if (Is<pos::v1::ReportLineReversed>(ev_)) return OnLineReversed();
    if (Is<pos::v1::ShipmentRecorded>(ev_)) return OnShipment();
    if (Is<pos::v1::PriceProtectionCredited>(ev_)) return OnPriceProtection();
    if (Is<pos::v1::ProductUpserted>(ev_)) return OnProduct();
    if (Is<pos::v1::PriceChanged>(ev_)) return OnPriceChanged();
    // ---- MDF ----
    if (Is<mdf::v1::FundRequestSubmitted>(ev_))
      return OnFundRequest<mdf::v1::FundRequestSubmitted>();
    if (Is<mdf::v1::FundRequestResubmitted>(ev_)) {
      return OnFundRequest<mdf::v1::FundRequestResubmitted>();
    }
    if (Is<mdf::v1::FundRequestApproved>(ev_)) return OnFundRequest<mdf::v1::FundRequestApproved>();
    if (Is<mdf::v1::ClaimPaid>(ev_)) return OnClaimPaid();
    return absl::OkStatus();  // not needed by any projection
  }

  absl::Status CountTopic() {
    CHANNELOPS_ASSIGN_OR_RETURN(auto status, LoadOr<v1::TopicStatus>(tx_, kStatusCf, ev_.topic));
    status.set_topic(ev_.topic);
    status.set_events_applied(status.events_applied() + 1);
    *status.mutable_last_occurred_at() = ev_.envelope.occurred_at();
    Save(tx_, kStatusCf, ev_.topic, status);
    return absl::OkStatus();
  }

  absl::Status Bump(int64_t credit_lines, int64_t sales, int64_t uncredited) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto c, LoadOr<v1::Counters>(tx_, kStatusCf, kCountersKey));
    c.set_credit_lines(c.credit_lines() + credit_lines);
    c.set_sales(c.sales() + sales);
    c.set_uncredited_sales(c.uncredited_sales() + uncredited);
    Save(tx_, kStatusCf, kCountersKey, c);
    return absl::OkStatus();
  }

  void NotePartner(const std::string& partner_id) {
    if (!partner_id.empty()) tx_.Put(kPartnersCf, partner_id, "");
  }

  // ---------------------------------------------------------------------
  // Partner ROI: which (partner, month) figures this event changes. The
  // figures themselves are computed and published by FinishBatch.
  // ---------------------------------------------------------------------

  RoiNotes& RoiNotesOf(const std::string& partner) {
    RoiNotes& n = projector_.roi_changed_[partner];
    n.latest = std::max(n.latest, cd::FromProtoTime(ev_.envelope.occurred_at()));
    return n;
  }

  // `date_or_period`: "YYYY-MM-DD" or "YYYY-MM"; empty (not known yet): nothing.
  void RoiChanged(const std::string& partner, const std::string& date_or_period) {
    if (partner.empty() || date_or_period.size() < 7) return;
    RoiNotesOf(partner).periods.insert(date_or_period.substr(0, 7));
  }

  bool InRoiCurrency(const common::v1::Money& m) const {
    return m.currency_code() == projector_.options_.roi_currency;
  }

  // Whether `lead_id` came from a campaign `partner` funds.
  absl::StatusOr<bool> FromFundedCampaign(const std::string& partner, const std::string& lead_id) {
    if (lead_id.empty()) return false;
    CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Load<v1::LeadRecord>(tx_, kLeadsCf, lead_id));
    if (!lead || lead->campaign_id().empty()) return false;
    CHANNELOPS_ASSIGN_OR_RETURN(auto funded,
                                tx_.Get(kPartnerCampaignsCf, Join0(partner, lead->campaign_id())));
    return funded.has_value();
  }

  // A registration from a funded campaign counts in the months it was
  // registered (pipeline) and won, and its attributed sales in theirs.
  absl::Status RoiChangedForDeal(const v1::DealRecord& d, bool with_sales) {
    RoiChanged(d.partner_id(), d.registered_date());
    RoiChanged(d.partner_id(), d.won_date());
    if (!with_sales) return absl::OkStatus();
    const std::string prefix = ListPrefix("d|" + d.deal_id());
    return tx_.Scan(kRoiIndexCf, prefix, [&](absl::string_view, absl::string_view month) {
      RoiChanged(d.partner_id(), std::string(month));
    });
  }

  // `partner` funds `campaign` (an approved request or a paid claim names it).
  // New: the number of funded campaigns changes in every month published so
  // far, and the campaign's leads, registrations and sales now count.
  absl::Status FundCampaign(const std::string& partner, const std::string& campaign) {
    if (partner.empty() || campaign.empty()) return absl::OkStatus();
    const std::string key = Join0(partner, campaign);
    CHANNELOPS_ASSIGN_OR_RETURN(auto seen, tx_.Get(kPartnerCampaignsCf, key));
    if (seen) return absl::OkStatus();
    tx_.Put(kPartnerCampaignsCf, key, "");
    tx_.Put(kRoiIndexCf, Join0("c|" + campaign, partner), "");
    RoiNotesOf(partner).every_published_period = true;
    CHANNELOPS_ASSIGN_OR_RETURN(auto leads, ListGet(tx_, kCampaignLeadsCf, campaign));
    for (const std::string& id : leads) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Load<v1::LeadRecord>(tx_, kLeadsCf, id));
      if (lead) RoiChanged(partner, lead->submitted_date());
      CHANNELOPS_RETURN_IF_ERROR(RoiChangedForDealsOfLead(id, {partner}));
    }
    return absl::OkStatus();
  }

  // The registrations naming `lead_id` whose partner is one of `partners`.
  absl::Status RoiChangedForDealsOfLead(const std::string& lead_id,
                                        const std::vector<std::string>& partners) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto deals, ListGet(tx_, kRoiIndexCf, "l|" + lead_id));
    for (const std::string& id : deals) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto deal, Load<v1::DealRecord>(tx_, kDealsCf, id));
      if (!deal ||
          std::find(partners.begin(), partners.end(), deal->partner_id()) == partners.end())
        continue;
      CHANNELOPS_RETURN_IF_ERROR(RoiChangedForDeal(*deal, /*with_sales=*/true));
    }
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------
  // Compensation facts
  // ---------------------------------------------------------------------

  absl::StatusOr<const v1::PlanSet*> Plans() {
    if (!plans_) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto set, LoadOr<v1::PlanSet>(tx_, kPlansCf, kAllPlansKey));
      plans_ = std::move(set);
    }
    return &*plans_;
  }

  absl::StatusOr<comp::v1::PeriodCalendar> Calendar() {
    return LoadOr<comp::v1::PeriodCalendar>(tx_, kPeriodsCf, kCalendarKey);
  }

  absl::Status OnPlan() {
    comp::v1::PlanPublished e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    CHANNELOPS_ASSIGN_OR_RETURN(auto set, LoadOr<v1::PlanSet>(tx_, kPlansCf, kAllPlansKey));
    for (const auto& v : set.versions()) {
      if (v.plan().plan_id() == e.plan().plan_id() && v.plan().version() == e.plan().version()) {
        return absl::OkStatus();  // the same version from another delivery path
      }
    }
    v1::PlanRecord* rec = set.add_versions();
    *rec->mutable_plan() = e.plan();
    *rec->mutable_ref() = RefOf(ev_, "plan");
    Save(tx_, kPlansCf, kAllPlansKey, set);
    plans_ = std::move(set);
    auto from = cd::ParseDate(e.plan().effective_from());
    if (!from) return absl::OkStatus();
    const comp::v1::CreditingBasis basis = cd::BasisOf(e.plan());
    CHANNELOPS_ASSIGN_OR_RETURN(auto keys, SalesFromDay(*from, [&](const v1::SaleRecord& s) {
                                  return s.basis() == basis;
                                }));
    return RecomputeAll(keys, "plan version published");
  }

  absl::Status OnAssignment() {
    comp::v1::RoleAssigned e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto rec, LoadOr<v1::AssignmentRecord>(tx_, kAssignmentsCf, e.assignment_id()));
    for (const auto& entry : rec.assignment().entries()) {
      if (entry.version() == e.entry().version()) return absl::OkStatus();  // seen
    }
    *rec.mutable_assignment() = cd::Evolve(rec.assignment(), cd::Event(e));
    *rec.add_refs() = RefOf(ev_, "assignment");
    Save(tx_, kAssignmentsCf, e.assignment_id(), rec);
    auto from = cd::ParseDate(e.entry().effective_from());
    if (!from) return absl::OkStatus();
    std::vector<std::string> keys;
    switch (e.role()) {
      case comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER:
      case comp::v1::ROLE_DISTRIBUTOR_REP: {
        CHANNELOPS_ASSIGN_OR_RETURN(keys, PartnerSalesFrom(e.target().partner_id(), *from));
        break;
      }
      case comp::v1::ROLE_INSIDE_SALES: {
        const std::string country = e.target_key().substr(0, e.target_key().find('|'));
        CHANNELOPS_RETURN_IF_ERROR(
            ListAdd(tx_, kAssignmentsCf, absl::StrCat("~isr|", country), e.assignment_id())
                .status());
        const std::string territory = e.target_key();
        CHANNELOPS_ASSIGN_OR_RETURN(keys, SalesFromDay(*from, [&](const v1::SaleRecord& s) {
                                      const auto& a = s.end_customer().address();
                                      return cd::TerritoryContains(territory, a.country_code(),
                                                                   a.region(), a.postal_code());
                                    }));
        break;
      }
      case comp::v1::ROLE_DIRECT_REP: {
        const std::string index = absl::StartsWith(e.target_key(), "d|")
                                      ? absl::StrCat("m|", e.target_key())
                                      : absl::StrCat("c|", e.target_key());
        CHANNELOPS_ASSIGN_OR_RETURN(keys, ListGet(tx_, kSaleIndexCf, index));
        CHANNELOPS_ASSIGN_OR_RETURN(keys, OnOrAfter(keys, *from));
        break;
      }
      default:
        break;
    }
    return RecomputeAll(keys, absl::StrCat("assignment ", e.assignment_id(), " changed"));
  }

  absl::Status OnPeriodClosed() {
    comp::v1::PeriodClosed e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const std::string& id = e.period().period_id();
    if (!cd::ParsePeriodId(id)) return absl::DataLossError(absl::StrCat("bad period id ", id));
    CHANNELOPS_ASSIGN_OR_RETURN(auto calendar, Calendar());
    // Periods close in order at the source, but their events travel on
    // different partitions: closing a period closes everything before it.
    if (calendar.last_closed() < id) calendar.set_last_closed(id);
    if (calendar.first_closed().empty() || id < calendar.first_closed()) {
      calendar.set_first_closed(id);
    }
    Save(tx_, kPeriodsCf, kCalendarKey, calendar);
    Save(tx_, kPeriodsCf, id, e.period());
    CHANNELOPS_ASSIGN_OR_RETURN(auto payees, ListGet(tx_, kPeriodPayeesCf, id));
    for (const std::string& payee : payees) {
      const std::string key = Join0(payee, id);
      CHANNELOPS_ASSIGN_OR_RETURN(auto st,
                                  LoadOr<v1::CommissionStatement>(tx_, kStatementsCf, key));
      if (st.frozen()) continue;
      st.set_payee_id(payee);
      st.set_period_id(id);
      st.set_frozen(true);
      *st.mutable_frozen_at() =
          e.period().has_closed_at() ? e.period().closed_at() : ev_.envelope.occurred_at();
      Save(tx_, kStatementsCf, key, st);
      analytics::v1::StatementFrozen frozen;
      *frozen.mutable_statement() = st;
      CHANNELOPS_RETURN_IF_ERROR(
          tx_.Append(PayeeStream(payee), eventstore::kAnyVersion,
                     {eventstore::NewEvent::Of(frozen, cd::FromProtoTime(st.frozen_at()))})
              .status());
    }
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------
  // Deal registration facts
  // ---------------------------------------------------------------------

  template <class E>
  absl::Status OnDeal() {
    E e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const dealreg::v1::DealKeys& k = e.keys();
    if (k.deal_id().empty()) return absl::DataLossError("deal event without deal_id");
    CHANNELOPS_ASSIGN_OR_RETURN(auto d, LoadOr<v1::DealRecord>(tx_, kDealsCf, k.deal_id()));
    const bool is_new = d.deal_id().empty();
    const v1::DealRecord before = d;
    d.set_deal_id(k.deal_id());
    d.set_program_id(k.program_id());
    d.set_partner_id(k.partner_id());
    d.set_customer_key(k.customer_key());
    d.set_domain_key(k.domain_key());
    *d.mutable_product_lines() = k.product_lines();
    if (!k.lead_id().empty()) d.set_lead_id(k.lead_id());
    const std::string day = DayString(ev_.envelope.occurred_at());
    bool attribution_may_change = is_new;
    std::string role = "registration";
    if constexpr (std::is_same_v<E, dealreg::v1::DealRegistered>) {
      d.set_status(e.status());
      d.set_stage(e.stage());
      *d.mutable_amount() = e.amount();
      d.set_registered_date(day);
      d.set_expiry_days(e.expiry_days());
      if (e.status() == dealreg::v1::DEAL_STATUS_APPROVED && d.approved_date().empty()) {
        d.set_approved_date(day);
      }
      if (e.status() == dealreg::v1::DEAL_STATUS_REJECTED) d.set_ended_date(day);
      role = "registration";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealApproved>) {
      d.set_status(dealreg::v1::DEAL_STATUS_APPROVED);
      if (e.has_amount()) *d.mutable_amount() = e.amount();
      if (d.approved_date().empty() || day < d.approved_date()) d.set_approved_date(day);
      role = "approval";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealRejected>) {
      d.set_status(dealreg::v1::DEAL_STATUS_REJECTED);
      d.set_ended_date(day);
      role = "rejection";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealReturned>) {
      d.set_status(dealreg::v1::DEAL_STATUS_RETURNED);
      role = "returned to partner";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealUpdated>) {
      d.set_status(e.status());
      if (e.stage() != dealreg::v1::DEAL_STAGE_UNSPECIFIED) d.set_stage(e.stage());
      if (e.has_amount()) *d.mutable_amount() = e.amount();
      role = "update";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealExpired>) {
      d.set_status(dealreg::v1::DEAL_STATUS_EXPIRED);
      d.set_ended_date(day);
      role = "expiry";
    } else if constexpr (std::is_same_v<E, dealreg::v1::DealClosed>) {
      d.set_status(e.status());
      if (e.outcome() == dealreg::v1::CLOSE_OUTCOME_WON) {
        d.set_won_date(day);
        *d.mutable_final_amount() = e.final_amount();
      } else {
        d.set_ended_date(day);
      }
      if (e.has_special_pricing_discount()) {
        *d.mutable_spa_committed() = e.special_pricing_discount();
      }
      role = "close";
    } else if constexpr (std::is_same_v<E, dealreg::v1::SpecialPricingRequested>) {
      if (e.request().status() == dealreg::v1::SPECIAL_PRICING_STATUS_APPROVED) {
        *d.mutable_spa_committed() = e.request().discount_amount();
      }
      role = "special pricing";
    } else if constexpr (std::is_same_v<E, dealreg::v1::SpecialPricingDecided>) {
      if (e.approved()) *d.mutable_spa_committed() = e.discount_amount();
      role = "special pricing";
    }
    attribution_may_change =
        attribution_may_change || before.approved_date() != d.approved_date() ||
        before.ended_date() != d.ended_date() || before.won_date() != d.won_date() ||
        before.product_lines_size() != d.product_lines_size() ||
        !std::equal(before.product_lines().begin(), before.product_lines().end(),
                    d.product_lines().begin());
    *d.add_refs() = RefOf(ev_, role);
    Save(tx_, kDealsCf, d.deal_id(), d);
    CHANNELOPS_RETURN_IF_ERROR(DealRoi(before, d));
    if (is_new) {
      NotePartner(d.partner_id());
      tx_.Put(kPartnerDealsCf, Join0(d.partner_id(), d.deal_id()), "");
      for (const std::string& key : {d.customer_key(), d.domain_key()}) {
        if (!key.empty()) {
          CHANNELOPS_RETURN_IF_ERROR(ListAdd(tx_, kDealIndexCf, key, d.deal_id()).status());
        }
      }
    }
    // A registration never approved attributes no sale (AttributesOn), before
    // or after this event: no sale's credit can change.
    const bool ever_approved = !before.approved_date().empty() || !d.approved_date().empty();
    if (!attribution_may_change || !ever_approved) return absl::OkStatus();
    // The sales this registration may attribute: its customer's sales by the
    // same partner, and sales that name it.
    std::set<std::string> keys;
    for (const auto& [prefix, key] :
         {std::pair<std::string, std::string>{"c|", d.customer_key()}, {"m|", d.domain_key()}}) {
      if (key.empty()) continue;
      CHANNELOPS_ASSIGN_OR_RETURN(auto list, ListGet(tx_, kSaleIndexCf, prefix + key));
      for (auto& s : list) keys.insert(std::move(s));
    }
    std::vector<std::string> same_partner;
    for (const std::string& key : keys) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, key));
      if (sale && sale->partner_id() == d.partner_id()) same_partner.push_back(key);
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto named, ListGet(tx_, kSaleIndexCf, "r|" + d.deal_id()));
    same_partner.insert(same_partner.end(), named.begin(), named.end());
    return RecomputeAll(same_partner, absl::StrCat("registration ", d.deal_id(), ": ", role));
  }

  // A registration's ROI inputs: status, amounts, dates and lead.
  absl::Status DealRoi(const v1::DealRecord& before, const v1::DealRecord& d) {
    const bool new_lead = !d.lead_id().empty() && before.lead_id() != d.lead_id();
    if (new_lead) tx_.Put(kRoiIndexCf, Join0("l|" + d.lead_id(), d.deal_id()), "");
    auto same = [](const common::v1::Money& a, const common::v1::Money& b) {
      return a.currency_code() == b.currency_code() && a.amount_micros() == b.amount_micros();
    };
    const bool changed =
        new_lead || before.status() != d.status() || !same(before.amount(), d.amount()) ||
        !same(before.final_amount(), d.final_amount()) ||
        before.registered_date() != d.registered_date() || before.won_date() != d.won_date();
    if (!changed) return absl::OkStatus();
    CHANNELOPS_ASSIGN_OR_RETURN(bool funded, FromFundedCampaign(d.partner_id(), d.lead_id()));
    if (!funded) return absl::OkStatus();
    RoiChanged(d.partner_id(), before.registered_date());
    RoiChanged(d.partner_id(), before.won_date());
    // A lead named late: sales already attributed to the registration count now.
    return RoiChangedForDeal(d, /*with_sales=*/new_lead);
  }

  absl::Status OnDirectOpportunity() {
    dealreg::v1::DirectOpportunityRecorded e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const auto& o = e.opportunity();
    v1::DirectOpportunityRecord rec;
    rec.set_opportunity_id(o.opportunity_id());
    rec.set_owner_rep_id(o.owner_rep_id());
    *rec.mutable_product_lines() = o.product_lines();
    rec.set_recorded_date(o.has_recorded_at() ? DayString(o.recorded_at())
                                              : DayString(ev_.envelope.occurred_at()));
    *rec.mutable_ref() = RefOf(ev_, "direct opportunity");
    std::set<std::string> keys;
    for (const auto& [prefix, key] :
         {std::pair<std::string, std::string>{"c|", o.customer_key()}, {"m|", o.domain_key()}}) {
      if (key.empty()) continue;
      CHANNELOPS_ASSIGN_OR_RETURN(auto list,
                                  LoadOr<v1::DirectOpportunityList>(tx_, kDirectCf, key));
      bool seen =
          std::any_of(list.opportunities().begin(), list.opportunities().end(),
                      [&](const auto& x) { return x.opportunity_id() == o.opportunity_id(); });
      if (seen) continue;
      *list.add_opportunities() = rec;
      Save(tx_, kDirectCf, key, list);
      CHANNELOPS_ASSIGN_OR_RETURN(auto sales, ListGet(tx_, kSaleIndexCf, prefix + key));
      keys.insert(sales.begin(), sales.end());
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto affected,
                                OnOrAfter(std::vector<std::string>(keys.begin(), keys.end()),
                                          *cd::ParseDate(rec.recorded_date())));
    return RecomputeAll(affected, absl::StrCat("direct opportunity ", o.opportunity_id()));
  }

  // ---------------------------------------------------------------------
  // Leads
  // ---------------------------------------------------------------------

  template <class E>
  absl::Status OnLead() {
    E e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const auto& k = e.keys();
    if (k.lead_id().empty()) return absl::DataLossError("lead event without lead_id");
    CHANNELOPS_ASSIGN_OR_RETURN(auto lead, LoadOr<v1::LeadRecord>(tx_, kLeadsCf, k.lead_id()));
    const std::string campaign_before = lead.campaign_id();
    const std::string submitted_before = lead.submitted_date();
    lead.set_lead_id(k.lead_id());
    if (lead.campaign_id().empty() && !k.campaign_id().empty()) {
      lead.set_campaign_id(k.campaign_id());
      tx_.Put(kCampaignLeadsCf, Join0(k.campaign_id(), k.lead_id()), "");
    }
    std::string partner;
    std::function<void(v1::LeadFunnel&)> count;
    if constexpr (std::is_same_v<E, leads::v1::LeadSubmitted>) {
      lead.set_submitted_date(DayString(ev_.envelope.occurred_at()));
      *lead.mutable_ref() = RefOf(ev_, "lead");
    } else if constexpr (std::is_same_v<E, leads::v1::LeadRouted>) {
      partner = e.partner_id();
      lead.set_partner_id(partner);
      count = [](v1::LeadFunnel& f) { f.set_received(f.received() + 1); };
    } else if constexpr (std::is_same_v<E, leads::v1::LeadAccepted>) {
      partner = e.partner_id();
      count = [](v1::LeadFunnel& f) { f.set_accepted(f.accepted() + 1); };
    } else if constexpr (std::is_same_v<E, leads::v1::LeadDeclined>) {
      partner = e.partner_id();
      count = [](v1::LeadFunnel& f) { f.set_declined(f.declined() + 1); };
    } else if constexpr (std::is_same_v<E, leads::v1::LeadAcceptanceTimedOut>) {
      partner = e.partner_id();
      count = [](v1::LeadFunnel& f) { f.set_timed_out(f.timed_out() + 1); };
    } else if constexpr (std::is_same_v<E, leads::v1::LeadConverted>) {
      partner = e.partner_id();
      lead.set_deal_id(e.deal_id());
      count = [](v1::LeadFunnel& f) { f.set_converted(f.converted() + 1); };
    } else if constexpr (std::is_same_v<E, leads::v1::LeadClosed>) {
      partner = e.partner_id();
      count = [](v1::LeadFunnel& f) { f.set_closed_lost(f.closed_lost() + 1); };
    }
    if (lead.submitted_date().empty())
      lead.set_submitted_date(DayString(ev_.envelope.occurred_at()));
    Save(tx_, kLeadsCf, k.lead_id(), lead);
    if (!lead.campaign_id().empty() &&
        (lead.campaign_id() != campaign_before || lead.submitted_date() != submitted_before)) {
      // Counted in its month for the partners funding its campaign; with a new
      // campaign, registrations naming it may now be from a funded campaign.
      CHANNELOPS_ASSIGN_OR_RETURN(auto funders,
                                  ListGet(tx_, kRoiIndexCf, "c|" + lead.campaign_id()));
      for (const std::string& p : funders) {
        if (lead.campaign_id() == campaign_before) RoiChanged(p, submitted_before);
        RoiChanged(p, lead.submitted_date());
      }
      if (lead.campaign_id() != campaign_before && !funders.empty()) {
        CHANNELOPS_RETURN_IF_ERROR(RoiChangedForDealsOfLead(k.lead_id(), funders));
      }
    }
    if (count && !partner.empty()) {
      NotePartner(partner);
      CHANNELOPS_ASSIGN_OR_RETURN(auto totals,
                                  LoadOr<v1::PartnerTotals>(tx_, kPartnerTotalsCf, partner));
      count(*totals.mutable_lead_funnel());
      Save(tx_, kPartnerTotalsCf, partner, totals);
    }
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------
  // MDF
  // ---------------------------------------------------------------------

  absl::Status AddPartnerMoney(
      const std::string& partner, const std::string& day, const common::v1::Money& amount,
      google::protobuf::RepeatedPtrField<common::v1::Money>* (*field)(v1::PartnerPeriodMoney&)) {
    auto money = MoneyOf(amount);
    auto d = cd::ParseDate(day);
    if (!money || !d || partner.empty()) return absl::OkStatus();
    const std::string key = Join0(partner, cd::PeriodOf(*d));
    CHANNELOPS_ASSIGN_OR_RETURN(auto m, LoadOr<v1::PartnerPeriodMoney>(tx_, kPartnerMoneyCf, key));
    CHANNELOPS_RETURN_IF_ERROR(domain::AddTo(field(m), *money));
    Save(tx_, kPartnerMoneyCf, key, m);
    NotePartner(partner);
    if (InRoiCurrency(amount)) RoiChanged(partner, day);
    return absl::OkStatus();
  }

  template <class E>
  absl::Status OnFundRequest() {
    E e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const auto& k = e.keys();
    CHANNELOPS_ASSIGN_OR_RETURN(
        auto rec, LoadOr<v1::FundRequestRecord>(tx_, kFundRequestsCf, k.fund_request_id()));
    rec.set_fund_request_id(k.fund_request_id());
    rec.set_partner_id(k.partner_id());
    rec.set_fund_kind(k.fund_kind());
    if (!k.campaign_id().empty()) rec.set_campaign_id(k.campaign_id());
    if constexpr (std::is_same_v<E, mdf::v1::FundRequestApproved>) {
      *rec.mutable_approved_amount() = e.approved_amount();
      rec.set_approved_date(DayString(ev_.envelope.occurred_at()));
      CHANNELOPS_RETURN_IF_ERROR(FundCampaign(rec.partner_id(), rec.campaign_id()));
      const bool coop = k.fund_kind() == mdf::v1::FUND_KIND_COOP;
      CHANNELOPS_RETURN_IF_ERROR(AddPartnerMoney(
          rec.partner_id(), rec.approved_date(), e.approved_amount(),
          coop ? +[](v1::PartnerPeriodMoney& m) { return m.mutable_coop_committed(); }
               : +[](v1::PartnerPeriodMoney& m) { return m.mutable_mdf_committed(); }));
    }
    Save(tx_, kFundRequestsCf, k.fund_request_id(), rec);
    NotePartner(rec.partner_id());
    return absl::OkStatus();
  }

  absl::Status OnClaimPaid() {
    mdf::v1::ClaimPaid e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const auto& k = e.keys();
    CHANNELOPS_RETURN_IF_ERROR(FundCampaign(k.partner_id(), k.campaign_id()));
    const bool coop = k.fund_kind() == mdf::v1::FUND_KIND_COOP;
    return AddPartnerMoney(
        k.partner_id(), DayString(ev_.envelope.occurred_at()), e.amount(),
        coop ? +[](v1::PartnerPeriodMoney& m) { return m.mutable_coop_paid(); }
             : +[](v1::PartnerPeriodMoney& m) { return m.mutable_mdf_paid(); });
  }

  // ---------------------------------------------------------------------
  // POS
  // ---------------------------------------------------------------------

  absl::Status OnProduct() {
    pos::v1::ProductUpserted e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    if (e.product().has_list_price())
      Save(tx_, kPricesCf, e.product().sku(), e.product().list_price());
    return absl::OkStatus();
  }

  absl::Status OnPriceChanged() {
    pos::v1::PriceChanged e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    if (e.change().has_new_price()) Save(tx_, kPricesCf, e.change().sku(), e.change().new_price());
    return absl::OkStatus();
  }

  absl::Status OnPriceProtection() {
    pos::v1::PriceProtectionCredited e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const auto& c = e.credit();
    auto amount = MoneyOf(c.amount());
    if (!amount || c.partner_id().empty()) return absl::OkStatus();
    const std::string day =
        c.has_effective_at() ? DayString(c.effective_at()) : DayString(ev_.envelope.occurred_at());
    CHANNELOPS_RETURN_IF_ERROR(AddPartnerMoney(
        c.partner_id(), day, c.amount(),
        +[](v1::PartnerPeriodMoney& m) { return m.mutable_price_protection(); }));
    CHANNELOPS_ASSIGN_OR_RETURN(auto totals,
                                LoadOr<v1::PartnerTotals>(tx_, kPartnerTotalsCf, c.partner_id()));
    CHANNELOPS_RETURN_IF_ERROR(domain::AddTo(totals.mutable_price_protection(), *amount));
    totals.set_price_protection_credits(totals.price_protection_credits() + 1);
    Save(tx_, kPartnerTotalsCf, c.partner_id(), totals);
    return absl::OkStatus();
  }

  absl::Status OnShipment() {
    pos::v1::ShipmentRecorded e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    v1::SaleRecord s;
    s.set_sale_key(absl::StrCat("shipment:", e.shipment_id()));
    s.set_basis(comp::v1::CREDITING_BASIS_SELL_IN);
    s.set_partner_id(e.partner_id());
    s.set_sku(e.sku());
    s.set_product_line(cd::NormalizeProductLine(e.product_line()));
    s.set_quantity(e.quantity());
    if (e.has_extended_amount()) *s.mutable_revenue() = e.extended_amount();
    s.set_date(e.has_shipped_at() ? DayString(e.shipped_at())
                                  : DayString(ev_.envelope.occurred_at()));
    *s.mutable_ref() = RefOf(ev_, "sell-in shipment");
    return OnNewSale(std::move(s));
  }

  // A chunk of accepted lines: each line as if it were its own event.
  absl::Status OnPosLines() {
    pos::v1::PosLinesAccepted e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    for (const pos::v1::PosLine& l : e.lines()) {
      line_ = l.line_number();  // names the line in every reference to this event
      absl::Status st = OnAcceptedLine(l);
      line_ = 0;
      CHANNELOPS_RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

  // One accepted line per event (topics written before PosLinesAccepted).
  absl::Status OnPosLine() {
    pos::v1::PosLineAccepted e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    return OnAcceptedLine(e.line());
  }

  absl::Status OnAcceptedLine(const pos::v1::PosLine& l) {
    if (IsSale(l.activity())) {
      v1::SaleRecord s;
      s.set_sale_key(LineKey(l));
      s.set_basis(comp::v1::CREDITING_BASIS_SELL_THROUGH);
      s.set_partner_id(l.partner_id());
      s.set_sku(l.sku());
      s.set_product_line(cd::NormalizeProductLine(l.product_line()));
      s.set_quantity(l.quantity() < 0 ? -l.quantity() : l.quantity());
      if (l.has_extended_amount()) {
        *s.mutable_revenue() = l.extended_amount();
      } else {
        // Unpriced: the catalogue's list price known now.
        CHANNELOPS_ASSIGN_OR_RETURN(auto price, Load<common::v1::Money>(tx_, kPricesCf, l.sku()));
        if (price) {
          if (auto unit = MoneyOf(*price)) {
            if (auto ext = unit->MultiplyBy(s.quantity()); ext.ok())
              *s.mutable_revenue() = ext->ToProto();
          }
        }
      }
      s.set_date(l.date());
      s.set_invoice_number(l.invoice_number());
      *s.mutable_end_customer() = l.end_customer();
      s.set_customer_key(l.customer_key());
      s.set_domain_key(l.domain_key());
      s.set_explicit_deal_id(l.deal_registration_id());
      *s.mutable_ref() = Ref("sale");
      return OnNewSale(std::move(s));
    }
    if (l.activity() == pos::v1::LINE_ACTIVITY_CUSTOMER_RETURN) {
      v1::ReturnRecord r;
      r.set_return_key(LineKey(l));
      r.set_quantity(l.quantity() < 0 ? -l.quantity() : l.quantity());
      r.set_date(l.date());
      *r.mutable_ref() = Ref("return");
      r.set_match_key(InvoiceKey(l.partner_id(), l.original_invoice_number(), l.sku()));
      return OnReturn(std::move(r));
    }
    return absl::OkStatus();  // inventory movements and counts: not credited
  }

  absl::Status OnNewSale(v1::SaleRecord s) {
    auto day = cd::ParseDate(s.date());
    if (!day) return absl::DataLossError(absl::StrCat("sale ", s.sale_key(), " has a bad date"));
    CHANNELOPS_ASSIGN_OR_RETURN(auto existing, Load<v1::SaleRecord>(tx_, kSalesCf, s.sale_key()));
    if (existing) return absl::OkStatus();  // the same line again
    CHANNELOPS_ASSIGN_OR_RETURN(auto reversed_early,
                                tx_.Get(kSaleIndexCf, absl::StrCat("x|", s.sale_key())));
    s.set_reversed(reversed_early.has_value());
    s.set_next_line(1);
    // Indexes. The sale is new (its record is written with them, in this
    // command), so none of its index entries can exist yet.
    ListAddNew(tx_, kSalesByDayCf, s.date(), s.sale_key());
    CHANNELOPS_ASSIGN_OR_RETURN(auto min, tx_.Get(kSalesByDayCf, "~min"));
    if (!min || s.date() < *min) tx_.Put(kSalesByDayCf, "~min", s.date());
    CHANNELOPS_ASSIGN_OR_RETURN(auto max, tx_.Get(kSalesByDayCf, "~max"));
    if (!max || s.date() > *max) tx_.Put(kSalesByDayCf, "~max", s.date());
    std::vector<std::string> index = {PartnerSalesKey(s.partner_id(), cd::PeriodOf(*day))};
    if (!s.customer_key().empty()) index.push_back("c|" + s.customer_key());
    if (!s.domain_key().empty()) index.push_back("m|" + s.domain_key());
    if (!s.explicit_deal_id().empty()) index.push_back("r|" + s.explicit_deal_id());
    const std::string invoice_key =
        s.invoice_number().empty() ? "" : InvoiceKey(s.partner_id(), s.invoice_number(), s.sku());
    if (!invoice_key.empty()) index.push_back("i|" + invoice_key);
    for (const std::string& k : index) ListAddNew(tx_, kSaleIndexCf, k, s.sale_key());
    NotePartner(s.partner_id());
    CHANNELOPS_RETURN_IF_ERROR(Bump(0, 1, 0));
    CHANNELOPS_RETURN_IF_ERROR(Recompute(s, domain::Trigger::kSale, "sale received"));
    // Returns that arrived before their sale.
    if (!invoice_key.empty()) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto pending,
                                  Load<v1::ReturnList>(tx_, kPendingReturnsCf, invoice_key));
      if (pending) {
        v1::ReturnList left;
        for (auto& r : *pending->mutable_returns()) {
          if (!ApplyReturnTo(s, r)) {
            *left.add_returns() = std::move(r);
            continue;
          }
          tx_.Put(kReturnIndexCf, r.return_key(), s.sale_key());
          CHANNELOPS_RETURN_IF_ERROR(
              Recompute(s, domain::Trigger::kReturn,
                        absl::StrCat("return ", r.return_key(), " of ", r.quantity(), " of ",
                                     s.quantity(), " units")));
        }
        if (left.returns().empty()) {
          tx_.Delete(kPendingReturnsCf, invoice_key);
        } else {
          Save(tx_, kPendingReturnsCf, invoice_key, left);
        }
      }
    }
    Save(tx_, kSalesCf, s.sale_key(), s);
    return absl::OkStatus();
  }

  static int64_t Returned(const v1::SaleRecord& s) {
    int64_t n = 0;
    for (const auto& r : s.returns()) n += r.quantity();
    return n;
  }

  // Adds the return to the sale, capped at what is left; false if nothing is left.
  static bool ApplyReturnTo(v1::SaleRecord& s, v1::ReturnRecord& r) {
    if (s.reversed()) return false;
    const int64_t left = s.quantity() - Returned(s);
    if (left <= 0) return false;
    if (r.quantity() > left) r.set_quantity(left);
    *s.add_returns() = r;
    return true;
  }

  absl::Status OnReturn(v1::ReturnRecord r) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto seen, tx_.Get(kReturnIndexCf, r.return_key()));
    if (seen) return absl::OkStatus();
    CHANNELOPS_ASSIGN_OR_RETURN(auto reversed_early,
                                tx_.Get(kSaleIndexCf, absl::StrCat("x|", r.return_key())));
    if (reversed_early) return absl::OkStatus();
    CHANNELOPS_ASSIGN_OR_RETURN(auto candidates, ListGet(tx_, kSaleIndexCf, "i|" + r.match_key()));
    for (const std::string& key : candidates) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, key));
      if (!sale || !ApplyReturnTo(*sale, r)) continue;
      tx_.Put(kReturnIndexCf, r.return_key(), key);
      CHANNELOPS_RETURN_IF_ERROR(
          Recompute(*sale, domain::Trigger::kReturn,
                    absl::StrCat("return ", r.return_key(), " of ", r.quantity(), " of ",
                                 sale->quantity(), " units")));
      Save(tx_, kSalesCf, key, *sale);
      return absl::OkStatus();
    }
    // The sale has not arrived yet (or is fully returned): keep it.
    CHANNELOPS_ASSIGN_OR_RETURN(auto pending,
                                LoadOr<v1::ReturnList>(tx_, kPendingReturnsCf, r.match_key()));
    *pending.add_returns() = r;
    Save(tx_, kPendingReturnsCf, r.match_key(), pending);
    tx_.Put(kReturnIndexCf, r.return_key(), absl::StrCat("pending:", r.match_key()));
    return absl::OkStatus();
  }

  absl::Status OnLineReversed() {
    pos::v1::ReportLineReversed e;
    CHANNELOPS_RETURN_IF_ERROR(Unpack(ev_, &e));
    const std::string key = LineKey(e.line());
    const std::string why =
        absl::StrCat("report line ", key, " reversed by report ", e.corrected_by_report_id());
    CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, key));
    if (sale) {
      if (sale->reversed()) return absl::OkStatus();
      sale->set_reversed(true);
      CHANNELOPS_RETURN_IF_ERROR(Recompute(*sale, domain::Trigger::kReversal, why));
      Save(tx_, kSalesCf, key, *sale);
      return absl::OkStatus();
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto where, tx_.Get(kReturnIndexCf, key));
    if (!where) {
      tx_.Put(kSaleIndexCf, absl::StrCat("x|", key), "");  // reversed before it arrived
      return absl::OkStatus();
    }
    tx_.Delete(kReturnIndexCf, key);
    if (absl::StartsWith(*where, "pending:")) {
      const std::string match = where->substr(8);
      CHANNELOPS_ASSIGN_OR_RETURN(auto pending,
                                  LoadOr<v1::ReturnList>(tx_, kPendingReturnsCf, match));
      v1::ReturnList left;
      for (const auto& r : pending.returns()) {
        if (r.return_key() != key) *left.add_returns() = r;
      }
      Save(tx_, kPendingReturnsCf, match, left);
      return absl::OkStatus();
    }
    CHANNELOPS_ASSIGN_OR_RETURN(auto owner, Load<v1::SaleRecord>(tx_, kSalesCf, *where));
    if (!owner) return Corrupt(kReturnIndexCf, key);
    v1::SaleRecord& s = *owner;
    auto* returns = s.mutable_returns();
    for (int i = 0; i < returns->size(); ++i) {
      if (returns->Get(i).return_key() == key) {
        returns->DeleteSubrange(i, 1);
        break;
      }
    }
    CHANNELOPS_RETURN_IF_ERROR(Recompute(s, domain::Trigger::kReversal, why));
    Save(tx_, kSalesCf, s.sale_key(), s);
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------
  // Finding the sales a late fact affects
  // ---------------------------------------------------------------------

  // Sales dated on or after `from` that pass `filter`, in date then key order.
  absl::StatusOr<std::vector<std::string>> SalesFromDay(
      CivilDay from, const std::function<bool(const v1::SaleRecord&)>& filter) {
    std::vector<std::string> out;
    CHANNELOPS_ASSIGN_OR_RETURN(auto min, tx_.Get(kSalesByDayCf, "~min"));
    CHANNELOPS_ASSIGN_OR_RETURN(auto max, tx_.Get(kSalesByDayCf, "~max"));
    if (!min || !max) return out;
    auto lo = cd::ParseDate(*min), hi = cd::ParseDate(*max);
    if (!lo || !hi) return Corrupt(kSalesByDayCf, "~min/~max");
    for (CivilDay d = std::max(from, *lo); d <= *hi; ++d) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto keys, ListGet(tx_, kSalesByDayCf, cd::FormatDate(d)));
      for (auto& k : keys) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, k));
        if (sale && filter(*sale)) out.push_back(std::move(k));
      }
    }
    return out;
  }

  absl::StatusOr<std::vector<std::string>> PartnerSalesFrom(const std::string& partner,
                                                            CivilDay from) {
    std::vector<std::string> out;
    CHANNELOPS_ASSIGN_OR_RETURN(auto min, tx_.Get(kSalesByDayCf, "~min"));
    CHANNELOPS_ASSIGN_OR_RETURN(auto max, tx_.Get(kSalesByDayCf, "~max"));
    if (!min || !max) return out;
    auto lo = cd::ParseDate(*min), hi = cd::ParseDate(*max);
    if (!lo || !hi) return Corrupt(kSalesByDayCf, "~min/~max");
    for (absl::CivilMonth m(std::max(from, *lo)); m <= absl::CivilMonth(*hi); ++m) {
      CHANNELOPS_ASSIGN_OR_RETURN(
          auto keys, ListGet(tx_, kSaleIndexCf, PartnerSalesKey(partner, cd::PeriodId(m))));
      CHANNELOPS_ASSIGN_OR_RETURN(auto kept, OnOrAfter(keys, from));
      out.insert(out.end(), kept.begin(), kept.end());
    }
    return out;
  }

  absl::StatusOr<std::vector<std::string>> OnOrAfter(const std::vector<std::string>& keys,
                                                     CivilDay from) {
    std::vector<std::string> out;
    for (const auto& k : keys) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, k));
      if (!sale) continue;
      auto d = cd::ParseDate(sale->date());
      if (d && *d >= from) out.push_back(k);
    }
    return out;
  }

  absl::Status RecomputeAll(std::vector<std::string> keys, const std::string& why) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& key : keys) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto sale, Load<v1::SaleRecord>(tx_, kSalesCf, key));
      if (!sale) continue;
      CHANNELOPS_RETURN_IF_ERROR(Recompute(*sale, domain::Trigger::kChange, why));
      Save(tx_, kSalesCf, key, *sale);
    }
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------------
  // Crediting one sale
  // ---------------------------------------------------------------------

  struct Party {
    cd::CreditParty party;
    std::optional<v1::EventRef> ref;
  };

  // The payee of an assignment on a day, with the event of its entry.
  absl::StatusOr<std::optional<Party>> AssignedOn(comp::v1::Role role, const std::string& id,
                                                  CivilDay day) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto rec, tx_.GetParsed<v1::AssignmentRecord>(kAssignmentsCf, id));
    if (!rec) return std::optional<Party>();
    const comp::v1::AssignmentEntry* e = cd::EntryInForce(rec->assignment(), day);
    if (e == nullptr || e->payee_id().empty()) return std::optional<Party>();
    Party p{{role, e->payee_id(), id}, std::nullopt};
    for (const auto& r : rec->refs()) {
      if (r.stream_version() == e->version()) p.ref = r;
    }
    return std::optional<Party>(std::move(p));
  }

  absl::Status Recompute(v1::SaleRecord& s, domain::Trigger trigger, const std::string& reason) {
    const CivilDay day = *cd::ParseDate(s.date());
    const bool sell_through = s.basis() != comp::v1::CREDITING_BASIS_SELL_IN;
    std::vector<v1::EventRef> evidence = {s.ref()};

    // Attribution.
    std::optional<v1::DealRecord> explicit_deal;
    if (!s.explicit_deal_id().empty()) {
      CHANNELOPS_ASSIGN_OR_RETURN(explicit_deal,
                                  Load<v1::DealRecord>(tx_, kDealsCf, s.explicit_deal_id()));
    }
    std::vector<v1::DealRecord> candidates;
    std::vector<v1::DirectOpportunityRecord> opportunities;
    if (sell_through) {
      std::set<std::string> ids;
      for (const std::string& key : {s.customer_key(), s.domain_key()}) {
        if (key.empty()) continue;
        CHANNELOPS_ASSIGN_OR_RETURN(auto list, ListGet(tx_, kDealIndexCf, key));
        ids.insert(list.begin(), list.end());
        CHANNELOPS_ASSIGN_OR_RETURN(auto opps,
                                    LoadOr<v1::DirectOpportunityList>(tx_, kDirectCf, key));
        for (auto& o : *opps.mutable_opportunities()) opportunities.push_back(std::move(o));
      }
      for (const std::string& id : ids) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto d, Load<v1::DealRecord>(tx_, kDealsCf, id));
        if (d) candidates.push_back(std::move(*d));
      }
    }
    auto match =
        domain::AttributeToRegistration(s, explicit_deal ? &*explicit_deal : nullptr, candidates);
    const v1::DealRecord* deal = nullptr;
    if (match) {
      if (explicit_deal && explicit_deal->deal_id() == match->deal_id) deal = &*explicit_deal;
      for (const auto& c : candidates) {
        if (deal == nullptr && c.deal_id() == match->deal_id) deal = &c;
      }
    }
    std::string lead_id, campaign_id;
    if (deal != nullptr) {
      for (const auto& r : deal->refs()) {
        if (r.role() == "registration" || r.role() == "approval") evidence.push_back(r);
      }
      lead_id = deal->lead_id();
      if (!lead_id.empty()) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto lead, Load<v1::LeadRecord>(tx_, kLeadsCf, lead_id));
        if (lead) {
          campaign_id = lead->campaign_id();
          if (lead->has_ref()) evidence.push_back(lead->ref());
        }
      }
    }
    const v1::DirectOpportunityRecord* opp =
        sell_through ? domain::FindDirectOpportunity(s, opportunities) : nullptr;

    // The plan.
    CHANNELOPS_ASSIGN_OR_RETURN(const v1::PlanSet* plans, Plans());
    std::map<std::string, std::vector<comp::v1::Plan>> by_plan;
    for (const auto& v : plans->versions()) by_plan[v.plan().plan_id()].push_back(v.plan());
    std::vector<const comp::v1::Plan*> in_force;
    for (const auto& [id, versions] : by_plan)
      in_force.push_back(cd::VersionInForce(versions, day));
    const comp::v1::Plan* plan = cd::SelectPlan(
        in_force, s.partner_id(), s.product_line(),
        sell_through ? comp::v1::CREDITING_BASIS_SELL_THROUGH : comp::v1::CREDITING_BASIS_SELL_IN);
    if (plan != nullptr) {
      for (const auto& v : plans->versions()) {
        if (v.plan().plan_id() == plan->plan_id() && v.plan().version() == plan->version()) {
          evidence.push_back(v.ref());
        }
      }
    }

    // The payees.
    std::vector<Party> parties;
    std::map<std::string, v1::EventRef> source_refs;
    auto add = [&](std::optional<Party> p) {
      if (!p) return;
      if (p->ref) source_refs[p->party.source] = *p->ref;
      parties.push_back(std::move(*p));
    };
    {
      CHANNELOPS_ASSIGN_OR_RETURN(
          auto cam,
          AssignedOn(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER,
                     cd::AssignmentId(comp::v1::ROLE_CHANNEL_ACCOUNT_MANAGER, s.partner_id(),
                                      comp::v1::AssignmentTarget::kPartnerId),
                     day));
      add(std::move(cam));
      CHANNELOPS_ASSIGN_OR_RETURN(
          auto dist, AssignedOn(comp::v1::ROLE_DISTRIBUTOR_REP,
                                cd::AssignmentId(comp::v1::ROLE_DISTRIBUTOR_REP, s.partner_id(),
                                                 comp::v1::AssignmentTarget::kPartnerId),
                                day));
      add(std::move(dist));
    }
    if (sell_through) {
      const auto& a = s.end_customer().address();
      const std::string country = core::NormalizeCountryCode(a.country_code());
      if (!country.empty()) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto ids,
                                    ListGet(tx_, kAssignmentsCf, absl::StrCat("~isr|", country)));
        std::optional<Party> best;
        std::string best_key;
        for (const std::string& id : ids) {
          CHANNELOPS_ASSIGN_OR_RETURN(auto rec,
                                      tx_.GetParsed<v1::AssignmentRecord>(kAssignmentsCf, id));
          if (!rec) continue;
          const std::string& territory = rec->assignment().target_key();
          if (!cd::TerritoryContains(territory, a.country_code(), a.region(), a.postal_code()))
            continue;
          if (best && !cd::MoreSpecificTerritory(territory, best_key)) continue;
          CHANNELOPS_ASSIGN_OR_RETURN(auto p, AssignedOn(comp::v1::ROLE_INSIDE_SALES, id, day));
          if (!p) continue;  // vacant then: a less specific territory may have a rep
          best = std::move(p);
          best_key = territory;
        }
        add(std::move(best));
      }
      if (opp != nullptr && !opp->owner_rep_id().empty()) {
        Party p{{comp::v1::ROLE_DIRECT_REP, opp->owner_rep_id(),
                 absl::StrCat("direct_opportunity:", opp->opportunity_id())},
                opp->ref()};
        add(std::move(p));
      } else {
        for (const std::string& key : {s.customer_key(), s.domain_key()}) {
          if (key.empty()) continue;
          CHANNELOPS_ASSIGN_OR_RETURN(
              auto named, AssignedOn(comp::v1::ROLE_DIRECT_REP,
                                     cd::AssignmentId(comp::v1::ROLE_DIRECT_REP, key,
                                                      comp::v1::AssignmentTarget::kAccount),
                                     day));
          if (named) {
            add(std::move(named));
            break;
          }
        }
      }
    }
    bool conflict = std::any_of(parties.begin(), parties.end(), [](const Party& p) {
      return p.party.role == comp::v1::ROLE_DIRECT_REP;
    });

    // What the sale earns now.
    std::string uncredited;
    std::optional<core::Money> revenue = MoneyOf(s.revenue());
    if (s.reversed()) {
      uncredited = "the report line was reversed";
    } else if (plan == nullptr) {
      uncredited = "no plan in force applies";
    } else if (!revenue) {
      uncredited = "no revenue (unpriced line, no list price known)";
    } else if (revenue->currency() != plan->currency_code()) {
      uncredited = absl::StrCat("revenue in ", revenue->currency(), ", plan ", plan->plan_id(),
                                " in ", plan->currency_code());
    }
    std::vector<domain::DesiredComponent> desired;
    bool carries_incentive = false;
    if (uncredited.empty()) {
      cd::SaleForCredit sale(*revenue, s.partner_id());
      sale.registered = match.has_value();
      sale.deal_id = match ? match->deal_id : "";
      if (match && plan->registered_deal_bonus().has_incentive() &&
          plan->registered_deal_bonus().incentive().amount_micros() != 0) {
        // The registration's earliest sale (date, then key) carries it.
        CHANNELOPS_ASSIGN_OR_RETURN(auto holder, tx_.Get(kIncentivesCf, match->deal_id));
        const std::string mine = IncentiveHolder(s);
        if (!holder || mine <= *holder) {
          if (holder && *holder != mine) requeue_.push_back(HolderSale(*holder));
          tx_.Put(kIncentivesCf, match->deal_id, mine);
          carries_incentive = true;
        }
      }
      sale.carries_incentive = carries_incentive;
      for (const Party& p : parties) sale.parties.push_back(p.party);
      auto credits = cd::ComputeCredits(*plan, sale);
      if (!credits.ok()) {
        if (credits.status().code() != absl::StatusCode::kInvalidArgument) return credits.status();
        uncredited = std::string(credits.status().message());
      } else {
        std::vector<domain::ReturnUnits> returns;
        for (const auto& r : s.returns()) {
          auto rd = cd::ParseDate(r.date());
          if (rd && cd::ClawbackApplies(*plan, day, *rd)) {
            returns.push_back({r.return_key(), r.date(), r.quantity()});
          }
        }
        for (auto& c : *credits) {
          std::vector<domain::ReturnPart> parts;
          if (!returns.empty() && s.quantity() > 0) {
            CHANNELOPS_ASSIGN_OR_RETURN(parts,
                                        domain::SplitClawback(c.amount, returns, s.quantity()));
          }
          desired.push_back({std::move(c), std::move(parts)});
        }
      }
    }
    // A sale that carried an incentive and no longer does gives it back.
    if (s.carries_incentive() && !carries_incentive && !s.deal_id().empty()) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto holder, tx_.Get(kIncentivesCf, s.deal_id()));
      if (holder && *holder == IncentiveHolder(s)) {
        // Free again: the registration's other sales compete for it.
        tx_.Delete(kIncentivesCf, s.deal_id());
        std::set<std::string> others;
        for (const std::string& index :
             {"r|" + s.deal_id(), "c|" + s.customer_key(), "m|" + s.domain_key()}) {
          CHANNELOPS_ASSIGN_OR_RETURN(auto keys, ListGet(tx_, kSaleIndexCf, index));
          others.insert(keys.begin(), keys.end());
        }
        for (const std::string& key : others) {
          if (key == s.sale_key()) continue;
          CHANNELOPS_ASSIGN_OR_RETURN(auto other, Load<v1::SaleRecord>(tx_, kSalesCf, key));
          if (other && other->deal_id() == s.deal_id()) requeue_.push_back(key);
        }
      }
    }

    // Post the difference.
    std::vector<v1::PostedComponent> posted(s.components().begin(), s.components().end());
    int64_t next_line = s.next_line() > 0 ? s.next_line() : 1;
    CHANNELOPS_ASSIGN_OR_RETURN(auto drafts,
                                domain::Reconcile(s.sale_key(), &next_line, &posted, desired));
    CHANNELOPS_ASSIGN_OR_RETURN(auto calendar, Calendar());
    for (const auto& d : drafts) {
      v1::CreditLine l;
      l.set_line_id(d.line_id);
      l.set_payee_id(d.payee_id);
      l.set_role(d.role);
      l.set_credit_kind(d.credit_kind);
      l.set_kind(d.kind);
      *l.mutable_amount() = d.amount.ToProto();
      l.set_component_key(d.component_key);
      if (d.kind != v1::LINE_KIND_CREDIT) l.set_original_line_id(d.original_line_id);
      // Dates and periods.
      CivilDay effective = day;
      if (d.clawback_part) {
        auto rd = cd::ParseDate(d.return_date);
        if (!rd) return absl::DataLossError(absl::StrCat("return ", d.return_key, " has no date"));
        effective = *rd;
        l.set_return_key(d.return_key);
      }
      std::string period = cd::PeriodOf(effective);
      if (!calendar.last_closed().empty() && period <= calendar.last_closed()) {
        period = cd::NextPeriodId(calendar.last_closed());
        l.set_adjusted_from_closed_period(true);
      }
      CivilDay payable = effective;
      if (!d.clawback_part && plan != nullptr) payable = cd::PayableOn(*plan, effective);
      l.set_period_id(period);
      l.set_effective_date(cd::FormatDate(effective));
      l.set_payable_on(cd::FormatDate(payable));
      l.set_release_period_id(std::max(period, cd::PeriodOf(payable)));
      // The sale.
      l.set_sale_key(s.sale_key());
      l.set_basis(sell_through ? comp::v1::CREDITING_BASIS_SELL_THROUGH
                               : comp::v1::CREDITING_BASIS_SELL_IN);
      l.set_partner_id(s.partner_id());
      l.set_sku(s.sku());
      l.set_product_line(s.product_line());
      l.set_quantity(s.quantity());
      *l.mutable_revenue() = s.revenue();
      l.set_sale_date(s.date());
      l.set_customer_key(s.customer_key());
      // The rule.
      if (plan != nullptr) {
        l.set_plan_id(plan->plan_id());
        l.set_plan_version(plan->version());
      } else {
        l.set_plan_id(s.plan_id());
        l.set_plan_version(s.plan_version());
      }
      if (d.rule) {
        l.set_rule(d.rule->rule);
        *l.mutable_credited_revenue() = d.rule->credited_revenue.ToProto();
        l.set_rate_bps(d.rule->rate_bps);
        l.set_share_bps(d.rule->share_bps);
        l.set_split_mode(d.rule->split_mode);
        l.set_split_with(d.rule->split_with);
        l.set_payee_source(d.rule->source);
      } else {
        l.set_rule(absl::StrCat("no longer earned: ", uncredited.empty()
                                                          ? "the payee or role no longer applies"
                                                          : uncredited));
      }
      l.set_channel_conflict(conflict);
      if (match) {
        l.set_deal_id(match->deal_id);
        l.set_attribution(match->how);
      }
      l.set_lead_id(lead_id);
      l.set_campaign_id(campaign_id);
      if (opp != nullptr) l.set_direct_opportunity_id(opp->opportunity_id());
      l.set_reason(reason);
      for (const auto& r : evidence) *l.add_evidence() = r;
      if (auto it = source_refs.find(l.payee_source()); it != source_refs.end()) {
        *l.add_evidence() = it->second;
      }
      if (d.clawback_part) {
        for (const auto& r : s.returns()) {
          if (r.return_key() == d.return_key) *l.add_evidence() = r.ref();
        }
      }
      // The event (and line of a chunk) that caused this recompute, unless
      // it is the sale itself or already among the evidence.
      const auto is_trigger = [&](const v1::EventRef& r) {
        return r.event_id() == ev_.envelope.event_id() && r.line_number() == line_;
      };
      if (!is_trigger(s.ref()) &&
          std::none_of(l.evidence().begin(), l.evidence().end(), is_trigger)) {
        *l.add_evidence() = Ref("trigger");
      }
      *l.mutable_recorded_at() = ev_.envelope.occurred_at();
      CHANNELOPS_RETURN_IF_ERROR(PostLine(l));
    }

    // Remember what was computed.
    int64_t uncredited_delta = 0;
    if (s.uncredited_reason().empty() != uncredited.empty()) {
      uncredited_delta = uncredited.empty() ? -1 : 1;
    }
    if (trigger == domain::Trigger::kSale && !uncredited.empty()) uncredited_delta = 1;
    const std::string deal_id = match ? match->deal_id : "";
    if (sell_through) {
      // ROI: sell-through and, through the registration, attributed revenue.
      if (deal_id != s.deal_id()) {
        if (!s.deal_id().empty()) tx_.Delete(kRoiIndexCf, Join0("d|" + s.deal_id(), s.sale_key()));
        if (!deal_id.empty()) {
          tx_.Put(kRoiIndexCf, Join0("d|" + deal_id, s.sale_key()), s.date().substr(0, 7));
        }
      }
      if ((trigger != domain::Trigger::kChange || deal_id != s.deal_id()) &&
          InRoiCurrency(s.revenue())) {
        RoiChanged(s.partner_id(), s.date());
      }
    }
    s.set_uncredited_reason(uncredited);
    s.set_plan_id(plan ? plan->plan_id() : "");
    s.set_plan_version(plan ? plan->version() : 0);
    s.set_deal_id(deal_id);
    s.set_attribution(match ? match->how : "");
    s.set_direct_opportunity_id(opp ? opp->opportunity_id() : "");
    s.set_channel_conflict(conflict);
    s.set_carries_incentive(carries_incentive);
    s.set_next_line(next_line);
    s.clear_components();
    for (auto& p : posted) *s.add_components() = std::move(p);
    return Bump(static_cast<int64_t>(drafts.size()), 0, uncredited_delta);
  }

  // Records a line: read models, statement totals, and the event for the topic.
  absl::Status PostLine(const v1::CreditLine& l) {
    CHANNELOPS_ASSIGN_OR_RETURN(core::Money amount, core::Money::FromProto(l.amount(), "amount"));
    std::string line_bytes = l.SerializeAsString();
    tx_.Put(kLinesCf, l.line_id(), line_bytes);  // uncached: straight into the command's Tx
    tx_.Put(kPayeeLinesCf, Join0(Join0(l.payee_id(), l.period_id()), l.line_id()), "");
    auto update = [&](const std::string& period,
                      const std::function<absl::Status(v1::StatementTotal&)>& fn,
                      bool counts_line) -> absl::Status {
      const std::string key = Join0(l.payee_id(), period);
      // Changed in place in the cache (written once per batch, by FinishBatch).
      CHANNELOPS_ASSIGN_OR_RETURN(v1::CommissionStatement * statement,
                                  tx_.Mutable<v1::CommissionStatement>(kStatementsCf, key));
      v1::CommissionStatement& st = *statement;
      if (st.frozen()) {
        return absl::InternalError(
            absl::StrCat("line ", l.line_id(), " into frozen period ", period));
      }
      // A new statement: its payee joins the period's list (ClosePeriod freezes
      // the listed payees' statements). Every statement is created here.
      const bool created = st.payee_id().empty();
      if (created) {
        st.set_payee_id(l.payee_id());
        st.set_period_id(period);
      }
      v1::StatementTotal* total = nullptr;
      for (auto& t : *st.mutable_totals()) {
        if (t.currency_code() == amount.currency()) total = &t;
      }
      if (total == nullptr) {
        total = st.add_totals();
        total->set_currency_code(amount.currency());
        core::Money zero = *core::Money::Create(amount.currency(), 0);
        for (auto* m :
             {total->mutable_earned(), total->mutable_credits(), total->mutable_clawbacks(),
              total->mutable_adjustments(), total->mutable_released(), total->mutable_held()}) {
          *m = zero.ToProto();
        }
      }
      CHANNELOPS_RETURN_IF_ERROR(fn(*total));
      if (counts_line) st.set_line_count(st.line_count() + 1);
      if (!created) return absl::OkStatus();
      return ListAdd(tx_, kPeriodPayeesCf, period, l.payee_id()).status();
    };
    auto add = [&](common::v1::Money* m) -> absl::Status {
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money current, core::Money::FromProto(*m, "total"));
      CHANNELOPS_ASSIGN_OR_RETURN(core::Money sum, current.Add(amount));
      *m = sum.ToProto();
      return absl::OkStatus();
    };
    CHANNELOPS_RETURN_IF_ERROR(update(
        l.period_id(),
        [&](v1::StatementTotal& t) -> absl::Status {
          CHANNELOPS_RETURN_IF_ERROR(add(t.mutable_earned()));
          switch (l.kind()) {
            case v1::LINE_KIND_CREDIT:
              return add(t.mutable_credits());
            case v1::LINE_KIND_CLAWBACK:
              return add(t.mutable_clawbacks());
            default:
              return add(t.mutable_adjustments());
          }
        },
        true));
    CHANNELOPS_RETURN_IF_ERROR(update(
        l.release_period_id(), [&](v1::StatementTotal& t) { return add(t.mutable_released()); },
        false));
    // Held at the end of every period from the line's until the one it is released in.
    for (std::string p = l.period_id(); p < l.release_period_id(); p = cd::NextPeriodId(p)) {
      CHANNELOPS_RETURN_IF_ERROR(update(
          p, [&](v1::StatementTotal& t) { return add(t.mutable_held()); }, false));
    }
    // CreditLineRecorded{line: l}, from the line's bytes (not copied and
    // serialized again): its wire form is field `line`'s tag, the length, the line.
    eventstore::NewEvent e;
    e.payload.set_type_url(absl::StrCat(
        "type.googleapis.com/", analytics::v1::CreditLineRecorded::descriptor()->full_name()));
    e.payload.set_value(EmbedAsField(analytics::v1::CreditLineRecorded::kLineFieldNumber,
                                     line_bytes));
    e.occurred_at = cd::FromProtoTime(l.recorded_at());
    std::vector<eventstore::NewEvent> events;
    events.push_back(std::move(e));
    return tx_.Append(PayeeStream(l.payee_id()), eventstore::kAnyVersion, std::move(events))
        .status();
  }

  static std::string IncentiveHolder(const v1::SaleRecord& s) {
    return absl::StrCat(s.date(), "|", s.sale_key());
  }
  static std::string HolderSale(const std::string& holder) { return holder.substr(11); }

  // A reference to the event being applied, naming the line of a chunk.
  v1::EventRef Ref(const std::string& role) const {
    v1::EventRef r = RefOf(ev_, role);
    if (line_ > 0) r.set_line_number(line_);
    return r;
  }

  CachedTx& tx_;
  const ConsumedEvent& ev_;
  // The line being applied of a PosLinesAccepted chunk (0: the event is not a
  // chunk): a reference to the event names it (Ref).
  int64_t line_ = 0;
  Projector& projector_;
  std::optional<v1::PlanSet> plans_;
  std::vector<std::string> requeue_;  // sales to credit again (incentive moved)
};

// The dirty marks are not cached: FlushRoi reads them committed, outside
// commands, and operators (and tests) may set one by hand. Credit lines and
// the payee-line index are only written by the projector (the query service
// reads them from the store): cached, they would only push out what is read.
Projector::Projector(ProjectorOptions options)
    : options_(std::move(options)),
      cache_({kRoiDirtyCf, kLinesCf, kPayeeLinesCf},
             /*max_entries=*/std::max<size_t>(1000, options_.cache_generation_bytes / 512),
             /*max_bytes=*/options_.cache_generation_bytes) {}

absl::Status Projector::Apply(Tx& raw, const ConsumedEvent& event) {
  CachedTx tx(raw, cache_);
  Run run(tx, event, *this);
  return run.Apply();
}

void Projector::AbandonBatch() { roi_changed_.clear(); }

absl::Status Projector::FinishBatch(Tx& raw) {
  CachedTx tx(raw, cache_);
  std::map<std::string, RoiNotes> notes;
  notes.swap(roi_changed_);
  for (auto& entry : notes) {
    // Not a structured binding: clang 14 (the sanitizer build) cannot capture one in a lambda.
    const std::string& partner = entry.first;
    RoiNotes& n = entry.second;
    if (n.every_published_period) {
      const std::string prefix = ListPrefix("p|" + partner);
      CHANNELOPS_RETURN_IF_ERROR(tx.Scan(kRoiIndexCf, prefix, [&](absl::string_view k, auto) {
        n.periods.emplace(k.substr(prefix.size()));
      }));
    }
    const int64_t latest = absl::ToUnixMicros(n.latest);
    for (const std::string& period : n.periods) {
      const std::string key = RoiDirtyKey(partner, period);
      CHANNELOPS_ASSIGN_OR_RETURN(auto mark, tx.Get(kRoiDirtyCf, key));
      int64_t noted = 0;
      if (mark && absl::SimpleAtoi(*mark, &noted) && noted >= latest) continue;
      tx.Put(kRoiDirtyCf, key, absl::StrCat(latest));
    }
  }
  tx.Flush();  // the batch's read-model writes, staged in its command
  return absl::OkStatus();
}

absl::StatusOr<Projector::RoiPublished> Projector::PublishRoi(
    Tx& raw, const std::vector<std::string>& candidates) {
  CachedTx tx(raw, cache_);
  struct Dirty {
    std::set<std::string> periods;
    int64_t latest = std::numeric_limits<int64_t>::min();
  };
  RoiPublished result;
  std::map<std::string, Dirty> dirty;  // by partner
  std::vector<std::string> consumed;
  for (const std::string& key : candidates) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto mark, tx.Get(kRoiDirtyCf, key));
    if (!mark) continue;  // published by an earlier command
    consumed.push_back(key);
    const size_t bar = key.rfind('|');
    int64_t noted = 0;
    if (bar == std::string::npos || bar == 0 || !absl::SimpleAtoi(*mark, &noted)) {
      server::LogWarn("malformed partner ROI mark dropped", {{"key", key}, {"value", *mark}});
      continue;
    }
    Dirty& d = dirty[key.substr(0, bar)];
    d.periods.insert(key.substr(bar + 1));
    d.latest = std::max(d.latest, noted);
  }
  result.marks = consumed.size();

  // Figures first (each partner's months in one ComputePartnerRois: its
  // history is read once), then the writes: the Puts, the events, the deletes.
  struct Publication {
    std::string partner;
    absl::Time occurred_at;
    analytics::v1::PartnerRoiChanged changed;
    std::vector<std::pair<std::string, std::string>> last;  // rm_roi_index key -> figures
  };
  std::vector<Publication> publications;
  CommandView view(tx);
  for (const auto& entry : dirty) {
    const std::string& partner = entry.first;
    Publication pub;
    pub.partner = partner;
    pub.occurred_at = absl::FromUnixMicros(entry.second.latest);
    pub.changed.set_partner_id(partner);
    const std::vector<std::string> periods(entry.second.periods.begin(),
                                           entry.second.periods.end());
    auto rois =
        ComputePartnerRois(view, partner, periods, options_.roi_currency, options_.roi_margin_bps);
    if (!rois.ok()) {
      if (rois.status().code() == absl::StatusCode::kUnavailable) return rois.status();
      const absl::Status whole = rois.status();
      rois.emplace(periods.size(), whole);  // every month: logged, left out
    }
    for (size_t i = 0; i < periods.size(); ++i) {
      const std::string& period = periods[i];
      auto& roi = (*rois)[i];
      if (!roi.ok()) {
        server::LogWarn(
            "partner ROI not published",
            {{"partner_id", partner}, {"period_id", period}, {"status", roi.status().ToString()}});
        continue;
      }
      std::string bytes = roi->SerializeAsString();
      std::string key = ListPrefix("p|" + partner) + period;
      CHANNELOPS_ASSIGN_OR_RETURN(auto last, tx.Get(kRoiIndexCf, key));
      if (last && *last == bytes) continue;  // an input changed, the figures did not
      pub.last.emplace_back(std::move(key), std::move(bytes));
      *pub.changed.add_periods() = std::move(*roi);
    }
    if (!pub.changed.periods().empty()) publications.push_back(std::move(pub));
  }

  for (Publication& pub : publications) {
    for (auto& last : pub.last) tx.Put(kRoiIndexCf, last.first, std::move(last.second));
    result.periods += pub.changed.periods_size();
    CHANNELOPS_RETURN_IF_ERROR(tx.Append(PartnerRoiStream(pub.partner), eventstore::kAnyVersion,
                                         {eventstore::NewEvent::Of(pub.changed, pub.occurred_at)})
                                   .status());
    ++result.events;
  }
  for (const std::string& key : consumed) tx.Delete(kRoiDirtyCf, key);
  tx.Flush();
  return result;
}

absl::StatusOr<RoiFlushStats> FlushRoi(eventstore::EventStore& store, Projector& projector,
                                       const RoiFlushOptions& options) {
  CHANNELOPS_CHECK(options.max_marks_per_command > 0 && options.max_commands > 0);
  RoiFlushStats stats;
  while (stats.commands < options.max_commands) {
    // The first marks of the committed store, read outside the command (a
    // Tx::Scan has no limit: it would read every mark). PublishRoi re-reads
    // each through the Tx; marks not yet durable wait for the next command.
    std::vector<std::string> candidates;
    CHANNELOPS_RETURN_IF_ERROR(store.Scan(kRoiDirtyCf, "", "", options.max_marks_per_command,
                                          [&](absl::string_view key, absl::string_view) {
                                            candidates.emplace_back(key);
                                            return true;
                                          }));
    if (candidates.empty()) break;
    Projector::RoiPublished published;
    auto r = store.ExecuteSync({}, [&](Tx& tx) -> absl::StatusOr<std::string> {
      CHANNELOPS_ASSIGN_OR_RETURN(published, projector.PublishRoi(tx, candidates));
      return std::string();
    });
    if (!r.ok()) return r.status();
    ++stats.commands;
    stats.published.marks += published.marks;
    stats.published.events += published.events;
    stats.published.periods += published.periods;
    if (candidates.size() < options.max_marks_per_command) break;
  }
  return stats;
}

}  // namespace channelops::projections
