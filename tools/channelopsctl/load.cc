// channelopsctl load: a fixed-rate mixed command load against the stack, with
// client retries, for the chaos and Kafka-outage tests (tests/chaos).
//
// Every command has its own request_id (the idempotency key) and is retried with
// the same request_id and body on any transient failure (the service was killed,
// restarting, draining, or the attempt's deadline ran out) until it is answered.
// Each answered command is appended to --journal as
//   <service>\t<method>\t<request_id>\t<attempts>\t<first-event type>
// so a verifier can check that each one's fact exists exactly once in the topics.
// A definite refusal (INVALID_ARGUMENT, FAILED_PRECONDITION, ...) is counted as
// `refused` and not retried: the load only sends valid commands, so the tests
// expect none. --latency_log writes one JSON line per 10 s window with the
// answered commands' latency percentiles (the soak test reads it).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channelops/dealreg/v1/dealreg.grpc.pb.h"
#include "channelops/leads/v1/leads.grpc.pb.h"
#include "channelops/mdf/v1/mdf.grpc.pb.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "channelopsctl.h"

namespace channelops::ctl {
namespace {

namespace dr = ::channelops::dealreg::v1;
namespace lr = ::channelops::leads::v1;
namespace pos = ::channelops::pos::v1;
namespace mdf = ::channelops::mdf::v1;

common::v1::Money Usd(int64_t units) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(units * 1'000'000);
  return m;
}

std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  return ts;
}

bool Transient(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNIMPLEMENTED:
      return false;
    default:
      return true;  // UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ABORTED, RESOURCE_EXHAUSTED, ...
  }
}

// One command: a service, a method, the event type its fact starts with, and a
// call that sends the same request on every attempt.
struct Command {
  std::string service, method, request_id, first_event;
  std::function<grpc::Status(grpc::ClientContext*)> call;
};

class Load {
 public:
  explicit Load(const Flags& f)
      : run_(Flag(f, "run", "load")),
        attempt_timeout_(DurationFlag(f, "attempt_timeout", absl::Seconds(5))),
        give_up_(DurationFlag(f, "give_up", absl::Seconds(180))),
        partners_(std::stoi(Flag(f, "partners", "30"))) {
    auto addr = [&](const char* name) { return Flag(f, name, ""); };
    if (!addr("deal_registration").empty())
      dealreg_ = dr::DealRegistrationService::NewStub(Connect(addr("deal_registration")));
    if (!addr("lead_routing").empty())
      leads_ = lr::LeadRoutingService::NewStub(Connect(addr("lead_routing")));
    if (!addr("pos_ingestion").empty())
      pos_ = pos::PosIngestionService::NewStub(Connect(addr("pos_ingestion")));
    if (!addr("mdf").empty()) mdf_ = mdf::MdfService::NewStub(Connect(addr("mdf")));
  }

