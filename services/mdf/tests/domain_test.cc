// Domain tests of MDF / co-op, in given-events / when-command / then-events
// form. Pure functions only: no RocksDB, no gRPC, no clock but the FakeClock
// that the test moves. The World below folds events into funds, requests and
// claims exactly as the service does with its read models, and builds commands
// the way the service loads them.

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/decider.h"
#include "mdf/domain/ledger.h"
#include "mdf/domain/validation.h"

namespace channelops::mdf::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kUnit = 1'000'000;

common::v1::Money Money(const std::string& currency, int64_t micros) {
  common::v1::Money m;
  m.set_currency_code(currency);
  m.set_amount_micros(micros);
  return m;
}
common::v1::Money Usd(int64_t units) { return Money("USD", units * kUnit); }

int64_t Micros(const common::v1::Money& m) { return m.amount_micros(); }

std::vector<std::string> Fields(const absl::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(s)) out.push_back(field);
  return out;
}

std::string Hash(char c) { return absl::StrCat("sha256:", std::string(64, c)); }

v1::FundRequestDetails Details(int64_t requested, int64_t planned,
                               const std::string& start = "2026-02-01",
                               const std::string& end = "2026-02-28") {
  v1::FundRequestDetails d;
  d.set_campaign_id("cmp-1");
  d.set_activity_type(v1::ACTIVITY_TYPE_EVENT);
  d.set_name("Spring roadshow");
  d.set_start_date(start);
  d.set_end_date(end);
  *d.mutable_planned_cost() = Usd(planned);
  *d.mutable_requested_amount() = Usd(requested);
  d.set_expected_leads(40);
  *d.mutable_expected_revenue() = Usd(50000);
  return d;
}

v1::ProofOfPerformance Proof(v1::ProofKind kind = v1::PROOF_KIND_INVOICE,
                             const std::string& hash = Hash('a')) {
  v1::ProofOfPerformance p;
  p.set_kind(kind);
  p.set_content_hash(hash);
  p.set_uri("s3://mdf-proofs/invoice-1.pdf");
  return p;
}

// Funds, requests and claims folded from the events recorded so far.
class World {
 public:
  core::FakeClock clock{absl::FromUnixSeconds(1767225600)};  // 2026-01-01T00:00:00Z
  std::map<std::string, v1::Fund> funds;
  std::map<std::string, v1::FundRequest> requests;
  std::map<std::string, v1::Claim> claims;
  std::vector<Event> log;

  Context Ctx() const { return Context{clock.Now(), "tester"}; }

  v1::Fund Fund(const std::string& id) const {
    auto it = funds.find(id);
    return it == funds.end() ? v1::Fund() : it->second;
  }
  v1::FundRequest Request(const std::string& id) const {
    auto it = requests.find(id);
    return it == requests.end() ? v1::FundRequest() : it->second;
  }
  v1::Claim Claim(const std::string& id) const {
    auto it = claims.find(id);
    return it == claims.end() ? v1::Claim() : it->second;
  }

  void Apply(const Event& e) {
    log.push_back(e);
    const std::string& fund_id = FundIdOf(e);
    v1::Fund f = Evolve(Fund(fund_id), e);
    if (!f.fund_id().empty()) funds[fund_id] = std::move(f);
    std::string request_id, claim_id;
    std::visit(
        [&](const auto& m) {
          using K = std::decay_t<decltype(m.keys())>;
          if constexpr (std::is_same_v<K, v1::FundRequestKeys>) {
            request_id = m.keys().fund_request_id();
          } else if constexpr (std::is_same_v<K, v1::ClaimKeys>) {
            request_id = m.keys().fund_request_id();
            claim_id = m.keys().claim_id();
          }
        },
        e);
    if (!request_id.empty()) requests[request_id] = Evolve(Request(request_id), e);
    if (!claim_id.empty()) claims[claim_id] = Evolve(Claim(claim_id), e);
  }

  absl::StatusOr<std::vector<Event>> Record(absl::StatusOr<std::vector<Event>> events) {
    if (events.ok()) {
      for (const Event& e : *events) Apply(e);
    }
    return events;
  }

  // ---- commands, built the way the service builds them ----

  absl::StatusOr<std::vector<Event>> Allocate(const std::string& fund_id,
                                              const std::string& partner, v1::FundKind kind,
                                              common::v1::Money amount,
                                              const std::string& start = "2026-01-01",
                                              const std::string& end = "2026-07-01",
                                              absl::Duration expires_in = absl::Hours(24 * 365)) {
    v1::AllocateFundsRequest r;
    r.set_request_id(absl::StrCat("alloc-", fund_id));
    r.set_fund_id(fund_id);
    r.set_partner_id(partner);
    r.set_kind(kind);
    r.mutable_period()->set_start_date(start);
    r.mutable_period()->set_end_date(end);
    *r.mutable_amount() = amount;
    *r.mutable_expires_at() = ToProtoTime(clock.Now() + expires_in);
    r.set_name(absl::StrCat("fund ", fund_id));
    EXPECT_TRUE(ValidateAllocateFunds(r).ok()) << ValidateAllocateFunds(r);
    return Record(Decide(Fund(fund_id), AllocateFunds{r}, Ctx()));
  }

  absl::StatusOr<std::vector<Event>> Adjust(const std::string& fund_id, common::v1::Money amount) {
    v1::AdjustFundsRequest r;
    r.set_request_id("adj");
    r.set_fund_id(fund_id);
    *r.mutable_amount() = amount;
    r.set_reason("true-up");
    return Record(Decide(Fund(fund_id), AdjustFunds{r}, Ctx()));
  }

  absl::StatusOr<std::vector<Event>> Expire(const std::string& fund_id) {
    return Record(Decide(Fund(fund_id), ExpireFund{}, Ctx()));
  }

  // Submits; returns the new request id ("" on error, with *error set).
  std::string Submit(const std::string& fund_id, const std::string& partner,
                     const v1::FundRequestDetails& details, absl::Status* error = nullptr) {
    v1::SubmitFundRequestRequest r;
    r.set_request_id("submit");
    r.set_fund_id(fund_id);
    r.set_partner_id(partner);
    *r.mutable_details() = details;
    EXPECT_TRUE(ValidateSubmitFundRequest(r).ok()) << ValidateSubmitFundRequest(r);
    const std::string id = absl::StrCat("req-", ++ids_);
    auto events = Record(Decide(v1::FundRequest(), Fund(fund_id), SubmitFundRequest{r, id}, Ctx()));
    if (error != nullptr) *error = events.status();
    return events.ok() ? id : "";
  }

