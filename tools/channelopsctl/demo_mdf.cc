// MDF / co-op part of the demo: MDF allocations for the top partners and an
// (accruing) co-op fund for every partner; fund requests tied to the lead
// campaigns, decided by a channel manager (approved, some for less, rejected,
// returned); claims with proof of performance, approved and paid. A last request
// races for more money than is left: it must be refused, never overdraw.
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "demo.h"

namespace channelops::ctl {

namespace mdf = channelops::mdf::v1;

namespace {
common::v1::Money Dollars(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}
std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }
}  // namespace

MdfOutcome RunMdfScenario(const std::string& addr, const DemoWorld& world, int seed) {
  MdfOutcome out;
  auto stub = mdf::MdfService::NewStub(Connect(addr));
  auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(30); };
  const std::string run = absl::StrCat("demo", seed);
  std::mt19937 rng(seed + 99);
  absl::Time now = absl::Now();
  auto period = [&](common::v1::Period* p) {
    p->set_start_date(Day(now - absl::Hours(24 * 30)));
    p->set_end_date(Day(now + absl::Hours(24 * 60)));
  };
  google::protobuf::Timestamp expires;
  expires.set_seconds(absl::ToUnixSeconds(now + absl::Hours(24 * 90)));

  // Co-op for every partner (accrues from sell-in shipments), MDF for every 5th.
  for (int p = 1; p <= world.partners; ++p) {
    std::string partner = absl::StrFormat("P%03d", p);
    for (int kind = 0; kind < 2; ++kind) {
      if (kind == 1 && p % 5 != 0) continue;
      mdf::AllocateFundsRequest req;
      req.set_request_id(absl::StrCat(run, "-fund-", kind, "-", p));
      req.set_fund_id(absl::StrCat(kind ? "MDF-" : "COOP-", partner));
      req.set_partner_id(partner);
      req.set_kind(kind ? mdf::FUND_KIND_MDF : mdf::FUND_KIND_COOP);
      period(req.mutable_period());
      *req.mutable_amount() = Dollars(kind ? 40'000 : 0);
      *req.mutable_expires_at() = expires;
      req.set_name(kind ? "FY27 Q1 MDF" : "FY27 Q1 co-op");
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      mdf::FundResponse resp;
      grpc::Status s = stub->AllocateFunds(&ctx, req, &resp);
      if (!s.ok()) {
        if (out.rpc_errors++ < 3) fprintf(stderr, "AllocateFunds: %s\n", s.error_message().c_str());
        continue;
      }
      if (kind) out.allocated_micros += resp.fund().balance().allocated().amount_micros();
    }
  }
  // Requests for the MDF funds, tied to the lead campaigns.
  const mdf::ActivityType types[] = {mdf::ACTIVITY_TYPE_EVENT, mdf::ACTIVITY_TYPE_DIGITAL,
                                     mdf::ACTIVITY_TYPE_TELEMARKETING, mdf::ACTIVITY_TYPE_TRADE_SHOW};
  for (int p = 5; p <= world.partners; p += 5) {
    std::string partner = absl::StrFormat("P%03d", p);
    for (int k = 0; k < 2; ++k) {
      mdf::SubmitFundRequestRequest req;
      req.set_request_id(absl::StrCat(run, "-fr-", p, "-", k));
      req.set_fund_id("MDF-" + partner);
      req.set_partner_id(partner);
      auto* d = req.mutable_details();
      d->set_campaign_id(absl::StrFormat("camp-P%03d-%d", p, k));  // the partner's own campaign
      d->set_activity_type(types[(p + k) % 4]);
      d->set_name(absl::StrCat(partner, " ", k ? "webinar series" : "customer roadshow"));
      d->set_start_date(Day(now - absl::Hours(24 * 10)));
      d->set_end_date(Day(now - absl::Hours(24 * 2)));
      int64_t cost = 10'000 + static_cast<int64_t>(rng() % 15) * 1'000;
      *d->mutable_planned_cost() = Dollars(cost);
      *d->mutable_requested_amount() = Dollars(cost / 2);
      d->set_expected_leads(20 + rng() % 80);
      *d->mutable_expected_revenue() = Dollars(cost * 8);
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline());
      mdf::FundRequestResponse resp;
      if (!stub->SubmitFundRequest(&ctx, req, &resp).ok()) {
        ++out.rpc_errors;
        continue;
      }
      ++out.requests;
      // Channel manager: approve most (some for less), reject or return a few.
      mdf::DecideFundRequestRequest dq;
      dq.set_request_id(absl::StrCat(run, "-frd-", p, "-", k));
      dq.set_fund_request_id(resp.fund_request().fund_request_id());
      int r = static_cast<int>(rng() % 10);
      if (r < 7) {
        dq.set_decision(mdf::FUND_REQUEST_DECISION_APPROVE);
        if (r == 0) *dq.mutable_approved_amount() = Dollars(cost / 4);
      } else if (r < 9) {
        dq.set_decision(mdf::FUND_REQUEST_DECISION_REJECT);
        dq.set_reason("activity outside the programme's focus");
      } else {
        dq.set_decision(mdf::FUND_REQUEST_DECISION_RETURN);
        dq.set_reason("add the expected attendee count");
      }
      grpc::ClientContext c2;
      c2.set_deadline(deadline());
      mdf::FundRequestResponse decided;
      if (!stub->DecideFundRequest(&c2, dq, &decided).ok()) {
        ++out.rpc_errors;
        continue;
      }
      out.by_request_status[mdf::FundRequestStatus_Name(decided.fund_request().status())]++;
      if (decided.fund_request().status() != mdf::FUND_REQUEST_STATUS_APPROVED) continue;
      out.reserved_micros += decided.fund_request().approved_amount().amount_micros();
      // The partner claims with proof; the manager approves; finance pays.
      mdf::SubmitClaimRequest cl;
      cl.set_request_id(absl::StrCat(run, "-claim-", p, "-", k));
      cl.set_fund_request_id(decided.fund_request().fund_request_id());
      cl.set_partner_id(partner);
      *cl.mutable_actual_cost() = Dollars(cost);
      *cl.mutable_claimed_amount() = decided.fund_request().approved_amount();
      auto* proof = cl.add_proofs();
      proof->set_kind(mdf::PROOF_KIND_INVOICE);
      proof->set_content_hash(absl::StrCat("sha256:", std::string(56, 'a'), absl::StrFormat("%08x", p * 10 + k)));
      proof->set_uri(absl::StrCat("s3://partner-docs/", partner, "/invoice-", k, ".pdf"));
      cl.mutable_results()->set_leads(10 + rng() % 60);
      cl.mutable_results()->set_attendees(50 + rng() % 200);
      cl.mutable_results()->set_opportunities(2 + rng() % 10);
      grpc::ClientContext c3;
      c3.set_deadline(deadline());
      mdf::ClaimResponse claim;
      grpc::Status cs = stub->SubmitClaim(&c3, cl, &claim);
      if (!cs.ok()) {
        if (out.rpc_errors++ < 3) fprintf(stderr, "SubmitClaim: %s\n", cs.error_message().c_str());
        continue;
      }
      mdf::DecideClaimRequest dc;
      dc.set_request_id(absl::StrCat(run, "-claimd-", p, "-", k));
      dc.set_claim_id(claim.claim().claim_id());
      dc.set_decision(mdf::CLAIM_DECISION_APPROVE);
      grpc::ClientContext c4;
      c4.set_deadline(deadline());
      mdf::ClaimResponse approved;
      if (!stub->DecideClaim(&c4, dc, &approved).ok()) {
        ++out.rpc_errors;
        continue;
      }
      if (k == 1 && p % 10 == 0) continue;  // approved, payment still pending
      mdf::RecordPaymentRequest pay;
      pay.set_request_id(absl::StrCat(run, "-pay-", p, "-", k));
      pay.set_claim_id(claim.claim().claim_id());
      pay.set_payment_reference(absl::StrCat("ERP-PAY-", 500000 + p * 10 + k));
      grpc::ClientContext c5;
      c5.set_deadline(deadline());
      mdf::ClaimResponse paid;
      if (stub->RecordPayment(&c5, pay, &paid).ok()) {
        ++out.claims_paid;
        out.paid_micros += paid.claim().paid_amount().amount_micros();
      }
    }
  }
  // A request for more than is left must be refused: no fund is ever overdrawn.
  {
    mdf::SubmitFundRequestRequest req;
    req.set_request_id(run + "-fr-greedy");
    req.set_fund_id("MDF-P005");
    req.set_partner_id("P005");
    auto* d = req.mutable_details();
    d->set_activity_type(mdf::ACTIVITY_TYPE_EVENT);
    d->set_name("everything at once");
    d->set_start_date(Day(now));
    d->set_end_date(Day(now + absl::Hours(24)));
    *d->mutable_planned_cost() = Dollars(90'000);
    *d->mutable_requested_amount() = Dollars(90'000);
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    mdf::FundRequestResponse resp;
    if (stub->SubmitFundRequest(&ctx, req, &resp).ok()) {
      mdf::DecideFundRequestRequest dq;
      dq.set_request_id(run + "-frd-greedy");
      dq.set_fund_request_id(resp.fund_request().fund_request_id());
      dq.set_decision(mdf::FUND_REQUEST_DECISION_APPROVE);
      grpc::ClientContext c2;
      c2.set_deadline(deadline());
      mdf::FundRequestResponse decided;
      grpc::Status s = stub->DecideFundRequest(&c2, dq, &decided);
      out.overdraw_refused = s.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
      out.overdraw_message = s.error_message();
    }
  }
  return out;
}

}  // namespace channelops::ctl
