#include "channelops/kafka/consumer_runner.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "channelops/core/check.h"
#include "channelops/kafka/message.h"
#include "google/protobuf/util/json_util.h"
#include "json_log.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace channelops::kafka {
namespace {

using internal::LogJson;
constexpr char kLogger[] = "consumer_runner";

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

using TopicPartition = std::pair<std::string, int32_t>;

// No offset stored yet: the partition is read from its beginning.
constexpr int64_t kFromBeginning = -1;
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
constexpr absl::Duration kLagInterval = absl::Seconds(1);

// "Try again later" from a handler; anything else it returns is poison.
bool IsRetryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

std::string Str(const TopicPartition& tp) { return absl::StrCat(tp.first, "[", tp.second, "]"); }

// Fills `ev` (topic, partition, offset and key first, so even a record that
// fails to decode can be accounted for).
absl::Status Decode(const rd_kafka_message_t* m, ConsumedEvent* ev) {
  ev->topic = rd_kafka_topic_name(m->rkt);
  ev->partition = m->partition;
  ev->offset = m->offset;
  ev->key = KeyOf(m);
  if (m->payload == nullptr) return absl::InvalidArgumentError("record has a null value");
  const std::optional<std::string> ct = HeaderValue(m, "content-type");
  if (ct.has_value() && absl::StartsWithIgnoreCase(*ct, "application/json")) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;  // producers only ever add fields
    const auto st = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(static_cast<const char*>(m->payload), m->len), &ev->envelope,
        opts);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad JSON envelope: ", st.ToString()));
    }
  } else if (!ev->envelope.ParseFromArray(m->payload, static_cast<int>(m->len))) {
    return absl::InvalidArgumentError("value is not a protobuf EventEnvelope");
  }
  std::optional<std::string> source = HeaderValue(m, "ce_source");
  ev->ce_source = source.has_value() && !source->empty() ? *source : ev->envelope.source();
  if (ev->ce_source.empty()) {
    return absl::InvalidArgumentError("no ce_source header and no envelope.source");
  }
  ev->global_position = ev->envelope.global_position();
  if (ev->global_position == 0) return absl::InvalidArgumentError("envelope.global_position is 0");
  return absl::OkStatus();
}

// One record of a batch, decoded (or why not).
struct Item {
  ConsumedEvent event;
  absl::Status decode;
};

// What one attempt at a batch command found. Written on the store's writer
// thread; read by the poll thread after ExecuteSync returned.
struct Attempt {
  std::map<std::string, uint64_t> applied;     // per topic
  std::map<std::string, uint64_t> duplicates;  // per topic
  std::map<TopicPartition, int64_t> next_offsets;
  std::optional<size_t> poison;  // index of the item whose handler failed
  absl::Status poison_status;
  bool chain_broken = false;  // not run: an earlier batch of its chain failed
};

// A batch queued in the store, waiting for its answer (pipelined mode).
struct InFlight {
  std::shared_ptr<std::vector<Item>> items;
  std::shared_ptr<Attempt> attempt;
  std::map<size_t, absl::Status> poisoned;  // decode failures, reported once committed
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
};

// The batches queued together form a chain: each is decided on top of the
// one before, so each is valid only if every one before it is written. A
// batch checks, on the store's writer thread, that nothing was discarded since
// the previous batch of its chain was decided (Tx::discard_epoch: the previous
// one failed, or a write failed under it); if something was, it is not run.
// Writer-thread state.
struct Chain {
  uint64_t generation = 0;
  std::optional<uint64_t> epoch;  // after the chain's last batch was decided
  bool broken = false;            // a batch of the chain returned an error
};

}  // namespace

class ConsumerRunner::Impl {
 public:
  Impl(eventstore::EventStore& store, ConsumerOptions options, Handler handler,
       prometheus::Registry* metrics)
      : store_(store),
        options_(std::move(options)),
        handler_(std::move(handler)),
        backoff_(options_.retry_backoff) {
    if (metrics != nullptr) {
      applied_family_ = &prometheus::BuildCounter()
                             .Name("channelops_consumer_events_applied_total")
                             .Help("Events applied to the store by the consumer runner")
                             .Register(*metrics);
      duplicates_family_ = &prometheus::BuildCounter()
                                .Name("channelops_consumer_duplicates_skipped_total")
                                .Help("Redelivered events skipped by (ce_source, global_position)")
                                .Register(*metrics);
      errors_family_ = &prometheus::BuildCounter()
                            .Name("channelops_consumer_errors_total")
                            .Help(
                                "Poison records skipped (decode, handler) and failed batches "
                                "retried (storage)")
                            .Register(*metrics);
      lag_family_ = &prometheus::BuildGauge()
                         .Name("channelops_consumer_lag_events")
                         .Help("High watermark minus the next offset to apply, per partition")
                         .Register(*metrics);
    }
  }