  absl::StatusOr<std::vector<Event>> DecideRequest(
      const std::string& id, v1::FundRequestDecision decision,
      std::optional<common::v1::Money> approved = std::nullopt, const std::string& reason = "",
      int32_t window_days = 60) {
    v1::DecideFundRequestRequest r;
    r.set_request_id("decide");
    r.set_fund_request_id(id);
    r.set_decision(decision);
    if (approved) *r.mutable_approved_amount() = *approved;
    r.set_reason(reason.empty() && decision != v1::FUND_REQUEST_DECISION_APPROVE ? "because"
                                                                                 : reason);
    EXPECT_TRUE(ValidateDecideFundRequest(r).ok()) << ValidateDecideFundRequest(r);
    const v1::FundRequest req = Request(id);
    return Record(Decide(req, Fund(req.fund_id()), DecideFundRequest{r, window_days}, Ctx()));
  }

  absl::StatusOr<std::vector<Event>> Resubmit(const std::string& id,
                                              const v1::FundRequestDetails& details) {
    v1::ResubmitFundRequestRequest r;
    r.set_request_id("resubmit");
    r.set_fund_request_id(id);
    *r.mutable_details() = details;
    const v1::FundRequest req = Request(id);
    return Record(Decide(req, Fund(req.fund_id()), ResubmitFundRequest{r}, Ctx()));
  }

  absl::StatusOr<std::vector<Event>> Close(const std::string& id, bool by_sweeper = false) {
    const v1::FundRequest req = Request(id);
    return Record(Decide(req, Fund(req.fund_id()), CloseFundRequest{"done", by_sweeper}, Ctx()));
  }

  std::string SubmitClaim(const std::string& request_id, common::v1::Money claimed,
                          common::v1::Money actual, absl::Status* error = nullptr,
                          const std::string& partner = "") {
    const v1::FundRequest req = Request(request_id);
    v1::SubmitClaimRequest r;
    r.set_request_id("claim");
    r.set_fund_request_id(request_id);
    r.set_partner_id(partner.empty() ? req.partner_id() : partner);
    *r.mutable_actual_cost() = actual;
    *r.mutable_claimed_amount() = claimed;
    *r.add_proofs() = Proof(v1::PROOF_KIND_INVOICE, Hash('A'));
    *r.add_proofs() = Proof(v1::PROOF_KIND_ATTENDEE_LIST, Hash('b'));
    r.mutable_results()->set_leads(35);
    r.mutable_results()->set_attendees(120);
    r.mutable_results()->set_opportunities(6);
    EXPECT_TRUE(ValidateSubmitClaim(r).ok()) << ValidateSubmitClaim(r);
    const std::string id = absl::StrCat("claim-", ++ids_);
    auto events =
        Record(Decide(v1::Claim(), req, Fund(req.fund_id()), domain::SubmitClaim{r, id}, Ctx()));
    if (error != nullptr) *error = events.status();
    return events.ok() ? id : "";
  }

  absl::StatusOr<std::vector<Event>> DecideClaimCmd(
      const std::string& id, v1::ClaimDecision decision,
      std::optional<common::v1::Money> approved = std::nullopt) {
    v1::DecideClaimRequest r;
    r.set_request_id("decide-claim");
    r.set_claim_id(id);
    r.set_decision(decision);
    if (approved) *r.mutable_approved_amount() = *approved;
    if (decision == v1::CLAIM_DECISION_REJECT) r.set_reason("no proof of attendance");
    EXPECT_TRUE(ValidateDecideClaim(r).ok()) << ValidateDecideClaim(r);
    const v1::Claim c = Claim(id);
    const v1::FundRequest req = Request(c.fund_request_id());
    return Record(Decide(c, req, Fund(req.fund_id()), DecideClaim{r}, Ctx()));
  }

  absl::StatusOr<std::vector<Event>> Pay(const std::string& id, const std::string& ref = "ERP-1") {
    v1::RecordPaymentRequest r;
    r.set_request_id("pay");
    r.set_claim_id(id);
    r.set_payment_reference(ref);
    const v1::Claim c = Claim(id);
    const v1::FundRequest req = Request(c.fund_request_id());
    return Record(Decide(c, req, Fund(req.fund_id()), RecordPayment{r}, Ctx()));
  }

  absl::StatusOr<AccrualDecision> Accrue(const pos::v1::ShipmentRecorded& s, int64_t bps) {
    EXPECT_TRUE(ValidateShipment(s).ok()) << ValidateShipment(s);
    AccrueCoop c;
    c.shipment = s;
    c.source = "channelops/pos_ingestion";
    c.source_global_position = ++ids_;
    c.occurred_at = clock.Now();
    c.rate_bps = bps;
    for (const auto& [id, f] : funds) {
      if (f.partner_id() == s.partner_id()) c.partner_funds.push_back(f);
    }
    auto d = DecideAccrual(c, Ctx());
    if (d.ok()) {
      for (const Event& e : d->events) Apply(e);
    }
    return d;
  }

  // The fund's balance folded from zero over every recorded movement.
  v1::FundBalance FoldedBalance(const std::string& fund_id) const {
    v1::FundBalance b = ZeroBalance(Fund(fund_id).currency_code());
    for (const Event& e : log) {
      for (const v1::LedgerEntry& entry : LedgerEntriesOf(e)) {
        if (entry.fund_id() != fund_id) continue;
        EXPECT_TRUE(ApplyEntry(b, entry).ok());
      }
    }
    return b;
  }

 private:
  int ids_ = 0;
};

