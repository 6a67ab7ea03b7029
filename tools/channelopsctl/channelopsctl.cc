// channelopsctl: a CLI over the channelops gRPC APIs and topics, for people and
// scripts. Output is JSON (one object per line) unless a command says otherwise.
//
//   channelopsctl health  --addr=HOST:PORT [--wait=30s]
//   channelopsctl call    --addr=HOST:PORT <package.Service/Method> '<request as JSON>'|-
//   channelopsctl methods                     (every RPC this build knows)
//   channelopsctl tail    --kafka=HOST:PORT --topic=T [--from_beginning] [--max=N] [--idle=5s]
//   channelopsctl demo    ...                 (the demo scenario; see demo.cc)
//   channelopsctl load    --deal_registration=A --lead_routing=A --pos_ingestion=A --mdf=A
//                         [--rate=100] [--duration=60s] [--journal=F] [--latency_log=F] [--run=ID]
//                         (see load.cc)
//
// `call` works for every RPC of every service: the request and response are
// converted with proto3 JSON through the descriptors compiled into this binary.
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channelops/common/v1/envelope.pb.h"
#include "channelopsctl.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "channelops/pos/v1/pos.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace channelops::ctl {

std::map<std::string, std::string> ParseFlags(int argc, char** argv, std::vector<std::string>* positional) {
  std::map<std::string, std::string> flags;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--")) {
      auto eq = a.find('=');
      if (eq == std::string::npos) {
        flags[a.substr(2)] = "true";
      } else {
        flags[a.substr(2, eq - 2)] = a.substr(eq + 1);
      }
    } else {
      positional->push_back(a);
    }
  }
  return flags;
}

std::string Flag(const std::map<std::string, std::string>& f, const std::string& name,
                 const std::string& def) {
  auto it = f.find(name);
  return it == f.end() ? def : it->second;
}

absl::Duration DurationFlag(const std::map<std::string, std::string>& f, const std::string& name,
                            absl::Duration def) {
  absl::Duration d;
  auto it = f.find(name);
  if (it == f.end() || !absl::ParseDuration(it->second, &d)) return def;
  return d;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  auto s = google::protobuf::util::MessageToJsonString(m, &out, o);
  if (!s.ok()) return absl::StrCat("{\"error\":\"cannot render ", m.GetTypeName(), "\"}");
  return out;
}

std::shared_ptr<grpc::Channel> Connect(const std::string& addr) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
}

// Calls any unary RPC by full method name with messages given as proto objects.
grpc::Status CallUnary(grpc::Channel* channel, const std::string& full_method,
                       const google::protobuf::Message& request, google::protobuf::Message* response,
                       absl::Duration timeout) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  std::string bytes;
  request.SerializeToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/" + full_method, grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (!s.ok()) return s;
  std::vector<grpc::Slice> slices;
  resp.Dump(&slices);
  std::string out;
  for (auto& sl : slices) out.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  if (!response->ParseFromString(out)) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response bytes");
  return grpc::Status::OK;
}

void PrintStatus(const grpc::Status& s) {
  std::cout << "{\"error\":{\"code\":" << static_cast<int>(s.error_code()) << ",\"message\":\""
            << s.error_message() << "\"}}" << std::endl;
}

namespace {

int Health(const std::map<std::string, std::string>& f) {
  auto ch = Connect(Flag(f, "addr", "127.0.0.1:50051"));
  auto stub = grpc::health::v1::Health::NewStub(ch);
  absl::Time end = absl::Now() + DurationFlag(f, "wait", absl::ZeroDuration());
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(Flag(f, "service", ""));
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      std::cout << "SERVING" << std::endl;
      return 0;
    }
    if (absl::Now() >= end) {
      std::cout << (s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())
                           : std::string("DOWN"))
                << std::endl;
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

int Methods() {
  // Services compiled into this binary, found through their file descriptors.
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* svc :
       {"channelops.dealreg.v1.DealRegistrationService", "channelops.leads.v1.LeadRoutingService",
        "channelops.pos.v1.PosIngestionService", "channelops.mdf.v1.MdfService",
        "channelops.comp.v1.CompensationService", "channelops.analytics.v1.AnalyticsService"}) {
    const auto* sd = pool->FindServiceByName(svc);
    if (!sd) continue;
    for (int i = 0; i < sd->method_count(); ++i) {
      std::cout << sd->full_name() << "/" << sd->method(i)->name() << "  ("
                << sd->method(i)->input_type()->full_name() << ")" << std::endl;
    }
  }
  return 0;
}

