#include "channelops/outbox/relay.h"

#include <librdkafka/rdkafka.h>

#include <deque>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channelops/core/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace channelops::outbox {

namespace {
constexpr char kCursorKey[] = "outbox/cursor";

std::string Rfc3339(const google::protobuf::Timestamp& ts) {
  return google::protobuf::util::TimeUtil::ToString(ts);
}

void LogJson(absl::string_view level, absl::string_view msg, absl::string_view detail) {
  // One JSON object per line; messages here are ours, detail is librdkafka text.
  std::string d;
  for (char c : detail) {
    if (c == '"' || c == '\\') d.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) d.push_back(c);
  }
  std::cerr << absl::StrCat("{\"ts\":\"", absl::FormatTime(absl::Now()), "\",\"level\":\"", level,
                            "\",\"component\":\"outbox\",\"msg\":\"", msg, "\",\"detail\":\"", d,
                            "\"}\n");
}
}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view s) {
  if (s == "protobuf") return Format::kProtobuf;
  if (s == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("kafka_format: must be 'protobuf' or 'json', got '", s, "'"));
}

class Relay::Impl {
 public:
  Impl(eventstore::EventStore& store, RelayOptions o) : store_(store), o_(std::move(o)) {}

  ~Impl() {
    Stop(absl::Seconds(1));
    DestroyTopicHandles();
    if (rk_) rd_kafka_destroy(rk_);
  }

  absl::Status Init() {
    if (o_.topic.empty()) return absl::InvalidArgumentError("topic: must not be empty");
    if (o_.bootstraps.empty())
      return absl::InvalidArgumentError("kafka_bootstrap: must not be empty");
    CHANNELOPS_ASSIGN_OR_RETURN(uint64_t c, LoadCursor(store_));
    cursor_ = c;
    if (o_.metrics) {
      auto& r = *o_.metrics;
      published_family_ = &prometheus::BuildCounter()
                               .Name("channelops_outbox_published_total")
                               .Help("Events acknowledged by Kafka")
                               .Register(r);
      errors_family_ = &prometheus::BuildCounter()
                            .Name("channelops_outbox_errors_total")
                            .Help("Delivery failures (retried from the cursor)")
                            .Register(r);
      lag_ = &prometheus::BuildGauge()
                  .Name("channelops_outbox_lag_events")
                  .Help("Events committed to the store but not yet acknowledged by Kafka")
                  .Register(r)
                  .Add({{"topic", o_.topic}});
      cursor_gauge_ = &prometheus::BuildGauge()
                           .Name("channelops_outbox_cursor_position")
                           .Help("Highest global position delivered with all before it")
                           .Register(r)
                           .Add({{"topic", o_.topic}});
    }
    default_topic_ = Topic(o_.topic);
    return MakeProducer();
  }

