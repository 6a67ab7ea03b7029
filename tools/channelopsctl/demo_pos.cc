// POS / sell-through part of the demo: a catalogue, price-protection terms,
// sell-in shipments to every partner, a 100,000-line CSV sell-through report
// streamed in chunks by the largest reseller (with a few bad lines that are
// rejected and a re-sent line that is a duplicate), an X12 867 report from
// another partner, customer returns, and a price drop that yields exact
// price-protection credits per partner and SKU.
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "demo.h"

namespace channelops::ctl {

namespace pos = channelops::pos::v1;

namespace {
auto Deadline() { return std::chrono::system_clock::now() + std::chrono::seconds(120); }
std::string Day(absl::Time t, const char* f = "%Y-%m-%d") { return absl::FormatTime(f, t, absl::UTCTimeZone()); }
common::v1::Money Price(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}
google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

struct Sku {
  std::string sku, line;
  int64_t price_micros;
};

// Streams `data` as one report; returns the service's answer.
grpc::Status Ingest(pos::PosIngestionService::Stub& stub, const pos::ReportHeader& header,
                    const std::string& data, pos::IngestReportResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  auto writer = stub.IngestReport(&ctx, resp);
  pos::IngestReportRequest first;
  *first.mutable_header() = header;
  if (!writer->Write(first)) return writer->Finish();
  constexpr size_t kChunk = 1 << 20;
  for (size_t off = 0; off < data.size(); off += kChunk) {
    pos::IngestReportRequest chunk;
    chunk.set_chunk(data.substr(off, kChunk));
    if (!writer->Write(chunk)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}
}  // namespace

PosOutcome RunPosScenario(const std::string& addr, const DemoWorld& world,
                          const std::vector<SoldTo>& customers,
                          const std::vector<LeadsOutcome::Conversion>& conversions, int seed,
                          int csv_lines) {
  PosOutcome out;
  auto stub = pos::PosIngestionService::NewStub(Connect(addr));
  const std::string run = absl::StrCat("demo", seed);
  std::mt19937 rng(seed + 7);
  absl::Time now = absl::Now();
  std::vector<Sku> skus;
  const char* lines[] = {"net", "sec", "cloud", "storage"};
  for (int i = 0; i < 20; ++i) {
    skus.push_back({absl::StrFormat("SKU-%s-%02d", lines[i % 4], i), lines[i % 4],
                    (200 + 50 * i) * 1'000'000LL});
  }
  for (const auto& s : skus) {
    pos::UpsertProductRequest req;
    req.set_request_id(absl::StrCat(run, "-product-", s.sku));
    auto* p = req.mutable_product();
    p->set_sku(s.sku);
    p->set_product_line(s.line);
    p->set_unit_of_measure("EA");
    *p->mutable_list_price() = Price(s.price_micros);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    pos::UpsertProductResponse resp;
    grpc::Status st = stub->UpsertProduct(&ctx, req, &resp);
    if (!st.ok()) {
      if (out.rpc_errors++ < 3) fprintf(stderr, "UpsertProduct: %s\n", st.error_message().c_str());
    }
  }
  {
    pos::SetPriceProtectionTermsRequest req;
    req.set_request_id(run + "-pp-terms");
    auto* t = req.mutable_terms();
    t->set_program_id("price-protection-2027");
    t->set_supported_bps(7500);
    t->set_claim_window_days(30);
    t->set_include_in_transit(true);
    t->set_default_program(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    pos::SetPriceProtectionTermsResponse resp;
    if (!stub->SetPriceProtectionTerms(&ctx, req, &resp).ok()) ++out.rpc_errors;
  }
  // Sell-in: every partner receives stock of four SKUs; P010 (the large reseller)
  // receives enough for its 100,000-line report. Some shipments are still in transit.
  std::vector<pos::Shipment> shipments;
  for (int p = 1; p <= world.partners; ++p) {
    std::string partner = absl::StrFormat("P%03d", p);
    for (int k = 0; k < 4; ++k) {
      const Sku& s = skus[(p + k * 5) % skus.size()];
      pos::Shipment sh;
      sh.set_shipment_id(absl::StrCat("ERP-SHP-", p, "-", k));
      sh.set_partner_id(partner);
      sh.set_sku(s.sku);
      sh.set_quantity(p == 10 ? 60'000 : 20 + rng() % 200);
      *sh.mutable_unit_price() = Price(s.price_micros * 7 / 10);  // distributor price: list - 30%
      *sh.mutable_shipped_at() = Ts(now - absl::Hours(24 * 5));
      if (k != 3 || p == 10) *sh.mutable_received_at() = Ts(now - absl::Hours(24 * 3));
      shipments.push_back(sh);
    }
  }
  for (size_t off = 0; off < shipments.size(); off += 500) {
    pos::RecordShipmentsRequest req;
    req.set_request_id(absl::StrCat(run, "-shipments-", off));
    for (size_t i = off; i < std::min(shipments.size(), off + 500); ++i) *req.add_shipments() = shipments[i];
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    pos::RecordShipmentsResponse resp;
    grpc::Status st = stub->RecordShipments(&ctx, req, &resp);
    if (!st.ok()) {
      if (out.rpc_errors++ < 3) fprintf(stderr, "RecordShipments: %s\n", st.error_message().c_str());
    } else {
      out.shipments += resp.recorded() + resp.already_recorded();
    }
  }
  // The 100,000-line CSV from P010, sold to the demo's end customers.
  absl::Time month_start = absl::FromCivil(absl::CivilMonth(absl::ToCivilDay(now, absl::UTCTimeZone())),
                                           absl::UTCTimeZone());
  std::string today = Day(now);
  std::string csv =
      "activity,sku,quantity,date,unit_price,currency,invoice_number,invoice_line,original_invoice_number,"
      "customer_name,customer_country,customer_region,customer_email_domain,deal_registration_id\n";
  std::vector<const Sku*> p10;
  for (int k = 0; k < 4; ++k) p10.push_back(&skus[(10 + k * 5) % skus.size()]);
  for (int i = 0; i < csv_lines; ++i) {
    const Sku& s = *p10[i % 4];
    const auto& c = customers[rng() % customers.size()];
    std::string activity = "SS", qty = std::to_string(1 + rng() % 3), orig;
    if (i % 500 == 499) {  // a customer return of an earlier sale
      activity = "RU";
      qty = "1";
      orig = absl::StrCat("INV-", i - 3);
    }
    std::string sku = s.sku;
    if (i % 20000 == 7) sku = "SKU-DOES-NOT-EXIST";  // rejected: unknown SKU
    if (i % 25000 == 11) qty = "0";                   // rejected: zero quantity on a sale
    absl::StrAppend(&csv, activity, ",", sku, ",", qty, ",", today, ",",
                    absl::StrFormat("%d.%02d", s.price_micros / 1'000'000 * 9 / 10, i % 100), ",USD,INV-", i,
                    ",1,", orig, ",\"", c.name, "\",US,", c.region, ",", c.domain, ",\n");
  }
  // The same invoice line sent twice is a duplicate, counted once.
  absl::StrAppend(&csv, "SS,", p10[0]->sku, ",1,", today, ",100.00,USD,INV-0,1,,\"", customers[0].name,
                  "\",US,", customers[0].region, ",,\n");
  pos::ReportHeader header;
  header.set_report_id(absl::StrCat(run, "-P010-", Day(now, "%Y%m")));
  header.set_partner_id("P010");
  header.set_kind(pos::REPORT_KIND_SELL_THROUGH);
  header.mutable_period()->set_start_date(Day(month_start));
  header.mutable_period()->set_end_date(Day(month_start + absl::Hours(24 * 32), "%Y-%m-01"));
  header.set_format(pos::REPORT_FORMAT_CSV);
  absl::Time t0 = absl::Now();
  pos::IngestReportResponse resp;
  grpc::Status st = Ingest(*stub, header, csv, &resp);
  out.csv_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  out.csv_bytes = static_cast<int64_t>(csv.size());
  if (!st.ok()) {
    ++out.rpc_errors;
    fprintf(stderr, "IngestReport (CSV): %s\n", st.error_message().c_str());
  } else {
    out.csv = resp.report().counts();
    for (const auto& r : resp.rejects()) out.reject_examples.push_back(absl::StrCat(
        "line ", r.line_number(), " ", r.field(), ": ", r.message()));
  }
  // An X12 867 from P020.
  {
    const Sku& s = skus[(20 + 5) % skus.size()];
    std::string d = Day(now, "%Y%m%d");
    std::string edi = absl::StrCat(
        "ISA*00*          *00*          *ZZ*P020           *ZZ*VENDOR         *", Day(now, "%y%m%d"),
        "*1200*U*00401*000000777*0*P*>~GS*PT*P020*VENDOR*", d, "*1200*777*X*004010~ST*867*0001~",
        "BPT*00*", run, "-P020*", d, "*DD~CUR*SE*USD~N1*FR*PARTNER 020*91*P020~");
    int segs = 6;
    for (int i = 0; i < 40; ++i) {
      const auto& c = customers[(i * 7) % customers.size()];
      absl::StrAppend(&edi, "PTD*SS~DTM*003*", d, "~REF*IV*EDI-INV-", i, "~N1*BY*", c.name,
                      "~N4*Hartford*CT*06103*US~QTY*39*", 1 + i % 4, "*EA~LIN*1*VP*", s.sku, "~UIT*EA*",
                      s.price_micros / 1'000'000, "~");
      segs += 8;
    }
    absl::StrAppend(&edi, "SE*", segs, "*0001~GE*1*777~IEA*1*000000777~");
    pos::ReportHeader h = header;
    h.set_report_id(absl::StrCat(run, "-P020-867"));
    h.set_partner_id("P020");
    h.set_format(pos::REPORT_FORMAT_X12_867);
    pos::IngestReportResponse r867;
    grpc::Status s867 = Ingest(*stub, h, edi, &r867);
    if (!s867.ok()) {
      ++out.rpc_errors;
      fprintf(stderr, "IngestReport (867): %s\n", s867.error_message().c_str());
    } else {
      out.edi = r867.report().counts();
      for (const auto& r : r867.rejects()) {
        if (out.reject_examples.size() < 6) out.reject_examples.push_back(absl::StrCat("867 segment ", r.line_number(), " ", r.field(), ": ", r.message()));
      }
    }
  }
  // Partners report the sales of the deals they registered from leads (the chain
  // projections attribute: sale -> registration -> lead -> funded campaign).
  {
    std::map<std::string, std::vector<const LeadsOutcome::Conversion*>> by_partner;
    for (const auto& c : conversions) by_partner[c.partner].push_back(&c);
    for (const auto& [partner, list] : by_partner) {
      int pnum = std::stoi(partner.substr(1));
      const Sku& s = skus[(pnum + 5) % skus.size()];  // one of the partner's shipped SKUs
      std::string rcsv =
          "activity,sku,quantity,date,unit_price,currency,invoice_number,customer_name,customer_country,"
          "customer_region,deal_registration_id\n";
      int n = 0;
      for (const auto* c : list) {
        absl::StrAppend(&rcsv, "SS,", s.sku, ",10,", today, ",1500.00,USD,", partner, "-INV-", n++, ",\"",
                        c->company, "\",US,NY,", c->deal_id, "\n");
      }
      pos::ReportHeader h = header;
      h.set_report_id(absl::StrCat(run, "-", partner, "-lead-sales"));
      h.set_partner_id(partner);
      pos::IngestReportResponse r;
      grpc::Status rs = Ingest(*stub, h, rcsv, &r);
      if (!rs.ok()) {
        if (out.rpc_errors++ < 3) fprintf(stderr, "IngestReport (%s): %s\n", partner.c_str(), rs.error_message().c_str());
      } else {
        out.partner_reports++;
        out.partner_report_lines += r.report().counts().accepted();
      }
    }
  }
  // A price drop on P010's best seller: price protection for everyone holding it.
  {
    const Sku& s = *p10[0];
    pos::ChangePriceRequest req;
    req.set_request_id(run + "-price-drop");
    req.set_sku(s.sku);
    *req.mutable_new_price() = Price(s.price_micros * 85 / 100);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline());
    pos::ChangePriceResponse resp;
    if (!stub->ChangePrice(&ctx, req, &resp).ok()) ++out.rpc_errors;
    out.price_drop_sku = s.sku;
    absl::SleepFor(absl::Milliseconds(500));
    pos::ListPriceProtectionCreditsRequest lr;
    lr.set_sku(s.sku);
    lr.set_page_size(1000);
    grpc::ClientContext c2;
    c2.set_deadline(Deadline());
    pos::ListPriceProtectionCreditsResponse credits;
    if (stub->ListPriceProtectionCredits(&c2, lr, &credits).ok()) {
      for (const auto& c : credits.credits()) {
        ++out.pp_credits;
        out.pp_total_micros += c.amount().amount_micros();
        out.pp_eligible_units += c.eligible_quantity();
      }
    }
    pos::GetChannelInventoryRequest inv;
    inv.set_partner_id("P010");
    grpc::ClientContext c3;
    c3.set_deadline(Deadline());
    pos::GetChannelInventoryResponse positions;
    if (stub->GetChannelInventory(&c3, inv, &positions).ok()) {
      for (const auto& p : positions.positions()) out.p010_inventory.push_back(p);
    }
  }
  return out;
}

}  // namespace channelops::ctl
