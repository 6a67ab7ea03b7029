#pragma once

// The projection handler: applies one event of any service topic to the
// projections store, inside the consumer runner's store command (so the read
// models, the credit-line events for the outbox and the consumer offsets
// become durable together: exactly-once effect). At the end of each batch's
// command FinishBatch records which partner ROI figures the batch may have
// changed (ProjectionsConsumer, consumer.h, wires both); PublishRoi, run
// periodically in a store command of its own (FlushRoi below), publishes them.
//
// What it keeps (column families below):
//  - the facts it joins: comp plans and assignments, periods, deal
//    registrations (an index by customer / domain key), direct opportunities,
//    leads and their campaigns, fund requests and payments, prices;
//  - every sale (POS sell-through line or sell-in shipment) with its
//    attribution (registration, lead, campaign, direct opportunity) and what
//    each of its credit components has posted;
//  - commission credit lines, per payee and period, with statement totals;
//  - partner ROI inputs, pipeline, price-protection exposure, lead funnel.
//
// Order independence. Topics are consumed concurrently, so a sale may arrive
// before the plan, the assignment or the registration that decides its
// credits. Every sale is therefore re-credited when such a fact arrives later
// (a plan version: sales from its effective date; an assignment: the sales of
// its target from its effective date; a registration or a direct opportunity:
// the sales of its customer), and the difference is posted as ADJUSTMENT
// lines. Whatever the arrival order, the posted totals per sale and payee end
// the same. Lines whose date falls in a closed period are posted in the first
// open one (adjusted_from_closed_period).
//
// Partner ROI. Each Apply notes the (partner, month) pairs whose ROI inputs
// the event changed (fund money and campaigns, leads of funded campaigns,
// registrations from those leads, sell-through sales and returns);
// FinishBatch turns them into durable dirty marks (kRoiDirtyCf) in the
// batch's command, so a crash after the batch loses none. PublishRoi, in a
// later command, computes the figures of up to N marked pairs with
// ComputePartnerRois (roi_query.h, the query side's function; a partner's
// months together), appends per partner one PartnerRoiChanged with the months
// whose figures differ from the ones last published, and deletes those marks:
// publication costs one computation per marked pair per flush, whatever the
// batch rate.
//
// The handler reads only through the Tx (point reads): the indexes it needs
// are list values under one key (see read_models.proto).
//
// Thread-compatible: Apply, FinishBatch and PublishRoi run on the store's
// single writer thread only (inside store commands).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channelops/analytics/v1/read_models.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/kafka/consumer_runner.h"
#include "projections/state_cache.h"