  absl::Status MakeProducer() {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::map<std::string, std::string> props = {
        {"bootstrap.servers", o_.bootstraps},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "1000000"},
        {"queue.buffering.max.kbytes", "1048576"},
        // Never give up on a message: an outage only delays publication.
        {"message.timeout.ms", "0"},
        {"compression.type", "lz4"},
        {"client.id", "channelops-outbox"},
    };
    for (const auto& [k, v] : o_.producer_properties) props[k] = v;
    for (const auto& [k, v] : props) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return absl::InvalidArgumentError(absl::StrCat("kafka property ", k, ": ", err));
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &Impl::OnDelivery);
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int code, const char* reason, void*) {
      LogJson(
          "warn", "kafka client error",
          absl::StrCat(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code)), ": ", reason));
    });
    rd_kafka_conf_set_log_cb(conf,
                             [](const rd_kafka_t*, int level, const char* fac, const char* buf) {
                               if (level <= 4)
                                 LogJson("warn", "librdkafka", absl::StrCat(fac, ": ", buf));
                             });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk_ == nullptr) return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", err));
    return absl::OkStatus();  // topic handles are made on first use (TopicHandle)
  }

  void Start() {
    running_ = true;
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop(absl::Duration flush_timeout) {
    if (!running_.exchange(false)) return;
    flush_timeout_ = flush_timeout;
    if (thread_.joinable()) thread_.join();
  }

  uint64_t cursor() const { return cursor_.load(); }
  uint64_t lag() const {
    uint64_t last = store_.LastPosition();
    uint64_t c = cursor_.load();
    return last > c ? last - c : 0;
  }

 private:
  // A topic the relay publishes to. Owned by topics_; the address is the
  // librdkafka topic opaque, so a delivery report finds its topic's counters.
  struct TopicState {
    std::string name;
    rd_kafka_topic_t* handle = nullptr;  // made on first use; remade with the producer
    prometheus::Counter* published = nullptr;
    prometheus::Counter* errors = nullptr;
  };

  TopicState* Topic(const std::string& name) {
    auto& slot = topics_[name];
    if (!slot) {
      slot = std::make_unique<TopicState>();
      slot->name = name;
      if (published_family_) slot->published = &published_family_->Add({{"topic", name}});
      if (errors_family_) slot->errors = &errors_family_->Add({{"topic", name}});
    }
    return slot.get();
  }

  // The topic of an event type: RelayOptions::route, asked once per type.
  TopicState* TopicOf(const std::string& event_type) {
    if (!o_.route) return default_topic_;
    auto it = by_type_.find(event_type);
    if (it != by_type_.end()) return it->second;
    std::string name = o_.route(event_type);
    TopicState* t = name.empty() ? default_topic_ : Topic(name);
    by_type_.emplace(event_type, t);
    return t;
  }

  rd_kafka_topic_t* TopicHandle(TopicState* t) {
    if (t->handle == nullptr) {
      rd_kafka_topic_conf_t* tc = rd_kafka_topic_conf_new();
      rd_kafka_topic_conf_set_opaque(tc, t);
      t->handle = rd_kafka_topic_new(rk_, t->name.c_str(), tc);  // takes tc
    }
    return t->handle;
  }

  void DestroyTopicHandles() {
    for (auto& [name, t] : topics_) {
      if (t->handle) rd_kafka_topic_destroy(t->handle);
      t->handle = nullptr;
    }
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    uint64_t pos = reinterpret_cast<uintptr_t>(m->_private);
    self->Delivered(static_cast<TopicState*>(rd_kafka_topic_opaque(m->rkt)), pos, m->err);
  }

  // Runs on the relay thread (inside rd_kafka_poll).
  void Delivered(TopicState* topic, uint64_t pos, rd_kafka_resp_err_t err) {
    --in_flight_;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (topic != nullptr && topic->errors) topic->errors->Increment();
      if (!rewind_)
        LogJson("error", "delivery failed; will re-publish from the cursor", rd_kafka_err2str(err));
      rewind_ = true;
      return;
    }
    if (pos < window_base_ || pos >= window_base_ + acked_.size()) {
      return;  // a late report for a message sent before a rewind
    }
    acked_[pos - window_base_] = true;
    if (topic != nullptr && topic->published) topic->published->Increment();
    uint64_t c = cursor_.load();
    while (!acked_.empty() && acked_.front()) {
      acked_.pop_front();
      ++window_base_;
      ++c;
    }
    cursor_ = c;
  }

  void SaveCursor(bool force) {
    absl::Time now = absl::Now();
    uint64_t c = cursor_.load();
    if (c == saved_cursor_ || (!force && now - last_save_ < o_.cursor_save_interval)) return;
    if (store_.PutMeta(kCursorKey, eventstore::EncodeU64(c)).ok()) {
      saved_cursor_ = c;
      last_save_ = now;
    }
    if (cursor_gauge_) cursor_gauge_->Set(static_cast<double>(c));
  }

  void Rewind() {
    // Drop what is queued and re-send everything after the cursor. Duplicates
    // on the topic are allowed (consumers dedupe by position); loss is not.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (in_flight_ > 0) rd_kafka_poll(rk_, 10);
    char reason[256];
    if (rd_kafka_fatal_error(rk_, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      LogJson("error", "fatal producer error; recreating the producer", reason);
      DestroyTopicHandles();
      rd_kafka_destroy(rk_);
      rk_ = nullptr;
      while (!MakeProducer().ok()) absl::SleepFor(absl::Seconds(1));
    }
    acked_.clear();
    window_base_ = cursor_.load() + 1;
    next_ = window_base_;
    rewind_ = false;
    absl::SleepFor(absl::Milliseconds(200));  // back off before re-sending
  }

  void Loop() {
    window_base_ = cursor_.load() + 1;
    next_ = window_base_;
    eventstore::EventEnvelope env;
    std::string json;
    google::protobuf::util::JsonPrintOptions jopts;
    jopts.preserve_proto_field_names = true;
    while (running_) {
      if (rewind_) Rewind();
      size_t sent = 0;
      if (in_flight_ < o_.max_in_flight) {
        size_t room = std::min<size_t>(o_.max_in_flight - in_flight_, 5000);
        absl::Status s = store_.ReadAllRaw(next_, room, [&](uint64_t pos, absl::string_view raw) {
          if (rewind_ || pos != next_) return;
          if (!env.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
            LogJson("error", "corrupt envelope in log", absl::StrCat(pos));
            return;
          }
          const std::string* value_ptr;
          std::string value_json;
          if (o_.format == Format::kJson) {
            value_json.clear();
            if (!google::protobuf::util::MessageToJsonString(env, &value_json, jopts).ok()) {
              LogJson("error", "cannot render envelope as JSON (payload type not linked?)",
                      env.event_type());
              return;
            }
            value_ptr = &value_json;
          }
          std::string value_bin;
          if (o_.format == Format::kProtobuf) {
            value_bin.assign(raw.data(), raw.size());
            value_ptr = &value_bin;
          }
          rd_kafka_headers_t* h = rd_kafka_headers_new(8);
          auto add = [&](const char* k, const std::string& v) {
            rd_kafka_header_add(h, k, -1, v.data(), static_cast<ssize_t>(v.size()));
          };
          add("ce_specversion", "1.0");
          add("ce_id", env.event_id());
          add("ce_source", env.source());
          add("ce_type", env.event_type());
          add("ce_time", Rfc3339(env.occurred_at()));
          add("ce_subject", env.stream_id());
          add("content-type",
              o_.format == Format::kJson
                  ? std::string("application/json")
                  : std::string("application/protobuf; proto=channelops.common.v1.EventEnvelope"));
          add("channelops_position", absl::StrCat(pos));
          TopicState* topic = TopicOf(env.event_type());
          rd_kafka_topic_t* rkt = TopicHandle(topic);
          if (rkt == nullptr) {
            rd_kafka_headers_destroy(h);
            if (topic->errors) topic->errors->Increment();
            LogJson("error", "cannot make the topic handle",
                    absl::StrCat(topic->name, ": ", rd_kafka_err2str(rd_kafka_last_error())));
            rewind_ = true;
            return;
          }
          while (true) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk_, RD_KAFKA_V_RKT(rkt),
                RD_KAFKA_V_KEY(env.stream_id().data(), env.stream_id().size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(value_ptr->data()), value_ptr->size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(pos))),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
              rd_kafka_poll(rk_, 10);
              continue;
            }
            rd_kafka_headers_destroy(h);
            if (topic->errors) topic->errors->Increment();
            LogJson("error", "produce failed",
                    absl::StrCat(topic->name, ": ", rd_kafka_err2str(err)));
            rewind_ = true;
            return;
          }
          ++in_flight_;
          acked_.push_back(false);
          ++next_;
          ++sent;
        });
        if (!s.ok()) LogJson("error", "reading the log failed", s.ToString());
      }
      rd_kafka_poll(rk_, 0);
      if (lag_) lag_->Set(static_cast<double>(lag()));
      SaveCursor(false);
      if (sent == 0) {
        // Nothing new: wait for the next commit while serving delivery reports.
        if (next_ > store_.LastPosition()) {
          rd_kafka_poll(rk_, in_flight_ > 0 ? 5 : 0);
          store_.WaitForPosition(next_, absl::Milliseconds(in_flight_ > 0 ? 1 : 20));
        } else {
          rd_kafka_poll(rk_, 5);
        }
      }
    }
    // Drain: give in-flight deliveries a bounded time.
    absl::Time deadline = absl::Now() + flush_timeout_;
    while (in_flight_ > 0 && absl::Now() < deadline && !rewind_) rd_kafka_poll(rk_, 10);
    SaveCursor(true);
    if (lag_) lag_->Set(static_cast<double>(lag()));
  }

  eventstore::EventStore& store_;
  RelayOptions o_;
  rd_kafka_t* rk_ = nullptr;
  std::map<std::string, std::unique_ptr<TopicState>> topics_;  // by name
  std::map<std::string, TopicState*> by_type_;                 // event type -> topic (route)
  TopicState* default_topic_ = nullptr;
  std::atomic<bool> running_{false};
  std::thread thread_;
  absl::Duration flush_timeout_ = absl::Seconds(5);

  // Relay-thread state.
  std::atomic<uint64_t> cursor_{0};
  uint64_t next_ = 1;
  uint64_t window_base_ = 1;  // position of acked_[0]
  std::deque<bool> acked_;    // delivery flags for [window_base_, next_)
  size_t in_flight_ = 0;
  bool rewind_ = false;
  uint64_t saved_cursor_ = 0;
  absl::Time last_save_ = absl::InfinitePast();

  prometheus::Family<prometheus::Counter>* published_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* errors_family_ = nullptr;
  prometheus::Gauge* lag_ = nullptr;
  prometheus::Gauge* cursor_gauge_ = nullptr;
};

Relay::Relay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Relay::~Relay() = default;

absl::StatusOr<std::unique_ptr<Relay>> Relay::Create(eventstore::EventStore& store,
                                                     RelayOptions options) {
  auto impl = std::make_unique<Impl>(store, std::move(options));
  CHANNELOPS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Relay>(new Relay(std::move(impl)));
}

void Relay::Start() { impl_->Start(); }
void Relay::Stop(absl::Duration flush_timeout) { impl_->Stop(flush_timeout); }
uint64_t Relay::cursor() const { return impl_->cursor(); }
uint64_t Relay::lag() const { return impl_->lag(); }

absl::Status Relay::ResetCursor(eventstore::EventStore& store, uint64_t from_position) {
  if (from_position < 1) return absl::InvalidArgumentError("from_position: must be >= 1");
  return store.PutMeta(kCursorKey, eventstore::EncodeU64(from_position - 1));
}

absl::StatusOr<uint64_t> Relay::LoadCursor(const eventstore::EventStore& store) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto v, store.Get(eventstore::kMetaCf, kCursorKey));
  if (!v || v->size() != 8) return 0;
  return eventstore::DecodeU64(*v);
}

}  // namespace channelops::outbox
