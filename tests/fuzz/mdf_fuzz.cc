// libFuzzer target: mdf's request validation and decision path
// (services/mdf/mdf_service.cc, storage.cc, coop_accrual.cc), structured by the
// channelops.mdf.v1 request protos and the channelops.pos.v1.ShipmentRecorded
// event the co-op accrual consumes (input format: request_fuzz.h).
//
// Each step is one request: AllocateFunds, AdjustFunds, Submit/Resubmit/
// Decide/CloseFundRequest, SubmitClaim, DecideClaim, RecordPayment; a consumed
// shipment (CoopAccrual::Apply); or a Tick that moves the store clock and runs
// both sweepers (fund expiry, claim windows). Valid requests go through the
// handler's load -> Decide -> Commit (storage.h) against in-memory read models
// (rm_funds, rm_requests, rm_claims, rm_shipments), stream versions and the
// partner ledger (rm_ledger).
//
// Invariants after every step: validation fails only with INVALID_ARGUMENT,
// Decide only with its documented codes (plus the service's NOT_FOUND); every
// append's expected version matches its stream; no balance component is
// negative and `available` is what ComputeAvailable says; an expired fund has
// nothing available; each fund's balance equals the fold of its ledger entries
// (so the partner statement agrees with the fund); a fund's `reserved` equals
// the sum of its requests' reservations; a request never has more claimed than
// it has approved and not released; a claim never approves more than it claims.
//
//   mdf_fuzz -max_len=8192 CORPUS_DIR tests/fuzz/seeds/mdf

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/decider.h"
#include "mdf/domain/events.h"
#include "mdf/domain/ledger.h"
#include "mdf/domain/validation.h"
#include "request_fuzz.h"

namespace channelops::mdf {
namespace {

using absl::StatusCode;
using fuzz::CheckCode;
using fuzz::Parse;
using fuzz::Step;

enum Kind : uint8_t {
  kAllocate,
  kAdjust,
  kSubmitRequest,
  kResubmit,
  kDecideRequest,
  kCloseRequest,
  kSubmitClaim,
  kDecideClaim,
  kPayment,
  kShipment,
  kTick,
  kKinds
};

constexpr char kActor[] = "fuzz";
constexpr int64_t kAccrualBps = 200;  // main.cc's default --coop_accrual_bps
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

// decider.h's errors, and the service's NOT_FOUND for a missing aggregate.
const std::initializer_list<StatusCode> kDecideCodes = {
    StatusCode::kInvalidArgument, StatusCode::kAlreadyExists, StatusCode::kFailedPrecondition,
    StatusCode::kOutOfRange, StatusCode::kNotFound};

struct Aggregates {
  v1::Fund fund;
  v1::FundRequest request;
  v1::Claim claim;
};

int64_t Micros(const common::v1::Money& m) { return m.amount_micros(); }

class Harness : public fuzz::HarnessBase<Harness> {
 public:
  explicit Harness(bool strict) : HarnessBase(strict, kStart) {}

 private:
  friend class fuzz::HarnessBase<Harness>;
  // Decides with `decide` and commits; false (after checking the code) on error.
  template <class DecideFn>
  bool DecideAndCommit(const Step& step, const Aggregates& before, DecideFn decide) {
    absl::StatusOr<std::vector<domain::Event>> events = decide();
    CheckCode(events.status(), kDecideCodes, "Decide");
    if (!events.ok()) {
      Refused(step, events.status());
      return false;
    }
    CHANNELOPS_CHECK(events->size() == 1) << "each command records exactly one event";
    Commit(before, *events);
    return true;
  }