// available, reserved, paid, expired of a fund in whole micros.
struct Bal {
  int64_t available, reserved, paid, expired;
  bool operator==(const Bal&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Bal& b) {
  return os << "{available " << b.available << ", reserved " << b.reserved << ", paid " << b.paid
            << ", expired " << b.expired << "}";
}
Bal BalOf(const v1::Fund& f) {
  const auto& b = f.balance();
  return {Micros(b.available()), Micros(b.reserved()), Micros(b.paid()), Micros(b.expired())};
}
Bal Units(int64_t available, int64_t reserved, int64_t paid, int64_t expired) {
  return {available * kUnit, reserved * kUnit, paid * kUnit, expired * kUnit};
}

// The one event of type T a command recorded (a copy: the argument is usually
// a temporary).
template <class T>
T Only(const absl::StatusOr<std::vector<Event>>& events) {
  if (!events.ok()) {
    ADD_FAILURE() << events.status();
    return T();
  }
  EXPECT_THAT(*events, SizeIs(1));
  const T* e = events->empty() ? nullptr : std::get_if<T>(&events->front());
  if (e == nullptr) {
    ADD_FAILURE() << "expected one " << T::descriptor()->full_name();
    return T();
  }
  return *e;
}

// ---------------------------------------------------------------------------
// Funds: allocation, adjustment, the zero floor
// ---------------------------------------------------------------------------

TEST(FundTest, AllocationMakesTheAmountAvailable) {
  World w;
  const auto& e = Only<v1::FundAllocated>(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)));
  EXPECT_EQ(e.keys().currency_code(), "USD");
  EXPECT_EQ(Micros(e.fund_balance().available()), 1000 * kUnit);
  const v1::Fund f = w.Fund("f1");
  EXPECT_EQ(f.status(), v1::FUND_STATUS_OPEN);
  EXPECT_EQ(f.version(), 1u);
  EXPECT_EQ(Micros(f.balance().allocated()), 1000 * kUnit);
  EXPECT_EQ(BalOf(f), Units(1000, 0, 0, 0));
  auto entries = LedgerEntriesOf(w.log.front());
  ASSERT_THAT(entries, SizeIs(1));
  EXPECT_EQ(entries[0].type(), v1::LEDGER_ENTRY_TYPE_ALLOCATED);
  EXPECT_EQ(Micros(entries[0].available_delta()), 1000 * kUnit);
}

TEST(FundTest, AllocationRefusesAnExistingFundAndAPastOrEarlyExpiry) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)).ok());
  EXPECT_EQ(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(5)).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto past = w.Allocate("f2", "p1", v1::FUND_KIND_MDF, Usd(5), "2025-01-01", "2025-12-31",
                         -absl::Seconds(1));
  EXPECT_EQ(past.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(past.status()), ElementsAre("expires_at"));
  // Expiring before the period even starts.
  auto early = w.Allocate("f3", "p1", v1::FUND_KIND_MDF, Usd(5), "2027-01-01", "2027-12-31");
  EXPECT_THAT(Fields(early.status()), ElementsAre("expires_at"));
  EXPECT_THAT(w.log, SizeIs(1));
}

TEST(FundTest, AdjustmentsAreSignedAndNeverTakeAvailableBelowZero) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)).ok());
  ASSERT_TRUE(w.Adjust("f1", Usd(200)).ok());
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(1200, 0, 0, 0));
  EXPECT_EQ(Micros(w.Fund("f1").balance().adjustments()), 200 * kUnit);

  ASSERT_TRUE(w.Adjust("f1", Usd(-1200)).ok());  // exactly to zero is fine
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(0, 0, 0, 0));
  EXPECT_EQ(Micros(w.Fund("f1").balance().adjustments()), -1000 * kUnit);

  auto below = w.Adjust("f1", Money("USD", -1));  // one micro too many
  EXPECT_EQ(below.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(below.status().message(), HasSubstr("insufficient available balance"));
  EXPECT_THAT(below.status().message(), HasSubstr("fund/f1"));

  auto eur = w.Adjust("f1", Money("EUR", 5 * kUnit));
  EXPECT_EQ(eur.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(eur.status()), ElementsAre("amount.currency_code"));
  EXPECT_THAT(w.log, SizeIs(3));
  EXPECT_EQ(w.Fund("f1").version(), 3u);
}

TEST(FundTest, CoopFundsMayOpenEmptyButMdfFundsMayNot) {
  v1::AllocateFundsRequest r;
  r.set_request_id("r");
  r.set_fund_id("f");
  r.set_partner_id("p");
  r.mutable_period()->set_start_date("2026-01-01");
  r.mutable_period()->set_end_date("2026-04-01");
  *r.mutable_expires_at() = ToProtoTime(absl::FromUnixSeconds(1800000000));
  *r.mutable_amount() = Usd(0);
  r.set_kind(v1::FUND_KIND_COOP);
  EXPECT_TRUE(ValidateAllocateFunds(r).ok());
  r.set_kind(v1::FUND_KIND_MDF);
  EXPECT_THAT(Fields(ValidateAllocateFunds(r)), ElementsAre("amount.amount_micros"));
  *r.mutable_amount() = Usd(-5);
  r.set_kind(v1::FUND_KIND_COOP);
  EXPECT_THAT(Fields(ValidateAllocateFunds(r)), ElementsAre("amount.amount_micros"));
}

// ---------------------------------------------------------------------------
// Requests: approval reserves; reject / return reserve nothing
// ---------------------------------------------------------------------------

TEST(RequestTest, ApprovalReservesTheApprovedAmountWhichMayBeLessThanAsked) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)).ok());
  const std::string id = w.Submit("f1", "p1", Details(300, 400));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(w.Request(id).status(), v1::FUND_REQUEST_STATUS_SUBMITTED);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(1000, 0, 0, 0));  // submitting reserves nothing

  auto too_much = w.DecideRequest(id, v1::FUND_REQUEST_DECISION_APPROVE, Usd(301));
  EXPECT_THAT(Fields(too_much.status()), ElementsAre("approved_amount"));
  auto eur = w.DecideRequest(id, v1::FUND_REQUEST_DECISION_APPROVE, Money("EUR", kUnit));
  EXPECT_THAT(Fields(eur.status()), ElementsAre("approved_amount.currency_code"));

  const auto& e = Only<v1::FundRequestApproved>(
      w.DecideRequest(id, v1::FUND_REQUEST_DECISION_APPROVE, Usd(250), "trimmed the catering"));
  EXPECT_EQ(Micros(e.requested_amount()), 300 * kUnit);
  EXPECT_EQ(Micros(e.approved_amount()), 250 * kUnit);
  EXPECT_EQ(e.keys().campaign_id(), "cmp-1");
  EXPECT_EQ(e.decided_by(), "tester");
  // Claims through the end of the 60th day after 2026-02-28: 2026-04-29.
  EXPECT_EQ(FromProtoTime(e.claim_deadline()),
            absl::FromCivil(absl::CivilDay(2026, 4, 30), absl::UTCTimeZone()));
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(750, 250, 0, 0));
  EXPECT_EQ(Micros(e.fund_balance().reserved()), 250 * kUnit);
  const v1::FundRequest r = w.Request(id);
  EXPECT_EQ(r.status(), v1::FUND_REQUEST_STATUS_APPROVED);
  EXPECT_EQ(Micros(r.reserved()), 250 * kUnit);
  EXPECT_EQ(Unclaimed(r).micros(), 250 * kUnit);

  auto again = w.DecideRequest(id, v1::FUND_REQUEST_DECISION_REJECT);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("it is APPROVED"));
}

