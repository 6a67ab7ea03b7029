#pragma once

// Pieces of the demo scenario shared between its per-service parts.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "channelops/analytics/v1/analytics.pb.h"
#include "channelops/pos/v1/pos.pb.h"
#include "channelopsctl.h"

namespace channelops::ctl {

struct Geo {
  std::string country, region, postal;
  double lat, lon;
};

struct DemoWorld {
  int partners = 200;
  std::vector<Geo> geo;
};

struct LeadsOutcome {
  int submitted = 0, accepted = 0, declined = 0, converted = 0, closed_lost = 0, left_waiting = 0;
  int manual_queue = 0;
  int rpc_errors = 0;
  bool inactive_partner_got_leads = false;
  std::map<std::string, int> by_rule;  // deciding rule of the first routing
  std::vector<std::pair<std::string, int64_t>> received_by_partner;
  struct Conversion {
    std::string partner, deal_id, company;
  };
  std::vector<Conversion> conversions;  // leads converted into registrations
};

struct MdfOutcome {
  int requests = 0, claims_paid = 0, rpc_errors = 0;
  int64_t allocated_micros = 0, reserved_micros = 0, paid_micros = 0;
  std::map<std::string, int> by_request_status;
  bool overdraw_refused = false;
  std::string overdraw_message;
};

MdfOutcome RunMdfScenario(const std::string& addr, const DemoWorld& world, int seed);

struct PosOutcome {
  int rpc_errors = 0;
  int64_t shipments = 0;
  channelops::pos::v1::ReportCounts csv, edi;
  double csv_seconds = 0;
  int64_t csv_bytes = 0;
  std::vector<std::string> reject_examples;
  std::string price_drop_sku;
  int64_t pp_credits = 0, pp_total_micros = 0, pp_eligible_units = 0;
  int64_t partner_reports = 0, partner_report_lines = 0;
  std::vector<channelops::pos::v1::InventoryPosition> p010_inventory;
};

// `customers`: (name, email domain) of end customers to sell to.
// `customers`: (name, email domain, region) of end customers P010 sells to;
// `conversions`: registrations from leads, whose partners report the sale.
struct SoldTo {
  std::string name, domain, region;
};
PosOutcome RunPosScenario(const std::string& addr, const DemoWorld& world,
                          const std::vector<SoldTo>& customers,
                          const std::vector<LeadsOutcome::Conversion>& conversions, int seed,
                          int csv_lines);

struct CompOutcome {
  std::string period_id;
  bool period_closed = false;
  std::string close_error;
  int64_t projection_lag = -1, credit_lines = 0, sales = 0, uncredited_sales = 0;
  int rpc_errors = 0;
  std::vector<channelops::analytics::v1::PartnerRoi> roi;
  std::vector<channelops::analytics::v1::CommissionStatement> statements;
};

// Publishes the plan and the role assignments. Returns the number of failed RPCs.
int SetUpCompensation(const std::string& addr, const DemoWorld& world, int seed);
// Closes the demo's month, waits for the projections, reads statements and ROI.
CompOutcome CloseAndReport(const std::string& comp_addr, const std::string& projections_addr,
                           const DemoWorld& world, int seed);

// `register_deal_for_lead(partner, lead_id, i)` registers a deal that came from
// the lead and returns its deal id ("" on failure).
LeadsOutcome RunLeadsScenario(const std::string& addr, const DemoWorld& world, int n_leads, int seed,
                              const std::function<std::string(const std::string& partner,
                                                              const std::string& lead_id, int i)>&
                                  register_deal_for_lead);

}  // namespace channelops::ctl