  // Idempotent set-up every run can repeat: programme rules, products, funds.
  bool SetUp() {
    std::vector<Command> setup;
    absl::Time now = absl::Now();
    if (dealreg_) {
      auto req = std::make_shared<dr::SetProgramRulesRequest>();
      req->set_request_id("load-rules-v1");
      auto* r = req->mutable_rules();
      r->set_program_id("load-program");
      r->set_currency_code("USD");
      *r->mutable_min_deal_amount() = Usd(1'000);
      for (const char* pl : {"NET", "SEC", "CLOUD", "STORAGE"}) r->add_eligible_product_lines(pl);
      r->set_expiry_days(90);
      r->set_approval_mode(dr::APPROVAL_MODE_AUTO);
      *r->mutable_auto_approve_max_amount() = Usd(1'000'000);
      setup.push_back({"deal_registration", "SetProgramRules", req->request_id(), "", [this, req](grpc::ClientContext* c) {
                         dr::SetProgramRulesResponse resp;
                         return dealreg_->SetProgramRules(c, *req, &resp);
                       }});
    }
    if (pos_) {
      auto req = std::make_shared<pos::UpsertProductRequest>();
      req->set_request_id("load-product-v1");
      auto* p = req->mutable_product();
      p->set_sku("LOAD-NET-1");
      p->set_product_line("net");
      p->set_unit_of_measure("EA");
      *p->mutable_list_price() = Usd(1'000);
      setup.push_back({"pos_ingestion", "UpsertProduct", req->request_id(), "", [this, req](grpc::ClientContext* c) {
                         pos::UpsertProductResponse resp;
                         return pos_->UpsertProduct(c, *req, &resp);
                       }});
    }
    if (mdf_) {
      // Per partner an MDF fund the load's fund requests draw on, and a co-op
      // fund that accrues from the shipments the load records (through Kafka).
      for (int p = 1; p <= partners_; ++p) {
        for (bool coop : {false, true}) {
          auto req = std::make_shared<mdf::AllocateFundsRequest>();
          std::string partner = absl::StrFormat("P%03d", p);
          req->set_request_id(absl::StrCat("load-fund-v1-", coop ? "coop-" : "mdf-", partner));
          req->set_fund_id(absl::StrCat(coop ? "COOP-LOAD-" : "MDF-LOAD-", partner));
          req->set_partner_id(partner);
          req->set_kind(coop ? mdf::FUND_KIND_COOP : mdf::FUND_KIND_MDF);
          req->mutable_period()->set_start_date(Day(now - absl::Hours(24 * 30)));
          req->mutable_period()->set_end_date(Day(now + absl::Hours(24 * 365)));
          *req->mutable_amount() = Usd(coop ? 0 : 100'000'000);
          *req->mutable_expires_at() = Ts(now + absl::Hours(24 * 400));
          req->set_name(coop ? "load test co-op" : "load test fund");
          setup.push_back({"mdf", "AllocateFunds", req->request_id(), "", [this, req](grpc::ClientContext* c) {
                             mdf::FundResponse resp;
                             return mdf_->AllocateFunds(c, *req, &resp);
                           }});
        }
      }
    }
    for (Command& c : setup) {
      if (!Run(c, /*journal=*/false)) {
        // ALREADY_EXISTS from an earlier run's fund is fine; anything else is not.
        if (last_refusal_code_ != grpc::StatusCode::ALREADY_EXISTS) {
          std::cerr << "load: set-up " << c.method << " failed: " << last_refusal_ << "\n";
          return false;
        }
      }
    }
    return true;
  }

  Command Make(int64_t i) {
    std::vector<int> kinds;
    if (dealreg_) kinds.push_back(0);
    if (leads_) kinds.push_back(1);
    if (pos_) kinds.push_back(2);
    if (mdf_) kinds.push_back(3);
    int kind = kinds[i % kinds.size()];
    std::string partner = absl::StrFormat("P%03d", 1 + (i / 7) % partners_);
    // Every 10th registration names the customer of registration i-4 from another
    // partner: a conflict, recorded as a rejected registration.
    const bool conflict = kind == 0 && i % 10 == 0 && i > 0;
    if (conflict) partner = absl::StrFormat("P%03d", 1 + (i / 7 + 1) % partners_);
    std::string rid = absl::StrCat(run_, "-", i);
    absl::Time now = absl::Now();
    switch (kind) {
      case 0: {
        auto req = std::make_shared<dr::RegisterDealRequest>();
        req->set_request_id(rid);
        req->set_program_id("load-program");
        req->set_partner_id(partner);
        req->mutable_partner_contact()->set_name("Load Rep");
        req->mutable_partner_contact()->set_email("rep@" + absl::AsciiStrToLower(partner) + ".example");
        auto* ec = req->mutable_end_customer();
        int64_t cust = conflict ? i - 4 : i;
        ec->set_name(absl::StrCat("Load Customer ", run_, " ", cust, " Inc"));
        ec->set_email_domain(absl::StrCat("cust", cust, "-", run_, ".example"));
        ec->mutable_address()->set_country_code("US");
        ec->mutable_address()->set_region("CA");
        ec->mutable_address()->set_postal_code("94105");
        auto* l = req->add_lines();
        l->set_product_line("NET");
        l->set_quantity(10);
        *l->mutable_unit_price() = Usd(1'000 + i % 50);
        req->set_expected_close_date(Day(now + absl::Hours(24 * 45)));
        return {"deal_registration", "RegisterDeal", rid, "channelops.dealreg.v1.DealRegistered",
                [this, req](grpc::ClientContext* c) {
                  dr::RegisterDealResponse resp;
                  return dealreg_->RegisterDeal(c, *req, &resp);
                }};
      }
      case 1: {
        auto req = std::make_shared<lr::SubmitLeadRequest>();
        req->set_request_id(rid);
        req->set_source("web");
        req->set_campaign_id("load-campaign");
        req->set_company(absl::StrCat("Load Prospect ", run_, " ", i));
        req->mutable_contact()->set_name(absl::StrCat("Buyer ", i));
        req->mutable_contact()->set_email(absl::StrCat("buyer", i, "@prospect.example"));
        req->set_country_code("US");
        req->set_region("CA");
        req->set_postal_code("94105");
        req->set_product_interest("NET");
        req->set_score(static_cast<int>(i % 100));
        return {"lead_routing", "SubmitLead", rid, "channelops.leads.v1.LeadSubmitted",
                [this, req](grpc::ClientContext* c) {
                  lr::LeadResponse resp;
                  return leads_->SubmitLead(c, *req, &resp);
                }};
      }
      case 2: {
        auto req = std::make_shared<pos::RecordShipmentsRequest>();
        req->set_request_id(rid);
        auto* sh = req->add_shipments();
        sh->set_shipment_id(absl::StrCat("LOAD-SHP-", rid));
        sh->set_partner_id(partner);
        sh->set_sku("LOAD-NET-1");
        sh->set_quantity(1 + i % 20);
        *sh->mutable_unit_price() = Usd(700);
        *sh->mutable_shipped_at() = Ts(now - absl::Hours(2));
        *sh->mutable_received_at() = Ts(now - absl::Hours(1));
        return {"pos_ingestion", "RecordShipments", rid, "channelops.pos.v1.ShipmentRecorded",
                [this, req](grpc::ClientContext* c) {
                  pos::RecordShipmentsResponse resp;
                  return pos_->RecordShipments(c, *req, &resp);
                }};
      }
      default: {
        auto req = std::make_shared<mdf::SubmitFundRequestRequest>();
        req->set_request_id(rid);
        req->set_fund_id("MDF-LOAD-" + partner);
        req->set_partner_id(partner);
        auto* d = req->mutable_details();
        d->set_activity_type(mdf::ACTIVITY_TYPE_EVENT);
        d->set_name(absl::StrCat("load activity ", i));
        d->set_start_date(Day(now));
        d->set_end_date(Day(now + absl::Hours(24)));
        *d->mutable_planned_cost() = Usd(100);
        *d->mutable_requested_amount() = Usd(50);
        return {"mdf", "SubmitFundRequest", rid, "channelops.mdf.v1.FundRequestSubmitted",
                [this, req](grpc::ClientContext* c) {
                  mdf::FundRequestResponse resp;
                  return mdf_->SubmitFundRequest(c, *req, &resp);
                }};
      }
    }
  }

  // Sends until answered, refused, or give_up after the load's end. Returns
  // true when answered OK.
  bool Run(Command& c, bool journal) {
    absl::Duration backoff = absl::Milliseconds(50);
    int attempts = 0;
    const absl::Time started = absl::Now();
    while (true) {
      ++attempts;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(attempt_timeout_));
      grpc::Status s = c.call(&ctx);
      if (s.ok()) {
        if (journal) {
          // The command's latency ends with its answer: the journal line is the load's own
          // bookkeeping (a buffered write under the lock), so it is not counted.
          const int64_t us = absl::ToInt64Microseconds(absl::Now() - started);
          Journal(c, attempts);
          std::lock_guard<std::mutex> l(mu_);
          window_us_.push_back(us);
          window_by_service_us_[c.service].push_back(us);
        }
        return true;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        failed_attempts_[absl::StrCat(c.service, " ", CodeName(s.error_code()))]++;
        if (!Transient(s.error_code())) {
          refused_[absl::StrCat(c.method, " ", CodeName(s.error_code()))]++;
          last_refusal_ = absl::StrCat(c.request_id, ": ", s.error_message());
          last_refusal_code_ = s.error_code();
          if (refusal_examples_.size() < 5) refusal_examples_.push_back(last_refusal_);
          return false;
        }
      }
      if (absl::Now() > give_up_at_.load()) {
        std::lock_guard<std::mutex> l(mu_);
        unanswered_.push_back(c.request_id);
        return false;
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
  }

  int Main(const Flags& f) {
    const double rate = std::stod(Flag(f, "rate", "100"));
    const absl::Duration duration = DurationFlag(f, "duration", absl::Seconds(60));
    const int workers = std::stoi(Flag(f, "workers", "32"));
    const std::string journal_path = Flag(f, "journal", "");
    const std::string latency_path = Flag(f, "latency_log", "");
    if (!latency_path.empty()) {
      latency_log_ = fopen(latency_path.c_str(), "w");
      if (!latency_log_) {
        std::cerr << "load: cannot open --latency_log=" << latency_path << "\n";
        return 2;
      }
    }
    if (rate <= 0) {
      std::cerr << "load: --rate must be > 0\n";
      return 2;
    }
    if (!dealreg_ && !leads_ && !pos_ && !mdf_) {
      std::cerr << "load: name at least one of --deal_registration, --lead_routing, "
                   "--pos_ingestion, --mdf\n";
      return 2;
    }
    if (!journal_path.empty()) {
      journal_ = fopen(journal_path.c_str(), "a");
      if (!journal_) {
        std::cerr << "load: cannot open --journal=" << journal_path << "\n";
        return 2;
      }
    }
    give_up_at_ = absl::InfiniteFuture();
    if (!SetUp()) return 1;
    const absl::Time t0 = absl::Now();
    const absl::Time end = t0 + duration;
    give_up_at_ = end + give_up_;
    std::deque<Command> queue;
    std::mutex qmu;
    std::condition_variable qcv;
    bool done = false;
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        while (true) {
          Command c;
          {
            std::unique_lock<std::mutex> l(qmu);
            qcv.wait(l, [&] { return done || !queue.empty(); });
            if (queue.empty()) return;
            c = std::move(queue.front());
            queue.pop_front();
          }
          Run(c, true);
        }
      });
    }
    int64_t issued = 0;
    absl::Time last_report = t0;
    while (true) {
      absl::Time now = absl::Now();
      if (now >= end) break;
      int64_t due = static_cast<int64_t>(absl::ToDoubleSeconds(now - t0) * rate);
      for (; issued < due; ++issued) {
        Command c = Make(issued);
        std::lock_guard<std::mutex> l(qmu);
        queue.push_back(std::move(c));
        qcv.notify_one();
      }
      if (now - last_report >= absl::Seconds(10)) {
        last_report = now;
        size_t backlog;
        {
          std::lock_guard<std::mutex> l(qmu);
          backlog = queue.size();
        }
        std::cerr << absl::StrFormat("load: %.0fs issued=%d answered=%d queued=%d\n",
                                     absl::ToDoubleSeconds(now - t0), issued, answered_.load(), backlog);
        WriteLatencyWindow(now - t0);
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    {
      std::lock_guard<std::mutex> l(qmu);
      done = true;
    }
    qcv.notify_all();
    for (auto& t : pool) t.join();
    if (journal_) fclose(journal_);
    if (latency_log_) fclose(latency_log_);
    // Summary: one JSON object.
    std::string out = absl::StrCat("{\"issued\":", issued, ",\"answered\":", answered_.load(),
                                   ",\"retried_commands\":", retried_.load(), ",\"seconds\":",
                                   absl::StrFormat("%.1f", absl::ToDoubleSeconds(absl::Now() - t0)));
    auto map_json = [](const std::map<std::string, int64_t>& m) {
      std::string s = "{";
      for (const auto& [k, v] : m) absl::StrAppend(&s, s.size() > 1 ? "," : "", "\"", k, "\":", v);
      return s + "}";
    };
    absl::StrAppend(&out, ",\"failed_attempts\":", map_json(failed_attempts_), ",\"refused\":",
                    map_json(refused_), ",\"unanswered\":", unanswered_.size(), "}");
    std::cout << out << std::endl;
    for (const auto& e : refusal_examples_) std::cerr << "load: refused: " << e << "\n";
    return refused_.empty() && unanswered_.empty() ? 0 : 1;
  }

 private:
  static std::string CodeName(grpc::StatusCode c) {
    static const char* names[] = {"OK",        "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS", "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                  "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",    "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    int i = static_cast<int>(c);
    return i >= 0 && i <= 16 ? names[i] : absl::StrCat(i);
  }

  // One JSON line per 10 s window: answered commands and their latency
  // (submission to answer, retries included) percentiles, overall and per service.
  void WriteLatencyWindow(absl::Duration elapsed) {
    std::vector<int64_t> w;
    std::map<std::string, std::vector<int64_t>> by_service;
    {
      std::lock_guard<std::mutex> l(mu_);
      w.swap(window_us_);
      by_service.swap(window_by_service_us_);
    }
    if (!latency_log_) return;
    auto pct = [](const std::vector<int64_t>& v, double q) -> long {
      return v.empty() ? 0 : static_cast<long>(v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]);
    };
    std::sort(w.begin(), w.end());
    std::string services;
    for (auto& [service, v] : by_service) {
      std::sort(v.begin(), v.end());
      absl::StrAppend(&services, services.empty() ? "" : ",",
                      absl::StrFormat("\"%s\":{\"answered\":%zu,\"p50_us\":%ld,\"p99_us\":%ld}", service,
                                      v.size(), pct(v, 0.5), pct(v, 0.99)));
    }
    fprintf(latency_log_,
            "{\"t\":%.0f,\"answered\":%zu,\"p50_us\":%ld,\"p99_us\":%ld,\"max_us\":%ld,\"by_service\":{%s}}\n",
            absl::ToDoubleSeconds(elapsed), w.size(), pct(w, 0.5), pct(w, 0.99),
            static_cast<long>(w.empty() ? 0 : w.back()), services.c_str());
    fflush(latency_log_);
  }

  void Journal(const Command& c, int attempts) {
    answered_++;
    if (attempts > 1) retried_++;
    if (!journal_) return;
    std::lock_guard<std::mutex> l(mu_);
    fprintf(journal_, "%s\t%s\t%s\t%d\t%s\n", c.service.c_str(), c.method.c_str(), c.request_id.c_str(),
            attempts, c.first_event.c_str());
    fflush(journal_);
  }

  const std::string run_;
  const absl::Duration attempt_timeout_, give_up_;
  const int partners_;
  std::unique_ptr<dr::DealRegistrationService::Stub> dealreg_;
  std::unique_ptr<lr::LeadRoutingService::Stub> leads_;
  std::unique_ptr<pos::PosIngestionService::Stub> pos_;
  std::unique_ptr<mdf::MdfService::Stub> mdf_;
  std::atomic<absl::Time> give_up_at_{absl::InfiniteFuture()};
  std::atomic<int64_t> answered_{0}, retried_{0};
  std::mutex mu_;
  FILE* journal_ = nullptr;
  FILE* latency_log_ = nullptr;
  std::vector<int64_t> window_us_;
  std::map<std::string, std::vector<int64_t>> window_by_service_us_;
  std::map<std::string, int64_t> failed_attempts_, refused_;
  std::vector<std::string> refusal_examples_, unanswered_;
  std::string last_refusal_;
  grpc::StatusCode last_refusal_code_ = grpc::StatusCode::OK;
};

}  // namespace

int RunLoad(const Flags& flags) {
  Load load(flags);
  return load.Main(flags);
}

}  // namespace channelops::ctl