namespace channelops::projections {

namespace v1 = ::channelops::analytics::v1;

// The topics the projections consume, and the derived topic they publish.
inline constexpr char kDealRegistrationTopic[] = "channelops.deal_registration.events.v1";
inline constexpr char kLeadRoutingTopic[] = "channelops.lead_routing.events.v1";
inline constexpr char kPosIngestionTopic[] = "channelops.pos_ingestion.events.v1";
inline constexpr char kMdfTopic[] = "channelops.mdf.events.v1";
inline constexpr char kCompensationTopic[] = "channelops.compensation.events.v1";
inline constexpr char kCommissionCreditsTopic[] = "channelops.analytics.commission_credits.v1";
inline constexpr char kPartnerRoiTopic[] = "channelops.analytics.partner_roi.v1";
std::vector<std::string> SourceTopics();
// The projections store's outbox route (outbox::RelayOptions::route, with
// kCommissionCreditsTopic as the relay's topic): PartnerRoiChanged to
// kPartnerRoiTopic, "" (the default topic) for every other type.
std::string DerivedTopicOf(absl::string_view event_type);

// Read models (values: channelops.analytics.v1 read_models.proto unless noted).
inline constexpr char kPlansCf[] = "rm_plans";  // "~all" -> PlanSet
inline constexpr char kAssignmentsCf[] =
    "rm_assignments";  // id -> AssignmentRecord; "~isr|<C>" -> StringList
inline constexpr char kPeriodsCf[] =
    "rm_periods";  // "~calendar" -> comp PeriodCalendar; id -> comp Period
inline constexpr char kDealsCf[] = "rm_deals";  // deal_id -> DealRecord
inline constexpr char kDealIndexCf[] =
    "rm_deal_index";                              // customer/domain key -> StringList of deal ids
inline constexpr char kDirectCf[] = "rm_direct";  // customer/domain key -> DirectOpportunityList
inline constexpr char kLeadsCf[] = "rm_leads";    // lead_id -> LeadRecord
inline constexpr char kCampaignLeadsCf[] = "rm_campaign_leads";        // campaign \0 lead_id -> ""
inline constexpr char kFundRequestsCf[] = "rm_fund_requests";          // id -> FundRequestRecord
inline constexpr char kPartnerCampaignsCf[] = "rm_partner_campaigns";  // partner \0 campaign -> ""
inline constexpr char kPartnerMoneyCf[] =
    "rm_partner_money";  // partner \0 period -> PartnerPeriodMoney
inline constexpr char kPartnerTotalsCf[] = "rm_partner_totals";  // partner -> PartnerTotals
inline constexpr char kPartnersCf[] = "rm_partners";             // partner -> ""
inline constexpr char kPartnerDealsCf[] = "rm_partner_deals";    // partner \0 deal_id -> ""
inline constexpr char kSalesCf[] = "rm_sales";                   // sale_key -> SaleRecord
// "c|<customer key>", "m|<domain key>", "r|<deal id>", "i|<partner>|<invoice>|<sku>",
// "p|<partner>|<period>" -> StringList of sale keys; "x|<line key>" -> "" (reversed before seen)
inline constexpr char kSaleIndexCf[] = "rm_sale_index";
inline constexpr char kSalesByDayCf[] =
    "rm_sales_by_day";  // YYYY-MM-DD -> StringList; "~min", "~max"
inline constexpr char kPendingReturnsCf[] =
    "rm_pending_returns";  // partner|invoice|sku -> ReturnList
inline constexpr char kReturnIndexCf[] =
    "rm_return_index";  // return key -> sale key, or "pending:<match key>"
inline constexpr char kIncentivesCf[] =
    "rm_incentives";                            // deal_id -> sale key carrying the incentive
inline constexpr char kLinesCf[] = "rm_lines";  // line_id -> CreditLine
inline constexpr char kPayeeLinesCf[] = "rm_payee_lines";  // payee \0 period \0 line_id -> ""
inline constexpr char kStatementsCf[] =
    "rm_statements";  // payee \0 period -> CommissionStatement (totals)
inline constexpr char kPeriodPayeesCf[] = "rm_period_payees";  // period -> StringList of payees
inline constexpr char kStatusCf[] = "rm_status";  // topic -> TopicStatus; "~counters" -> Counters
inline constexpr char kPricesCf[] = "rm_prices";  // sku -> common Money (list price)
// What partner ROI changes are found from (keys joined with \0):
// "c|<campaign>\0<partner>" -> "": the partners funding a campaign;
// "l|<lead>\0<deal>" -> "": the registrations naming a lead;
// "d|<deal>\0<sale key>" -> "YYYY-MM": sell-through sales attributed to a registration;
// "p|<partner>\0<period>" -> PartnerRoi: the figures last published.
inline constexpr char kRoiIndexCf[] = "rm_roi_index";
// The (partner, month) pairs whose ROI inputs changed since their figures were
// last computed for publication: "<partner>|<YYYY-MM>" -> business time of the
// latest event noting the pair (decimal Unix microseconds; the occurred_at of
// the PartnerRoiChanged that publishes it). Written by FinishBatch, consumed by
// PublishRoi.
inline constexpr char kRoiDirtyCf[] = "rm_roi_dirty";

inline constexpr char kCalendarKey[] = "~calendar";
inline constexpr char kCountersKey[] = "~counters";
inline constexpr char kAllPlansKey[] = "~all";

std::vector<std::string> ReadModelCfs();

// Key helpers shared with the query side.
std::string Join0(const std::string& a, const std::string& b);
std::string PartnerSalesKey(const std::string& partner_id, const std::string& period_id);
std::string PayeeStream(const std::string& payee_id);
std::string PartnerRoiStream(const std::string& partner_id);  // "partner-<id>"
std::string RoiDirtyKey(const std::string& partner_id, const std::string& period_id);

struct ProjectorOptions {
  // The published ROI figures: margin (must equal AnalyticsOptions::roi_margin_bps
  // so that the topic and GetPartnerRoi agree) and currency.
  int32_t roi_margin_bps = 3000;
  std::string roi_currency = "USD";
  // The read-model cache (state_cache.h): each of its two generations turns
  // over at about this many bytes (estimated) or one entry per 512 of them
  // (262,144 entries at 128 MiB).
  size_t cache_generation_bytes = size_t{128} << 20;
};

class Projector {
 public:
  explicit Projector(ProjectorOptions options = {});