TEST(RequestTest, ApprovalBeyondTheAvailableBalanceIsRefusedAndWritesNothing) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(500)).ok());
  const std::string a = w.Submit("f1", "p1", Details(300, 300));
  const std::string b = w.Submit("f1", "p1", Details(300, 300));
  ASSERT_TRUE(w.DecideRequest(a, v1::FUND_REQUEST_DECISION_APPROVE).ok());
  const size_t before = w.log.size();
  auto refused = w.DecideRequest(b, v1::FUND_REQUEST_DECISION_APPROVE);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("USD 200.000000 available, USD 300.000000 needed"));
  EXPECT_EQ(w.log.size(), before);
  EXPECT_EQ(w.Request(b).status(), v1::FUND_REQUEST_STATUS_SUBMITTED);
  // What is left can be approved.
  ASSERT_TRUE(w.DecideRequest(b, v1::FUND_REQUEST_DECISION_APPROVE, Usd(200)).ok());
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(0, 500, 0, 0));
}

TEST(RequestTest, RejectReturnAndResubmitReserveNothing) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)).ok());
  const std::string id = w.Submit("f1", "p1", Details(300, 400));
  ASSERT_TRUE(
      w.DecideRequest(id, v1::FUND_REQUEST_DECISION_RETURN, std::nullopt, "add the venue").ok());
  EXPECT_EQ(w.Request(id).status(), v1::FUND_REQUEST_STATUS_RETURNED);
  EXPECT_EQ(w.DecideRequest(id, v1::FUND_REQUEST_DECISION_APPROVE).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::FundRequestDetails changed = Details(350, 500);
  changed.set_campaign_id("cmp-2");
  const auto& re = Only<v1::FundRequestResubmitted>(w.Resubmit(id, changed));
  EXPECT_EQ(re.revision(), 2);
  EXPECT_EQ(re.keys().campaign_id(), "cmp-2");
  EXPECT_EQ(w.Request(id).status(), v1::FUND_REQUEST_STATUS_SUBMITTED);
  EXPECT_EQ(Micros(w.Request(id).details().requested_amount()), 350 * kUnit);
  EXPECT_EQ(w.Resubmit(id, changed).status().code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(w.DecideRequest(id, v1::FUND_REQUEST_DECISION_REJECT).ok());
  EXPECT_EQ(w.Request(id).status(), v1::FUND_REQUEST_STATUS_REJECTED);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(1000, 0, 0, 0));
  EXPECT_EQ(w.Close(id).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RequestTest, RequestsMustUseTheFundsPartnerCurrencyAndAnOpenFund) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000), "2026-01-01", "2026-02-01",
                         absl::Hours(24 * 31))
                  .ok());
  absl::Status st;
  EXPECT_EQ(w.Submit("f1", "p2", Details(10, 10), &st), "");
  EXPECT_THAT(Fields(st), ElementsAre("partner_id"));

  v1::FundRequestDetails eur = Details(10, 10);
  *eur.mutable_planned_cost() = Money("EUR", 10 * kUnit);
  *eur.mutable_requested_amount() = Money("EUR", 10 * kUnit);
  *eur.mutable_expected_revenue() = Money("EUR", 10 * kUnit);
  EXPECT_EQ(w.Submit("f1", "p1", eur, &st), "");
  EXPECT_THAT(Fields(st), ElementsAre("details.planned_cost.currency_code",
                                      "details.requested_amount.currency_code",
                                      "details.expected_revenue.currency_code"));

  w.clock.Advance(absl::Hours(24 * 31));  // at the expiry instant, before any sweep
  EXPECT_EQ(w.Submit("f1", "p1", Details(10, 10), &st), "");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("the fund expired at 2026-02-01T00:00:00Z"));
  EXPECT_THAT(w.log, SizeIs(1));
}

// ---------------------------------------------------------------------------
// Claims: bounded by the unclaimed approval, deadline, approval, payment
// ---------------------------------------------------------------------------

class ClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000)).ok());
    request = w.Submit("f1", "p1", Details(300, 400));
    ASSERT_TRUE(w.DecideRequest(request, v1::FUND_REQUEST_DECISION_APPROVE, Usd(250)).ok());
  }
  World w;
  std::string request;
};

TEST_F(ClaimTest, ClaimsAreBoundedByTheApprovedAmountStillUnclaimed) {
  absl::Status st;
  EXPECT_EQ(w.SubmitClaim(request, Usd(251), Usd(400), &st), "");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(st), ElementsAre("claimed_amount"));
  EXPECT_THAT(st.message(), HasSubstr("USD 250.000000 of USD 250.000000 approved"));

  const std::string c1 = w.SubmitClaim(request, Usd(200), Usd(380));
  ASSERT_FALSE(c1.empty());
  EXPECT_EQ(Unclaimed(w.Request(request)).micros(), 50 * kUnit);
  EXPECT_EQ(w.SubmitClaim(request, Usd(51), Usd(51), &st), "");
  EXPECT_THAT(Fields(st), ElementsAre("claimed_amount"));
  const std::string c2 = w.SubmitClaim(request, Usd(50), Usd(50));
  ASSERT_FALSE(c2.empty());
  EXPECT_EQ(Unclaimed(w.Request(request)).micros(), 0);
  EXPECT_THAT(w.Request(request).claim_ids(), ElementsAre(c1, c2));
  // Claims sit inside the reservation: the fund's balance does not move.
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(750, 250, 0, 0));

  EXPECT_EQ(w.SubmitClaim(request, Usd(1), Usd(1), &st, "p2"), "");
  EXPECT_THAT(Fields(st), ElementsAre("partner_id"));
  // Proof hashes are stored in canonical (lower-case) form.
  EXPECT_EQ(w.Claim(c1).proofs(0).content_hash(), Hash('a'));
}