  ~Impl() { Stop(); }

  absl::Status Init() {
    kafka::Properties props = {
        {"group.id", options_.group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        // Only used when a stored offset fell out of retention (the mock keeps
        // little); dedupe marks still hold across such a jump.
        {"auto.offset.reset", "earliest"},
    };
    for (const auto& [k, v] : options_.kafka_properties) props[k] = v;
    auto conf = MakeConf(options_.bootstraps, props);
    if (!conf.ok()) return conf.status();
    rd_kafka_conf_set_rebalance_cb(conf->get(), &Impl::RebalanceCb);
    rd_kafka_conf_set_log_cb(conf->get(), &Impl::LogCb);
    rd_kafka_conf_set_opaque(conf->get(), this);
    auto rk = NewClient(RD_KAFKA_CONSUMER, std::move(*conf));
    if (!rk.ok()) return rk.status();
    rk_ = std::move(*rk);
    // Errors and rebalances arrive through rd_kafka_consumer_poll.
    rd_kafka_poll_set_consumer(rk_.get());
    return absl::OkStatus();
  }

  absl::Status Start() {
    absl::MutexLock l(&mu_);
    if (started_ || stopped_) {
      return absl::FailedPreconditionError("ConsumerRunner already started or stopped");
    }
    PartitionList topics(rd_kafka_topic_partition_list_new(options_.topics.size()));
    for (const std::string& t : options_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (absl::Status s = ToStatus(rd_kafka_subscribe(rk_.get(), topics.get()), "subscribe");
        !s.ok()) {
      return s;
    }
    started_ = true;
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock l(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

  Stats stats() const {
    Stats s;
    s.applied = applied_.load();
    s.duplicates = duplicates_.load();
    s.errors = errors_.load();
    s.retries = retries_.load();
    s.batches = batches_.load();
    return s;
  }

 private:
  bool stopping() const { return stop_.HasBeenNotified(); }

  void Run() {
    LogJson("info", kLogger, "consumer started",
            {{"consumer", options_.name},
             {"group", options_.group_id},
             {"topics", absl::StrJoin(options_.topics, ",")}});
    while (!stopping()) {
      // Room for the next batch first; answers are handled in order.
      Reap(/*wait_for_room=*/true);
      if (stopping()) break;
      PollBatch();
      if (stopping()) break;
      if (!batch_.empty()) Submit();
      Reap(/*wait_for_room=*/false);
      if (absl::Now() - last_lag_update_ >= kLagInterval) UpdateLag();
    }
    Drain();
    batch_.clear();
    // Leaves the group; the revoke arrives through RebalanceCb on this thread.
    rd_kafka_consumer_close(rk_.get());
    LogJson("info", kLogger, "consumer stopped", {{"consumer", options_.name}});
  }

  // Collects up to max_batch records (and up to max_batch_bytes of them):
  // blocks up to 100 ms for the first, then takes what arrives within
  // batch_window.
  void PollBatch() {
    batch_.clear();
    batch_bytes_ = 0;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
    if (m == nullptr) return;
    Take(m);
    const absl::Time window_end = absl::Now() + options_.batch_window;
    const auto bytes_left = [&] {
      return options_.max_batch_bytes == 0 || batch_bytes_ < options_.max_batch_bytes;
    };
    while (batch_.size() < options_.max_batch && bytes_left() && !stopping()) {
      const int64_t wait_ms =
          std::max<int64_t>(0, absl::ToInt64Milliseconds(window_end - absl::Now()));
      m = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(wait_ms));
      if (m == nullptr) {
        if (wait_ms == 0) break;
        continue;
      }
      Take(m);
    }
  }

  void Take(rd_kafka_message_t* raw) {
    MessagePtr m(raw);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
      // Broker outages surface here again and again; say it once per 30 s per code.
      const absl::Time now = absl::Now();
      absl::Time& last = last_error_log_[m->err];
      if (now - last >= absl::Seconds(30)) {
        last = now;
        LogJson("warn", kLogger, "consumer error",
                {{"consumer", options_.name},
                 {"error", ToStatus(m->err).ToString()},
                 {"detail", rd_kafka_message_errstr(m.get())}});
      }
      return;
    }
    const TopicPartition tp(rd_kafka_topic_name(m->rkt), m->partition);
    if (!assigned_.contains(tp)) return;  // fetched before a revoke
    batch_bytes_ += m->len;
    batch_.push_back(std::move(m));
  }

  // Decodes batch_ into items; `poisoned` gets the records that fail to decode.
  std::shared_ptr<std::vector<Item>> TakeItems(std::map<size_t, absl::Status>* poisoned) {
    auto items = std::make_shared<std::vector<Item>>();
    items->reserve(batch_.size());
    for (const MessagePtr& m : batch_) {
      Item it;
      it.decode = Decode(m.get(), &it.event);
      items->push_back(std::move(it));
    }
    batch_.clear();
    for (size_t i = 0; i < items->size(); ++i) {
      if (!(*items)[i].decode.ok()) poisoned->emplace(i, (*items)[i].decode);
    }
    return items;
  }

  // Queues batch_ in the store as the next batch of the current chain.
  void Submit() {
    auto f = std::make_shared<InFlight>();
    f->items = TakeItems(&f->poisoned);
    f->attempt = std::make_shared<Attempt>();
    std::set<size_t> skip;
    for (const auto& entry : f->poisoned) skip.insert(entry.first);
    eventstore::CommandMeta meta;
    meta.actor = absl::StrCat("consumer/", options_.name);
    store_.Execute(
        std::move(meta),
        [this, items = f->items, attempt = f->attempt, skip = std::move(skip),
         generation = generation_](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
          // Writer thread: chain_ is only touched here.
          if (chain_.generation != generation) {
            chain_ = Chain{generation, std::nullopt, false};
          } else if (chain_.broken ||
                     (chain_.epoch.has_value() && tx.discard_epoch() != *chain_.epoch)) {
            chain_.broken = true;
            attempt->chain_broken = true;
            return absl::AbortedError("an earlier batch of this consumer failed; re-run in order");
          }
          absl::StatusOr<std::string> r = RunBatch(tx, *items, skip, *attempt);
          if (r.ok()) {
            chain_.epoch = tx.discard_epoch();
          } else {
            chain_.broken = true;
          }
          return r;
        },
        [f](absl::StatusOr<eventstore::CommandResult> r) {
          absl::MutexLock l(&f->mu);
          f->status = r.status();
          f->done = true;
        });
    in_flight_.push_back(std::move(f));
  }

  // Handles the answers of the oldest batches, in order: those already in,
  // and, with wait_for_room, waits until fewer than max_batches_in_flight are
  // queued.
  void Reap(bool wait_for_room) {
    while (!in_flight_.empty()) {
      InFlight& f = *in_flight_.front();
      absl::Status status;
      {
        absl::MutexLock l(&f.mu);
        const bool must_wait = wait_for_room && in_flight_.size() >= options_.max_batches_in_flight;
        if (!f.done && !must_wait) return;
        f.mu.Await(absl::Condition(&f.done));
        status = f.status;
      }
      if (!status.ok()) {
        Recover();
        return;
      }
      ReportPoisoned(*f.items, f.poisoned);
      OnCommitted(*f.attempt);
      in_flight_.pop_front();
    }
  }

  // Waits for every queued batch and handles its answer.
  void Drain() {
    while (!in_flight_.empty()) {
      {
        InFlight& oldest = *in_flight_.front();
        absl::MutexLock l(&oldest.mu);
        oldest.mu.Await(absl::Condition(&oldest.done));
      }
      Reap(/*wait_for_room=*/false);
    }
  }

  // A committed batch's poison records (skipped), reported once.
  void ReportPoisoned(const std::vector<Item>& items,
                      const std::map<size_t, absl::Status>& poisoned) {
    for (const auto& [i, status] : poisoned) {
      ReportPoison(items[i].decode.ok() ? "handler" : "decode", items[i].event, status);
    }
  }

  // The oldest queued batch failed: every batch after it fails too (the
  // chain). Waits for them, then re-runs them one at a time, in order: the
  // failed one without its poison record, or from the stored offsets after a
  // storage failure. A new chain starts after.
  void Recover() {
    std::vector<std::shared_ptr<InFlight>> failed(in_flight_.begin(), in_flight_.end());
    in_flight_.clear();
    ++generation_;
    for (auto& f : failed) {
      absl::MutexLock l(&f->mu);
      f->mu.Await(absl::Condition(&f->done));
      // A batch after a failed one cannot have been written (the chain).
      CHANNELOPS_CHECK(f == failed.front() || !f->status.ok())
          << "a batch was written after an earlier one of its chain failed";
    }
    for (size_t k = 0; k < failed.size(); ++k) {
      InFlight& f = *failed[k];
      std::map<size_t, absl::Status> poisoned = f.poisoned;
      absl::Status status;
      {
        absl::MutexLock l(&f.mu);
        status = f.status;
      }
      if (f.attempt->poison.has_value()) {
        poisoned.emplace(*f.attempt->poison, f.attempt->poison_status);
      } else if (!f.attempt->chain_broken) {
        // Storage: nothing from here on was written; read it all again later.
        RetryLater(failed, k, status);
        return;
      }
      absl::Status s = ApplyBatch(f.items, std::move(poisoned));
      if (!s.ok()) {
        RetryLater(failed, k, s);
        return;
      }
    }
  }

  // Applies one batch on its own (not in a chain), re-running it without each
  // poison record found, until it is written or the store fails.
  absl::Status ApplyBatch(std::shared_ptr<std::vector<Item>> items,
                          std::map<size_t, absl::Status> poisoned) {
    while (true) {
      auto attempt = std::make_shared<Attempt>();
      std::set<size_t> skip;
      for (const auto& [i, status] : poisoned) skip.insert(i);
      eventstore::CommandMeta meta;
      meta.actor = absl::StrCat("consumer/", options_.name);
      absl::StatusOr<eventstore::CommandResult> r = store_.ExecuteSync(
          std::move(meta),
          [this, items, attempt, skip](eventstore::Tx& tx) -> absl::StatusOr<std::string> {
            return RunBatch(tx, *items, skip, *attempt);
          });
      if (r.ok()) {
        ReportPoisoned(*items, poisoned);
        OnCommitted(*attempt);
        return absl::OkStatus();
      }
      if (!attempt->poison.has_value()) return r.status();
      // Re-run the batch without it: nothing the poison handler staged survives.
      poisoned.emplace(*attempt->poison, attempt->poison_status);
    }
  }

  // Batches failed[from..] were not written: every partition goes back to the
  // first offset they hold (the stored one: everything before was written),
  // after a backoff.
  void RetryLater(const std::vector<std::shared_ptr<InFlight>>& failed, size_t from,
                  const absl::Status& error) {
    std::vector<Item> items;
    size_t records = 0;
    for (size_t k = from; k < failed.size(); ++k) {
      records += failed[k]->items->size();
      for (const Item& it : *failed[k]->items) items.push_back(Item{it.event, absl::OkStatus()});
    }
    retries_.fetch_add(1);
    CountError("storage");
    LogJson("warn", kLogger, "batch not applied; will retry from the stored offsets",
            {{"consumer", options_.name},
             {"records", std::to_string(records)},
             {"error", error.ToString()},
             {"retry_in", absl::FormatDuration(backoff_)}});
    SeekBack(items);
    stop_.WaitForNotificationWithTimeout(backoff_);
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  }

  // Runs on the store's writer thread.
  absl::StatusOr<std::string> RunBatch(eventstore::Tx& tx, const std::vector<Item>& items,
                                       const std::set<size_t>& skip, Attempt& attempt) {
    absl::flat_hash_map<std::string, uint64_t> marks;  // dedupe key -> highest applied
    absl::flat_hash_set<std::string> dirty;
    for (size_t i = 0; i < items.size(); ++i) {
      const ConsumedEvent& ev = items[i].event;
      attempt.next_offsets[{ev.topic, ev.partition}] = ev.offset + 1;
      if (skip.contains(i)) continue;
      std::string key = DedupeKey(options_.name, ev.ce_source, ev.topic, ev.partition);
      auto mark = marks.find(key);
      if (mark == marks.end()) {
        absl::StatusOr<std::optional<std::string>> v = tx.Get(eventstore::kMetaCf, key);
        if (!v.ok()) return v.status();
        uint64_t value = 0;
        if (v->has_value() && !absl::SimpleAtoi(**v, &value)) {
          return absl::DataLossError(absl::StrCat("meta ", key, " is not a number: ", **v));
        }
        mark = marks.emplace(key, value).first;
      }
      if (ev.global_position <= mark->second) {
        ++attempt.duplicates[ev.topic];
        continue;
      }
      absl::Status s = handler_(tx, ev);
      if (!s.ok()) {
        if (IsRetryable(s)) return s;
        attempt.poison = i;
        attempt.poison_status = std::move(s);
        return absl::AbortedError("poison record; the batch is re-run without it");
      }
      mark->second = ev.global_position;
      dirty.insert(std::move(key));
      ++attempt.applied[ev.topic];
    }
    for (const auto& [tp, next] : attempt.next_offsets) {
      tx.Put(eventstore::kMetaCf, OffsetKey(options_.name, tp.first, tp.second),
             std::to_string(next));
    }
    for (const std::string& key : dirty) {
      tx.Put(eventstore::kMetaCf, key, std::to_string(marks[key]));
    }
    return std::string();
  }

  void OnCommitted(const Attempt& attempt) {
    batches_.fetch_add(1);
    backoff_ = options_.retry_backoff;
    for (const auto& [topic, n] : attempt.applied) {
      applied_.fetch_add(n);
      if (applied_family_) Counter(*applied_family_, applied_ctr_, topic).Increment(n);
    }
    for (const auto& [topic, n] : attempt.duplicates) {
      duplicates_.fetch_add(n);
      if (duplicates_family_) Counter(*duplicates_family_, duplicates_ctr_, topic).Increment(n);
    }
    PartitionList commit(rd_kafka_topic_partition_list_new(attempt.next_offsets.size()));
    for (const auto& [tp, next] : attempt.next_offsets) {
      auto it = assigned_.find(tp);
      if (it == assigned_.end()) continue;
      it->second = next;
      rd_kafka_topic_partition_list_add(commit.get(), tp.first.c_str(), tp.second)->offset = next;
    }
    if (options_.commit_to_kafka && commit->cnt > 0) {
      rd_kafka_commit(rk_.get(), commit.get(), /*async=*/1);  // visibility only
    }
  }

  void ReportPoison(const char* kind, const ConsumedEvent& ev, const absl::Status& status) {
    errors_.fetch_add(1);
    CountError(kind);
    LogJson("error", kLogger, "poison record skipped",
            {{"consumer", options_.name},
             {"kind", kind},
             {"topic", ev.topic},
             {"partition", std::to_string(ev.partition)},
             {"offset", std::to_string(ev.offset)},
             {"key", ev.key},
             {"ce_source", ev.ce_source},
             {"global_position", std::to_string(ev.global_position)},
             {"event_id", ev.envelope.event_id()},
             {"error", status.ToString()}});
  }

  void CountError(const std::string& kind) {
    if (errors_family_ == nullptr) return;
    prometheus::Counter*& c = errors_ctr_[kind];
    if (c == nullptr) c = &errors_family_->Add({{"consumer", options_.name}, {"kind", kind}});
    c->Increment();
  }

  prometheus::Counter& Counter(prometheus::Family<prometheus::Counter>& family,
                               std::map<std::string, prometheus::Counter*>& cache,
                               const std::string& topic) {
    prometheus::Counter*& c = cache[topic];
    if (c == nullptr) c = &family.Add({{"consumer", options_.name}, {"topic", topic}});
    return *c;
  }

  // Puts every partition of a failed batch back to the batch's first offset,
  // which is the offset stored for it: earlier batches were all committed.
  void SeekBack(const std::vector<Item>& items) {
    std::map<TopicPartition, int64_t> first;
    for (const Item& it : items) {
      const TopicPartition tp(it.event.topic, it.event.partition);
      auto [pos, inserted] = first.emplace(tp, it.event.offset);
      if (!inserted) pos->second = std::min(pos->second, it.event.offset);
    }
    PartitionList list(rd_kafka_topic_partition_list_new(first.size()));
    for (const auto& [tp, offset] : first) {
      if (!assigned_.contains(tp)) continue;
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
    }
    if (list->cnt == 0) return;
    if (rd_kafka_error_t* err = rd_kafka_seek_partitions(rk_.get(), list.get(), 5000)) {
      LogJson("error", kLogger, "seek back failed",
              {{"consumer", options_.name}, {"error", rd_kafka_error_string(err)}});
      rd_kafka_error_destroy(err);
      return;
    }
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LogJson("error", kLogger, "seek back failed",
                {{"consumer", options_.name},
                 {"partition", Str({list->elems[i].topic, list->elems[i].partition})},
                 {"error", ToStatus(list->elems[i].err).ToString()}});
      }
    }
  }