  void RunStep(const Step& step) {
    switch (step.kind % kKinds) {
      case kAllocate: {
        v1::AllocateFundsRequest r;
        if (!Load(step, &r, domain::ValidateAllocateFunds)) return;
        Aggregates before;
        before.fund = FundOrEmpty(r.fund_id());
        DecideAndCommit(step, before, [&] {
          return domain::Decide(before.fund, domain::AllocateFunds{r}, Ctx());
        });
        return;
      }
      case kAdjust: {
        v1::AdjustFundsRequest r;
        if (!Load(step, &r, domain::ValidateAdjustFunds)) return;
        Aggregates before;
        before.fund = FundOrEmpty(r.fund_id());
        if (before.fund.fund_id().empty()) return Refused(step, absl::NotFoundError("fund"));
        DecideAndCommit(step, before,
                        [&] { return domain::Decide(before.fund, domain::AdjustFunds{r}, Ctx()); });
        return;
      }
      case kSubmitRequest: {
        v1::SubmitFundRequestRequest r;
        if (!Load(step, &r, domain::ValidateSubmitFundRequest)) return;
        Aggregates before;
        before.fund = FundOrEmpty(r.fund_id());
        if (before.fund.fund_id().empty()) return Refused(step, absl::NotFoundError("fund"));
        // The service uses core::NewUuidV7(tx.now()); sequential ids let
        // later steps name the request.
        domain::SubmitFundRequest cmd{r, absl::StrCat("R", next_request_ + 1)};
        if (DecideAndCommit(step, before, [&] {
              return domain::Decide(before.request, before.fund, cmd, Ctx());
            })) {
          ++next_request_;
        }
        return;
      }
      case kResubmit: {
        v1::ResubmitFundRequestRequest r;
        if (!Load(step, &r, domain::ValidateResubmitFundRequest)) return;
        return RequestCommand(step, r.fund_request_id(), domain::ResubmitFundRequest{r});
      }
      case kDecideRequest: {
        v1::DecideFundRequestRequest r;
        if (!Load(step, &r, domain::ValidateDecideFundRequest)) return;
        return RequestCommand(step, r.fund_request_id(),
                              domain::DecideFundRequest{r, domain::kDefaultClaimWindowDays});
      }
      case kCloseRequest: {
        v1::CloseFundRequestRequest r;
        if (!Load(step, &r, domain::ValidateCloseFundRequest)) return;
        return RequestCommand(step, r.fund_request_id(),
                              domain::CloseFundRequest{r.reason(), false});
      }
      case kSubmitClaim: {
        v1::SubmitClaimRequest r;
        if (!Load(step, &r, domain::ValidateSubmitClaim)) return;
        auto before = RequestAndFund(r.fund_request_id());
        if (!before) return Refused(step, absl::NotFoundError("fund request"));
        domain::SubmitClaim cmd{r, absl::StrCat("C", next_claim_ + 1)};
        if (DecideAndCommit(step, *before, [&] {
              return domain::Decide(before->claim, before->request, before->fund, cmd, Ctx());
            })) {
          ++next_claim_;
        }
        return;
      }
      case kDecideClaim: {
        v1::DecideClaimRequest r;
        if (!Load(step, &r, domain::ValidateDecideClaim)) return;
        return ClaimCommand(step, r.claim_id(), domain::DecideClaim{r});
      }
      case kPayment: {
        v1::RecordPaymentRequest r;
        if (!Load(step, &r, domain::ValidateRecordPayment)) return;
        return ClaimCommand(step, r.claim_id(), domain::RecordPayment{r});
      }
      case kShipment:
        return Accrue(step);
      case kTick:
        now_ += fuzz::HoursOf(step.payload);
        return Sweep();
    }
  }

  // ---- reads ----

  v1::Fund FundOrEmpty(const std::string& id) const {
    auto it = funds_.find(id);
    return it == funds_.end() ? v1::Fund() : it->second;
  }

  // LoadRequestAndFund: nullopt if the request does not exist.
  std::optional<Aggregates> RequestAndFund(const std::string& id) const {
    auto it = requests_.find(id);
    if (it == requests_.end()) return std::nullopt;
    Aggregates a;
    a.request = it->second;
    a.fund = FundOrEmpty(a.request.fund_id());
    CHANNELOPS_CHECK(!a.fund.fund_id().empty()) << "request " << id << " of a missing fund";
    return a;
  }

  void RequestCommand(const Step& step, const std::string& id,
                      const domain::RequestCommand& command) {
    auto before = RequestAndFund(id);
    if (!before) return Refused(step, absl::NotFoundError("fund request"));
    DecideAndCommit(step, *before,
                    [&] { return domain::Decide(before->request, before->fund, command, Ctx()); });
  }

  void ClaimCommand(const Step& step, const std::string& id, const domain::ClaimCommand& command) {
    auto claim = claims_.find(id);
    if (claim == claims_.end()) return Refused(step, absl::NotFoundError("claim"));
    auto before = RequestAndFund(claim->second.fund_request_id());
    CHANNELOPS_CHECK(before.has_value()) << "claim " << id << " of a missing request";
    before->claim = claim->second;
    DecideAndCommit(step, *before, [&] {
      return domain::Decide(before->claim, before->request, before->fund, command, Ctx());
    });
  }

