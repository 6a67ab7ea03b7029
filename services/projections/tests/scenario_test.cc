// The projection handler driven directly with envelopes (no Kafka): the
// hand-computed scenario of scenario.h, checked to the micro, through the
// query functions and the AnalyticsService over in-process gRPC; partner ROI
// publication through FlushRoi (the periodic publisher's function), also
// across a crash between a batch and the flush.

#include "projections/tests/scenario.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "channelops/analytics/v1/analytics.grpc.pb.h"
#include "channelops/analytics/v1/events.pb.h"
#include "channelops/authz/v1/policy.pb.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/status_macros.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/testing/local_server.h"
#include "channelops/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "projections/analytics_service.h"
#include "projections/projector.h"
#include "projections/roi_query.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::projections {
namespace {

namespace av1 = ::channelops::analytics::v1;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

class ScenarioTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CallerIdentity reads the flag once, at its first call.
    absl::SetFlag(&FLAGS_identity_header, "x-channelops-principal");
  }

  // In memory; with a `path`, durable (RocksDB).
  void Open(const std::string& path = "") {
    service_.reset();
    if (store_) store_->Close();
    store_.reset();
    eventstore::Options o;
    o.path = path;
    o.source = "channelops/projections";
    o.read_model_cfs = ReadModelCfs();
    auto store =
        path.empty() ? eventstore::EventStore::OpenInMemory(o) : eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<AnalyticsService>(*store_, nullptr, AnalyticsOptions{});
  }

  // Publishes the ROI changes marked so far, as the periodic publisher does.
  RoiFlushStats FlushRoi(const RoiFlushOptions& options = {}) {
    auto flushed = projections::FlushRoi(*store_, projector_, options);
    EXPECT_TRUE(flushed.ok()) << flushed.status();
    return flushed.ok() ? *flushed : RoiFlushStats{};
  }

  // The dirty marks (committed): "<partner>|<month>".
  std::set<std::string> DirtyMarks() {
    std::set<std::string> out;
    EXPECT_TRUE(store_
                    ->Scan(kRoiDirtyCf, "", "", SIZE_MAX,
                           [&](absl::string_view k, absl::string_view) {
                             out.emplace(k);
                             return true;
                           })
                    .ok());
    return out;
  }

  // Applies `events` in store commands of `batch` events each, ended as
  // ProjectionsConsumer ends them (FinishBatch).
  void Apply(const std::vector<kafka::ConsumedEvent>& events, size_t batch = 1) {
    for (size_t i = 0; i < events.size(); i += batch) {
      const size_t end = std::min(events.size(), i + batch);
      auto r = store_->ExecuteSync({}, [&](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
        for (size_t j = i; j < end; ++j) {
          absl::Status s = projector_.Apply(tx, events[j]);
          if (!s.ok()) {
            projector_.AbandonBatch();
            return absl::Status(s.code(),
                                absl::StrCat(events[j].envelope.event_type(), " ",
                                             events[j].envelope.stream_id(), ": ", s.message()));
          }
        }
        absl::Status s = projector_.FinishBatch(tx);
        if (!s.ok()) return s;
        return std::string();
      });
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  // The PartnerRoiChanged events in the store's log, in order.
  std::vector<av1::PartnerRoiChanged> PublishedRoi() {
    std::vector<av1::PartnerRoiChanged> out;
    auto log = store_->ReadAll(1, SIZE_MAX);
    EXPECT_TRUE(log.ok()) << log.status();
    if (!log.ok()) return out;
    for (const auto& env : *log) {
      if (env.event_type() != av1::PartnerRoiChanged::descriptor()->full_name()) continue;
      av1::PartnerRoiChanged e;
      EXPECT_TRUE(env.payload().UnpackTo(&e));
      EXPECT_EQ(env.stream_id(), PartnerRoiStream(e.partner_id()));
      out.push_back(std::move(e));
    }
    return out;
  }

  // After a flush: nothing is left to publish, every month of every scenario
  // partner (or `must_publish`) was published, each event carries only
  // changed figures, and the last figures published per (partner, month) are
  // the ones GetPartnerRoi serves now.
  void ExpectPublishedRoiIsServed(
      std::vector<std::pair<std::string, std::string>> must_publish = {}) {
    if (must_publish.empty()) {
      for (const std::string partner : {"partner-ct", "partner-ma", "partner-ny"}) {
        for (const std::string period : {"2026-01", "2026-02", "2026-03"}) {
          must_publish.emplace_back(partner, period);
        }
      }
    }
    EXPECT_THAT(DirtyMarks(), ::testing::IsEmpty());
    std::map<std::pair<std::string, std::string>, av1::PartnerRoi> latest;
    for (const auto& e : PublishedRoi()) {
      EXPECT_FALSE(e.periods().empty());
      std::string previous_period;
      for (const auto& roi : e.periods()) {
        EXPECT_EQ(roi.partner_id(), e.partner_id());
        EXPECT_LT(previous_period, roi.period_id());  // ascending, one entry per month
        previous_period = roi.period_id();
        auto [it, first] = latest.try_emplace({roi.partner_id(), roi.period_id()}, roi);
        if (!first) {
          EXPECT_NE(it->second.SerializeAsString(), roi.SerializeAsString())
              << "published unchanged: " << roi.ShortDebugString();
          it->second = roi;
        }
      }
    }
    for (const auto& key : must_publish) {
      EXPECT_TRUE(latest.contains(key)) << key.first << " " << key.second;
    }
    for (const auto& [key, published] : latest) {
      auto served = service_->Roi(key.first, key.second, "");
      ASSERT_TRUE(served.ok()) << served.status();
      EXPECT_EQ(published.ShortDebugString(), served->ShortDebugString())
          << key.first << " " << key.second;
    }
  }

  int64_t Earned(const std::string& payee, const std::string& period) {
    auto st = service_->Statement(payee, period);
    EXPECT_TRUE(st.ok()) << st.status();
    int64_t sum = 0;
    for (const auto& t : st->totals()) sum += t.earned().amount_micros();
    // The totals agree with the lines listed.
    int64_t lines = 0;
    for (const auto& l : st->lines()) lines += l.amount().amount_micros();
    EXPECT_EQ(sum, lines) << payee << " " << period;
    return sum;
  }

  std::vector<av1::CreditLine> SaleLines(const std::string& sale_id) {
    std::vector<av1::CreditLine> out;
    for (int n = 1; n < 100; ++n) {
      auto e = service_->Explain(absl::StrCat(scenario::SaleKey(sale_id), "#", n));
      if (!e.ok()) break;
      out.push_back(e->line());
    }
    return out;
  }

  void ExpectStatements(const std::map<std::string, std::map<std::string, int64_t>>& expected) {
    for (const auto& [payee, periods] : expected) {
      for (const std::string period : {"2026-01", "2026-02", "2026-03"}) {
        auto it = periods.find(period);
        EXPECT_EQ(Earned(payee, period), it == periods.end() ? 0 : it->second)
            << payee << " " << period;
      }
    }
  }

  Projector projector_;
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<AnalyticsService> service_;
};

TEST_F(ScenarioTest, StatementsMatchTheHandComputedFiguresToTheMicro) {
  Open();
  Apply(scenario::Build(/*close_january=*/true));
  ExpectStatements(scenario::ExpectedWithClose());

  auto status = service_->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->sales(), 20);
  EXPECT_EQ(status->uncredited_sales(), 0);
  EXPECT_EQ(status->last_closed_period_id(), "2026-01");

  // Hold days: January's lines are payable 30 days later, in February;
  // clawbacks are taken at once.
  auto jan = service_->Statement("partner-ny", "2026-01");
  ASSERT_TRUE(jan.ok());
  EXPECT_TRUE(jan->frozen());
  ASSERT_THAT(jan->totals(), SizeIs(1));
  EXPECT_EQ(jan->totals(0).released().amount_micros(), 0);
  EXPECT_EQ(jan->totals(0).held().amount_micros(), 2'405'000'000);
  EXPECT_EQ(jan->totals(0).credits().amount_micros(), 2'405'000'000);
  auto feb = service_->Statement("partner-ny", "2026-02");
  ASSERT_TRUE(feb.ok());
  EXPECT_FALSE(feb->frozen());
  EXPECT_EQ(feb->totals(0).released().amount_micros(), 2'405'000'000 - 270'000'000);
  EXPECT_EQ(feb->totals(0).held().amount_micros(), 423'457'000);
  EXPECT_EQ(feb->totals(0).clawbacks().amount_micros(), -270'000'000);
}

TEST_F(ScenarioTest, EveryCreditLineEventCarriesTheRecordedLine) {
  Open();
  Apply(scenario::Build(/*close_january=*/false), /*batch=*/7);
  auto log = store_->ReadAll(1, SIZE_MAX);
  ASSERT_TRUE(log.ok()) << log.status();
  int lines = 0;
  for (const auto& env : *log) {
    if (env.event_type() != av1::CreditLineRecorded::descriptor()->full_name()) continue;
    av1::CreditLineRecorded e;
    ASSERT_TRUE(env.payload().UnpackTo(&e));
    EXPECT_EQ(env.stream_id(), PayeeStream(e.line().payee_id()));
    auto explained = service_->Explain(e.line().line_id());
    ASSERT_TRUE(explained.ok()) << explained.status();
    EXPECT_EQ(explained->line().SerializeAsString(), e.line().SerializeAsString())
        << e.line().line_id();
    ++lines;
  }
  EXPECT_GT(lines, 40);
}

TEST_F(ScenarioTest, PartnerInNewYorkCustomerInConnecticutCreditsTheCamAndTheConnecticutRep) {
  Open();
  Apply(scenario::Build(true));
  std::map<std::string, const av1::CreditLine*> by_payee_kind;
  auto lines = SaleLines("S1");
  for (const auto& l : lines) {
    if (l.kind() == av1::LINE_KIND_CREDIT) {
      by_payee_kind[absl::StrCat(l.payee_id(), "/", comp::v1::CreditKind_Name(l.credit_kind()))] =
          &l;
    }
  }
  ASSERT_TRUE(by_payee_kind.contains("cam-alice/CREDIT_KIND_COMMISSION"));
  ASSERT_TRUE(by_payee_kind.contains("isr-ct/CREDIT_KIND_COMMISSION"));
  const av1::CreditLine& cam = *by_payee_kind["cam-alice/CREDIT_KIND_COMMISSION"];
  const av1::CreditLine& isr = *by_payee_kind["isr-ct/CREDIT_KIND_COMMISSION"];
  EXPECT_EQ(cam.credited_revenue().amount_micros(), 10'000'000'000);  // overlay: full credit
  EXPECT_EQ(isr.credited_revenue().amount_micros(), 10'000'000'000);
  EXPECT_EQ(cam.amount().amount_micros(), 200'000'000);
  EXPECT_EQ(isr.amount().amount_micros(), 300'000'000);
  EXPECT_EQ(cam.split_mode(), comp::v1::SPLIT_MODE_OVERLAY);
  EXPECT_EQ(cam.payee_source(), "cam|p|partner-ny");
  EXPECT_EQ(isr.payee_source(), "isr|t|US|CT|");  // more specific than isr-us's whole US
  // The registration (approved after the sale was first credited) earns the
  // bonus and the incentive; the sale is attributed through deal-1 to lead-1
  // and its funded campaign.
  ASSERT_TRUE(by_payee_kind.contains("partner-ny/CREDIT_KIND_REGISTERED_DEAL_BONUS"));
  ASSERT_TRUE(by_payee_kind.contains("partner-ny/CREDIT_KIND_INCENTIVE"));
  const av1::CreditLine& bonus = *by_payee_kind["partner-ny/CREDIT_KIND_REGISTERED_DEAL_BONUS"];
  EXPECT_EQ(bonus.amount().amount_micros(), 250'000'000);
  EXPECT_EQ(bonus.deal_id(), "deal-1");
  EXPECT_EQ(bonus.lead_id(), "lead-1");
  EXPECT_EQ(bonus.campaign_id(), "camp-ny-webinar");
  EXPECT_EQ(by_payee_kind["partner-ny/CREDIT_KIND_INCENTIVE"]->amount().amount_micros(),
            100'000'000);
  EXPECT_FALSE(cam.channel_conflict());
}

TEST_F(ScenarioTest, ChannelConflictIsPaidByThePlanSplitAndFlagged) {
  Open();
  Apply(scenario::Build(true));
  auto lines = SaleLines("S4");
  ASSERT_THAT(lines, SizeIs(4));
  int64_t partner_revenue = 0, direct_revenue = 0;
  for (const auto& l : lines) {
    EXPECT_TRUE(l.channel_conflict()) << l.line_id();
    EXPECT_EQ(l.direct_opportunity_id(), "opp-1");
    if (l.role() == comp::v1::ROLE_PARTNER) {
      partner_revenue = l.credited_revenue().amount_micros();
      EXPECT_EQ(l.amount().amount_micros(), 180'000'000);
      EXPECT_EQ(l.split_mode(), comp::v1::SPLIT_MODE_SPLIT);
      EXPECT_EQ(l.split_with(), comp::v1::ROLE_DIRECT_REP);
      EXPECT_EQ(l.share_bps(), 6000);
    }
    if (l.role() == comp::v1::ROLE_DIRECT_REP) {
      direct_revenue = l.credited_revenue().amount_micros();
      EXPECT_EQ(l.payee_id(), "rep-dan");
      EXPECT_EQ(l.amount().amount_micros(), 60'000'000);
      EXPECT_EQ(l.payee_source(), "direct_opportunity:opp-1");
    }
  }
  EXPECT_EQ(partner_revenue + direct_revenue, 3'000'000'000);  // the split sums exactly
  EXPECT_EQ(partner_revenue, 1'800'000'000);
}

TEST_F(ScenarioTest, ReturnsAreClawbacksThatReferenceTheOriginalCredit) {
  Open();
  Apply(scenario::Build(true));
  // R1: 2 of S1's 10 units, on 2026-02-10.
  std::map<std::string, std::string> credit_of;  // component -> original line
  std::vector<const av1::CreditLine*> clawbacks;
  auto lines = SaleLines("S1");
  for (const auto& l : lines) {
    if (l.kind() == av1::LINE_KIND_CREDIT) credit_of[l.component_key()] = l.line_id();
    if (l.kind() == av1::LINE_KIND_CLAWBACK) clawbacks.push_back(&l);
  }
  ASSERT_THAT(clawbacks, SizeIs(5));  // commission, bonus, incentive, CAM, ISR
  int64_t total = 0;
  for (const auto* c : clawbacks) {
    EXPECT_EQ(c->original_line_id(), credit_of[c->component_key()]) << c->line_id();
    EXPECT_EQ(c->period_id(), "2026-02");
    EXPECT_EQ(c->payable_on(), "2026-02-10");
    total += c->amount().amount_micros();
  }
  EXPECT_EQ(total, -(200 + 50 + 20 + 40 + 60) * int64_t{1'000'000});

  // R2 arrived before its sale S9: the clawback was posted when S9 came.
  int64_t s9_clawback = 0;
  for (const auto& l : SaleLines("S9")) {
    if (l.kind() == av1::LINE_KIND_CLAWBACK) {
      s9_clawback += l.amount().amount_micros();
      EXPECT_EQ(l.effective_date(), "2026-03-25");
    }
  }
  EXPECT_EQ(s9_clawback, -(111'111'000 + 27'777'750 + 22'222'200 + 33'333'300));

  // ExplainCredit shows the chain: the sale, the return, the plan, the rule.
  const av1::CreditLine* cam = nullptr;
  for (const auto* c : clawbacks) {
    if (c->payee_id() == "cam-alice") cam = c;
  }
  ASSERT_NE(cam, nullptr);
  auto explained = service_->Explain(cam->line_id());
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_EQ(explained->original().line_id(), cam->original_line_id());
  EXPECT_EQ(explained->plan().version(), 1u);
  EXPECT_THAT(explained->component_history(), SizeIs(2));
  std::string chain;
  for (const auto& step : explained->chain()) chain += step + "\n";
  EXPECT_THAT(chain, HasSubstr("sale: channelops.pos.v1.PosLinesAccepted on report-rep-S1 v1 line 1"));
  EXPECT_THAT(chain, HasSubstr("return: channelops.pos.v1.PosLineAccepted on report-rep-R1"));
  EXPECT_THAT(chain, HasSubstr("plan: channelops.comp.v1.PlanPublished on plan-channel-2026"));
  EXPECT_THAT(chain, HasSubstr("assignment: channelops.comp.v1.RoleAssigned"));
  EXPECT_THAT(chain, HasSubstr("rule: plan channel-2026 v1"));
  EXPECT_THAT(chain, HasSubstr("CLAWBACK USD -40.000000 in period 2026-02"));
}

TEST_F(ScenarioTest, LateFactsForAClosedPeriodAreAdjustedIntoTheNextOpenOne) {
  Open();
  Apply(scenario::Build(true));
  // S14 is dated 2026-01-30 but arrived after January closed.
  for (const auto& l : SaleLines("S14")) {
    EXPECT_EQ(l.period_id(), "2026-02") << l.line_id();
    EXPECT_EQ(l.effective_date(), "2026-01-30");
    EXPECT_TRUE(l.adjusted_from_closed_period());
  }
  // cam-bob was assigned (from 2026-01-01) after January closed: S5's credit
  // goes to February, S10's stays in February.
  for (const auto& l : SaleLines("S5")) {
    if (l.payee_id() != "cam-bob") continue;
    EXPECT_EQ(l.period_id(), "2026-02");
    EXPECT_TRUE(l.adjusted_from_closed_period());
    EXPECT_EQ(l.kind(), av1::LINE_KIND_CREDIT);
    EXPECT_THAT(l.reason(), HasSubstr("assignment cam|p|partner-ma changed"));
  }
  // March sales arrived after plan v2: credited under it.
  for (const auto& l : SaleLines("S15")) {
    EXPECT_EQ(l.plan_version(), 2u);
  }
  // The closed period's snapshot was published for each payee, and nothing was
  // added to January after it.
  auto log = store_->ReadAll(1, 100000);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> frozen;
  for (const auto& e : *log) {
    av1::StatementFrozen f;
    if (e.payload().UnpackTo(&f) && e.event_type() == "channelops.analytics.v1.StatementFrozen") {
      frozen.push_back(f.statement().payee_id());
      if (f.statement().payee_id() == "partner-ny") {
        EXPECT_EQ(f.statement().totals(0).earned().amount_micros(), 2'405'000'000);
      }
    }
  }
  std::sort(frozen.begin(), frozen.end());
  EXPECT_THAT(frozen, ElementsAre("cam-alice", "isr-ct", "isr-us", "partner-ct", "partner-ma",
                                  "partner-ny", "rep-dan"));
}

TEST_F(ScenarioTest, PartnerRoiAndPipeline) {
  Open();
  Apply(scenario::Build(true));
  auto ny = service_->Roi("partner-ny", "2026-02", "");
  ASSERT_TRUE(ny.ok()) << ny.status();
  EXPECT_EQ(ny->mdf_paid().amount_micros(), 4'000'000'000);
  EXPECT_EQ(ny->coop_paid().amount_micros(), 0);
  EXPECT_EQ(ny->price_protection().amount_micros(), 450'000'000);
  EXPECT_EQ(ny->funded_campaigns(), 1);
  EXPECT_EQ(ny->leads_from_funded_campaigns(), 1);                       // lead-3
  EXPECT_EQ(ny->sell_through_revenue().amount_micros(), 3'234'570'000);  // S8 + S11
  EXPECT_EQ(ny->attributed_revenue().amount_micros(), 2'000'000'000);    // S8 via deal-1, lead-1
  EXPECT_EQ(ny->net_return().amount_micros(), -3'400'000'000);           // 600 - 4,000
  EXPECT_TRUE(ny->roi_defined());
  EXPECT_EQ(ny->roi_bps(), -8500);
  EXPECT_EQ(ny->roi(), "-0.8500");

  auto ny_jan = service_->Roi("partner-ny", "2026-01", "USD");
  ASSERT_TRUE(ny_jan.ok());
  EXPECT_EQ(ny_jan->mdf_committed().amount_micros(), 5'000'000'000);
  EXPECT_EQ(ny_jan->pipeline().amount_micros(), 20'000'000'000);  // deal-1 from lead-1
  // S1 net of its 2 returned units (8,000) + S2 + S4 + S7 + S14.
  EXPECT_EQ(ny_jan->sell_through_revenue().amount_micros(), 19'000'000'000);
  EXPECT_EQ(ny_jan->attributed_revenue().amount_micros(), 13'000'000'000);  // S1 + S7
  EXPECT_FALSE(ny_jan->roi_defined());

  auto ct = service_->Roi("partner-ct", "2026-02", "");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(ct->coop_paid().amount_micros(), 500'000'000);
  EXPECT_EQ(ct->won_revenue().amount_micros(), 8'000'000'000);  // deal-2 from lead-2
  // S9 net of R2 (1 of 3 units: 1,111.11) + S12.
  EXPECT_EQ(ct->sell_through_revenue().amount_micros(), 3'022'220'000);
  EXPECT_EQ(ct->attributed_revenue().amount_micros(), 2'222'220'000);
  EXPECT_EQ(ct->net_return().amount_micros(), 166'666'000);  // 666.666 - 500
  EXPECT_EQ(ct->roi_bps(), 3333);
  EXPECT_EQ(ct->roi(), "0.3333");

  FlushRoi();
  ExpectPublishedRoiIsServed();

  // Several months at once (the publisher's call) give each month's figures,
  // a month asked twice included.
  CommittedView view(*store_);
  for (const std::string partner : {"partner-ct", "partner-ma", "partner-ny"}) {
    const std::vector<std::string> periods = {"2026-01", "2026-02", "2026-03", "2026-02",
                                              "2026-07"};
    auto rois = ComputePartnerRois(view, partner, periods, "USD", 3000);
    ASSERT_TRUE(rois.ok()) << rois.status();
    ASSERT_THAT(*rois, SizeIs(periods.size()));
    for (size_t i = 0; i < periods.size(); ++i) {
      auto one = ComputePartnerRoi(view, partner, periods[i], "USD", 3000);
      ASSERT_TRUE(one.ok() && (*rois)[i].ok()) << partner << " " << periods[i];
      EXPECT_EQ((*rois)[i]->ShortDebugString(), one->ShortDebugString())
          << partner << " " << periods[i];
    }
  }

  auto pipeline = service_->Pipeline("partner-ny", "");
  ASSERT_TRUE(pipeline.ok());
  ASSERT_THAT(pipeline->by_stage(), SizeIs(1));
  EXPECT_EQ(pipeline->by_stage(0).stage_name(), "DEAL_STAGE_PROPOSAL");
  EXPECT_EQ(pipeline->by_stage(0).amount().amount_micros(), 20'000'000'000);
  EXPECT_EQ(pipeline->open_deals(), 1);
  EXPECT_EQ(pipeline->spa_committed().amount_micros(), 1'500'000'000);
  EXPECT_EQ(pipeline->price_protection_exposure().amount_micros(), 450'000'000);
  EXPECT_EQ(pipeline->price_protection_credits(), 1);
  EXPECT_EQ(pipeline->lead_funnel().received(), 2);
  EXPECT_EQ(pipeline->lead_funnel().accepted(), 1);
  EXPECT_EQ(pipeline->lead_funnel().timed_out(), 1);
  EXPECT_EQ(pipeline->lead_funnel().converted(), 1);
  EXPECT_EQ(pipeline->lead_funnel().sla_compliance_bps(), 5000);
}

TEST_F(ScenarioTest, AnyArrivalOrderEndsWithTheSameTotals) {
  // Without the close, every line lands in its date's period whatever the
  // order: the statements must equal the hand-computed ones exactly.
  auto events = scenario::Build(/*close_january=*/false);
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 rng(seed);
    std::shuffle(events.begin(), events.end(), rng);
    Open();
    // ROI published every few events (1..7, by seed) while the facts arrive.
    const size_t flush_every = 1 + seed % 7;
    for (size_t i = 0; i < events.size(); i += flush_every) {
      Apply(std::vector<kafka::ConsumedEvent>(
          events.begin() + i, events.begin() + std::min(events.size(), i + flush_every)));
      FlushRoi();
    }
    ExpectStatements(scenario::ExpectedWithoutClose());
    auto ct = service_->Roi("partner-ct", "2026-02", "");
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(ct->roi_bps(), 3333);
    // Whatever fact arrives late, the partner ROI topic ends with the served figures.
    ExpectPublishedRoiIsServed();
  }
  // Reversed order: every plan, assignment and registration arrives last.
  std::reverse(events.begin(), events.end());
  Open();
  Apply(events);
  ExpectStatements(scenario::ExpectedWithoutClose());
  FlushRoi();
  ExpectPublishedRoiIsServed();
}

// pos_ingestion records a report's lines in PosLinesAccepted chunks of up to
// 512 lines. All 20 sales in one chunk event credit exactly as 20 events of
// one line each, and each credit's evidence names its line.
TEST_F(ScenarioTest, SalesInOneChunkEventAreCreditedLineByLine) {
  const std::string chunk_type = pos::v1::PosLinesAccepted::descriptor()->full_name();
  std::vector<kafka::ConsumedEvent> events;
  pos::v1::PosLinesAccepted all;
  size_t chunk_at = 0;
  for (auto& e : scenario::Build(/*close_january=*/false)) {
    if (e.envelope.event_type() != chunk_type) {
      events.push_back(std::move(e));
      continue;
    }
    pos::v1::PosLinesAccepted one;
    ASSERT_TRUE(e.envelope.payload().UnpackTo(&one));
    for (auto& l : *one.mutable_lines()) *all.add_lines() = std::move(l);
    if (all.lines_size() == 1) {
      chunk_at = events.size();
      events.push_back(std::move(e));
    }
  }
  ASSERT_EQ(all.lines_size(), 20);
  events[chunk_at].envelope.mutable_payload()->PackFrom(all);
  Open();
  Apply(events, /*batch=*/5);
  ExpectStatements(scenario::ExpectedWithoutClose());
  auto status = service_->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->sales(), 20);
}

TEST_F(ScenarioTest, PartnerRoiChangesAreCoalescedPerFlushAndOnlyWhenFiguresChange) {
  const auto events = scenario::Build(/*close_january=*/false);
  // Batches only mark: nothing is published until the flush.
  Open();
  Apply(events, 7);
  EXPECT_THAT(PublishedRoi(), SizeIs(0));
  EXPECT_THAT(DirtyMarks(), SizeIs(9));  // 3 partners x January..March
  // The whole scenario in one flush, whatever the batches: one event per
  // partner, every month in it, one command.
  auto flushed = FlushRoi();
  EXPECT_EQ(flushed.commands, 1u);
  EXPECT_EQ(flushed.published.marks, 9u);
  EXPECT_EQ(flushed.published.events, 3u);
  auto published = PublishedRoi();
  std::vector<std::string> partners;
  for (const auto& e : published) {
    partners.push_back(e.partner_id());
    EXPECT_THAT(e.periods(), SizeIs(3)) << e.partner_id();
  }
  EXPECT_THAT(partners, ElementsAre("partner-ct", "partner-ma", "partner-ny"));
  ExpectPublishedRoiIsServed();
  // A flush with nothing marked runs no command.
  EXPECT_EQ(FlushRoi().commands, 0u);
  EXPECT_EQ(PublishedRoi().size(), published.size());

  // The whole scenario in one batch: the same.
  Open();
  Apply(events, events.size());
  FlushRoi();
  partners.clear();
  for (const auto& e : PublishedRoi()) {
    partners.push_back(e.partner_id());
    EXPECT_THAT(e.periods(), SizeIs(3)) << e.partner_id();
  }
  EXPECT_THAT(partners, ElementsAre("partner-ct", "partner-ma", "partner-ny"));
  ExpectPublishedRoiIsServed();

  // In batches of 7 (as the Kafka test's consumer), a flush after each: at
  // most one event per partner per flush.
  Open();
  const size_t batch = 7;
  size_t before = 0;
  for (size_t i = 0; i < events.size(); i += batch) {
    Apply(std::vector<kafka::ConsumedEvent>(events.begin() + i,
                                            events.begin() + std::min(events.size(), i + batch)),
          batch);
    FlushRoi();
    auto now = PublishedRoi();
    std::set<std::string> in_flush;
    for (size_t j = before; j < now.size(); ++j) {
      EXPECT_TRUE(in_flush.insert(now[j].partner_id()).second)
          << "two events for " << now[j].partner_id() << " in the flush after " << i;
    }
    before = now.size();
  }
  ExpectPublishedRoiIsServed();

  // Facts that are no ROI input publish nothing: a sell-in shipment, a sale in
  // another currency, a lead of a campaign nobody funds.
  scenario::Feed f;
  {
    pos::v1::ShipmentRecorded e;
    e.set_shipment_id("ship-1");
    e.set_partner_id("partner-ma");
    e.set_sku("SKU-storage");
    e.set_product_line("storage");
    e.set_quantity(1);
    *e.mutable_extended_amount() = scenario::Cents(10000);
    *e.mutable_shipped_at() = scenario::cd::ToProtoTime(scenario::At(3, 10));
    f.Add(kPosIngestionTopic, scenario::kPosSource, "shipment-ship-1", e, scenario::At(3, 10));
  }
  {
    auto eur = scenario::Sales()[16];  // S17, partner-ma, March
    eur.id = "S17-EUR";
    scenario::Sale(f, eur);
  }
  scenario::LeadEvent<leads::v1::LeadSubmitted>(f, "lead-9", "camp-unfunded", "",
                                                scenario::At(3, 11));
  const size_t published_before = PublishedRoi().size();
  for (auto& e : f.events()) {
    if (e.envelope.event_type() == pos::v1::PosLinesAccepted::descriptor()->full_name()) {
      pos::v1::PosLinesAccepted chunk;
      ASSERT_TRUE(e.envelope.payload().UnpackTo(&chunk));
      chunk.mutable_lines(0)->mutable_extended_amount()->set_currency_code("EUR");
      auto copy = e;
      copy.envelope.mutable_payload()->PackFrom(chunk);
      Apply({copy});
    } else {
      Apply({e});
    }
    FlushRoi();
  }
  EXPECT_EQ(PublishedRoi().size(), published_before);

  // A pair marked whose figures did not change (an input changed back, or
  // changed nothing the figures show): computed, dropped, the mark deleted.
  {
    auto r = store_->ExecuteSync({}, [](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
      tx.Put(kRoiDirtyCf, RoiDirtyKey("partner-ma", "2026-03"), "0");
      return std::string();
    });
    ASSERT_TRUE(r.ok()) << r.status();
    auto flushed = FlushRoi();
    EXPECT_EQ(flushed.published.marks, 1u);
    EXPECT_EQ(flushed.published.events, 0u);
    EXPECT_EQ(PublishedRoi().size(), published_before);
    EXPECT_THAT(DirtyMarks(), ::testing::IsEmpty());
  }

  // A USD sale of partner-ma in March: served at once (GetPartnerRoi computes
  // on read), published by the next flush: one event, March only.
  auto march_before = service_->Roi("partner-ma", "2026-03", "");
  ASSERT_TRUE(march_before.ok());
  scenario::Feed g;
  auto usd = scenario::Sales()[16];
  usd.id = "S17-2";
  scenario::Sale(g, usd);
  Apply(g.events());
  auto march_after = service_->Roi("partner-ma", "2026-03", "");
  ASSERT_TRUE(march_after.ok());
  EXPECT_GT(march_after->sell_through_revenue().amount_micros(),
            march_before->sell_through_revenue().amount_micros());
  EXPECT_EQ(PublishedRoi().size(), published_before);
  EXPECT_THAT(DirtyMarks(), ElementsAre("partner-ma|2026-03"));
  FlushRoi();
  published = PublishedRoi();
  ASSERT_EQ(published.size(), published_before + 1);
  EXPECT_EQ(published.back().partner_id(), "partner-ma");
  ASSERT_THAT(published.back().periods(), SizeIs(1));
  EXPECT_EQ(published.back().periods(0).period_id(), "2026-03");
  EXPECT_EQ(published.back().periods(0).ShortDebugString(), march_after->ShortDebugString());
  ExpectPublishedRoiIsServed();
}

// A flush command reads a bounded number of marks: the rest wait for the
// next command (or flush), and a partner's months may then arrive in two
// events; nothing is lost or published twice.
TEST_F(ScenarioTest, PartnerRoiFlushIsBoundedPerCommand) {
  Open();
  Apply(scenario::Build(/*close_january=*/false), 7);
  ASSERT_THAT(DirtyMarks(), SizeIs(9));
  // One command of at most 2 marks: 2 consumed, 7 left.
  auto one = FlushRoi({.max_marks_per_command = 2, .max_commands = 1});
  EXPECT_EQ(one.commands, 1u);
  EXPECT_EQ(one.published.marks, 2u);
  EXPECT_THAT(DirtyMarks(), SizeIs(7));
  for (const auto& e : PublishedRoi()) EXPECT_LE(e.periods_size(), 2) << e.partner_id();
  // The rest, 2 per command: 4 commands (the last finds fewer than 2).
  auto rest = FlushRoi({.max_marks_per_command = 2, .max_commands = 100});
  EXPECT_EQ(rest.commands, 4u);
  EXPECT_EQ(rest.published.marks, 7u);
  EXPECT_EQ(one.published.periods + rest.published.periods, 9u);
  ExpectPublishedRoiIsServed();
}

// A flush command that fails (a crash before its batch is durable: nothing of
// it is written) publishes nothing and keeps every mark; the next flush
// publishes them.
TEST_F(ScenarioTest, AFailedFlushCommandKeepsTheMarks) {
  Open();
  Apply(scenario::Build(/*close_january=*/false), 7);
  const auto marks = DirtyMarks();
  ASSERT_THAT(marks, SizeIs(9));
  std::vector<std::string> candidates(marks.begin(), marks.end());
  auto r = store_->ExecuteSync({}, [&](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
    auto published = projector_.PublishRoi(tx, candidates);
    EXPECT_TRUE(published.ok()) << published.status();
    EXPECT_EQ(published->events, 3u);
    return absl::UnavailableError("storage failed after the ROI was computed");
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(PublishedRoi(), SizeIs(0));
  EXPECT_EQ(DirtyMarks(), marks);
  FlushRoi();
  EXPECT_THAT(PublishedRoi(), SizeIs(3));
  ExpectPublishedRoiIsServed();
}

// A crash (SIGKILL) after batches are durable and before the ROI flush: the
// marks survive the restart, and the first flush after it publishes every
// change: none is lost.
TEST_F(ScenarioTest, ACrashBetweenBatchAndFlushLosesNoRoiChange) {
  ::channelops::testing::TempDir dir;
  const std::string path = dir.Path("projections");
  const auto events = scenario::Build(/*close_january=*/false);
  // First run: the first half published, the rest applied but not flushed.
  const size_t half = events.size() / 2;
  const pid_t child = fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    // No gtest assertions here: exit codes tell the parent what failed.
    eventstore::Options o;
    o.path = path;
    o.source = "channelops/projections";
    o.read_model_cfs = ReadModelCfs();
    auto store = eventstore::EventStore::Open(o);
    if (!store.ok()) _exit(10);
    Projector projector;
    auto apply = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; i += 7) {
        auto r = (*store)->ExecuteSync({}, [&](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
          for (size_t j = i; j < std::min(to, i + 7); ++j) {
            CHANNELOPS_RETURN_IF_ERROR(projector.Apply(tx, events[j]));
          }
          CHANNELOPS_RETURN_IF_ERROR(projector.FinishBatch(tx));
          return std::string();
        });
        if (!r.ok()) _exit(11);  // durable once answered (sync)
      }
    };
    apply(0, half);
    if (!projections::FlushRoi(**store, projector).ok()) _exit(12);
    apply(half, events.size());
    raise(SIGKILL);
    _exit(13);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child exited with " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);

  // Restart: a new projector over the reopened store.
  projector_ = Projector();
  Open(path);
  const size_t published_before_crash = PublishedRoi().size();
  EXPECT_GT(published_before_crash, 0u);
  EXPECT_THAT(DirtyMarks(), Not(::testing::IsEmpty()));
  // The marked changes are served already, not yet published.
  FlushRoi();
  EXPECT_GT(PublishedRoi().size(), published_before_crash);
  ExpectStatements(scenario::ExpectedWithoutClose());
  ExpectPublishedRoiIsServed();
  // The same figures as without the crash.
  auto ct = service_->Roi("partner-ct", "2026-02", "");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(ct->roi_bps(), 3333);
}

// Links that arrive late reach months nothing else touched: a lead counted,
// a registration's pipeline and an attributed sale once the campaign is
// funded, a registration whose lead's campaign becomes known later, and the
// count of funded campaigns in a month with unattributed sales only.
TEST_F(ScenarioTest, PartnerRoiFollowsLateLinksIntoUntouchedMonths) {
  Open();
  scenario::Feed f;
  using scenario::At;
  scenario::LeadEvent<leads::v1::LeadSubmitted>(f, "lead-10", "camp-x", "", At(4, 1));
  scenario::Register(f, scenario::Keys("deal-10", "partner-ny", "Wayne Corp", "storage", "lead-10"),
                     dealreg::v1::DEAL_STATUS_APPROVED, 500000, At(5, 3));
  scenario::Sale(f,
                 {"W1", 6, 12, "partner-ny", "Stark", "NY", "10013", "compute", 1, 70000, "NY-W1"});
  scenario::Sale(
      f, {"W2", 7, 10, "partner-ny", "Wayne Corp", "NY", "10013", "storage", 1, 100000, "NY-W2"});
  scenario::ApproveFunds(f, "req-x", "partner-ny", mdf::v1::FUND_KIND_MDF, "camp-x", 300000,
                         At(8, 1));
  scenario::PayClaim(f, "claim-x", "req-x", "partner-ny", mdf::v1::FUND_KIND_MDF, "camp-x", 100000,
                     At(8, 5));
  // deal-11 names lead-11 before lead-11 (of camp-x, submitted in August) is seen.
  scenario::Register(f, scenario::Keys("deal-11", "partner-ny", "Oscorp", "storage", "lead-11"),
                     dealreg::v1::DEAL_STATUS_PENDING_APPROVAL, 250000, At(9, 2));
  scenario::LeadEvent<leads::v1::LeadSubmitted>(f, "lead-11", "camp-x", "", At(8, 20));
  // deal-12 gets its lead (of camp-x) after a November sale was attributed to it.
  scenario::Register(f, scenario::Keys("deal-12", "partner-ny", "Initrode", "storage"),
                     dealreg::v1::DEAL_STATUS_APPROVED, 400000, At(10, 1));
  scenario::Sale(
      f, {"W3", 11, 5, "partner-ny", "Initrode", "NY", "10013", "storage", 1, 200000, "NY-W3"});
  {
    dealreg::v1::DealUpdated e;
    *e.mutable_keys() = scenario::Keys("deal-12", "partner-ny", "Initrode", "storage", "lead-10");
    e.set_status(dealreg::v1::DEAL_STATUS_APPROVED);
    e.set_stage(dealreg::v1::DEAL_STAGE_PROPOSAL);
    *e.mutable_amount() = scenario::Cents(400000);
    f.Add(kDealRegistrationTopic, scenario::kDealSource, "deal-deal-12", e, At(12, 1));
  }
  Apply(f.events());
  FlushRoi();
  ExpectPublishedRoiIsServed({{"partner-ny", "2026-04"},
                              {"partner-ny", "2026-05"},
                              {"partner-ny", "2026-06"},
                              {"partner-ny", "2026-07"},
                              {"partner-ny", "2026-08"},
                              {"partner-ny", "2026-09"},
                              {"partner-ny", "2026-10"},
                              {"partner-ny", "2026-11"}});
  auto may = service_->Roi("partner-ny", "2026-05", "");
  ASSERT_TRUE(may.ok());
  EXPECT_EQ(may->pipeline().amount_micros(), 5'000'000'000);
  auto june = service_->Roi("partner-ny", "2026-06", "");
  ASSERT_TRUE(june.ok());
  EXPECT_EQ(june->funded_campaigns(), 1);
  auto july = service_->Roi("partner-ny", "2026-07", "");
  ASSERT_TRUE(july.ok());
  EXPECT_EQ(july->attributed_revenue().amount_micros(), 1'000'000'000);
  auto september = service_->Roi("partner-ny", "2026-09", "");
  ASSERT_TRUE(september.ok());
  EXPECT_EQ(september->pipeline().amount_micros(), 2'500'000'000);
  auto november = service_->Roi("partner-ny", "2026-11", "");
  ASSERT_TRUE(november.ok());
  EXPECT_EQ(november->attributed_revenue().amount_micros(), 2'000'000'000);
}

TEST_F(ScenarioTest, AReversedReportLineTakesEverythingBack) {
  Open();
  Apply(scenario::Build(true));
  // The report of S7 is corrected: S7's line is reversed.
  scenario::Feed f;
  pos::v1::ReportLineReversed e;
  e.mutable_line()->set_report_id("rep-S7");
  e.mutable_line()->set_line_number(1);
  e.set_corrected_by_report_id("rep-S7b");
  f.Add(kPosIngestionTopic, "channelops/pos_ingestion_replay", "report-rep-S7", e,
        scenario::At(3, 30));
  Apply(f.events());
  int64_t net = 0;
  for (const auto& l : SaleLines("S7")) {
    net += l.amount().amount_micros();
    if (l.kind() == av1::LINE_KIND_ADJUSTMENT) {
      EXPECT_EQ(l.period_id(), "2026-02");  // January is closed
      EXPECT_THAT(l.reason(), HasSubstr("reversed by report rep-S7b"));
    }
  }
  EXPECT_EQ(net, 0);
  EXPECT_EQ(Earned("partner-ny", "2026-02"), 153'457'000 - 625'000'000);
}

// The same service over gRPC: validation and ranking.
TEST_F(ScenarioTest, AnalyticsServiceOverGrpc) {
  Open();
  Apply(scenario::Build(true));
  auto local = ::channelops::testing::StartLocalServer(service_.get());
  ASSERT_TRUE(local.ok()) << local.status();
  auto server = std::move(local->server);
  auto stub = av1::AnalyticsService::NewStub(local->channel);

  grpc::ClientContext c1;
  av1::ListPartnerRoiRequest list;
  list.set_period_id("2026-02");
  av1::ListPartnerRoiResponse ranked;
  ASSERT_TRUE(stub->ListPartnerRoi(&c1, list, &ranked).ok());
  std::vector<std::string> order;
  for (const auto& p : ranked.partners()) order.push_back(p.partner_id());
  EXPECT_THAT(order, ElementsAre("partner-ct", "partner-ny", "partner-ma"));  // undefined last

  grpc::ClientContext c2;
  av1::GetCommissionStatementRequest bad;
  bad.set_period_id("2026-2");
  av1::CommissionStatement st;
  grpc::Status s = stub->GetCommissionStatement(&c2, bad, &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> fields;
  for (const auto& [f, r] : core::GetFieldViolations(core::FromGrpcStatus(s))) fields.push_back(f);
  EXPECT_THAT(fields, ElementsAre("payee_id", "period_id"));

  grpc::ClientContext c3;
  av1::ExplainCreditRequest unknown;
  unknown.set_line_id("pos:nope/1#1");
  av1::ExplainCreditResponse explained;
  EXPECT_EQ(stub->ExplainCredit(&c3, unknown, &explained).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext c4;
  av1::GetCommissionStatementRequest ok;
  ok.set_payee_id("rep-dan");
  ok.set_period_id("2026-03");
  ASSERT_TRUE(stub->GetCommissionStatement(&c4, ok, &st).ok());
  ASSERT_THAT(st.lines(), SizeIs(1));
  EXPECT_EQ(st.lines(0).amount().amount_micros(), 120'000'000);
  EXPECT_EQ(st.lines(0).sale_key(), scenario::SaleKey("S18"));
  server->Shutdown();
}

TEST_F(ScenarioTest, APartnerSeesOnlyItsOwnFigures) {
  Open();
  Apply(scenario::Build(true));
  authz::v1::Policy policy;
  auto* id = policy.add_identities();
  id->set_match("spiffe://channelops/partner/*");
  id->set_role("PARTNER");
  id->set_partner_id_from_wildcard(true);
  auto* role = policy.add_roles();
  role->set_role("PARTNER");
  role->set_partner_scoped(true);
  role->add_methods("channelops.analytics.v1.AnalyticsService/*");
  auto authz = server::Authorizer::FromPolicy(policy, nullptr);
  ASSERT_TRUE(authz.ok()) << authz.status();
  service_->set_authorizer(**authz);
  auto local = ::channelops::testing::StartLocalServer(service_.get());
  ASSERT_TRUE(local.ok()) << local.status();
  auto server = std::move(local->server);
  auto stub = av1::AnalyticsService::NewStub(local->channel);
  auto as_ny = [] {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("x-channelops-principal", "spiffe://channelops/partner/partner-ny");
    return ctx;
  };

  av1::GetPartnerRoiRequest other;
  other.set_partner_id("partner-ct");
  other.set_period_id("2026-02");
  av1::PartnerRoi roi;
  EXPECT_EQ(stub->GetPartnerRoi(as_ny().get(), other, &roi).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  other.set_partner_id("partner-ny");
  EXPECT_TRUE(stub->GetPartnerRoi(as_ny().get(), other, &roi).ok());

  av1::ListPartnerRoiRequest list;
  list.set_period_id("2026-02");
  av1::ListPartnerRoiResponse ranked;
  ASSERT_TRUE(stub->ListPartnerRoi(as_ny().get(), list, &ranked).ok());
  ASSERT_THAT(ranked.partners(), SizeIs(1));
  EXPECT_EQ(ranked.partners(0).partner_id(), "partner-ny");

  av1::GetCommissionStatementRequest cam;
  cam.set_payee_id("cam-alice");
  cam.set_period_id("2026-01");
  av1::CommissionStatement st;
  EXPECT_EQ(stub->GetCommissionStatement(as_ny().get(), cam, &st).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  cam.set_payee_id("partner-ny");
  ASSERT_TRUE(stub->GetCommissionStatement(as_ny().get(), cam, &st).ok());
  EXPECT_EQ(st.totals(0).earned().amount_micros(), 2'405'000'000);

  av1::ExplainCreditRequest line;
  line.set_line_id(absl::StrCat(scenario::SaleKey("S3"), "#1"));  // partner-ct's sale
  av1::ExplainCreditResponse explained;
  EXPECT_EQ(stub->ExplainCredit(as_ny().get(), line, &explained).error_code(),
            grpc::StatusCode::NOT_FOUND);
  server->Shutdown();
}

}  // namespace
}  // namespace channelops::projections