TEST_F(ClaimTest, PartialApprovalReturnsTheDifferenceToTheRequestAndPaymentMovesReservedToPaid) {
  const std::string c = w.SubmitClaim(request, Usd(200), Usd(380));
  auto above = w.DecideClaimCmd(c, v1::CLAIM_DECISION_APPROVE, Usd(201));
  EXPECT_THAT(Fields(above.status()), ElementsAre("approved_amount"));
  EXPECT_EQ(w.Pay(c).status().code(), absl::StatusCode::kFailedPrecondition);  // not approved

  const auto& approved =
      Only<v1::ClaimApproved>(w.DecideClaimCmd(c, v1::CLAIM_DECISION_APPROVE, Usd(150)));
  EXPECT_EQ(Micros(approved.released_amount()), 0);  // the request is open: back to it
  EXPECT_EQ(Unclaimed(w.Request(request)).micros(), 100 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(750, 250, 0, 0));

  const auto& paid = Only<v1::ClaimPaid>(w.Pay(c, "ERP-77"));
  EXPECT_EQ(Micros(paid.amount()), 150 * kUnit);
  EXPECT_EQ(paid.results().leads(), 35);
  EXPECT_EQ(Micros(paid.actual_cost()), 380 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(750, 100, 150, 0));
  EXPECT_EQ(w.Claim(c).status(), v1::CLAIM_STATUS_PAID);
  EXPECT_EQ(w.Claim(c).payment_reference(), "ERP-77");
  EXPECT_EQ(Micros(w.Request(request).paid()), 150 * kUnit);
  EXPECT_EQ(Micros(w.Request(request).reserved()), 100 * kUnit);

  auto twice = w.Pay(c, "ERP-78");
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.status().message(), HasSubstr("it is PAID"));
}

TEST_F(ClaimTest, ClosingReleasesOnlyWhatIsUnclaimedAndLaterDecisionsReleaseTheRest) {
  const std::string pending = w.SubmitClaim(request, Usd(100), Usd(100));
  const std::string partial = w.SubmitClaim(request, Usd(60), Usd(60));
  const auto& closed = Only<v1::FundRequestClosed>(w.Close(request));
  EXPECT_EQ(closed.close_reason(), v1::CLOSE_REASON_COMPLETED);
  EXPECT_EQ(Micros(closed.released_amount()), 90 * kUnit);  // 250 - 100 - 60
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(840, 160, 0, 0));

  absl::Status st;
  EXPECT_EQ(w.SubmitClaim(request, Usd(1), Usd(1), &st), "");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("it is CLOSED"));

  // On a closed request, money no longer claimed goes back to the fund.
  const auto& rejected =
      Only<v1::ClaimRejected>(w.DecideClaimCmd(pending, v1::CLAIM_DECISION_REJECT));
  EXPECT_EQ(Micros(rejected.released_amount()), 100 * kUnit);
  const auto& approved =
      Only<v1::ClaimApproved>(w.DecideClaimCmd(partial, v1::CLAIM_DECISION_APPROVE, Usd(45)));
  EXPECT_EQ(Micros(approved.released_amount()), 15 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(955, 45, 0, 0));
  ASSERT_TRUE(w.Pay(partial).ok());
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(955, 0, 45, 0));
  EXPECT_EQ(Micros(w.Request(request).reserved()), 0);
  EXPECT_EQ(Micros(w.Request(request).released()), 205 * kUnit);
}

TEST_F(ClaimTest, ClaimsCloseAtTheDeadlineAndTheSweeperReleasesTheReservation) {
  // Activity ends 2026-02-28; 60-day window: claims through 2026-04-29 UTC.
  const absl::Time deadline = absl::FromCivil(absl::CivilDay(2026, 4, 30), absl::UTCTimeZone());
  w.clock.Set(deadline - absl::Seconds(1));
  EXPECT_EQ(w.Close(request, /*by_sweeper=*/true).status().code(),
            absl::StatusCode::kFailedPrecondition);  // not due
  const std::string in_time = w.SubmitClaim(request, Usd(100), Usd(100));
  ASSERT_FALSE(in_time.empty());

  w.clock.Set(deadline);
  absl::Status st;
  EXPECT_EQ(w.SubmitClaim(request, Usd(10), Usd(10), &st), "");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("claim window closed at 2026-04-30T00:00:00Z"));

  const auto& closed = Only<v1::FundRequestClosed>(w.Close(request, /*by_sweeper=*/true));
  EXPECT_EQ(closed.close_reason(), v1::CLOSE_REASON_CLAIM_WINDOW_PASSED);
  EXPECT_EQ(Micros(closed.released_amount()), 150 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(900, 100, 0, 0));
  // The claim made in time can still be decided and paid.
  ASSERT_TRUE(w.DecideClaimCmd(in_time, v1::CLAIM_DECISION_APPROVE).ok());
  ASSERT_TRUE(w.Pay(in_time).ok());
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(900, 0, 100, 0));
}

// ---------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------

TEST(ExpiryTest, OnlyTheAvailableBalanceExpiresAndLaterReleasesExpireAtOnce) {
  World w;
  ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(1000), "2026-01-01", "2026-04-01",
                         absl::Hours(24 * 100))
                  .ok());
  const std::string request = w.Submit("f1", "p1", Details(300, 300));
  ASSERT_TRUE(w.DecideRequest(request, v1::FUND_REQUEST_DECISION_APPROVE).ok());
  EXPECT_EQ(w.Expire("f1").status().code(), absl::StatusCode::kFailedPrecondition);  // not due

  w.clock.Advance(absl::Hours(24 * 100));
  const auto& expired = Only<v1::FundExpired>(w.Expire("f1"));
  EXPECT_EQ(Micros(expired.expired_amount()), 700 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(0, 300, 0, 700));
  EXPECT_EQ(w.Fund("f1").status(), v1::FUND_STATUS_EXPIRED);
  EXPECT_EQ(w.Expire("f1").status().code(), absl::StatusCode::kFailedPrecondition);

  absl::Status st;
  EXPECT_EQ(w.Submit("f1", "p1", Details(1, 1), &st), "");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w.Adjust("f1", Usd(5)).status().code(), absl::StatusCode::kFailedPrecondition);

  // Reserved money survives expiry: the approved activity is still claimed and paid.
  const std::string claim = w.SubmitClaim(request, Usd(200), Usd(200));
  ASSERT_FALSE(claim.empty());
  ASSERT_TRUE(w.DecideClaimCmd(claim, v1::CLAIM_DECISION_APPROVE).ok());
  ASSERT_TRUE(w.Pay(claim).ok());
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(0, 100, 200, 700));
  // What is released after expiry expires at once: available stays zero.
  const auto& closed = Only<v1::FundRequestClosed>(w.Close(request));
  EXPECT_EQ(Micros(closed.released_amount()), 100 * kUnit);
  EXPECT_EQ(Micros(closed.expired_amount()), 100 * kUnit);
  EXPECT_EQ(BalOf(w.Fund("f1")), Units(0, 0, 200, 800));
  auto entries = LedgerEntriesOf(w.log.back());
  ASSERT_THAT(entries, SizeIs(2));
  EXPECT_EQ(entries[0].type(), v1::LEDGER_ENTRY_TYPE_RELEASED);
  EXPECT_EQ(entries[1].type(), v1::LEDGER_ENTRY_TYPE_EXPIRED);
}