  // CoopAccrual::Apply.
  void Accrue(const Step& step) {
    pos::v1::ShipmentRecorded s;
    if (!Load(step, &s, domain::ValidateShipment)) return;
    if (credited_.count(s.shipment_id())) return;  // re-sent: credited once already
    domain::AccrueCoop cmd;
    cmd.source = "pos_ingestion";
    cmd.source_global_position = ++global_position_;
    cmd.source_event_id = absl::StrCat("event-", global_position_);
    cmd.occurred_at = now_;
    cmd.rate_bps = kAccrualBps;
    for (const auto& [id, f] : funds_) {
      if (f.partner_id() == s.partner_id()) cmd.partner_funds.push_back(f);
    }
    cmd.shipment = s;
    auto decision = domain::DecideAccrual(cmd, Ctx("system:coop_accrual"));
    CheckCode(decision.status(), {StatusCode::kOutOfRange}, "DecideAccrual");
    if (!decision.ok()) return Refused(step, decision.status());
    if (decision->events.empty()) {
      CHANNELOPS_CHECK(!decision->skipped_reason.empty()) << "an accrual skipped without reason";
      return;
    }
    CHANNELOPS_CHECK(decision->events.size() == 1);
    Aggregates before;
    for (const v1::Fund& f : cmd.partner_funds) {
      if (f.fund_id() == decision->fund_id) before.fund = f;
    }
    CHANNELOPS_CHECK(!before.fund.fund_id().empty()) << "the chosen fund is the partner's";
    CHANNELOPS_CHECK(before.fund.kind() == v1::FUND_KIND_COOP);
    const auto& accrued = std::get<v1::CoopAccrued>(decision->events.front());
    CHANNELOPS_CHECK(Micros(accrued.amount()) > 0 &&
                     Micros(accrued.amount()) <= Micros(accrued.purchase_amount()))
        << "accrual " << accrued.ShortDebugString();
    Commit(before, decision->events);
    credited_[s.shipment_id()] = decision->fund_id;
  }

  // RunSweep(ExpireOne) then RunSweep(CloseOne), as the background tasks do.
  void Sweep() {
    std::vector<std::string> due_funds;
    for (const auto& [id, f] : funds_) {
      if (f.status() == v1::FUND_STATUS_OPEN && domain::FromProtoTime(f.expires_at()) <= now_) {
        due_funds.push_back(id);
      }
    }
    for (const std::string& id : due_funds) {
      Aggregates before;
      before.fund = FundOrEmpty(id);
      auto events = domain::Decide(before.fund, domain::ExpireFund{}, Ctx("system:expiry"));
      CHANNELOPS_CHECK(events.ok()) << "a due fund did not expire: " << events.status();
      Commit(before, *events);
      CHANNELOPS_CHECK(Micros(funds_[id].balance().available()) == 0);
    }
    std::vector<std::string> due_requests;
    for (const auto& [id, r] : requests_) {
      if (r.status() == v1::FUND_REQUEST_STATUS_APPROVED &&
          domain::FromProtoTime(r.claim_deadline()) <= now_) {
        due_requests.push_back(id);
      }
    }
    for (const std::string& id : due_requests) {
      auto before = RequestAndFund(id);
      auto events = domain::Decide(before->request, before->fund,
                                   domain::CloseFundRequest{"claim window passed", true},
                                   Ctx("system:claim_window"));
      CHANNELOPS_CHECK(events.ok()) << "a due request did not close: " << events.status();
      Commit(*before, *events);
    }
  }

  // ---- storage.cc's Commit ----

  int64_t ExpectedVersion(const Aggregates& a, const domain::Event& e) const {
    const std::string stream = domain::StreamOf(e);
    if (!a.fund.fund_id().empty() && stream == domain::FundStream(a.fund.fund_id())) {
      return static_cast<int64_t>(a.fund.version());
    }
    if (!a.request.fund_request_id().empty() &&
        stream == domain::RequestStream(a.request.fund_request_id())) {
      return static_cast<int64_t>(a.request.version());
    }
    if (!a.claim.claim_id().empty() && stream == domain::ClaimStream(a.claim.claim_id())) {
      return static_cast<int64_t>(a.claim.version());
    }
    return 0;  // the event creates its aggregate
  }

