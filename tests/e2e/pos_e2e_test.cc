// POS ingestion end to end through the real binaries (issue "POS /
// sell-through ingestion", "Show it: e2e"): dev_kafka and pos_ingestion run as
// processes; the test streams a 100,000-line CSV and an X12 867 file over
// gRPC, then reads the service's topic and checks that every accepted line
// reached Kafka exactly once (by line number), with the join keys downstream
// consumers need, and that the topic holds every event the store committed.
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "channelops/testing/child_process.h"
#include "channelops/testing/http.h"
#include "channelops/testing/kafka_cluster.h"
#include "channelops/testing/temp_dir.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace channelops {
namespace {

namespace pos = pos::v1;
using testing::ChildProcess;

constexpr int kRows = 100'000;
constexpr char kTopic[] = "channelops.pos_ingestion.events.v1";

std::string Header(const testing::Record& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

// The service's parser fixtures (ctest sets CHANNELOPS_SOURCE_DIR).
std::string TestData(const std::string& name) {
  const char* root = std::getenv("CHANNELOPS_SOURCE_DIR");
  EXPECT_NE(root, nullptr) << "CHANNELOPS_SOURCE_DIR";
  std::ifstream in(absl::StrCat(root ? root : ".", "/services/pos_ingestion/tests/testdata/", name),
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

common::v1::Money Usd(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}

google::protobuf::Timestamp Day(int y, int m, int d) {
  google::protobuf::Timestamp t;
  t.set_seconds(absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone())));
  return t;
}

// Row r (1-based; file line r + 1 after the header row): a stock sale of 2 x
// SSD-2TB on invoice INV-r; every 1000th row names an unknown SKU (rejected);
// rows kRows-19 .. kRows-10 repeat the invoices of rows 1..10 (duplicates).
bool RowRejected(int r) { return r % 1000 == 0; }
bool RowDuplicate(int r) { return r >= kRows - 19 && r <= kRows - 10; }

std::string BigCsv() {
  std::string csv =
      "activity,sku,quantity,unit_price,currency,date,invoice_number,invoice_line,"
      "customer_name,customer_country\r\n";
  for (int r = 1; r <= kRows; ++r) {
    const int invoice = RowDuplicate(r) ? r - (kRows - 20) : r;
    absl::StrAppendFormat(&csv,
                          "SS,%s,2,125.50,USD,2026-01-%02d,INV-%d,1,\"Customer %d, Inc.\",US\r\n",
                          RowRejected(r) ? "NOPE-1" : "SSD-2TB", 1 + r % 28, invoice, r);
  }
  return csv;
}

class PosE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_ = Started(ChildProcess::Start(
        testing::BinDir() + "/dev_kafka",
        {"--addr=127.0.0.1:0", "--partitions=8", absl::StrCat("--topics=", kTopic)}));
    ASSERT_NE(kafka_, nullptr);
    auto kline = kafka_->WaitForLine("bootstrap=([0-9.]+:[0-9]+)", absl::Seconds(30));
    ASSERT_TRUE(kline.ok()) << kline.status();
    bootstrap_ = (*kline)[1];
    svc_ = Started(
        ChildProcess::Start(testing::BinDir() + "/pos_ingestion",
                            {"--grpc_addr=127.0.0.1:0", "--metrics_addr=127.0.0.1:0",
                             "--data_dir=" + dir_.Path("pos"), "--kafka_bootstrap=" + bootstrap_}));
    ASSERT_NE(svc_, nullptr);
    auto line = svc_->WaitForLine(
        R"re("grpc_addr":"([0-9.]+:[0-9]+)".*"metrics_addr":"([0-9.]+:[0-9]+)")re",
        absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << line.status() << svc_->OutputTail();
    metrics_addr_ = (*line)[2];
    stub_ = pos::PosIngestionService::NewStub(
        grpc::CreateChannel((*line)[1], grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<ChildProcess> Started(absl::StatusOr<std::unique_ptr<ChildProcess>> p) {
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return c;
  }

  void Product(const std::string& sku, const std::string& line, int64_t price_micros) {
    pos::UpsertProductRequest req;
    req.set_request_id(absl::StrCat("product-", sku));
    req.mutable_product()->set_sku(sku);
    req.mutable_product()->set_product_line(line);
    req.mutable_product()->set_unit_of_measure("EA");
    *req.mutable_product()->mutable_list_price() = Usd(price_micros);
    pos::UpsertProductResponse resp;
    grpc::Status s = stub_->UpsertProduct(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Streams a report in `chunk`-byte pieces of raw bytes.
  std::pair<grpc::Status, pos::IngestReportResponse> Ingest(const std::string& report_id,
                                                            const std::string& partner,
                                                            pos::ReportFormat format,
                                                            const std::string& bytes,
                                                            size_t chunk) {
    pos::IngestReportResponse resp;
    auto ctx = Ctx();
    auto writer = stub_->IngestReport(ctx.get(), &resp);
    pos::IngestReportRequest first;
    pos::ReportHeader* h = first.mutable_header();
    h->set_report_id(report_id);
    h->set_partner_id(partner);
    h->set_kind(pos::REPORT_KIND_SELL_THROUGH);
    h->set_format(format);
    h->mutable_period()->set_start_date("2026-01-01");
    h->mutable_period()->set_end_date("2026-02-01");
    bool open = writer->Write(first);
    for (size_t i = 0; open && i < bytes.size(); i += chunk) {
      pos::IngestReportRequest m;
      m.set_chunk(bytes.substr(i, chunk));
      open = writer->Write(m);
    }
    if (open) writer->WritesDone();
    grpc::Status s = writer->Finish();
    return {s, resp};
  }

  // A gauge or counter of the service's /metrics (the unlabelled series).
  double Metric(const std::string& name) {
    const std::string text = testing::HttpGet(metrics_addr_, "/metrics");
    const std::string series = name + " ";
    size_t at = text.find("\n" + series);
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + 1 + series.size(), nullptr);
  }

  testing::TempDir dir_{"pos_e2e"};
  std::unique_ptr<ChildProcess> kafka_, svc_;
  std::string bootstrap_, metrics_addr_;
  std::unique_ptr<pos::PosIngestionService::Stub> stub_;
};

TEST_F(PosE2E, HundredThousandLineCsvAndAn867ReachKafkaLineForLine) {
  Product("SSD-2TB", "storage", 125'500'000);
  Product("SRV-100", "compute", 1'000'000'000);
  {
    pos::RecordShipmentsRequest req;
    req.set_request_id("ship-1");
    auto add = [&](const std::string& id, const std::string& partner, const std::string& sku,
                   int64_t qty) {
      pos::Shipment* s = req.add_shipments();
      s->set_shipment_id(id);
      s->set_partner_id(partner);
      s->set_sku(sku);
      s->set_quantity(qty);
      *s->mutable_unit_price() = Usd(100'000'000);
      *s->mutable_shipped_at() = Day(2025, 12, 28);
      *s->mutable_received_at() = Day(2025, 12, 30);
    };
    add("S-200", "P-200", "SSD-2TB", 250'000);
    add("S-100", "P-100", "SSD-2TB", 100);
    add("S-101", "P-100", "SRV-100", 10);
    pos::RecordShipmentsResponse resp;
    grpc::Status s = stub_->RecordShipments(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.recorded(), 3);
  }

  // The 100,000-line CSV, in 64 KiB pieces (a piece ends mid-record).
  auto [csv_status, csv] = Ingest("P200-2026-01", "P-200", pos::REPORT_FORMAT_CSV, BigCsv(), 65536);
  ASSERT_TRUE(csv_status.ok()) << csv_status.error_message();
  const pos::ReportCounts& n = csv.report().counts();
  EXPECT_EQ(csv.report().status(), pos::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(n.lines_received(), kRows);
  EXPECT_EQ(n.rejected(), kRows / 1000);
  EXPECT_EQ(n.duplicates(), 10);
  EXPECT_EQ(n.accepted(), kRows - kRows / 1000 - 10);
  ASSERT_EQ(csv.rejects_size(), kRows / 1000);
  EXPECT_EQ(csv.rejects(0).line_number(), 1001);  // row 1000, after the header row
  EXPECT_EQ(csv.rejects(0).field(), "sku");

  // The X12 867 (7 lines: 6 sales and returns, 1 price adjustment ignored).
  auto [edi_status, edi] = Ingest("ACME-867-2026-01", "P-100", pos::REPORT_FORMAT_X12_867,
                                  TestData("sell_through_867.edi"), 100);
  ASSERT_TRUE(edi_status.ok()) << edi_status.error_message();
  EXPECT_EQ(edi.report().counts().lines_received(), 7);
  EXPECT_EQ(edi.report().counts().accepted(), 6);
  EXPECT_EQ(edi.report().counts().ignored(), 1);

  // Every event the store committed is on the topic: as many distinct
  // positions as the store's last position.
  const double last = Metric("channelops_eventstore_last_position");
  ASSERT_GT(last, 0);
  // A report's chunks share its stream's key, so one partition holds all of
  // them. The relay's LZ4 batches keep them under the mock broker's 5 MB per
  // partition, beyond which it drops the oldest batches (the line-for-line
  // check below would then fail).
  // The relay publishes at least once: a redelivered record counts towards
  // ReadTopic's minimum, so read again, for more, until every position is in
  // (or a read times out short of its minimum).
  std::vector<testing::Record> records;
  for (size_t want = static_cast<size_t>(last);;) {
    records = testing::ReadTopic(bootstrap_, kTopic, want, absl::Seconds(90));
    std::set<std::string> distinct;
    for (const auto& r : records) distinct.insert(Header(r, "channelops_position"));
    if (distinct.size() >= static_cast<size_t>(last) || records.size() < want) break;
    want = records.size() + (static_cast<size_t>(last) - distinct.size());
  }
  std::set<std::string> positions;
  std::map<std::string, std::set<int64_t>> lines;  // report -> accepted line numbers
  std::map<std::string, int> completed;
  int duplicated_lines = 0;
  pos::PosLine edi_registered;
  for (const auto& r : records) {
    if (!positions.insert(Header(r, "channelops_position")).second) continue;  // redelivered
    common::v1::EventEnvelope env;
    ASSERT_TRUE(env.ParseFromString(r.value));
    EXPECT_EQ(Header(r, "ce_source"), "channelops/pos_ingestion");
    EXPECT_EQ(Header(r, "ce_type"), env.event_type());
    pos::PosLinesAccepted chunk;
    pos::ReportCompleted done;
    if (env.payload().UnpackTo(&chunk)) {
      for (const pos::PosLine& l : chunk.lines()) {
        if (!lines[l.report_id()].insert(l.line_number()).second) ++duplicated_lines;
        if (!l.deal_registration_id().empty()) edi_registered = l;
      }
    } else if (env.payload().UnpackTo(&done)) {
      ++completed[done.report_id()];
    }
  }
  EXPECT_EQ(positions.size(), static_cast<size_t>(last));
  EXPECT_EQ(duplicated_lines, 0);
  EXPECT_EQ(completed["P200-2026-01"], 1);
  EXPECT_EQ(completed["ACME-867-2026-01"], 1);

  // Line for line: exactly the accepted rows of the CSV.
  std::set<int64_t> expected;
  for (int r = 1; r <= kRows; ++r) {
    if (!RowRejected(r) && !RowDuplicate(r)) expected.insert(r + 1);
  }
  EXPECT_EQ(lines["P200-2026-01"].size(), expected.size());
  EXPECT_TRUE(lines["P200-2026-01"] == expected) << "accepted CSV lines differ from the topic's";
  EXPECT_EQ(lines["ACME-867-2026-01"].size(), 6u);
  // The join keys downstream consumers need travel with the line.
  EXPECT_EQ(edi_registered.deal_registration_id(), "DR-2026-0042");
  EXPECT_EQ(edi_registered.partner_id(), "P-100");
  EXPECT_FALSE(edi_registered.customer_key().empty());

  // SIGTERM: drains and exits 0.
  ASSERT_TRUE(svc_->Kill(SIGTERM).ok());
  auto code = svc_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << svc_->OutputTail();
}

}  // namespace
}  // namespace channelops