// ---------------------------------------------------------------------------
// Co-op accrual
// ---------------------------------------------------------------------------

pos::v1::ShipmentRecorded Shipment(const std::string& id, const std::string& partner,
                                   common::v1::Money extended, const std::string& day,
                                   int64_t quantity = 10) {
  pos::v1::ShipmentRecorded s;
  s.set_shipment_id(id);
  s.set_partner_id(partner);
  s.set_sku("NET-100");
  s.set_quantity(quantity);
  *s.mutable_extended_amount() = extended;
  *s.mutable_shipped_at() = ToProtoTime(StartOf(*ParseDate(day)) + absl::Hours(9));
  return s;
}

TEST(AccrualTest, CreditsTheOpenCoopFundCoveringTheShipmentDayAtTheRate) {
  World w;
  ASSERT_TRUE(
      w.Allocate("coop-q1", "p1", v1::FUND_KIND_COOP, Usd(0), "2026-01-01", "2026-04-01").ok());
  ASSERT_TRUE(
      w.Allocate("coop-q2", "p1", v1::FUND_KIND_COOP, Usd(0), "2026-04-01", "2026-07-01").ok());
  ASSERT_TRUE(
      w.Allocate("mdf", "p1", v1::FUND_KIND_MDF, Usd(100), "2026-01-01", "2026-07-01").ok());
  ASSERT_TRUE(
      w.Allocate("coop-eur", "p1", v1::FUND_KIND_COOP, Money("EUR", 0), "2026-01-01", "2026-07-01")
          .ok());

  // USD 12,345.67 at 250 bps = USD 308.64175 exactly.
  auto d = w.Accrue(Shipment("s1", "p1", Money("USD", 12'345'670'000), "2026-02-10"), 250);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->fund_id, "coop-q1");
  const auto& e = std::get<v1::CoopAccrued>(d->events.at(0));
  EXPECT_EQ(Micros(e.amount()), 308'641'750);
  EXPECT_EQ(Micros(e.purchase_amount()), 12'345'670'000);
  EXPECT_EQ(e.rate_bps(), 250);
  EXPECT_EQ(e.shipment_id(), "s1");
  EXPECT_EQ(e.source(), "channelops/pos_ingestion");
  EXPECT_EQ(Micros(w.Fund("coop-q1").balance().accrued()), 308'641'750);
  EXPECT_EQ(Micros(w.Fund("coop-q1").balance().available()), 308'641'750);
  EXPECT_EQ(w.Fund("coop-q1").accrual_count(), 1);

  // The period decides the fund; the currency too.
  d = w.Accrue(Shipment("s2", "p1", Usd(1000), "2026-04-01"), 250);
  EXPECT_EQ(d->fund_id, "coop-q2");
  d = w.Accrue(Shipment("s3", "p1", Money("EUR", 1000 * kUnit), "2026-05-05"), 250);
  EXPECT_EQ(d->fund_id, "coop-eur");
  EXPECT_EQ(Micros(w.Fund("coop-eur").balance().accrued()), 25 * kUnit);

  // Without extended_amount: quantity x unit price.
  pos::v1::ShipmentRecorded by_unit = Shipment("s4", "p1", Usd(0), "2026-03-01", 7);
  by_unit.clear_extended_amount();
  *by_unit.mutable_unit_price() = Money("USD", 19'990'000);  // 7 x 19.99 = 139.93
  d = w.Accrue(by_unit, 300);                                // 4.1979
  EXPECT_EQ(Micros(std::get<v1::CoopAccrued>(d->events.at(0)).amount()), 4'197'900);
  EXPECT_EQ(Micros(w.Fund("mdf").balance().accrued()), 0);  // MDF funds never accrue
}

TEST(AccrualTest, RoundsHalfAwayFromZeroAndSkipsWhatCannotBeCredited) {
  World w;
  ASSERT_TRUE(w.Allocate("coop", "p1", v1::FUND_KIND_COOP, Usd(0), "2026-01-01", "2026-04-01",
                         absl::Hours(24 * 60))
                  .ok());
  // 50 micros at 100 bps = 0.5 micro -> 1; 49 micros -> 0.49 -> nothing.
  auto half = w.Accrue(Shipment("s1", "p1", Money("USD", 50), "2026-01-05"), 100);
  EXPECT_EQ(Micros(std::get<v1::CoopAccrued>(half->events.at(0)).amount()), 1);
  auto zero = w.Accrue(Shipment("s2", "p1", Money("USD", 49), "2026-01-05"), 100);
  EXPECT_THAT(zero->events, IsEmpty());
  EXPECT_THAT(zero->skipped_reason, HasSubstr("rounds to zero"));

  EXPECT_THAT(w.Accrue(Shipment("s3", "p2", Usd(100), "2026-01-05"), 100)->skipped_reason,
              HasSubstr("partner p2 has no open co-op fund in USD"));
  EXPECT_THAT(w.Accrue(Shipment("s4", "p1", Usd(100), "2026-04-01"), 100)->skipped_reason,
              HasSubstr("covers 2026-04-01"));
  EXPECT_THAT(
      w.Accrue(Shipment("s5", "p1", Money("GBP", kUnit), "2026-01-05"), 100)->skipped_reason,
      HasSubstr("in GBP"));
  EXPECT_THAT(w.Accrue(Shipment("s6", "p1", Usd(100), "2026-01-05"), 0)->skipped_reason,
              HasSubstr("rate is 0"));
  // After the fund's expiry instant (sweeper or not), nothing more accrues.
  w.clock.Advance(absl::Hours(24 * 60));
  EXPECT_THAT(w.Accrue(Shipment("s7", "p1", Usd(100), "2026-01-05"), 100)->skipped_reason,
              HasSubstr("no open co-op fund"));
  EXPECT_EQ(Micros(w.Fund("coop").balance().accrued()), 1);
}

// ---------------------------------------------------------------------------
// Invariants under random sequences (seeded)
// ---------------------------------------------------------------------------

TEST(InvariantTest, RandomCommandSequencesKeepEveryBalanceRule) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::mt19937 rng(seed);
    auto pick = [&](int64_t lo, int64_t hi) {
      return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    World w;
    // Both funds expire part-way through (about 110 days of clock moves).
    ASSERT_TRUE(w.Allocate("f1", "p1", v1::FUND_KIND_MDF, Usd(5000), "2026-01-01", "2026-07-01",
                           absl::Hours(24 * 50))
                    .ok());
    ASSERT_TRUE(w.Allocate("c1", "p1", v1::FUND_KIND_COOP, Usd(0), "2026-01-01", "2026-07-01",
                           absl::Hours(24 * 70))
                    .ok());
    std::vector<std::string> reqs, claims;
    auto any_of = [&](const std::vector<std::string>& v) {
      return v.empty() ? std::string() : v[pick(0, v.size() - 1)];
    };
    int ok = 0;
    for (int step = 0; step < 600; ++step) {
      const std::string fund = pick(0, 3) == 0 ? "c1" : "f1";
      absl::Status st;
      switch (pick(0, 10)) {
        case 0:
          st = w.Adjust(fund, Money("USD", pick(-800, 800) * kUnit + 1)).status();
          break;
        case 1: {
          int64_t amount = pick(1, 900);
          std::string id = w.Submit(fund, "p1", Details(amount, amount + pick(0, 100)), &st);
          if (!id.empty()) reqs.push_back(id);
          break;
        }
        case 2:
        case 3: {
          std::string id = any_of(reqs);
          if (id.empty()) break;
          auto d = static_cast<v1::FundRequestDecision>(pick(1, 3));
          std::optional<common::v1::Money> amount;
          if (d == v1::FUND_REQUEST_DECISION_APPROVE && pick(0, 1) == 1) {
            amount = Money("USD", pick(1, 900 * kUnit));
          }
          st = w.DecideRequest(id, d, amount, "", static_cast<int32_t>(pick(0, 90))).status();
          break;
        }
        case 4: {
          std::string id = any_of(reqs);
          if (!id.empty()) st = w.Resubmit(id, Details(pick(1, 500), 600)).status();
          break;
        }
        case 5: {
          std::string id = any_of(reqs);
          if (!id.empty()) st = w.Close(id, pick(0, 1) == 1).status();
          break;
        }
        case 6:
        case 7: {
          std::string id = any_of(reqs);
          if (id.empty() || !HasMoney(w.Request(id).approved_amount())) break;
          int64_t claimed = pick(1, 400 * kUnit);
          std::string c = w.SubmitClaim(id, Money("USD", claimed), Money("USD", claimed), &st);
          if (!c.empty()) claims.push_back(c);
          break;
        }
        case 8: {
          std::string id = any_of(claims);
          if (id.empty()) break;
          auto d = static_cast<v1::ClaimDecision>(pick(1, 2));
          std::optional<common::v1::Money> amount;
          if (d == v1::CLAIM_DECISION_APPROVE && pick(0, 1) == 1) {
            amount = Money("USD", pick(1, 400 * kUnit));
          }
          st = w.DecideClaimCmd(id, d, amount).status();
          break;
        }
        case 9: {
          std::string id = any_of(claims);
          if (id.empty()) break;
          if (w.Claim(id).status() == v1::CLAIM_STATUS_SUBMITTED) {
            st = w.DecideClaimCmd(id, v1::CLAIM_DECISION_APPROVE).status();
          }
          if (st.ok()) st = w.Pay(id).status();
          break;
        }
        case 10:
          w.clock.Advance(absl::Hours(pick(1, 96)));
          st = w.Expire(fund).status();
          if (pick(0, 2) == 0) {
            st = w.Accrue(Shipment(absl::StrCat("s", step), "p1", Usd(pick(1, 20000)),
                                   FormatDate(DayOf(w.clock.Now()))),
                          pick(0, 500))
                     .status();
          }
          break;
      }
      if (st.ok()) ++ok;
      // A refusal is INVALID_ARGUMENT or FAILED_PRECONDITION, never anything else.
      if (!st.ok()) {
        ASSERT_TRUE(st.code() == absl::StatusCode::kInvalidArgument ||
                    st.code() == absl::StatusCode::kFailedPrecondition)
            << st;
      }
      for (const char* id : {"f1", "c1"}) {
        const v1::Fund f = w.Fund(id);
        const auto& b = f.balance();
        ASSERT_GE(Micros(b.available()), 0) << id;
        ASSERT_GE(Micros(b.reserved()), 0) << id;
        ASSERT_EQ(Micros(b.available()), Micros(b.allocated()) + Micros(b.accrued()) +
                                             Micros(b.adjustments()) - Micros(b.reserved()) -
                                             Micros(b.paid()) - Micros(b.expired()))
            << id;
        // The ledger tells the same story as the fund.
        ASSERT_EQ(w.FoldedBalance(id).SerializeAsString(), b.SerializeAsString()) << id;
        if (f.status() == v1::FUND_STATUS_EXPIRED) {
          ASSERT_EQ(Micros(b.available()), 0) << id;
        }
        // The fund's reservation is the sum of its requests'.
        int64_t reserved = 0, paid = 0;
        for (const auto& [rid, r] : w.requests) {
          if (r.fund_id() != id) continue;
          ASSERT_GE(Unclaimed(r).micros(), 0);
          reserved += Micros(r.reserved());
          paid += Micros(r.paid());
        }
        ASSERT_EQ(reserved, Micros(b.reserved())) << id;
        ASSERT_EQ(paid, Micros(b.paid())) << id;
      }
    }
    EXPECT_GT(ok, 150);  // the sequence did things, not only refusals
    // ... and every kind of money movement happened at least once.
    std::set<std::string> seen;
    for (const Event& e : w.log) {
      for (const v1::LedgerEntry& entry : LedgerEntriesOf(e)) {
        seen.insert(v1::LedgerEntryType_Name(entry.type()));
      }
    }
    EXPECT_THAT(seen, SizeIs(7)) << ::testing::PrintToString(seen);
  }
}

// ---------------------------------------------------------------------------
// Shape validation: the field is named, every problem at once
// ---------------------------------------------------------------------------

TEST(ValidationTest, MoneyMustBePositiveAndInOneCurrency) {
  v1::SubmitFundRequestRequest r;
  r.set_request_id("r1");
  r.set_fund_id("f1");
  r.set_partner_id("p1");
  *r.mutable_details() = Details(100, 200);
  EXPECT_TRUE(ValidateSubmitFundRequest(r).ok());

  auto with = [&](auto mutate) {
    v1::SubmitFundRequestRequest c = r;
    mutate(*c.mutable_details());
    return Fields(ValidateSubmitFundRequest(c));
  };
  EXPECT_THAT(with([](auto& d) { *d.mutable_planned_cost() = Usd(0); }),
              ElementsAre("details.planned_cost.amount_micros"));
  EXPECT_THAT(with([](auto& d) { *d.mutable_requested_amount() = Usd(-1); }),
              ElementsAre("details.requested_amount.amount_micros"));
  EXPECT_THAT(with([](auto& d) { *d.mutable_requested_amount() = Usd(201); }),
              ElementsAre("details.requested_amount"));
  EXPECT_THAT(with([](auto& d) { d.mutable_requested_amount()->set_currency_code("EUR"); }),
              ElementsAre("details.requested_amount.currency_code"));
  EXPECT_THAT(with([](auto& d) { d.mutable_planned_cost()->set_currency_code("usd"); }),
              ElementsAre("details.planned_cost.currency_code"));
  EXPECT_THAT(with([](auto& d) { d.set_end_date("2026-01-31"); }), ElementsAre("details.end_date"));
  EXPECT_THAT(with([](auto& d) { d.set_start_date("2026-02-30"); }),
              ElementsAre("details.start_date"));
  EXPECT_THAT(with([](auto& d) { d.set_activity_type(v1::ACTIVITY_TYPE_UNSPECIFIED); }),
              ElementsAre("details.activity_type"));
  EXPECT_THAT(with([](auto& d) { d.set_expected_leads(-3); }),
              ElementsAre("details.expected_leads"));
  EXPECT_THAT(with([](auto& d) {
                d.clear_name();
                *d.mutable_planned_cost() = Usd(-5);
              }),
              ElementsAre("details.name", "details.planned_cost.amount_micros"));
  *r.mutable_details()->mutable_planned_cost() = Money("USD", kMaxAmountMicros + 1);
  EXPECT_THAT(Fields(ValidateSubmitFundRequest(r)),
              ElementsAre("details.planned_cost.amount_micros"));
}

TEST(ValidationTest, ClaimsNeedHashedProofsAndAmountsWithinTheCost) {
  v1::SubmitClaimRequest r;
  r.set_request_id("r1");
  r.set_fund_request_id("q1");
  r.set_partner_id("p1");
  *r.mutable_actual_cost() = Usd(100);
  *r.mutable_claimed_amount() = Usd(80);
  *r.add_proofs() = Proof();
  EXPECT_TRUE(ValidateSubmitClaim(r).ok());

  auto with = [&](auto mutate) {
    v1::SubmitClaimRequest c = r;
    mutate(c);
    return Fields(ValidateSubmitClaim(c));
  };
  EXPECT_THAT(with([](auto& c) { c.mutable_proofs(0)->clear_content_hash(); }),
              ElementsAre("proofs[0].content_hash"));
  EXPECT_THAT(with([](auto& c) { c.mutable_proofs(0)->set_content_hash("md5:abc"); }),
              ElementsAre("proofs[0].content_hash"));
  EXPECT_THAT(
      with([](auto& c) {
        c.mutable_proofs(0)->set_content_hash(absl::StrCat("sha256:", std::string(63, 'a'), "g"));
      }),
      ElementsAre("proofs[0].content_hash"));
  EXPECT_THAT(with([](auto& c) { c.mutable_proofs(0)->clear_uri(); }),
              ElementsAre("proofs[0].uri"));
  EXPECT_THAT(with([](auto& c) { c.mutable_proofs(0)->set_kind(v1::PROOF_KIND_UNSPECIFIED); }),
              ElementsAre("proofs[0].kind"));
  EXPECT_THAT(with([](auto& c) { c.clear_proofs(); }), ElementsAre("proofs"));
  EXPECT_THAT(with([](auto& c) { *c.mutable_claimed_amount() = Usd(101); }),
              ElementsAre("claimed_amount"));
  EXPECT_THAT(with([](auto& c) { *c.mutable_claimed_amount() = Usd(0); }),
              ElementsAre("claimed_amount.amount_micros"));
  EXPECT_THAT(with([](auto& c) { c.mutable_results()->set_leads(-1); }),
              ElementsAre("results.leads"));
  EXPECT_THAT(with([](auto& c) {
                *c.add_proofs() = Proof();
                c.mutable_proofs(1)->clear_content_hash();
                c.mutable_proofs(1)->set_uri("not a uri");
              }),
              ElementsAre("proofs[1].content_hash", "proofs[1].uri"));
}

TEST(ValidationTest, DecisionsNeedReasonsAndAmountsOnlyWithApproval) {
  v1::DecideFundRequestRequest d;
  d.set_request_id("r");
  d.set_fund_request_id("q");
  d.set_decision(v1::FUND_REQUEST_DECISION_REJECT);
  EXPECT_THAT(Fields(ValidateDecideFundRequest(d)), ElementsAre("reason"));
  d.set_reason("no budget");
  *d.mutable_approved_amount() = Usd(5);
  EXPECT_THAT(Fields(ValidateDecideFundRequest(d)), ElementsAre("approved_amount"));
  d.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
  EXPECT_TRUE(ValidateDecideFundRequest(d).ok());
  *d.mutable_approved_amount() = Usd(0);
  EXPECT_THAT(Fields(ValidateDecideFundRequest(d)), ElementsAre("approved_amount.amount_micros"));
  d.set_decision(static_cast<v1::FundRequestDecision>(9));
  EXPECT_THAT(Fields(ValidateDecideFundRequest(d)), ElementsAre("decision", "approved_amount"));

  v1::AdjustFundsRequest a;
  a.set_request_id("r");
  a.set_fund_id("f");
  *a.mutable_amount() = Usd(0);
  EXPECT_THAT(Fields(ValidateAdjustFunds(a)), ElementsAre("amount.amount_micros", "reason"));

  v1::AllocateFundsRequest f;
  f.set_request_id("r");
  f.set_fund_id("f 1");
  f.set_partner_id("p");
  f.set_kind(v1::FUND_KIND_MDF);
  f.mutable_period()->set_start_date("2026-04-01");
  f.mutable_period()->set_end_date("2026-01-01");
  *f.mutable_amount() = Usd(10);
  EXPECT_THAT(Fields(ValidateAllocateFunds(f)),
              ElementsAre("fund_id", "period.end_date", "expires_at"));
}

}  // namespace
}  // namespace channelops::mdf::domain