  void Commit(const Aggregates& before, const std::vector<domain::Event>& events) {
    if (events.empty()) return;
    Aggregates after = before;
    for (const domain::Event& e : events) {
      const std::string stream = domain::StreamOf(e);
      uint64_t& version = streams_[stream];
      const int64_t expected = ExpectedVersion(after, e);
      CHANNELOPS_CHECK(static_cast<uint64_t>(expected) == version)
          << "append to " << stream << " expects version " << expected << ", stream is at "
          << version;
      ++version;
      after.fund = domain::Evolve(std::move(after.fund), e);
      after.request = domain::Evolve(std::move(after.request), e);
      after.claim = domain::Evolve(std::move(after.claim), e);
      CHANNELOPS_CHECK(after.fund.fund_id() == domain::FundIdOf(e))
          << "event of fund " << domain::FundIdOf(e) << " committed with fund "
          << after.fund.fund_id();
      for (const v1::LedgerEntry& entry : domain::LedgerEntriesOf(e)) {
        CHANNELOPS_CHECK(entry.fund_id() == after.fund.fund_id());
        ledger_[entry.fund_id()].push_back(entry);
      }
    }
    funds_[after.fund.fund_id()] = after.fund;
    if (!after.request.fund_request_id().empty()) {
      requests_[after.request.fund_request_id()] = after.request;
    }
    if (!after.claim.claim_id().empty()) claims_[after.claim.claim_id()] = after.claim;
  }

  // ---- invariants ----

  void CheckInvariants() const {
    std::map<std::string, int64_t> reserved_by_fund;
    for (const auto& [id, r] : requests_) {
      auto stream = streams_.find(domain::RequestStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() && stream->second == r.version())
          << "request " << id << " version is not its stream's";
      for (const auto* m : {&r.claimed(), &r.paid(), &r.released(), &r.reserved()}) {
        CHANNELOPS_CHECK(Micros(*m) >= 0) << "request " << id << ": " << r.ShortDebugString();
      }
      if (domain::HasMoney(r.approved_amount())) {
        CHANNELOPS_CHECK(Micros(r.claimed()) + Micros(r.released()) <= Micros(r.approved_amount()))
            << "request " << id << " over-claimed: " << r.ShortDebugString();
        CHANNELOPS_CHECK(Micros(r.reserved()) ==
                         Micros(r.approved_amount()) - Micros(r.released()) - Micros(r.paid()))
            << "request " << id << ": " << r.ShortDebugString();
        CHANNELOPS_CHECK(!domain::Unclaimed(r).is_negative());
      } else {
        CHANNELOPS_CHECK(Micros(r.reserved()) == 0 && Micros(r.claimed()) == 0);
      }
      reserved_by_fund[r.fund_id()] += Micros(r.reserved());
    }
    for (const auto& [id, f] : funds_) {
      auto stream = streams_.find(domain::FundStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() && stream->second == f.version())
          << "fund " << id << " version is not its stream's";
      const v1::FundBalance& b = f.balance();
      for (const auto* m :
           {&b.allocated(), &b.accrued(), &b.reserved(), &b.paid(), &b.expired(), &b.available()}) {
        CHANNELOPS_CHECK(m->currency_code() == f.currency_code());
        CHANNELOPS_CHECK(Micros(*m) >= 0) << "fund " << id << ": " << b.ShortDebugString();
      }
      auto available = domain::ComputeAvailable(b);
      CHANNELOPS_CHECK(available.ok() && available->micros() == Micros(b.available()))
          << "fund " << id << " available disagrees with its components: " << b.ShortDebugString();
      if (f.status() == v1::FUND_STATUS_EXPIRED) {
        CHANNELOPS_CHECK(Micros(b.available()) == 0) << "expired fund " << id << " has money";
      }
      // The partner statement folds the ledger from zero: it must give the fund.
      v1::FundBalance folded = domain::ZeroBalance(f.currency_code());
      auto entries = ledger_.find(id);
      if (entries != ledger_.end()) {
        for (const v1::LedgerEntry& e : entries->second) {
          CHANNELOPS_CHECK(domain::ApplyEntry(folded, e).ok());
        }
      }
      CHANNELOPS_CHECK(folded.SerializeAsString() == b.SerializeAsString())
          << "fund " << id << ": ledger folds to " << folded.ShortDebugString() << ", fund has "
          << b.ShortDebugString();
      auto reserved = reserved_by_fund.find(id);
      const int64_t sum = reserved == reserved_by_fund.end() ? 0 : reserved->second;
      CHANNELOPS_CHECK(sum == Micros(b.reserved()))
          << "fund " << id << " reserves " << Micros(b.reserved()) << ", its requests " << sum;
    }
    for (const auto& [id, c] : claims_) {
      auto stream = streams_.find(domain::ClaimStream(id));
      CHANNELOPS_CHECK(stream != streams_.end() && stream->second == c.version())
          << "claim " << id << " version is not its stream's";
      CHANNELOPS_CHECK(Micros(c.claimed_amount()) > 0 &&
                       Micros(c.claimed_amount()) <= Micros(c.actual_cost()));
      if (c.status() == v1::CLAIM_STATUS_APPROVED || c.status() == v1::CLAIM_STATUS_PAID) {
        CHANNELOPS_CHECK(Micros(c.approved_amount()) >= 0 &&
                         Micros(c.approved_amount()) <= Micros(c.claimed_amount()))
            << "claim " << id << ": " << c.ShortDebugString();
      }
      if (c.status() == v1::CLAIM_STATUS_PAID) {
        CHANNELOPS_CHECK(Micros(c.paid_amount()) == Micros(c.approved_amount()));
      }
    }
  }