int Call(const std::map<std::string, std::string>& f, const std::vector<std::string>& pos) {
  if (pos.size() < 2) {
    std::cerr << "usage: channelopsctl call --addr=HOST:PORT <package.Service/Method> '<json>'|-\n";
    return 2;
  }
  std::string method = pos[1];
  auto slash = method.find('/');
  if (slash == std::string::npos) {
    std::cerr << "method must be package.Service/Method\n";
    return 2;
  }
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const auto* sd = pool->FindServiceByName(method.substr(0, slash));
  const auto* md = sd ? sd->FindMethodByName(method.substr(slash + 1)) : nullptr;
  if (!md) {
    std::cerr << "unknown method " << method << " (see `channelopsctl methods`)\n";
    return 2;
  }
  std::string json = pos.size() > 2 ? pos[2] : "{}";
  if (json == "-") json.assign(std::istreambuf_iterator<char>(std::cin), {});
  google::protobuf::DynamicMessageFactory factory(pool);
  std::unique_ptr<google::protobuf::Message> req(factory.GetPrototype(md->input_type())->New());
  std::unique_ptr<google::protobuf::Message> resp(factory.GetPrototype(md->output_type())->New());
  auto ps = google::protobuf::util::JsonStringToMessage(json, req.get());
  if (!ps.ok()) {
    std::cerr << "request JSON: " << ps.ToString() << "\n";
    return 2;
  }
  auto ch = Connect(Flag(f, "addr", "127.0.0.1:50051"));
  grpc::Status s = CallUnary(ch.get(), method, *req, resp.get(), DurationFlag(f, "timeout", absl::Seconds(30)));
  if (!s.ok()) {
    PrintStatus(s);
    return 1;
  }
  std::cout << ToJson(*resp) << std::endl;
  return 0;
}

volatile std::sig_atomic_t g_stop = 0;

int Tail(const std::map<std::string, std::string>& f) {
  std::string topic = Flag(f, "topic", "");
  if (topic.empty()) {
    std::cerr << "tail: --topic is required\n";
    return 2;
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", Flag(f, "kafka", "127.0.0.1:9092").c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", absl::StrCat("channelopsctl-tail-", getpid()).c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_conf_set(conf, "auto.offset.reset", f.count("from_beginning") ? "earliest" : "latest", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) {
    std::cerr << "kafka: " << err << "\n";
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* subs = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(subs, topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGTERM, [](int) { g_stop = 1; });
  int64_t max = 0;
  absl::SimpleAtoi(Flag(f, "max", "0"), &max);
  absl::Duration idle = DurationFlag(f, "idle", absl::InfiniteDuration());
  absl::Time last = absl::Now();
  int64_t n = 0;
  while (!g_stop && (max == 0 || n < max) && absl::Now() - last < idle) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) std::cerr << rd_kafka_message_errstr(m) << "\n";
      rd_kafka_message_destroy(m);
      continue;
    }
    last = absl::Now();
    common::v1::EventEnvelope env;
    std::string value(static_cast<const char*>(m->payload), m->len);
    if (env.ParseFromString(value) && !env.event_id().empty()) {
      std::cout << ToJson(env) << std::endl;
    } else {
      std::cout << value << std::endl;  // JSON-format topic
    }
    ++n;
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}

