// POS ingestion benchmark.
//  1. In-process: parse + validate CSV lines/s (the parser pushed 1 MiB chunks,
//     every line validated against a catalogue), single thread: once with a new
//     Line and verdict per line (domain::ValidateLine), then three passes the way
//     the service runs it (spent lines and verdicts reused, ValidateLineInto),
//     whose median is checked against the floor.
//  2. End to end: a --lines CSV report (default 1,000,000) streamed over gRPC to
//     the real pos_ingestion binary (durable: every accepted line is an event,
//     fsynced before the answer), and PostgreSQL 15 COPY of the same CSV into an
//     equivalent table on loopback, measured in the same run (the baseline).
// Usage: bench_pos [--lines=1000000] [--no-postgres] [--rounds=1]
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "channelops/testing/temp_dir.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/parsers/line.h"
#include "rpc_driver.h"

namespace pos = channelops::pos;

namespace {

std::string MakeCsv(int64_t lines, absl::CivilDay day) {
  std::string csv =
      "activity,sku,quantity,date,unit_price,currency,invoice_number,invoice_line,original_invoice_number,"
      "customer_name,customer_country,customer_region,customer_email_domain,deal_registration_id\n";
  std::string d = absl::FormatCivilTime(day);
  for (int64_t i = 0; i < lines; ++i) {
    absl::StrAppend(&csv, "SS,SKU-", i % 20, ",", 1 + i % 3, ",", d, ",", 100 + i % 50, ".25,USD,INV-", i,
                    ",1,,\"Customer ", i % 5000, " Inc.\",US,NY,c", i % 5000, ".example.com,\n");
  }
  return csv;
}

}  // namespace