  void UpdateLag() {
    last_lag_update_ = absl::Now();
    if (lag_family_ == nullptr) return;
    for (const auto& [tp, next] : assigned_) {
      int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(rk_.get(), tp.first.c_str(), tp.second, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR ||
          high < 0) {
        continue;  // not fetched yet
      }
      const int64_t from = next == kFromBeginning ? std::max<int64_t>(low, 0) : next;
      prometheus::Gauge*& g = lag_gauges_[tp];
      if (g == nullptr) {
        g = &lag_family_->Add({{"consumer", options_.name},
                               {"topic", tp.first},
                               {"partition", std::to_string(tp.second)}});
      }
      g->Set(static_cast<double>(std::max<int64_t>(0, high - from)));
    }
  }

  // The stored next offset of a partition, kFromBeginning if none. Retries
  // storage errors until they clear or the runner stops.
  int64_t LookupOffset(const TopicPartition& tp) {
    const std::string key = OffsetKey(options_.name, tp.first, tp.second);
    absl::Duration backoff = options_.retry_backoff;
    while (true) {
      absl::StatusOr<std::optional<std::string>> v = store_.Get(eventstore::kMetaCf, key);
      if (v.ok()) {
        int64_t offset = kFromBeginning;
        if (v->has_value() && (!absl::SimpleAtoi(**v, &offset) || offset < 0)) {
          LogJson("error", kLogger, "stored offset is corrupt; reading from the beginning",
                  {{"consumer", options_.name}, {"key", key}, {"value", **v}});
          offset = kFromBeginning;  // the dedupe marks still prevent double effects
        }
        return offset;
      }
      LogJson("warn", kLogger, "cannot read stored offset; retrying",
              {{"consumer", options_.name}, {"key", key}, {"error", v.status().ToString()}});
      if (stop_.WaitForNotificationWithTimeout(backoff)) return kFromBeginning;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }

  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    // The queued batches first: the stored offsets read below, and the ones a
    // revoke gives up, must be those of everything applied.
    Drain();
    const bool cooperative =
        absl::string_view(rd_kafka_rebalance_protocol(rk_.get())) == "COOPERATIVE";
    std::vector<std::string> names;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (!cooperative) assigned_.clear();  // an eager assignment replaces the previous one
      for (int i = 0; i < parts->cnt; ++i) {
        rd_kafka_topic_partition_t& p = parts->elems[i];
        const TopicPartition tp(p.topic, p.partition);
        const int64_t next = LookupOffset(tp);
        p.offset = next == kFromBeginning ? RD_KAFKA_OFFSET_BEGINNING : next;
        assigned_[tp] = next;
        names.push_back(absl::StrCat(Str(tp), "@",
                                     next == kFromBeginning ? "beginning" : std::to_string(next)));
      }
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), parts)) {
          LogJson("error", kLogger, "assign failed", {{"error", rd_kafka_error_string(e)}});
          rd_kafka_error_destroy(e);
        }
      } else if (rd_kafka_resp_err_t e = rd_kafka_assign(rk_.get(), parts)) {
        LogJson("error", kLogger, "assign failed", {{"error", ToStatus(e).ToString()}});
      }
      LogJson("info", kLogger, "partitions assigned",
              {{"consumer", options_.name}, {"partitions", absl::StrJoin(names, ",")}});
      return;
    }
    // Revoked (or a rebalance error): drop what we have not applied for those
    // partitions; the next owner starts from its own store.
    std::set<TopicPartition> revoked;
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && cooperative) {
      for (int i = 0; i < parts->cnt; ++i)
        revoked.emplace(parts->elems[i].topic, parts->elems[i].partition);
    } else {
      for (const auto& [tp, next] : assigned_) revoked.insert(tp);
    }
    for (const TopicPartition& tp : revoked) {
      assigned_.erase(tp);
      names.push_back(Str(tp));
      auto g = lag_gauges_.find(tp);
      if (g != lag_gauges_.end()) {
        lag_family_->Remove(g->second);
        lag_gauges_.erase(g);
      }
    }
    batch_.erase(
        std::remove_if(batch_.begin(), batch_.end(),
                       [&](const MessagePtr& m) {
                         return revoked.contains({rd_kafka_topic_name(m->rkt), m->partition});
                       }),
        batch_.end());
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      LogJson("error", kLogger, "rebalance error", {{"error", ToStatus(err).ToString()}});
    }
    if (cooperative && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), parts)) {
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk_.get(), nullptr);
    }
    LogJson("info", kLogger, "partitions revoked",
            {{"consumer", options_.name}, {"partitions", absl::StrJoin(names, ",")}});
  }

  static void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(err, parts);
  }

  static void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    const char* lvl = level <= 3 ? "error" : level == 4 ? "warn" : level <= 6 ? "info" : "debug";
    LogJson(lvl, "librdkafka", buf, {{"client", rd_kafka_name(rk)}, {"facility", fac}});
  }

  Chain chain_;  // writer thread only (inside the batch commands)
  eventstore::EventStore& store_;
  const ConsumerOptions options_;
  const Handler handler_;
  ClientPtr rk_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification stop_;
  std::thread thread_;

  // Poll-thread state. The rebalance callback runs on the poll thread too
  // (inside rd_kafka_consumer_poll / rd_kafka_consumer_close).
  std::map<TopicPartition, int64_t> assigned_;  // -> next offset to apply, or kFromBeginning
  std::vector<MessagePtr> batch_;
  size_t batch_bytes_ = 0;  // the Kafka values of batch_
  std::deque<std::shared_ptr<InFlight>> in_flight_;  // queued in the store, oldest first
  uint64_t generation_ = 1;                          // of the current chain
  absl::Duration backoff_;
  absl::Time last_lag_update_ = absl::InfinitePast();
  std::map<int, absl::Time> last_error_log_;

  std::atomic<uint64_t> applied_{0}, duplicates_{0}, errors_{0}, retries_{0}, batches_{0};

  prometheus::Family<prometheus::Counter>* applied_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* duplicates_family_ = nullptr;
  prometheus::Family<prometheus::Counter>* errors_family_ = nullptr;
  prometheus::Family<prometheus::Gauge>* lag_family_ = nullptr;
  std::map<std::string, prometheus::Counter*> applied_ctr_, duplicates_ctr_, errors_ctr_;
  std::map<TopicPartition, prometheus::Gauge*> lag_gauges_;
};