// Streams a CSV / X12 file as one POS report (client-streaming IngestReport).
int IngestFile(const std::map<std::string, std::string>& f) {
  std::string path = Flag(f, "file", ""), partner = Flag(f, "partner", ""), id = Flag(f, "report_id", "");
  if (path.empty() || partner.empty() || id.empty()) {
    std::cerr << "ingest: --file, --partner and --report_id are required\n";
    return 2;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "ingest: cannot read " << path << "\n";
    return 2;
  }
  pos::v1::ReportHeader h;
  h.set_report_id(id);
  h.set_partner_id(partner);
  std::string kind = Flag(f, "kind", "SELL_THROUGH"), format = Flag(f, "format", "CSV");
  pos::v1::ReportKind k;
  pos::v1::ReportFormat fm;
  if (!pos::v1::ReportKind_Parse("REPORT_KIND_" + kind, &k) || !pos::v1::ReportFormat_Parse("REPORT_FORMAT_" + format, &fm)) {
    std::cerr << "ingest: --kind SELL_THROUGH|INVENTORY|RETURNS, --format CSV|X12_867|X12_852\n";
    return 2;
  }
  h.set_kind(k);
  h.set_format(fm);
  h.mutable_period()->set_start_date(Flag(f, "period_start", ""));
  h.mutable_period()->set_end_date(Flag(f, "period_end", ""));
  h.set_corrects_report_id(Flag(f, "corrects", ""));
  h.set_all_or_nothing(f.count("all_or_nothing") > 0);
  auto stub = pos::v1::PosIngestionService::NewStub(Connect(Flag(f, "addr", "127.0.0.1:50053")));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(DurationFlag(f, "timeout", absl::Minutes(10))));
  pos::v1::IngestReportResponse resp;
  auto writer = stub->IngestReport(&ctx, &resp);
  pos::v1::IngestReportRequest first;
  *first.mutable_header() = h;
  bool ok = writer->Write(first);
  std::string buf(1 << 20, '\0');
  while (ok && in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() <= 0) break;
    pos::v1::IngestReportRequest chunk;
    chunk.set_chunk(buf.substr(0, static_cast<size_t>(in.gcount())));
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) {
    PrintStatus(s);
    return 1;
  }
  std::cout << ToJson(resp) << std::endl;
  return 0;
}

void Usage() {
  std::cout <<
      R"(channelopsctl: a CLI over the channelops gRPC APIs and Kafka topics (JSON output).

Commands:
  health  --addr=HOST:PORT [--wait=30s] [--service=NAME]
          grpc.health.v1 check; prints SERVING (exit 0) or the status (exit 1).
  methods
          Every RPC this build knows, with its request type.
  call    --addr=HOST:PORT [--timeout=30s] <package.Service/Method> '<request JSON>'|-
          Calls any RPC; request and response are proto3 JSON (field names as in the .proto).
          e.g. channelopsctl call --addr=127.0.0.1:50051 \
                 channelops.dealreg.v1.DealRegistrationService/GetDeal '{"deal_id":"..."}'
  tail    --kafka=HOST:PORT --topic=TOPIC [--from_beginning] [--max=N] [--idle=5s]
          Prints each event on a topic as one JSON object per line (payload decoded).
  ingest  --addr=HOST:PORT --file=PATH --partner=ID --report_id=ID --period_start=YYYY-MM-DD
          --period_end=YYYY-MM-DD [--kind=SELL_THROUGH|INVENTORY|RETURNS] [--format=CSV|X12_867|X12_852]
          [--corrects=REPORT_ID] [--all_or_nothing]
          Streams a POS report file (columns: docs/pos_ingestion.md); prints counts and rejects.
  demo    [--deal_registration=HOST:PORT] [--kafka=HOST:PORT] [--report_html=PATH] [--seed=N]
          Drives the demo scenario through the public gRPC APIs and prints a report.
)";
}

}  // namespace
}  // namespace channelops::ctl

int main(int argc, char** argv) {
  using namespace channelops::ctl;
  std::vector<std::string> pos;
  auto flags = ParseFlags(argc - 1, argv + 1, &pos);
  if (pos.empty() || flags.count("help") || pos[0] == "help") {
    Usage();
    return pos.empty() && !flags.count("help") ? 2 : 0;
  }
  const std::string& cmd = pos[0];
  if (cmd == "health") return Health(flags);
  if (cmd == "methods") return Methods();
  if (cmd == "call") return Call(flags, pos);
  if (cmd == "tail") return Tail(flags);
  if (cmd == "ingest") return IngestFile(flags);
  if (cmd == "demo") return RunDemo(flags);
  if (cmd == "load") return RunLoad(flags);
  std::cerr << "unknown command " << cmd << "\n";
  Usage();
  return 2;
}