  domain::Context Ctx(const char* actor = kActor) const { return domain::Context{now_, actor}; }

  int next_request_ = 0;
  int next_claim_ = 0;
  uint64_t global_position_ = 0;
  std::map<std::string, v1::Fund> funds_;                       // rm_funds
  std::map<std::string, v1::FundRequest> requests_;             // rm_requests
  std::map<std::string, v1::Claim> claims_;                     // rm_claims
  std::map<std::string, std::string> credited_;                 // rm_shipments
  std::map<std::string, std::vector<v1::LedgerEntry>> ledger_;  // rm_ledger, by fund
  std::map<std::string, uint64_t> streams_;                     // stream -> version
};

// ---- seeds ----

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

google::protobuf::Timestamp At(int64_t unix_seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(unix_seconds);
  return t;
}

v1::AllocateFundsRequest Fund(const std::string& id, v1::FundKind kind, int64_t amount) {
  v1::AllocateFundsRequest r;
  r.set_request_id(absl::StrCat("alloc-", id));
  r.set_fund_id(id);
  r.set_partner_id("partner-1");
  r.set_kind(kind);
  r.mutable_period()->set_start_date("2026-01-01");
  r.mutable_period()->set_end_date("2026-04-01");
  *r.mutable_amount() = Usd(amount);
  *r.mutable_expires_at() = At(1767225600 + 120 * 86400);  // 2026-05-01
  r.set_name("FY26 Q1");
  return r;
}

v1::FundRequestDetails Details(int64_t cost, int64_t requested) {
  v1::FundRequestDetails d;
  d.set_campaign_id("spring-webinars");
  d.set_activity_type(v1::ACTIVITY_TYPE_WEBINAR);
  d.set_name("Security webinar series");
  d.set_start_date("2026-02-01");
  d.set_end_date("2026-02-28");
  *d.mutable_planned_cost() = Usd(cost);
  *d.mutable_requested_amount() = Usd(requested);
  d.set_expected_leads(40);
  *d.mutable_expected_revenue() = Usd(50000);
  return d;
}

v1::SubmitClaimRequest Claim(const std::string& request_id, const std::string& fund_request_id,
                             int64_t cost, int64_t claimed) {
  v1::SubmitClaimRequest r;
  r.set_request_id(request_id);
  r.set_fund_request_id(fund_request_id);
  r.set_partner_id("partner-1");
  *r.mutable_actual_cost() = Usd(cost);
  *r.mutable_claimed_amount() = Usd(claimed);
  auto* p = r.add_proofs();
  p->set_kind(v1::PROOF_KIND_INVOICE);
  p->set_content_hash(absl::StrCat("sha256:", std::string(64, 'A')));
  p->set_uri("https://docs.example.com/invoice-1.pdf");
  r.mutable_results()->set_leads(35);
  return r;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  {  // MDF: request -> approve -> two claims -> pay / reject -> close; adjust.
    std::string s;
    fuzz::AppendStep(s, kAllocate, Fund("mdf-1", v1::FUND_KIND_MDF, 10000));
    v1::AdjustFundsRequest adj;
    adj.set_request_id("adj-1");
    adj.set_fund_id("mdf-1");
    *adj.mutable_amount() = Usd(-500);
    adj.set_reason("correction");
    fuzz::AppendStep(s, kAdjust, adj);
    v1::SubmitFundRequestRequest sub;
    sub.set_request_id("sub-1");
    sub.set_fund_id("mdf-1");
    sub.set_partner_id("partner-1");
    *sub.mutable_details() = Details(8000, 6000);
    fuzz::AppendStep(s, kSubmitRequest, sub);  // R1
    v1::DecideFundRequestRequest ret;
    ret.set_request_id("dec-1");
    ret.set_fund_request_id("R1");
    ret.set_decision(v1::FUND_REQUEST_DECISION_RETURN);
    ret.set_reason("add the venue");
    fuzz::AppendStep(s, kDecideRequest, ret);
    v1::ResubmitFundRequestRequest resub;
    resub.set_request_id("resub-1");
    resub.set_fund_request_id("R1");
    *resub.mutable_details() = Details(8000, 5000);
    fuzz::AppendStep(s, kResubmit, resub);
    v1::DecideFundRequestRequest ok;
    ok.set_request_id("dec-2");
    ok.set_fund_request_id("R1");
    ok.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
    *ok.mutable_approved_amount() = Usd(4500);
    fuzz::AppendStep(s, kDecideRequest, ok);
    fuzz::AppendStep(s, kSubmitClaim, Claim("claim-1", "R1", 3000, 2500));  // C1
    fuzz::AppendStep(s, kSubmitClaim, Claim("claim-2", "R1", 2000, 1500));  // C2
    v1::DecideClaimRequest dc;
    dc.set_request_id("dc-1");
    dc.set_claim_id("C1");
    dc.set_decision(v1::CLAIM_DECISION_APPROVE);
    *dc.mutable_approved_amount() = Usd(2000);
    fuzz::AppendStep(s, kDecideClaim, dc);
    v1::RecordPaymentRequest pay;
    pay.set_request_id("pay-1");
    pay.set_claim_id("C1");
    pay.set_payment_reference("ERP-4711");
    fuzz::AppendStep(s, kPayment, pay);
    v1::CloseFundRequestRequest close;
    close.set_request_id("close-1");
    close.set_fund_request_id("R1");
    close.set_reason("campaign done");
    fuzz::AppendStep(s, kCloseRequest, close);
    v1::DecideClaimRequest rej;
    rej.set_request_id("dc-2");
    rej.set_claim_id("C2");
    rej.set_decision(v1::CLAIM_DECISION_REJECT);
    rej.set_reason("no invoice");
    fuzz::AppendStep(s, kDecideClaim, rej);
    seeds.push_back(std::move(s));
  }
  {  // Co-op: accruals from shipments, a request approved, expiry, claim window.
    std::string s;
    fuzz::AppendStep(s, kAllocate, Fund("coop-1", v1::FUND_KIND_COOP, 0));
    pos::v1::ShipmentRecorded ship;
    ship.set_shipment_id("ship-1");
    ship.set_partner_id("partner-1");
    ship.set_sku("NET-100");
    ship.set_quantity(100);
    *ship.mutable_unit_price() = Usd(250);
    *ship.mutable_shipped_at() = At(1767225600 + 10 * 86400);
    fuzz::AppendStep(s, kShipment, ship);
    ship.set_shipment_id("ship-2");
    *ship.mutable_extended_amount() = Usd(30000);
    fuzz::AppendStep(s, kShipment, ship);
    v1::SubmitFundRequestRequest sub;
    sub.set_request_id("sub-1");
    sub.set_fund_id("coop-1");
    sub.set_partner_id("partner-1");
    *sub.mutable_details() = Details(1000, 800);
    fuzz::AppendStep(s, kSubmitRequest, sub);  // R1
    v1::DecideFundRequestRequest ok;
    ok.set_request_id("dec-1");
    ok.set_fund_request_id("R1");
    ok.set_decision(v1::FUND_REQUEST_DECISION_APPROVE);
    fuzz::AppendStep(s, kDecideRequest, ok);
    fuzz::AppendStep(s, kSubmitClaim, Claim("claim-1", "R1", 900, 700));  // C1
    fuzz::AppendRaw(s, kTick, fuzz::Hours(24 * 125));  // past the expiry and the claim window
    v1::DecideClaimRequest dc;
    dc.set_request_id("dc-1");
    dc.set_claim_id("C1");
    dc.set_decision(v1::CLAIM_DECISION_APPROVE);
    fuzz::AppendStep(s, kDecideClaim, dc);
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace
}  // namespace channelops::mdf

CHANNELOPS_REQUEST_FUZZER(channelops::mdf)