int main(int argc, char** argv) {
  BenchProcessInit();
  int64_t lines = 1'000'000;
  bool pg = true;
  bool parse_only = false;
  int rounds = 1;
  std::vector<std::string> server_flags;
  std::string bin_dir = CHANNELOPS_BIN_DIR;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--lines=", 0) == 0) lines = std::stoll(a.substr(8));
    if (a == "--no-postgres") pg = false;
    if (a == "--parse_only") parse_only = true;
    if (a.rfind("--rounds=", 0) == 0) rounds = std::max(1, std::stoi(a.substr(9)));
    // Passed to the pos_ingestion binary (e.g. --server_flag=--store_memtable_budget_mb=128).
    if (a.rfind("--server_flag=", 0) == 0) server_flags.push_back(a.substr(14));
    // Another build's pos_ingestion (A/B runs: tools/bench/ab_pos.sh).
    if (a.rfind("--server_bin_dir=", 0) == 0) bin_dir = a.substr(17);
    if (a == "--help") {
      printf(
          "bench_pos [--lines=1000000] [--no-postgres] [--rounds=1] [--server_flag=FLAG ...]\n"
          "          [--server_bin_dir=DIR] [--parse_only]\n"
          "  --rounds=N  alternate the durable ingestion and COPY N times; print each pair's\n"
          "              ratio and the medians\n"
          "  --server_bin_dir=DIR  the pos_ingestion binary to run (default: this build's)\n"
          "  --parse_only  stop after the in-process parse + validate (to profile it)\n");
      return 0;
    }
  }
  absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  std::string csv = MakeCsv(lines, today);
  printf("# POS benchmark: %lld-line CSV (%zu bytes)\n", static_cast<long long>(lines), csv.size());

  // 1. In-process parse + validate.
  // A hash map, as the service's stream keeps its catalogue entries.
  absl::flat_hash_map<std::string, pos::v1::Product> catalogue;
  for (int s = 0; s < 20; ++s) {
    pos::v1::Product p;
    p.set_sku(absl::StrCat("SKU-", s));
    p.set_product_line("net");
    p.set_unit_of_measure("EA");
    p.mutable_list_price()->set_currency_code("USD");
    p.mutable_list_price()->set_amount_micros(150'000'000);
    catalogue[p.sku()] = p;
  }
  pos::v1::ReportHeader header;
  header.set_report_id("bench");
  header.set_partner_id("P1");
  header.set_kind(pos::v1::REPORT_KIND_SELL_THROUGH);
  header.set_format(pos::v1::REPORT_FORMAT_CSV);
  absl::CivilDay start(today.year(), today.month(), 1);
  absl::CivilDay end = absl::CivilDay(absl::CivilMonth(start) + 1);
  header.mutable_period()->set_start_date(absl::FormatCivilTime(start));
  header.mutable_period()->set_end_date(absl::FormatCivilTime(end));
  pos::domain::LineContext ctx{&header, today, start, end};
  pos::domain::ProductLookup lookup = [&](const std::string& sku) -> const pos::v1::Product* {
    auto it = catalogue.find(sku);
    return it == catalogue.end() ? nullptr : &it->second;
  };
  absl::Time t0 = absl::Now();
  auto parser = pos::parse::NewCsvParser();
  std::vector<pos::parse::Item> items;
  int64_t accepted = 0, other = 0;
  auto drain = [&] {
    for (const auto& it : items) {
      if (const auto* l = std::get_if<pos::parse::Line>(&it)) {
        auto v = pos::domain::ValidateLine(*l, ctx, lookup);
        (v.kind == pos::domain::LineVerdict::Kind::kAccepted ? accepted : other)++;
      } else {
        ++other;
      }
    }
    items.clear();
  };
  for (size_t off = 0; off < csv.size(); off += 1 << 20) {
    parser->Push(std::string_view(csv).substr(off, 1 << 20), items);
    drain();
  }
  parser->Finish(items);
  drain();
  const double new_lines_s = absl::ToDoubleSeconds(absl::Now() - t0);
  const int64_t new_accepted = accepted, new_other = other;
  // The same, the way the service parses (services/pos_ingestion's BatchSink):
  // each line is parsed into a spent line, whose strings keep their memory,
  // and validated in place into a spent verdict when the parser asks for the
  // next one.
  class ValidatingSink final : public pos::parse::ItemSink {
   public:
    explicit ValidatingSink(std::function<void(const pos::parse::Line*)> validate)
        : validate_(std::move(validate)) {}
    pos::parse::Line& AddLine() override {
      Flush();
      pending_ = true;
      return line_;
    }
    void Add(pos::parse::Item) override {
      Flush();
      validate_(nullptr);
    }
    void Flush() {
      if (!pending_) return;
      pending_ = false;
      validate_(&line_);
      line_.Clear();
    }

   private:
    std::function<void(const pos::parse::Line*)> validate_;
    pos::parse::Line line_;
    bool pending_ = false;
  };
  // Three passes (this VM's speed moves within seconds): each printed, the
  // median checked against the floor.
  std::vector<double> passes;
  for (int pass = 0; pass < 3; ++pass) {
    accepted = other = 0;
    t0 = absl::Now();
    auto reused_parser = pos::parse::NewCsvParser();
    pos::domain::LineVerdict verdict;  // reused, as a spent item's is
    ValidatingSink sink([&](const pos::parse::Line* l) {
      if (l == nullptr) {
        ++other;
        return;
      }
      pos::domain::ValidateLineInto(*l, ctx, lookup, verdict);
      (verdict.kind == pos::domain::LineVerdict::Kind::kAccepted ? accepted : other)++;
    });
    for (size_t off = 0; off < csv.size(); off += 1 << 20) {
      reused_parser->PushTo(std::string_view(csv).substr(off, 1 << 20), sink);
    }
    reused_parser->FinishTo(sink);
    sink.Flush();
    passes.push_back(lines / absl::ToDoubleSeconds(absl::Now() - t0));
  }
  std::vector<double> sorted_passes = passes;
  std::sort(sorted_passes.begin(), sorted_passes.end());
  const double parse_rate = sorted_passes[1];
  printf("parse + validate, in-process, 1 thread   : %10.0f lines/s  (median of 3 passes: %.0f, %.0f, "
         "%.0f; %lld accepted, %lld other per pass; lines parsed into spent ones, as the service "
         "does; floor 1,000,000: %s)\n",
         parse_rate, passes[0], passes[1], passes[2], static_cast<long long>(accepted),
         static_cast<long long>(other), parse_rate >= 1e6 ? "PASS" : "FAIL");
  printf("  the same, a new Line per line           : %10.0f lines/s  (%lld accepted, %lld other)\n",
         lines / new_lines_s, static_cast<long long>(new_accepted),
         static_cast<long long>(new_other));
  if (parse_only) return 0;

  // 2. End to end over gRPC into the real binary, and COPY of the same CSV:
  // --rounds=N alternates them N times (a fresh service and a fresh PostgreSQL
  // cluster each time), so that both sides see the same machine. This VM's
  // speed moves by tens of percent within minutes; one pair is one sample.
  channelops::testing::TempDir dir;
  const std::string csv_path = dir.Path("report.csv");
  if (pg) std::ofstream(csv_path) << csv;
  std::vector<double> ours, theirs, ratios;
  for (int round = 1; round <= rounds; ++round) {
    const std::string tag = rounds > 1 ? absl::StrCat("[round ", round, "] ") : "";
    std::unique_ptr<channelops::testing::ChildProcess> svc;
    std::string addr = StartService(bin_dir, "pos_ingestion", dir.Path(absl::StrCat("pos", round)),
                                    &svc, server_flags);
    if (addr.empty()) return 1;
    grpc::ChannelArguments args;
    auto stub = pos::v1::PosIngestionService::NewStub(
        grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args));
    for (const auto& [sku, p] : catalogue) {
      grpc::ClientContext c;
      pos::v1::UpsertProductRequest req;
      req.set_request_id("p-" + sku);
      *req.mutable_product() = p;
      pos::v1::UpsertProductResponse r;
      if (!stub->UpsertProduct(&c, req, &r).ok()) return 1;
    }
    t0 = absl::Now();
    grpc::ClientContext c;
    pos::v1::IngestReportResponse resp;
    auto writer = stub->IngestReport(&c, &resp);
    pos::v1::IngestReportRequest first;
    *first.mutable_header() = header;
    writer->Write(first);
    for (size_t off = 0; off < csv.size(); off += 1 << 20) {
      pos::v1::IngestReportRequest chunk;
      chunk.set_chunk(csv.substr(off, 1 << 20));
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    double e2e_s = absl::ToDoubleSeconds(absl::Now() - t0);
    if (!st.ok()) {
      fprintf(stderr, "IngestReport: %s\n", st.error_message().c_str());
      return 1;
    }
    double e2e = lines / e2e_s;
    ours.push_back(e2e);
    printf(
        "%sdurable ingestion over gRPC (real binary) : %10.0f lines/s  (%lld accepted in %.1f s; "
        "floor 200,000: %s)\n",
        tag.c_str(), e2e, static_cast<long long>(resp.report().counts().accepted()), e2e_s,
        e2e >= 200000 ? "PASS" : "FAIL");
    svc->Kill(SIGTERM);
    svc->Wait(absl::Seconds(60));
    if (!pg) continue;
    FILE* f = popen(
        absl::StrCat(CHANNELOPS_SOURCE_DIR, "/tools/bench/pg_copy.sh ", csv_path).c_str(), "r");
    char buf[256];
    double pg_s = 0;
    while (f && fgets(buf, sizeof(buf), f)) sscanf(buf, "PG_COPY_SECONDS %lf", &pg_s);
    if (f) pclose(f);
    if (pg_s <= 0) continue;
    theirs.push_back(lines / pg_s);
    ratios.push_back(e2e / (lines / pg_s));
    printf("%sPostgreSQL 15 COPY of the same CSV          : %10.0f lines/s  (%.1f s)\n",
           tag.c_str(), lines / pg_s, pg_s);
    printf("%schannelops / PostgreSQL COPY: %.2f (floor 1.0: %s)\n", tag.c_str(), ratios.back(),
           ratios.back() >= 1.0 ? "PASS" : "FAIL");
  }
  if (rounds > 1) {
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[v.size() / 2];
    };
    printf("median of %d rounds: durable %.0f lines/s", rounds, median(ours));
    if (!ratios.empty()) {
      printf(", COPY %.0f lines/s, ratio %.2f (floor 1.0: %s)", median(theirs), median(ratios),
             median(ratios) >= 1.0 ? "PASS" : "FAIL");
    }
    printf("\n");
  }
  return 0;
}
