// Service-level tests: the real PosIngestionService behind a real gRPC server
// on 127.0.0.1:0, over a RocksDB event store in a temporary directory, driven
// through the generated stub (reports through the client-streaming
// IngestReport). Time is a FakeClock shared by the store and the service.

#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "channelops/core/clock.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/normalize.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/pos/v1/events.pb.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "channelops/testing/local_server.h"
#include "channelops/testing/temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/pos_ingestion_service.h"
#include "pos_ingestion/read_models.h"

ABSL_DECLARE_FLAG(std::string, identity_header);

namespace channelops::pos {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kPrincipalHeader[] = "x-channelops-principal";
const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 2, 5, 12, 0, 0), absl::UTCTimeZone());

std::string TestData(const std::string& name) {
  std::string here = __FILE__;
  std::ifstream in(here.substr(0, here.rfind('/')) + "/testdata/" + name, std::ios::binary);
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
  return domain::ToProtoTime(absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()));
}

// The instant just before day (y, m, d + 1): "end of day".
google::protobuf::Timestamp EndOfDay(int y, int m, int d) {
  return domain::ToProtoTime(domain::EndOf(absl::CivilDay(y, m, d)));
}

v1::ReportHeader Header(const std::string& report_id, const std::string& partner,
                        v1::ReportKind kind, v1::ReportFormat format) {
  v1::ReportHeader h;
  h.set_report_id(report_id);
  h.set_partner_id(partner);
  h.set_kind(kind);
  h.set_format(format);
  h.mutable_period()->set_start_date("2026-01-01");
  h.mutable_period()->set_end_date("2026-02-01");
  return h;
}

std::vector<std::string> Fields(const grpc::Status& s) {
  std::vector<std::string> out;
  for (const auto& [field, reason] : core::GetFieldViolations(core::FromGrpcStatus(s))) {
    out.push_back(field);
  }
  return out;
}

struct Ingested {
  grpc::Status status;
  v1::IngestReportResponse response;
};

class PosIngestionServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // CallerIdentity reads the flag once, at its first call.
    absl::SetFlag(&FLAGS_identity_header, kPrincipalHeader);
  }

  void SetUp() override {
    eventstore::Options o;
    o.path = dir_.Path("store");
    o.source = "channelops/pos_ingestion";
    o.read_model_cfs = PosIngestionService::ReadModelCfs();
    o.clock = &clock_;
    auto store = eventstore::EventStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    service_ = std::make_unique<PosIngestionService>(*store_, clock_);
    auto local = ::channelops::testing::StartLocalServer(service_.get());
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local->server);
    stub_ = v1::PosIngestionService::NewStub(local->channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    if (store_) store_->Close();
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& principal) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata(kPrincipalHeader, principal);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return ctx;
  }

  void Product(const std::string& sku, const std::string& line, int64_t price_micros) {
    v1::UpsertProductRequest req;
    req.set_request_id(absl::StrCat("product-", sku));
    req.mutable_product()->set_sku(sku);
    req.mutable_product()->set_product_line(line);
    req.mutable_product()->set_unit_of_measure("EA");
    *req.mutable_product()->mutable_list_price() = Usd(price_micros);
    v1::UpsertProductResponse resp;
    grpc::Status s = stub_->UpsertProduct(As("erp").get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Terms(const std::string& program, int32_t bps, bool transit,
             std::vector<std::string> partners, bool default_program = false) {
    v1::SetPriceProtectionTermsRequest req;
    req.set_request_id(absl::StrCat("terms-", program, "-", ++seq_));
    auto* t = req.mutable_terms();
    t->set_program_id(program);
    t->set_supported_bps(bps);
    t->set_include_in_transit(transit);
    t->set_claim_window_days(30);
    t->set_default_program(default_program);
    for (auto& p : partners) t->add_partner_ids(p);
    v1::SetPriceProtectionTermsResponse resp;
    grpc::Status s = stub_->SetPriceProtectionTerms(As("finance").get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static v1::Shipment Shipment(const std::string& id, const std::string& partner,
                               const std::string& sku, int64_t qty, int64_t price_micros,
                               google::protobuf::Timestamp shipped,
                               std::optional<google::protobuf::Timestamp> received) {
    v1::Shipment s;
    s.set_shipment_id(id);
    s.set_partner_id(partner);
    s.set_sku(sku);
    s.set_quantity(qty);
    *s.mutable_unit_price() = Usd(price_micros);
    *s.mutable_shipped_at() = shipped;
    if (received) *s.mutable_received_at() = *received;
    return s;
  }

  v1::RecordShipmentsResponse Ship(std::vector<v1::Shipment> shipments) {
    v1::RecordShipmentsRequest req;
    req.set_request_id(absl::StrCat("ship-", ++seq_));
    for (auto& s : shipments) *req.add_shipments() = std::move(s);
    v1::RecordShipmentsResponse resp;
    grpc::Status s = stub_->RecordShipments(As("erp").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Streams a report: the header, then `messages` (chunks or line batches).
  Ingested Ingest(const v1::ReportHeader& header,
                  const std::vector<v1::IngestReportRequest>& messages,
                  const std::string& principal = "edi-gateway") {
    Ingested out;
    auto ctx = As(principal);
    auto writer = stub_->IngestReport(ctx.get(), &out.response);
    v1::IngestReportRequest first;
    *first.mutable_header() = header;
    bool open = writer->Write(first);
    for (size_t i = 0; open && i < messages.size(); ++i) open = writer->Write(messages[i]);
    if (open) writer->WritesDone();
    out.status = writer->Finish();
    return out;
  }

  static std::vector<v1::IngestReportRequest> Chunks(const std::string& bytes, size_t size) {
    std::vector<v1::IngestReportRequest> out;
    for (size_t i = 0; i < bytes.size(); i += size)
      out.emplace_back().set_chunk(bytes.substr(i, size));
    return out;
  }

  v1::Report GetReport(const std::string& id, grpc::Status* status = nullptr) {
    v1::GetReportRequest req;
    req.set_report_id(id);
    v1::GetReportResponse resp;
    grpc::Status s = stub_->GetReport(As("ops").get(), req, &resp);
    if (status) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return resp.report();
  }

  v1::InventoryPosition Inventory(const std::string& partner, const std::string& sku,
                                  std::optional<google::protobuf::Timestamp> as_of = std::nullopt) {
    v1::GetChannelInventoryRequest req;
    req.set_partner_id(partner);
    req.set_sku(sku);
    if (as_of) *req.mutable_as_of() = *as_of;
    v1::GetChannelInventoryResponse resp;
    grpc::Status s = stub_->GetChannelInventory(As("ops").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const auto& p : resp.positions()) {
      if (p.sku() == sku) return p;
    }
    return v1::InventoryPosition();
  }

  v1::SellThrough SellThrough(const std::string& partner, const std::string& sku) {
    v1::GetSellThroughRequest req;
    req.set_partner_id(partner);
    req.set_sku(sku);
    req.mutable_period()->set_start_date("2026-01-01");
    req.mutable_period()->set_end_date("2026-02-01");
    v1::GetSellThroughResponse resp;
    grpc::Status s = stub_->GetSellThrough(As("ops").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.items_size() == 1 ? resp.items(0) : v1::SellThrough();
  }

  std::vector<v1::PriceProtectionCredit> Credits(const std::string& partner,
                                                 const std::string& sku = "") {
    v1::ListPriceProtectionCreditsRequest req;
    req.set_partner_id(partner);
    req.set_sku(sku);
    v1::ListPriceProtectionCreditsResponse resp;
    grpc::Status s = stub_->ListPriceProtectionCredits(As("finance").get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.credits().begin(), resp.credits().end()};
  }

  // Every event payload of a stream, unpacked as M (others skipped).
  template <class M>
  std::vector<M> Events(const std::string& stream) {
    std::vector<M> out;
    auto events = store_->ReadStream(stream, 1, 1'000'000);
    EXPECT_TRUE(events.ok()) << events.status();
    for (const auto& e : *events) {
      M m;
      if (e.payload().UnpackTo(&m)) out.push_back(std::move(m));
    }
    return out;
  }

  // The accepted lines of a report stream, in order (PosLinesAccepted chunks).
  std::vector<v1::PosLine> AcceptedLines(const std::string& stream) {
    std::vector<v1::PosLine> out;
    for (auto& chunk : Events<v1::PosLinesAccepted>(stream)) {
      for (auto& l : *chunk.mutable_lines()) out.push_back(std::move(l));
    }
    return out;
  }

  core::FakeClock clock_{kStart};
  testing::TempDir dir_{"pos_service_test"};
  std::unique_ptr<eventstore::EventStore> store_;
  std::unique_ptr<PosIngestionService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::PosIngestionService::Stub> stub_;
  int seq_ = 0;
};

// ---------------------------------------------------------------------------
// A 10,000-line CSV: counts, rejects, duplicates, replay, correction
// ---------------------------------------------------------------------------

// Row r (1-based, file line r + 1): a stock sale of 2 x SSD-2TB on invoice
// INV-r, dated 2026-01-(1 + r % 28); every 1000th row names an unknown SKU;
// rows 9981..9990 repeat the invoices of rows 1..10.
bool RowAccepted(int r) { return r % 1000 != 0 && (r < 9981 || r > 9990); }
int RowDay(int r) { return 1 + r % 28; }

std::string TenThousandLineCsv() {
  std::string csv =
      "activity,sku,quantity,unit_price,currency,date,invoice_number,invoice_line,"
      "customer_name,customer_country\r\n";
  for (int r = 1; r <= 10000; ++r) {
    const int invoice = (r >= 9981 && r <= 9990) ? r - 9980 : r;
    absl::StrAppendFormat(&csv,
                          "SS,%s,2,125.50,USD,2026-01-%02d,INV-%d,1,\"Customer %d, Inc.\",US\r\n",
                          r % 1000 == 0 ? "NOPE-1" : "SSD-2TB", RowDay(r), invoice, r);
  }
  return csv;
}

TEST_F(PosIngestionServiceTest,
       TenThousandLineCsvIsCountedRejectedDeduplicatedReplayedAndCorrected) {
  Product("SSD-2TB", "storage", 125'500'000);
  Ship({Shipment("S-200-1", "P-200", "SSD-2TB", 25000, 100'000'000, Day(2025, 12, 30),
                 Day(2026, 1, 1))});
  const std::string csv = TenThousandLineCsv();
  const auto header =
      Header("P200-2026-01", "P-200", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV);

  Ingested first = Ingest(header, Chunks(csv, 65536));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const v1::Report& report = first.response.report();
  EXPECT_EQ(report.status(), v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(report.counts().lines_received(), 10000);
  EXPECT_EQ(report.counts().accepted(), 9980);
  EXPECT_EQ(report.counts().rejected(), 10);
  EXPECT_EQ(report.counts().duplicates(), 10);
  EXPECT_EQ(report.last_line_number(), 10001);
  ASSERT_THAT(first.response.rejects(), SizeIs(10));
  for (int i = 0; i < 10; ++i) {
    const v1::RejectedLine& r = first.response.rejects(i);
    EXPECT_EQ(r.line_number(), (i + 1) * 1000 + 1);
    EXPECT_EQ(r.field(), "sku");
    EXPECT_EQ(r.code(), v1::REJECT_CODE_UNKNOWN_SKU);
    EXPECT_THAT(r.message(), HasSubstr("NOPE-1"));
  }
  ASSERT_THAT(first.response.duplicates(), SizeIs(10));
  EXPECT_EQ(first.response.duplicates(0).line_number(), 9982);
  EXPECT_EQ(first.response.duplicates(0).original_report_id(), "P200-2026-01");
  EXPECT_EQ(first.response.duplicates(0).original_line_number(), 2);
  // Every accepted line, in chunk events of at most kMaxLinesPerChunk lines
  // (each batch of kBatchLines ends a chunk).
  EXPECT_THAT(AcceptedLines("report-P200-2026-01"), SizeIs(9980));
  auto chunks = Events<v1::PosLinesAccepted>("report-P200-2026-01");
  size_t expect_chunks = 0;  // each batch's accepted lines, in full chunks and one partial
  for (const auto& p : Events<v1::ReportLinesProcessed>("report-P200-2026-01"))
    expect_chunks += (p.accepted() + domain::kMaxLinesPerChunk - 1) / domain::kMaxLinesPerChunk;
  EXPECT_EQ(chunks.size(), expect_chunks);
  EXPECT_GE(chunks.size(), 5u * 2000 / domain::kMaxLinesPerChunk);
  for (const auto& c : chunks) EXPECT_LE(c.lines_size(), domain::kMaxLinesPerChunk);
  EXPECT_THAT(Events<v1::ReportLinesProcessed>("report-P200-2026-01"), SizeIs(5));

  v1::Report stored = GetReport("P200-2026-01");
  EXPECT_EQ(stored.status(), v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(stored.counts().accepted(), 9980);

  // The reject list, paged.
  std::vector<int64_t> pages;
  std::string token;
  do {
    v1::ListRejectedLinesRequest req;
    req.set_report_id("P200-2026-01");
    req.set_page_size(4);
    req.set_page_token(token);
    v1::ListRejectedLinesResponse resp;
    ASSERT_TRUE(stub_->ListRejectedLines(As("ops").get(), req, &resp).ok());
    pages.push_back(resp.rejects_size());
    token = resp.next_page_token();
  } while (!token.empty());
  EXPECT_THAT(pages, ElementsAre(4, 4, 2));

  // Inventory: 25,000 received, 2 per accepted row sold; as of any instant.
  int64_t sold = 0, sold_by_15th = 0;
  for (int r = 1; r <= 10000; ++r) {
    if (!RowAccepted(r)) continue;
    sold += 2;
    if (RowDay(r) <= 15) sold_by_15th += 2;
  }
  ASSERT_EQ(sold, 19960);
  v1::InventoryPosition now = Inventory("P-200", "SSD-2TB");
  EXPECT_EQ(now.received(), 25000);
  EXPECT_EQ(now.sold(), 19960);
  EXPECT_EQ(now.on_hand(), 25000 - 19960);
  EXPECT_EQ(Inventory("P-200", "SSD-2TB", EndOfDay(2026, 1, 15)).on_hand(), 25000 - sold_by_15th);
  EXPECT_EQ(Inventory("P-200", "SSD-2TB", EndOfDay(2025, 12, 31)).on_hand(), 0);
  v1::SellThrough st = SellThrough("P-200", "SSD-2TB");
  EXPECT_EQ(st.units_sold(), 19960);
  EXPECT_EQ(st.sales_amount().amount_micros(), 19960 * 125'500'000LL);  // USD 2,504,980.00

  // The same report again: its first answer, nothing written.
  const uint64_t position = store_->LastPosition();
  Ingested again = Ingest(header, Chunks(csv, 100000));
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_TRUE(again.response.replayed());
  EXPECT_EQ(again.response.report().counts().accepted(), 9980);
  EXPECT_THAT(again.response.rejects(), SizeIs(10));
  EXPECT_EQ(store_->LastPosition(), position);

  // A correction replaces every line of the report, by events.
  auto correction =
      Header("P200-2026-01-v2", "P-200", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV);
  correction.set_corrects_report_id("P200-2026-01");
  const std::string fixed =
      "activity,sku,quantity,date,invoice_number,invoice_line,customer_name,customer_country,unit_"
      "price\n"
      "SS,SSD-2TB,5,2026-01-02,INV-1,1,Customer 1,US,125.50\n"     // replaces row 1 (was 2)
      "SS,SSD-2TB,1,2026-01-03,INV-2,1,Customer 2,US,125.50\n"     // replaces row 2
      "SS,SSD-2TB,2,2026-01-20,INV-NEW,1,Customer X,US,125.50\n";  // new
  Ingested corrected = Ingest(correction, Chunks(fixed, 7));
  ASSERT_TRUE(corrected.status.ok()) << corrected.status.error_message();
  EXPECT_EQ(corrected.response.report().status(), v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(corrected.response.report().counts().accepted(), 3);
  EXPECT_EQ(corrected.response.report().counts().duplicates(), 0);
  v1::Report old = GetReport("P200-2026-01");
  EXPECT_EQ(old.status(), v1::REPORT_STATUS_SUPERSEDED);
  EXPECT_EQ(old.superseded_by(), "P200-2026-01-v2");
  EXPECT_EQ(old.counts().lines_reversed(), 9980);
  EXPECT_THAT(Events<v1::ReportLineReversed>("report-P200-2026-01"), SizeIs(9980));
  EXPECT_THAT(Events<v1::ReportSuperseded>("report-P200-2026-01"), SizeIs(1));
  EXPECT_EQ(Inventory("P-200", "SSD-2TB").on_hand(), 25000 - 8);
  EXPECT_EQ(Inventory("P-200", "SSD-2TB", EndOfDay(2026, 1, 2)).on_hand(), 25000 - 5);
  st = SellThrough("P-200", "SSD-2TB");
  EXPECT_EQ(st.units_sold(), 8);
  EXPECT_EQ(st.sales_amount().amount_micros(), 8 * 125'500'000LL);

  // The superseded report cannot be corrected again.
  auto twice = correction;
  twice.set_report_id("P200-2026-01-v3");
  Ingested refused = Ingest(twice, Chunks(fixed, 1000));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("already corrected by P200-2026-01-v2"));
}

// ---------------------------------------------------------------------------
// X12 867 and 852: inventory, sell-through, reconciliation, price protection
// ---------------------------------------------------------------------------

// A report in another encoding than UTF-8 (Latin-1 from an older ERP): the
// lines whose text is not UTF-8 are rejected naming the field, every reject
// quotes the input escaped, and the answer and the events stay parseable
// (a protobuf string must be UTF-8: a peer fails to parse anything else).
TEST_F(PosIngestionServiceTest, TextThatIsNotUtf8IsRejectedByFieldAndTheAnswerStaysReadable) {
  Product("SSD-2TB", "storage", 125'500'000);
  const std::string csv =
      "activity,sku,quantity,unit_price,currency,date,invoice_number,invoice_line,"
      "customer_name,customer_country,customer_city\n"
      "SS,SSD-2TB,1,125.50,USD,2026-01-05,U-1,1,Soci\xC3\xA9t\xC3\xA9 G\xC3\xA9n\xC3\xA9rale,FR,"
      "Paris\n"  // UTF-8: accepted
      "SS,SSD-2TB,1,125.50,USD,2026-01-05,U-2,1,Soci\xE9t\xE9 Anonyme,FR,Paris\n"  // Latin-1
      "SS,SSD-2TB,1,125.50,USD,2026-01-05,U-3,1,Acme,FR,Orl\xE9"
      "ans\n"                                                          // Latin-1 city
      "SS,N\xFFPE,1,125.50,USD,2026-01-05,U-4,1,Acme,FR,Paris\n"       // unknown SKU
      "SS,SSD-2TB,1\xE9,125.50,USD,2026-01-05,U-5,1,Acme,FR,Paris\n";  // the parser's
  Ingested got =
      Ingest(Header("P200-LATIN1", "P-200", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV),
             Chunks(csv, 7));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.response.report().counts().accepted(), 1);
  EXPECT_EQ(got.response.report().counts().rejected(), 4);
  ASSERT_THAT(got.response.rejects(), SizeIs(4));
  const auto& r = got.response.rejects();
  EXPECT_EQ(r[0].line_number(), 3);
  EXPECT_EQ(r[0].field(), "end_customer.name");
  EXPECT_EQ(r[0].code(), v1::REJECT_CODE_MALFORMED);
  EXPECT_EQ(r[0].message(),
            "'Soci\\xE9t\\xE9 Anonyme' is not UTF-8 text (byte 5); reports must be encoded in "
            "UTF-8");
  EXPECT_EQ(r[1].field(), "end_customer.city");
  EXPECT_THAT(r[1].message(), HasSubstr("'Orl\\xE9ans'"));
  EXPECT_EQ(r[2].field(), "sku");
  EXPECT_EQ(r[2].code(), v1::REJECT_CODE_UNKNOWN_SKU);
  EXPECT_THAT(r[2].message(), HasSubstr("'N\\xFFPE'"));
  EXPECT_EQ(r[3].field(), "quantity");
  EXPECT_THAT(r[3].message(), HasSubstr("'1\\xE9'"));
  // Stored, and listed again from the store.
  v1::ListRejectedLinesRequest req;
  req.set_report_id("P200-LATIN1");
  v1::ListRejectedLinesResponse listed;
  ASSERT_TRUE(stub_->ListRejectedLines(As("ops").get(), req, &listed).ok());
  EXPECT_THAT(listed.rejects(), SizeIs(4));
  // The accepted line keeps its UTF-8 text, and its event parses.
  auto lines = AcceptedLines("report-P200-LATIN1");
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_EQ(lines[0].end_customer().name(), "Soci\xC3\xA9t\xC3\xA9 G\xC3\xA9n\xC3\xA9rale");
  EXPECT_EQ(lines[0].customer_key(),
            core::CustomerKey("FR", "Soci\xC3\xA9t\xC3\xA9 G\xC3\xA9n\xC3\xA9rale"));
}

TEST_F(PosIngestionServiceTest, Edi867And852FeedInventorySellThroughReconciliationAndCredits) {
  Product("SSD-2TB", "storage", 125'500'000);
  Product("SRV-100", "compute", 1'000'000'000);
  Terms("pp-std", 7500, /*transit=*/true, {"P-100"});
  v1::RecordShipmentsResponse shipped = Ship({
      Shipment("S1", "P-100", "SSD-2TB", 100, 100'000'000, Day(2026, 1, 3), Day(2026, 1, 5)),
      Shipment("S2", "P-100", "SSD-2TB", 20, 100'000'000, Day(2026, 2, 3), std::nullopt),
      Shipment("S3", "P-100", "SRV-100", 10, 800'000'000, Day(2026, 1, 4), Day(2026, 1, 6)),
      Shipment("S4", "P-300", "SSD-2TB", 50, 100'000'000, Day(2026, 1, 3), Day(2026, 1, 5)),
  });
  EXPECT_EQ(shipped.recorded(), 4);
  // Sell-in events carry what mdf accrues co-op from.
  auto sell_in = Events<v1::ShipmentRecorded>("partner-P-100");
  ASSERT_THAT(sell_in, SizeIs(3));
  EXPECT_EQ(sell_in[0].extended_amount().amount_micros(), 10'000'000'000);  // 100 x 100.00

  Ingested edi = Ingest(
      Header("ACME-867-2026-01", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_X12_867),
      Chunks(TestData("sell_through_867.edi"), 17));
  ASSERT_TRUE(edi.status.ok()) << edi.status.error_message();
  const v1::ReportCounts& n = edi.response.report().counts();
  EXPECT_EQ(n.lines_received(), 7);
  EXPECT_EQ(n.accepted(), 6);
  EXPECT_EQ(n.ignored(), 1);  // PTD*PA
  EXPECT_EQ(n.rejected(), 0);
  EXPECT_THAT(edi.response.rejects(), IsEmpty());

  // Accepted lines carry the deal registration customer key and references.
  auto lines = AcceptedLines("report-ACME-867-2026-01");
  ASSERT_THAT(lines, SizeIs(6));
  EXPECT_EQ(lines[0].line_number(), 16);
  EXPECT_EQ(lines[0].customer_key(), core::CustomerKey("US", "Globex Corp."));
  EXPECT_EQ(lines[1].deal_registration_id(), "DR-2026-0042");
  EXPECT_EQ(lines[2].customer_key(), "US|initech");
  EXPECT_EQ(lines[3].spa_id(), "SPA-7781");
  EXPECT_EQ(lines[3].customer_key(), "US|umbrella");
  EXPECT_EQ(lines[4].original_invoice_number(), "INV-1001");

  // Inventory: 100 received - 10 SS - 20 SD + 1 RU - 3 RV; DS is not from stock.
  v1::InventoryPosition ssd = Inventory("P-100", "SSD-2TB");
  EXPECT_EQ(ssd.received(), 100);
  EXPECT_EQ(ssd.sold(), 30);
  EXPECT_EQ(ssd.customer_returned(), 1);
  EXPECT_EQ(ssd.returned_to_vendor(), 3);
  EXPECT_EQ(ssd.on_hand(), 68);
  EXPECT_EQ(ssd.in_transit(), 20);
  EXPECT_EQ(Inventory("P-100", "SRV-100").on_hand(), 8);
  v1::InventoryPosition before_receipt = Inventory("P-100", "SSD-2TB", EndOfDay(2026, 1, 4));
  EXPECT_EQ(before_receipt.on_hand(), 0);
  EXPECT_EQ(before_receipt.in_transit(), 100);

  v1::SellThrough st = SellThrough("P-100", "SSD-2TB");
  EXPECT_EQ(st.units_sold(), 35);
  EXPECT_EQ(st.stock_sale_units(), 10);
  EXPECT_EQ(st.drop_ship_units(), 5);
  EXPECT_EQ(st.ship_and_debit_units(), 20);
  EXPECT_EQ(st.units_returned(), 1);
  EXPECT_EQ(st.net_units(), 34);
  EXPECT_EQ(st.sales_amount().amount_micros(), 3'862'500'000);  // 1255 + 627.50 + 1980
  EXPECT_EQ(st.returns_amount().amount_micros(), 125'500'000);

  // The partner's 852 on-hand counts against the ledger.
  Ingested counts = Ingest(
      Header("ACME-852-2026-01", "P-100", v1::REPORT_KIND_INVENTORY, v1::REPORT_FORMAT_X12_852),
      Chunks(TestData("inventory_852.edi"), 64));
  ASSERT_TRUE(counts.status.ok()) << counts.status.error_message();
  EXPECT_EQ(counts.response.report().counts().accepted(), 5);
  EXPECT_EQ(counts.response.report().counts().ignored(), 1);  // ZA*QP
  v1::ReconcileInventoryRequest rec;
  rec.set_report_id("ACME-852-2026-01");
  v1::ReconcileInventoryResponse reconciled;
  ASSERT_TRUE(stub_->ReconcileInventory(As("ops").get(), rec, &reconciled).ok());
  ASSERT_THAT(reconciled.lines(), SizeIs(2));
  EXPECT_EQ(reconciled.lines(0).sku(), "SRV-100");
  EXPECT_EQ(reconciled.lines(0).discrepancy(), 0);
  EXPECT_EQ(reconciled.lines(1).sku(), "SSD-2TB");
  EXPECT_EQ(reconciled.lines(1).as_of_date(), "2026-01-31");
  EXPECT_EQ(reconciled.lines(1).reported_on_hand(), 31);
  EXPECT_EQ(reconciled.lines(1).computed_on_hand(), 68);
  EXPECT_EQ(reconciled.lines(1).discrepancy(), -37);
  EXPECT_EQ(reconciled.skus_with_discrepancy(), 1);

  // A price drop now: P-100 holds 68 + 20 in transit under 75% terms:
  // (125.50 - 110.25) x 88 x 0.75 = USD 1,006.50. P-300 holds 50, no programme.
  v1::ChangePriceRequest drop;
  drop.set_request_id("drop-1");
  drop.set_sku("SSD-2TB");
  *drop.mutable_new_price() = Usd(110'250'000);
  v1::ChangePriceResponse dropped;
  grpc::Status s = stub_->ChangePrice(As("pricing").get(), drop, &dropped);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(dropped.change().status(), v1::PRICE_CHANGE_STATUS_APPLIED);
  EXPECT_EQ(dropped.change().old_price().amount_micros(), 125'500'000);
  ASSERT_THAT(dropped.credits(), SizeIs(1));
  const v1::PriceProtectionCredit& credit = dropped.credits(0);
  EXPECT_EQ(credit.partner_id(), "P-100");
  EXPECT_EQ(credit.on_hand_quantity(), 68);
  EXPECT_EQ(credit.in_transit_quantity(), 20);
  EXPECT_EQ(credit.eligible_quantity(), 88);
  EXPECT_EQ(credit.amount().amount_micros(), 1'006'500'000);
  EXPECT_EQ(credit.program_id(), "pp-std");
  EXPECT_THAT(Credits("P-100"), SizeIs(1));
  EXPECT_THAT(Credits("P-100", "SRV-100"), IsEmpty());
  EXPECT_THAT(Credits("P-300"), IsEmpty());
  EXPECT_THAT(Events<v1::PriceProtectionCredited>("partner-P-100"), SizeIs(1));
  // Retrying the same request: the first answer.
  v1::ChangePriceResponse retried;
  ASSERT_TRUE(stub_->ChangePrice(As("pricing").get(), drop, &retried).ok());
  EXPECT_EQ(retried.change().change_id(), dropped.change().change_id());
  EXPECT_THAT(Credits("P-100"), SizeIs(1));

  // The same 867 under another report id: every line is a duplicate.
  const uint64_t before = Inventory("P-100", "SSD-2TB").on_hand();
  Ingested resent = Ingest(
      Header("ACME-867-resent", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_X12_867),
      Chunks(TestData("sell_through_867.edi"), 4096));
  ASSERT_TRUE(resent.status.ok()) << resent.status.error_message();
  EXPECT_EQ(resent.response.report().counts().accepted(), 0);
  EXPECT_EQ(resent.response.report().counts().duplicates(), 6);
  EXPECT_EQ(resent.response.duplicates(0).original_report_id(), "ACME-867-2026-01");
  EXPECT_EQ(Inventory("P-100", "SSD-2TB").on_hand(), before);
}

TEST_F(PosIngestionServiceTest, MalformedEdiLinesAreRejectedWithSegmentPositions) {
  Product("SSD-2TB", "storage", 125'500'000);
  Ingested edi = Ingest(
      Header("ACME-867-BAD", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_X12_867),
      Chunks(TestData("sell_through_867_malformed.edi"), 5));
  ASSERT_TRUE(edi.status.ok()) << edi.status.error_message();
  std::vector<std::string> rejects;
  for (const auto& r : edi.response.rejects()) {
    rejects.push_back(
        absl::StrCat(r.line_number(), ":", r.field(), ":", v1::RejectCode_Name(r.code())));
  }
  // Line 13 is the only good one; line 28 (truncated set) has no date and no customer.
  EXPECT_THAT(rejects,
              ElementsAre("5:QTY:REJECT_CODE_MALFORMED", "11:QTY02:REJECT_CODE_MALFORMED",
                          "16:DTM02:REJECT_CODE_MALFORMED", "22:DTM02:REJECT_CODE_MALFORMED",
                          "24:SE01:REJECT_CODE_MALFORMED", "28:date:REJECT_CODE_MISSING_FIELD",
                          "30:SE:REJECT_CODE_MISSING_FIELD"));
  EXPECT_EQ(edi.response.report().counts().accepted(), 1);
  EXPECT_EQ(edi.response.report().counts().lines_received(), 8);
}

// ---------------------------------------------------------------------------
// all_or_nothing, resumption, scheduled drops
// ---------------------------------------------------------------------------

v1::IngestReportRequest Lines(const std::vector<v1::ReportLine>& lines) {
  v1::IngestReportRequest m;
  for (const auto& l : lines) *m.mutable_lines()->add_lines() = l;
  return m;
}

v1::ReportLine TypedSale(const std::string& invoice, int64_t qty, const std::string& date) {
  v1::ReportLine l;
  l.set_activity(v1::LINE_ACTIVITY_STOCK_SALE);
  l.set_sku("SSD-2TB");
  l.set_quantity(qty);
  l.set_date(date);
  l.set_invoice_number(invoice);
  l.mutable_end_customer()->set_name("Globex Corporation");
  l.mutable_end_customer()->mutable_address()->set_country_code("US");
  return l;
}

TEST_F(PosIngestionServiceTest, AllOrNothingReportIsRefusedWithoutWritingAndAcceptedWhenFixed) {
  Product("SSD-2TB", "storage", 125'500'000);
  auto header = Header("P-100-AON", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_LINES);
  header.set_all_or_nothing(true);
  const uint64_t position = store_->LastPosition();
  Ingested bad = Ingest(header, {Lines({TypedSale("A-1", 1, "2026-01-05"),
                                        TypedSale("A-2", 2, "2025-12-20"),  // outside the period
                                        TypedSale("A-3", 3, "2026-01-07")})});
  ASSERT_TRUE(bad.status.ok()) << bad.status.error_message();
  EXPECT_EQ(bad.response.report().status(), v1::REPORT_STATUS_REFUSED);
  ASSERT_THAT(bad.response.rejects(), SizeIs(1));
  EXPECT_EQ(bad.response.rejects(0).line_number(), 2);
  EXPECT_EQ(bad.response.rejects(0).code(), v1::REJECT_CODE_DATE_OUTSIDE_PERIOD);
  EXPECT_EQ(store_->LastPosition(), position);  // nothing recorded
  grpc::Status missing;
  GetReport("P-100-AON", &missing);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  int staged = 0;
  ASSERT_TRUE(store_
                  ->Scan(kStagingCf, "", "", SIZE_MAX,
                         [&](absl::string_view, absl::string_view) {
                           ++staged;
                           return true;
                         })
                  .ok());
  EXPECT_EQ(staged, 0);
  EXPECT_EQ(Inventory("P-100", "SSD-2TB").sold(), 0);

  // Fixed and sent again under the same id: every line at once.
  Ingested good =
      Ingest(header, {Lines({TypedSale("A-1", 1, "2026-01-05"), TypedSale("A-2", 2, "2026-01-06"),
                             TypedSale("A-3", 3, "2026-01-07")})});
  ASSERT_TRUE(good.status.ok()) << good.status.error_message();
  EXPECT_EQ(good.response.report().status(), v1::REPORT_STATUS_COMPLETED);
  EXPECT_EQ(good.response.report().counts().accepted(), 3);
  EXPECT_EQ(Inventory("P-100", "SSD-2TB").sold(), 6);
  EXPECT_EQ(GetReport("P-100-AON").counts().accepted(), 3);
}

TEST_F(PosIngestionServiceTest, ABrokenStreamIsResumedByResendingTheReport) {
  Product("SSD-2TB", "storage", 125'500'000);
  auto header =
      Header("P-100-TYPED", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_LINES);
  std::vector<v1::IngestReportRequest> messages;
  for (int m = 0; m < 3; ++m) {
    std::vector<v1::ReportLine> lines;
    for (int i = 0; i < 1500; ++i) {
      lines.push_back(TypedSale(absl::StrCat("T-", m * 1500 + i), 1, "2026-01-10"));
    }
    messages.push_back(Lines(lines));
  }
  // First attempt: cancelled after two of three messages (whatever was
  // committed by then stays, and the report is not complete).
  {
    v1::IngestReportResponse resp;
    auto ctx = As("edi-gateway");
    auto writer = stub_->IngestReport(ctx.get(), &resp);
    v1::IngestReportRequest first;
    *first.mutable_header() = header;
    writer->Write(first);
    writer->Write(messages[0]);
    writer->Write(messages[1]);
    ctx->TryCancel();
    EXPECT_FALSE(writer->Finish().ok());
  }
  // Second attempt: the whole report. The first stream may still be ending.
  Ingested resumed;
  for (int attempt = 0; attempt < 200; ++attempt) {
    resumed = Ingest(header, messages);
    if (resumed.status.error_code() != grpc::StatusCode::ABORTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message();
  const v1::ReportCounts& n = resumed.response.report().counts();
  EXPECT_EQ(n.lines_received(), 4500);
  EXPECT_EQ(n.accepted(), 4500);
  EXPECT_EQ(n.duplicates(), 0);
  EXPECT_EQ(Inventory("P-100", "SSD-2TB").sold(), 4500);
  EXPECT_THAT(AcceptedLines("report-P-100-TYPED"), SizeIs(4500));
}

// A store with per-line rows of the format before chunks is refused, named.
TEST_F(PosIngestionServiceTest, AStoreInTheFormatBeforeChunksIsRefused) {
  EXPECT_TRUE(PosIngestionService::CheckStoreFormat(*store_).ok());
  auto r = store_->ExecuteSync({}, [](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
    tx.Put(kReportLinesCf, LineKey("R-OLD", 2), "");
    return std::string();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  absl::Status st = PosIngestionService::CheckStoreFormat(*store_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("rm_report_lines"));
}

// Chunks stay under Kafka's default 1 MB record limit however long the lines
// are: a batch of 2,000 lines with ~3 KB of customer name each is cut by
// bytes, not by count. A line's identity is its (report, line number).
TEST(BatchDecisionTest, ChunksAreCutByLineCountAndByBytes) {
  domain::BatchDecision small, large;
  for (int i = 1; i <= 2000; ++i) {
    v1::PosLine line;
    line.set_report_id("R-1");
    line.set_line_number(i);
    line.set_sku("SSD-2TB");
    small.Accept(line);
    line.mutable_end_customer()->set_name(std::string(3000, 'a'));
    large.Accept(std::move(line));
  }
  EXPECT_EQ(small.chunks(), (2000u + domain::kMaxLinesPerChunk - 1) / domain::kMaxLinesPerChunk);
  EXPECT_EQ(small.accepted, 2000u);
  EXPECT_GT(large.chunks(), small.chunks());
  int64_t next = 1;
  for (size_t c = 0; c < large.chunks(); ++c) {
    const auto& chunk = large.Chunk(c);
    EXPECT_LE(chunk.lines_size(), domain::kMaxLinesPerChunk);
    EXPECT_LE(chunk.ByteSizeLong(), domain::kMaxLineBytesPerChunk + 16 * 1024) << "chunk " << c;
    for (const auto& l : chunk.lines()) ASSERT_EQ(l.line_number(), next++);
  }
  EXPECT_EQ(next, 2001);
}

// The relay can render events as JSON (--kafka_format=json), where '<' is six
// bytes (\u003c) and every field carries its name. Worst cases: every string
// field of every line at a length no validation allows (300 characters, all
// '<'), and the most lines per chunk with every field set. Each chunk, with
// room for its envelope, stays under Kafka's default 1,000,000-byte record.
TEST(BatchDecisionTest, ChunksRenderUnderTheKafkaRecordLimitAsJson) {
  const std::string worst(300, '<');
  for (bool long_fields : {true, false}) {
    const std::string text = long_fields ? worst : "<";
    domain::BatchDecision d;
    for (int i = 1; i <= 2000; ++i) {
      v1::PosLine l;
      l.set_report_id(text);
      l.set_partner_id(text);
      l.set_line_number(1'000'000'000 + i);
      l.set_activity(v1::LINE_ACTIVITY_SHIP_AND_DEBIT_SALE);
      l.set_sku(text);
      l.set_product_line(text);
      l.set_quantity(-1'000'000'000'000);
      l.set_unit_of_measure(text);
      l.mutable_unit_price()->set_currency_code("USD");
      l.mutable_unit_price()->set_amount_micros(-9'000'000'000'000'000);
      *l.mutable_extended_amount() = l.unit_price();
      l.set_date("2026-01-31");
      l.mutable_movement_at()->set_seconds(1'800'000'000);
      l.mutable_movement_at()->set_nanos(999'999'999);
      l.set_invoice_number(text);
      l.set_invoice_line(1'000'000'000);
      l.set_original_invoice_number(text);
      auto* p = l.mutable_end_customer();
      p->set_name(text);
      p->set_email_domain(text);
      p->set_account_type(text);
      auto* a = p->mutable_address();
      a->set_line1(text);
      a->set_line2(text);
      a->set_city(text);
      a->set_region(text);
      a->set_postal_code(text);
      a->set_country_code(text);
      l.set_end_customer_id(text);
      l.set_customer_key(text);
      l.set_domain_key(text);
      l.set_deal_registration_id(text);
      l.set_spa_id(text);
      l.set_report_kind(v1::REPORT_KIND_SELL_THROUGH);
      l.set_inventory_delta(-1'000'000'000'000);
      d.Accept(std::move(l));
    }
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;  // as the relay renders (longer names)
    for (size_t c = 0; c < d.chunks(); ++c) {
      std::string json;
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(d.Chunk(c), &json, o).ok());
      EXPECT_LT(json.size(), 1'000'000u - 8'192u)
          << (long_fields ? "long" : "short") << " fields, chunk " << c << " of "
          << d.Chunk(c).lines_size() << " lines";
    }
  }
}

// One chunk of 8,000 rows is four batch commands queued together. When the
// second fails (its SKU's catalogue entry is corrupt: DATA_LOSS), the third
// and fourth, decided after it, must not be recorded either: the report keeps
// lines 2..2001 and nothing after, and re-sending the report resumes at 2002.
TEST_F(PosIngestionServiceTest, AFailedBatchStopsTheBatchesQueuedAfterItAndTheResendFillsTheGap) {
  Product("SSD-2TB", "storage", 125'500'000);
  {
    eventstore::CommandMeta meta;
    meta.request_id = "corrupt-product";
    auto r = store_->ExecuteSync(meta, [](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
      tx.Put(kProductsCf, "BAD-SKU", std::string("\xff\xff\xff", 3));
      return std::string();
    });
    ASSERT_TRUE(r.ok()) << r.status();
  }
  auto csv_with = [](const std::string& sku_of_row_3000) {
    std::string csv =
        "activity,sku,quantity,unit_price,currency,date,invoice_number,invoice_line,"
        "customer_name,customer_country\r\n";
    for (int r = 1; r <= 8000; ++r) {
      absl::StrAppendFormat(&csv, "SS,%s,1,125.50,USD,2026-01-05,G-%d,1,Customer %d,US\r\n",
                            r == 3000 ? sku_of_row_3000 : "SSD-2TB", r, r);
    }
    return csv;
  };
  // Whole (one group of four batches), and in chunks of ~40 KB (groups of one
  // or two batches, the next chunks read ahead while a group is in the store).
  for (const auto& [partner, chunk] : {std::pair<std::string, size_t>{"P-100", 0},
                                       std::pair<std::string, size_t>{"P-300", 40000}}) {
    SCOPED_TRACE(partner);
    const std::string id = partner + "-GAP";
    const auto header = Header(id, partner, v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV);
    const std::string bad = csv_with("BAD-SKU");
    Ingested failed = Ingest(header, Chunks(bad, chunk ? chunk : bad.size()));
    EXPECT_EQ(failed.status.error_code(), grpc::StatusCode::DATA_LOSS)
        << failed.status.error_message();
    v1::Report partial = GetReport(id);
    EXPECT_EQ(partial.status(), v1::REPORT_STATUS_RECEIVING);
    EXPECT_EQ(partial.last_line_number(), 2001);
    EXPECT_EQ(partial.counts().accepted(), 2000);
    EXPECT_THAT(AcceptedLines("report-" + id), SizeIs(2000));
    EXPECT_EQ(Inventory(partner, "SSD-2TB").sold(), 2000);

    const std::string fixed = csv_with("SSD-2TB");
    Ingested resumed;
    for (int attempt = 0; attempt < 200; ++attempt) {  // the failed stream may still be ending
      resumed = Ingest(header, Chunks(fixed, chunk ? chunk : fixed.size()));
      if (resumed.status.error_code() != grpc::StatusCode::ABORTED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message();
    EXPECT_EQ(resumed.response.report().status(), v1::REPORT_STATUS_COMPLETED);
    EXPECT_EQ(resumed.response.report().counts().accepted(), 8000);
    EXPECT_EQ(resumed.response.report().last_line_number(), 8001);
    std::vector<int64_t> numbers;
    for (const auto& l : AcceptedLines("report-" + id)) numbers.push_back(l.line_number());
    ASSERT_THAT(numbers, SizeIs(8000));
    for (int i = 0; i < 8000; ++i) ASSERT_EQ(numbers[i], i + 2) << "event " << i;
    EXPECT_EQ(Inventory(partner, "SSD-2TB").sold(), 8000);
  }
}

TEST_F(PosIngestionServiceTest, ScheduledDropIsAppliedByTheSweeperWithTheInjectedClock) {
  Product("SSD-2TB", "storage", 125'500'000);
  Terms("pp-default", 10000, /*transit=*/false, {}, /*default_program=*/true);
  Ship({Shipment("S1", "P-100", "SSD-2TB", 10, 100'000'000, Day(2026, 1, 3), Day(2026, 1, 5))});
  v1::ChangePriceRequest req;
  req.set_request_id("drop-later");
  req.set_sku("SSD-2TB");
  *req.mutable_new_price() = Usd(120'000'000);
  *req.mutable_effective_at() = domain::ToProtoTime(kStart + absl::Hours(48));
  v1::ChangePriceResponse resp;
  ASSERT_TRUE(stub_->ChangePrice(As("pricing").get(), req, &resp).ok());
  EXPECT_EQ(resp.change().status(), v1::PRICE_CHANGE_STATUS_SCHEDULED);
  EXPECT_THAT(resp.credits(), IsEmpty());
  EXPECT_EQ(*service_->ApplyDuePriceChanges(), 0u);  // not due yet

  clock_.Advance(absl::Hours(72));
  EXPECT_EQ(*service_->ApplyDuePriceChanges(), 1u);
  EXPECT_EQ(*service_->ApplyDuePriceChanges(), 0u);
  // 10 on hand x (125.50 - 120.00) x 100% under the default programme.
  auto credits = Credits("P-100");
  ASSERT_THAT(credits, SizeIs(1));
  EXPECT_EQ(credits[0].amount().amount_micros(), 55'000'000);
  EXPECT_EQ(credits[0].program_id(), "pp-default");
  v1::GetProductRequest get;
  get.set_sku("SSD-2TB");
  v1::GetProductResponse product;
  ASSERT_TRUE(stub_->GetProduct(As("ops").get(), get, &product).ok());
  EXPECT_EQ(product.product().list_price().amount_micros(), 120'000'000);
  ASSERT_THAT(product.price_changes(), SizeIs(1));
  EXPECT_EQ(product.price_changes(0).status(), v1::PRICE_CHANGE_STATUS_APPLIED);
  EXPECT_EQ(product.price_changes(0).credits_total().amount_micros(), 55'000'000);
}

// ---------------------------------------------------------------------------
// Bad input: INVALID_ARGUMENT naming the field, nothing written
// ---------------------------------------------------------------------------

TEST_F(PosIngestionServiceTest, MalformedRequestsNameTheFieldAndWriteNothing) {
  Product("SSD-2TB", "storage", 125'500'000);
  const uint64_t position = store_->LastPosition();

  auto header = Header("", "P-100", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV);
  header.mutable_period()->set_end_date("2025-12-01");
  Ingested bad_header = Ingest(header, Chunks("activity,sku,quantity,date\n", 100));
  EXPECT_EQ(bad_header.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(bad_header.status), ElementsAre("header.report_id", "header.period.end_date"));

  {
    v1::IngestReportResponse resp;
    auto ctx = As("edi-gateway");
    auto writer = stub_->IngestReport(ctx.get(), &resp);
    v1::IngestReportRequest chunk;
    chunk.set_chunk("activity,sku\n");
    writer->Write(chunk);
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(Fields(s), ElementsAre("header"));
  }

  v1::UpsertProductRequest product;
  product.set_request_id("p-bad");
  product.mutable_product()->set_sku("X 1");
  product.mutable_product()->set_product_line("storage");
  product.mutable_product()->set_unit_of_measure("each");
  *product.mutable_product()->mutable_list_price() = Usd(-5);
  v1::UpsertProductResponse product_resp;
  grpc::Status s = stub_->UpsertProduct(As("erp").get(), product, &product_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s), ElementsAre("product.sku", "product.unit_of_measure",
                                     "product.list_price.amount_micros"));

  v1::RecordShipmentsRequest ship;
  ship.set_request_id("ship-bad");
  *ship.add_shipments() =
      Shipment("S9", "P-100", "NOPE", 1, 1'000'000, Day(2026, 1, 3), std::nullopt);
  *ship.add_shipments() =
      Shipment("S10", "P-100", "SSD-2TB", 1, 1'000'000, Day(2026, 1, 3), std::nullopt);
  v1::RecordShipmentsResponse ship_resp;
  s = stub_->RecordShipments(As("erp").get(), ship, &ship_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s), ElementsAre("shipments[0].sku"));

  v1::ChangePriceRequest price;
  price.set_request_id("price-bad");
  price.set_sku("SSD-2TB");
  *price.mutable_new_price() = Usd(1'000'000);
  price.mutable_new_price()->set_currency_code("EUR");
  v1::ChangePriceResponse price_resp;
  s = stub_->ChangePrice(As("pricing").get(), price, &price_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fields(s), ElementsAre("new_price.currency_code"));

  EXPECT_EQ(store_->LastPosition(), position);
  EXPECT_EQ(Inventory("P-100", "SSD-2TB").in_transit(), 0);
}

// ---------------------------------------------------------------------------
// Authorization: partners send and see only their own reports
// ---------------------------------------------------------------------------

TEST_F(PosIngestionServiceTest, PartnersSendAndSeeOnlyTheirOwnReports) {
  authz::v1::Policy policy;
  auto* partner = policy.add_identities();
  partner->set_match("spiffe://channelops/partner/*");
  partner->set_role("PARTNER");
  partner->set_partner_id_from_wildcard(true);
  auto* system = policy.add_identities();
  system->set_match("spiffe://channelops/service");
  system->set_role("SYSTEM");
  auto* pr = policy.add_roles();
  pr->set_role("PARTNER");
  pr->set_partner_scoped(true);
  pr->add_methods("channelops.pos.v1.PosIngestionService/IngestReport");
  pr->add_methods("channelops.pos.v1.PosIngestionService/GetReport");
  auto* sr = policy.add_roles();
  sr->set_role("SYSTEM");
  sr->add_methods("channelops.pos.v1.PosIngestionService/*");
  auto authz = server::Authorizer::FromPolicy(policy, nullptr);
  ASSERT_TRUE(authz.ok()) << authz.status();
  service_->set_authorizer(**authz);

  v1::UpsertProductRequest product;
  product.set_request_id("p-1");
  product.mutable_product()->set_sku("SSD-2TB");
  product.mutable_product()->set_product_line("storage");
  product.mutable_product()->set_unit_of_measure("EA");
  *product.mutable_product()->mutable_list_price() = Usd(125'500'000);
  v1::UpsertProductResponse product_resp;
  EXPECT_EQ(
      stub_->UpsertProduct(As("spiffe://channelops/partner/P-100").get(), product, &product_resp)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(
      stub_->UpsertProduct(As("spiffe://channelops/service").get(), product, &product_resp).ok());

  const std::string csv =
      "activity,sku,quantity,date,invoice_number,customer_name,customer_country\n"
      "SS,SSD-2TB,1,2026-01-05,I-1,Globex,US\n";
  auto other = Header("P-200-R", "P-200", v1::REPORT_KIND_SELL_THROUGH, v1::REPORT_FORMAT_CSV);
  Ingested denied = Ingest(other, Chunks(csv, 100), "spiffe://channelops/partner/P-100");
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  Ingested theirs = Ingest(other, Chunks(csv, 100), "spiffe://channelops/partner/P-200");
  ASSERT_TRUE(theirs.status.ok()) << theirs.status.error_message();
  EXPECT_EQ(theirs.response.report().counts().accepted(), 1);

  v1::GetReportRequest get;
  get.set_report_id("P-200-R");
  v1::GetReportResponse got;
  EXPECT_EQ(stub_->GetReport(As("spiffe://channelops/partner/P-100").get(), get, &got).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(stub_->GetReport(As("spiffe://channelops/partner/P-200").get(), get, &got).ok());
}

}  // namespace
}  // namespace channelops::pos