  // The consumer runner's handler. Errors: DATA_LOSS for a payload that does
  // not match its event_type or a corrupt read model (poison: skipped by the
  // runner); UNAVAILABLE from storage (the batch is retried). Events of
  // unknown types are counted and otherwise ignored.
  absl::Status Apply(eventstore::Tx& tx, const kafka::ConsumedEvent& event);

  // Ends the store command of a batch, after its last Apply: records, for
  // each (partner, month) whose ROI inputs the batch changed, a dirty mark in
  // kRoiDirtyCf (nothing is computed or published here: PublishRoi does it).
  // A newly funded campaign marks every month published so far for its
  // partner. Errors: UNAVAILABLE from storage (the batch is retried).
  absl::Status FinishBatch(eventstore::Tx& tx);
  // The batch's command failed: forgets what its Applys noted.
  void AbandonBatch();

  // What one PublishRoi command did.
  struct RoiPublished {
    size_t marks = 0;    // dirty marks consumed (computed, published or dropped, deleted)
    size_t events = 0;   // PartnerRoiChanged appended
    size_t periods = 0;  // (partner, month) figures published in them
  };
  // The body of one ROI publication command. `candidates`: dirty-mark keys,
  // e.g. the first N of the committed kRoiDirtyCf (FlushRoi); each is checked
  // through the Tx (a mark an earlier command already consumed is skipped).
  // For the live ones: computes the figures, appends to PartnerRoiStream(p),
  // per partner p, one PartnerRoiChanged with the months whose figures differ
  // from the ones last published (none if all are unchanged), records them as
  // last published and deletes the marks, all in the command. A month whose
  // figures cannot be computed (corrupt read model, overflow) is logged, left
  // out and its mark deleted. Errors: UNAVAILABLE from storage (nothing of the
  // command is written: the marks stay for the next flush).
  absl::StatusOr<RoiPublished> PublishRoi(eventstore::Tx& tx,
                                          const std::vector<std::string>& candidates);

  class Run;  // one Apply's working state (projector.cc)

  // The read-model cache's counters (hits, misses, drops); writer thread only
  // while the store runs (tests and benchmarks read them after).
  StateCacheStats cache_stats() const { return cache_.stats(); }

 private:
  struct RoiNotes {
    std::set<std::string> periods;  // "YYYY-MM"
    bool every_published_period = false;
    absl::Time latest = absl::InfinitePast();  // business time of the latest event noting it
  };
  ProjectorOptions options_;
  std::map<std::string, RoiNotes> roi_changed_;  // by partner, in the current batch
  // The read models as this process's commands left them (state_cache.h):
  // every Apply, FinishBatch and PublishRoi reads and writes through it.
  StateCache cache_;
};

// Publishes the noted partner ROI changes: store commands, each running
// PublishRoi on up to `max_marks_per_command` of the durable dirty marks (in
// key order), until a command finds fewer than that or `max_commands` ran
// (what is left waits for the next flush). Marks staged by commands not yet
// durable wait for the next flush too. A crash keeps the marks of every
// command not yet durable and loses nothing. The periodic publisher
// (ProjectionsConsumer::FlushRoi, main.cc's --roi_publish_interval), the tests
// and the benchmark all publish through this function. Blocking; thread-safe
// (concurrent flushes are serialized by the store; a mark is published once).
// Errors: the store's (UNAVAILABLE, CANCELLED when closing); the commands that
// succeeded before stay.
struct RoiFlushOptions {
  size_t max_marks_per_command = 2000;
  size_t max_commands = 64;
};
struct RoiFlushStats {
  size_t commands = 0;
  Projector::RoiPublished published;  // summed over the commands
};
absl::StatusOr<RoiFlushStats> FlushRoi(eventstore::EventStore& store, Projector& projector,
                                       const RoiFlushOptions& options = {});

}  // namespace channelops::projections
