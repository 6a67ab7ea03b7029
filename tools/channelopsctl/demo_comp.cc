// Compensation and projections part of the demo: a plan (partner, channel
// account managers, inside sales by territory, direct reps; SPLIT between
// inside sales and the CAM, OVERLAY for direct reps: "pay both"; registered-deal
// bonus; hold days; clawback on returns), assignments, then — after the sales
// have flowed — the period close and the projections' answers: commission
// statements, partner ROI leaderboard, projection lag.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/analytics/v1/analytics.grpc.pb.h"
#include "channelops/comp/v1/comp.grpc.pb.h"
#include "demo.h"

namespace channelops::ctl {

namespace comp = channelops::comp::v1;
namespace an = channelops::analytics::v1;

namespace {
auto Deadline() { return std::chrono::system_clock::now() + std::chrono::seconds(30); }
std::string Month(absl::Time t) { return absl::FormatTime("%Y-%m", t, absl::UTCTimeZone()); }
std::string FirstOfMonth(absl::Time t) { return absl::FormatTime("%Y-%m-01", t, absl::UTCTimeZone()); }
}  // namespace

int SetUpCompensation(const std::string& addr, const DemoWorld& world, int seed) {
  int errors = 0;
  auto stub = comp::CompensationService::NewStub(Connect(addr));
  const std::string run = absl::StrCat("demo", seed);
  absl::Time start = absl::Now() - absl::Hours(24 * 62);
  {
    comp::PublishPlanRequest req;
    req.set_request_id(run + "-plan");
    auto* p = req.mutable_plan();
    p->set_plan_id("channel-2027");
    p->set_name("Channel compensation FY27");
    p->set_currency_code("USD");
    p->set_effective_from(FirstOfMonth(start));
    p->set_crediting_basis(comp::CREDITING_BASIS_SELL_THROUGH);
    for (auto [role, bps] : std::vector<std::pair<comp::Role, int>>{
             {comp::ROLE_PARTNER, 1000}, {comp::ROLE_CHANNEL_ACCOUNT_MANAGER, 200},
             {comp::ROLE_INSIDE_SALES, 150}, {comp::ROLE_DIRECT_REP, 300}}) {
      auto* r = p->add_rates();
      r->set_role(role);
      r->set_rate_bps(bps);
    }
    auto* split = p->add_splits();  // inside sales and the CAM share the revenue 40/60
    split->set_first_role(comp::ROLE_INSIDE_SALES);
    split->set_second_role(comp::ROLE_CHANNEL_ACCOUNT_MANAGER);
    split->set_mode(comp::SPLIT_MODE_SPLIT);
    split->set_first_share_bps(4000);
    split->set_second_share_bps(6000);
    auto* overlay = p->add_splits();  // direct rep vs partner collision: pay both
    overlay->set_first_role(comp::ROLE_DIRECT_REP);
    overlay->set_second_role(comp::ROLE_PARTNER);
    overlay->set_mode(comp::SPLIT_MODE_OVERLAY);
    p->mutable_registered_deal_bonus()->set_extra_margin_bps(300);
    p->mutable_registered_deal_bonus()->mutable_incentive()->set_currency_code("USD");
    p->mutable_registered_deal_bonus()->mutable_incentive()->set_amount_micros(250'000'000);
    p->set_hold_days(30);
    p->set_clawback_on_return(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    comp::PlanResponse resp;
    grpc::Status s = stub->PublishPlan(&ctx, req, &resp);
    if (!s.ok()) {
      fprintf(stderr, "PublishPlan: %s\n", s.error_message().c_str());
      ++errors;
    }
  }
  auto assign = [&](const std::string& rid, comp::Role role, const std::string& payee,
                    const std::function<void(comp::AssignmentTarget*)>& target) {
    comp::AssignRoleRequest req;
    req.set_request_id(rid);
    req.set_role(role);
    req.set_payee_id(payee);
    req.set_effective_from(FirstOfMonth(start));
    target(req.mutable_target());
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    comp::AssignRoleResponse resp;
    grpc::Status s = stub->AssignRole(&ctx, req, &resp);
    if (!s.ok()) {
      if (errors++ < 3) fprintf(stderr, "AssignRole: %s\n", s.error_message().c_str());
    }
  };
  // Ten channel account managers, twenty partners each.
  for (int p = 1; p <= world.partners; ++p) {
    assign(absl::StrCat(run, "-cam-", p), comp::ROLE_CHANNEL_ACCOUNT_MANAGER,
           absl::StrCat("cam-", (p - 1) % 10 + 1),
           [&](comp::AssignmentTarget* t) { t->set_partner_id(absl::StrFormat("P%03d", p)); });
  }
  // One inside-sales rep per territory of the end customer.
  for (const auto& g : world.geo) {
    assign(absl::StrCat(run, "-isr-", g.country, g.region), comp::ROLE_INSIDE_SALES,
           absl::StrCat("isr-", g.country, "-", g.region), [&](comp::AssignmentTarget* t) {
             t->mutable_territory()->set_country_code(g.country);
             t->mutable_territory()->set_region(g.region);
           });
  }
  return errors;
}

CompOutcome CloseAndReport(const std::string& comp_addr, const std::string& projections_addr,
                           const DemoWorld& world, int seed) {
  CompOutcome out;
  const std::string run = absl::StrCat("demo", seed);
  // The demo's sales are dated in the current month; the development clock has
  // moved a month ahead, so the month has ended and can be closed.
  out.period_id = Month(absl::Now());
  if (!comp_addr.empty()) {
    auto stub = comp::CompensationService::NewStub(Connect(comp_addr));
    comp::ClosePeriodRequest req;
    req.set_request_id(run + "-close-" + out.period_id);
    req.set_period_id(out.period_id);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    comp::PeriodResponse resp;
    grpc::Status s = stub->ClosePeriod(&ctx, req, &resp);
    out.period_closed = s.ok();
    if (!s.ok()) out.close_error = s.error_message();
  }
  if (projections_addr.empty()) return out;
  auto an_stub = an::AnalyticsService::NewStub(Connect(projections_addr));
  // Wait until the projections have consumed everything (lag 0) and saw the close.
  absl::Time until = absl::Now() + absl::Seconds(600);
  absl::Time next_note = absl::Now() + absl::Seconds(10);
  an::ProjectionStatus status;
  while (absl::Now() < until) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    an::GetProjectionStatusRequest req;
    if (an_stub->GetProjectionStatus(&ctx, req, &status).ok() && status.total_lag() == 0 &&
        (!out.period_closed || status.last_closed_period_id() >= out.period_id)) {
      break;
    }
    if (absl::Now() > next_note) {
      fprintf(stderr, "projections catching up: lag %lld events\n", static_cast<long long>(status.total_lag()));
      next_note = absl::Now() + absl::Seconds(10);
    }
    absl::SleepFor(absl::Milliseconds(300));
  }
  out.projection_lag = status.total_lag();
  out.credit_lines = status.credit_lines();
  out.sales = status.sales();
  out.uncredited_sales = status.uncredited_sales();
  {
    an::ListPartnerRoiRequest req;
    req.set_period_id(out.period_id);
    req.set_page_size(10);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    an::ListPartnerRoiResponse resp;
    grpc::Status s = an_stub->ListPartnerRoi(&ctx, req, &resp);
    if (!s.ok()) {
      ++out.rpc_errors;
      fprintf(stderr, "ListPartnerRoi: %s\n", s.error_message().c_str());
    }
    for (const auto& r : resp.partners()) out.roi.push_back(r);
  }
  for (const std::string payee : {"P010", "cam-10", "isr-US-CT", "isr-US-NY", "P015"}) {
    an::GetCommissionStatementRequest req;
    req.set_payee_id(payee);
    req.set_period_id(out.period_id);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    an::CommissionStatement st;
    grpc::Status s = an_stub->GetCommissionStatement(&ctx, req, &st);
    if (s.ok()) {
      out.statements.push_back(st);
    } else if (s.error_code() != grpc::StatusCode::NOT_FOUND) {
      ++out.rpc_errors;
    }
  }
  (void)world;
  return out;
}

}  // namespace channelops::ctl