absl::StatusOr<std::unique_ptr<ConsumerRunner>> ConsumerRunner::Create(
    eventstore::EventStore& store, ConsumerOptions options, Handler handler,
    prometheus::Registry* metrics) {
  if (options.bootstraps.empty()) return absl::InvalidArgumentError("consumer: empty bootstraps");
  if (options.group_id.empty()) return absl::InvalidArgumentError("consumer: empty group_id");
  if (options.topics.empty()) return absl::InvalidArgumentError("consumer: no topics");
  if (options.name.empty() || absl::StrContains(options.name, '/')) {
    return absl::InvalidArgumentError("consumer: name must be non-empty and without '/'");
  }
  if (options.max_batch == 0) return absl::InvalidArgumentError("consumer: max_batch is 0");
  if (options.max_batches_in_flight == 0) {
    return absl::InvalidArgumentError("consumer: max_batches_in_flight is 0");
  }
  if (!handler) return absl::InvalidArgumentError("consumer: null handler");
  if (options.retry_backoff <= absl::ZeroDuration()) options.retry_backoff = absl::Milliseconds(1);
  auto impl = std::make_unique<Impl>(store, std::move(options), std::move(handler), metrics);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<ConsumerRunner>(new ConsumerRunner(std::move(impl)));
}

ConsumerRunner::ConsumerRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConsumerRunner::~ConsumerRunner() { impl_->Stop(); }
absl::Status ConsumerRunner::Start() { return impl_->Start(); }
void ConsumerRunner::Stop() { impl_->Stop(); }
ConsumerRunner::Stats ConsumerRunner::stats() const { return impl_->stats(); }

std::string ConsumerRunner::OffsetKey(absl::string_view name, absl::string_view topic,
                                      int32_t partition) {
  return absl::StrCat("consumer/", name, "/", topic, "/", partition);
}

std::string ConsumerRunner::DedupeKey(absl::string_view name, absl::string_view source,
                                      absl::string_view topic, int32_t partition) {
  return absl::StrCat("dedupe/", name, "/", source, "/", topic, "/", partition);
}

}  // namespace channelops::kafka
