#include "pos_ingestion/report_ingestion.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/ids.h"
#include "channelops/core/status_macros.h"
#include "channelops/server/runtime.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/decider.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/domain/validation.h"
#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/pos_ingestion_service.h"
#include "pos_ingestion/read_models.h"

namespace channelops::pos {
namespace {

using domain::Context;
using eventstore::CommandMeta;
using eventstore::CommandResult;
using eventstore::EventStore;
using eventstore::Tx;

constexpr char kMethod[] = "channelops.pos.v1.PosIngestionService/IngestReport";

// What a command tells the reactor. Written on the writer thread, read in the
// store's callback (the store's queue hands it over).
struct Outcome {
  domain::OpenKind open = domain::OpenKind::kNew;
  v1::Report report;
  std::vector<v1::RejectedLine> rejects;
  std::vector<v1::DuplicateLine> duplicates;
  int64_t accepted = 0;
  int64_t ignored = 0;
  bool refused = false;         // all_or_nothing: nothing recorded
  absl::Status publish_status;  // all_or_nothing: why publishing was refused late
  bool completed = false;       // all_or_nothing: published and completed at once
  std::string cursor;           // reversal: last rm_report_chunks key processed
  bool more = false;            // reversal: another batch may follow
  // A batch's parsed items and decided events, moved here once written so that
  // they are freed with the Outcome, off the store's writer thread (freeing
  // 2,000 lines was 6-8% of the writer's time).
  domain::PreparedItems spent_items;
  domain::BatchDecision spent_decision;
};

// Loads what Decide(IngestBatch) needs: the catalogue entries and the owners
// of the identities in the batch (plus, for a staged report, those staged).
absl::Status LoadBatchState(Tx& tx, domain::IngestBatch& b, const std::string& attempt) {
  absl::flat_hash_set<std::string> looked_up;  // SKUs read (found or not)
  for (domain::PreparedItem& item : b.items) {
    const auto* l = std::get_if<parse::Line>(&item.item);
    if (l == nullptr) continue;
    if (!l->sku.empty() && l->sku.size() <= domain::kMaxIdLength && !looked_up.contains(l->sku)) {
      CHANNELOPS_ASSIGN_OR_RETURN(auto p, TxGet<v1::Product>(tx, kProductsCf, l->sku));
      if (p) b.products.emplace(l->sku, std::move(*p));
      looked_up.insert(l->sku);
    }
    if (!item.prepared) item.identity = domain::RawLineIdentity(b.header->partner_id(), *l);
    const std::string& identity = item.identity;
    if (identity.empty() || b.owners.contains(identity)) continue;
    CHANNELOPS_ASSIGN_OR_RETURN(auto owner, TxGet<v1::LineOwner>(tx, kLineIndexCf, identity));
    if (!owner && !attempt.empty()) {
      CHANNELOPS_ASSIGN_OR_RETURN(
          owner, TxGet<v1::LineOwner>(tx, kStagingCf, StagingKey(attempt, 'I', identity)));
    }
    if (owner) b.owners.emplace(identity, std::move(*owner));
  }
  return absl::OkStatus();
}

// Appends a batch decision's events (its chunks, then its
// ReportLinesProcessed) to the report stream and records the accepted lines,
// rejects and the report's new state (`report`: its state before the batch, as
// the command read or opened it). Moves the chunks' payloads into the events.
absl::Status CommitBatch(Tx& tx, const v1::ReportHeader& h, domain::BatchDecision& d,
                         v1::Report report) {
  static const std::string* const kChunkType = new std::string(
      absl::StrCat("type.googleapis.com/", v1::PosLinesAccepted::descriptor()->full_name()));
  std::vector<eventstore::NewEvent> events;
  events.reserve(d.chunks() + 1);
  for (domain::BatchDecision::EncodedChunk& c : d.encoded) {
    eventstore::NewEvent& e = events.emplace_back();
    e.payload.set_type_url(*kChunkType);
    e.payload.set_value(std::move(c.payload));
    // A chunk occurred when its latest line did.
    absl::Time latest = absl::InfinitePast();
    for (const v1::PosLine* l : c.lines)
      latest = std::max(latest, domain::FromProtoTime(l->movement_at()));
    e.occurred_at = latest;
  }
  events.push_back(eventstore::NewEvent::Of(d.processed));
  CHANNELOPS_ASSIGN_OR_RETURN(uint64_t last, tx.Append(domain::ReportStream(h.report_id()),
                                                       eventstore::kAnyVersion, std::move(events)));
  const uint64_t first_position = last - d.chunks();  // the chunks, then the processed event
  MovementWriter w(tx);
  size_t accepted = 0;
  for (size_t i = 0; i < d.chunks(); ++i) {
    const auto& lines = d.encoded[i].lines;
    CHANNELOPS_RETURN_IF_ERROR(w.AcceptChunk(lines, first_position + i, &d.identities[accepted]));
    accepted += lines.size();
  }
  for (const auto& r : d.rejects) {
    tx.Put(kRejectsCf, LineKey(h.report_id(), r.line_number()), r.SerializeAsString());
  }
  CHANNELOPS_CHECK(!report.header().report_id().empty()) << "batch of an unopened report";
  report = domain::Evolve(std::move(report), d.processed);
  tx.Put(kReportsCf, h.report_id(), report.SerializeAsString());
  return w.Flush();
}

// Every committed rm_staging key of an attempt (staging rows are committed:
// the reactor waits for each staging command before the next).
absl::Status DeleteStaging(Tx& tx, const EventStore& store, const std::string& attempt) {
  const std::string prefix = Join0(attempt, "");
  return store.Scan(kStagingCf, prefix, prefix, SIZE_MAX,
                    [&](absl::string_view key, absl::string_view) {
                      tx.Delete(kStagingCf, key);
                      return true;
                    });
}

class IngestReactor final : public grpc::ServerReadReactor<v1::IngestReportRequest> {
 public:
  IngestReactor(PosIngestionService& service, grpc::CallbackServerContext* ctx,
                v1::IngestReportResponse* response)
      : service_(service),
        store_(service.store()),
        ctx_(ctx),
        response_(response),
        attempt_(core::NewUuidV7()),
        actor_(server::CallerIdentity(*ctx)) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    Read();
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard<std::recursive_mutex> l(mu_);
      if (finished_ || !ok || phase_ != Phase::kLines) {
        reading_ = false;
        if (finished_) return;  // failed while this read was outstanding
        if (!ok) return OnEndOfInput();
        return OnOtherMessage();
      }
    }
    // A lines-phase message is parsed without the lock: a batch's answer may
    // arrive meanwhile and must not wait for a chunk's parse on the store's
    // answer thread. The read side (msg_, the parser, the open batch) stays this
    // thread's while reading_ is set: nothing starts another read.
    absl::Status parsed = ParseMessage();
    std::lock_guard<std::recursive_mutex> l(mu_);
    reading_ = false;
    if (finished_) return;
    if (!parsed.ok()) return Fail(std::move(parsed));
    AddFullBatches();
    msg_.Clear();
    Continue();
  }

  void OnOtherMessage() {
    switch (phase_) {
      case Phase::kHeader:
        return OnHeader();
      case Phase::kLines:
        break;
      case Phase::kDraining:
        msg_.Clear();
        Read();
        return;
      case Phase::kEnding:
        break;
    }
    CHANNELOPS_CHECK(false) << "a read completed after the end of input";
  }

  // Waits for a thread still inside a reaction or a store callback (it may
  // have called Finish and not yet released the lock).
  void OnDone() override {
    { std::lock_guard<std::recursive_mutex> l(mu_); }
    delete this;
  }

 private:
  enum class Phase { kHeader, kLines, kDraining, kEnding };
  using OutcomeFn = std::function<void(IngestReactor*, const Outcome&)>;

  // ---- stream handling ----

  void OnHeader() {
    if (msg_.msg_case() != v1::IngestReportRequest::kHeader) {
      return FinishNow(
          core::InvalidArgument("header", "the first message must be the report header"));
    }
    header_ = msg_.header();
    msg_.Clear();
    auto caller = service_.authorizer().Authorize(*ctx_, kMethod, header_);
    if (!caller.ok()) return FinishNow(caller.status());
    if (auto st = domain::ValidateReportHeader(header_); !st.ok()) return FinishNow(st);
    aon_ = header_.all_or_nothing();
    if (!service_.ClaimReport(header_.report_id(), attempt_)) {
      return FinishNow(absl::AbortedError(
          absl::StrCat("header.report_id: report ", header_.report_id(),
                       " is being ingested by another stream; retry when it ends")));
    }
    claimed_ = true;
    switch (header_.format()) {
      case v1::REPORT_FORMAT_CSV:
        parser_ = parse::NewCsvParser();
        break;
      case v1::REPORT_FORMAT_X12_867:
        parser_ = parse::NewX12_867Parser();
        break;
      case v1::REPORT_FORMAT_X12_852:
        parser_ = parse::NewX12_852Parser();
        break;
      default:
        break;  // typed lines
    }
    Run(OpenCommand(), &IngestReactor::OnOpened);
  }

  void OnOpened(const Outcome& o) {
    switch (o.open) {
      case domain::OpenKind::kReplay:
        replay_ = o.report;
        phase_ = Phase::kDraining;
        break;
      case domain::OpenKind::kResume:
        skip_through_ = o.report.last_line_number();
        submitted_last_ = skip_through_;
        // An all_or_nothing report exists only once published: only its
        // completion (a correction's reversal) can be left to do.
        published_ = aon_;
        phase_ = Phase::kLines;
        break;
      case domain::OpenKind::kNew:
        phase_ = Phase::kLines;
        break;
    }
    Read();
  }

  // A lines-phase message's items into the open batch (BatchSink), or why it is refused.
  // Touches only the read side: runs without the lock.
  absl::Status ParseMessage() {
    switch (msg_.msg_case()) {
      case v1::IngestReportRequest::kHeader:
        return core::InvalidArgument("header", "only the first message may be a header");
      case v1::IngestReportRequest::kLines: {
        if (parser_) {
          return core::InvalidArgument(
              "lines",
              absl::StrCat("this report's format is ", v1::ReportFormat_Name(header_.format()),
                           ": send chunk messages"));
        }
        const auto& lines = msg_.lines().lines();
        if (lines.size() > domain::kMaxLinesPerMessage) {
          return core::InvalidArgument(
              "lines.lines",
              absl::StrCat("at most ", domain::kMaxLinesPerMessage, " lines per message"));
        }
        BatchSink sink(*this);
        for (const v1::ReportLine& l : lines) sink.Add(domain::FromTyped(l, ++typed_lines_));
        sink.Done();
        return absl::OkStatus();
      }
      case v1::IngestReportRequest::kChunk: {
        if (!parser_) {
          return core::InvalidArgument("chunk",
                                       "this report's format is LINES: send lines messages");
        }
        if (msg_.chunk().size() > domain::kMaxChunkBytes) {
          return core::InvalidArgument("chunk", "at most 4 MiB per message");
        }
        BatchSink sink(*this);
        parser_->PushTo(msg_.chunk(), sink);
        sink.Done();
        return absl::OkStatus();
      }
      default:
        return core::InvalidArgument("msg", "one of header, lines or chunk is required");
    }
  }

  void OnEndOfInput() {
    if (phase_ == Phase::kHeader) {
      if (ctx_->IsCancelled())
        return FinishNow(absl::CancelledError("the client cancelled the stream"));
      return FinishNow(
          core::InvalidArgument("header", "the stream ended before the report header"));
    }
    if (phase_ == Phase::kDraining) return FinishReplay();
    CHANNELOPS_CHECK(phase_ == Phase::kLines) << "input ended twice";
    phase_ = Phase::kEnding;
    if (ctx_->IsCancelled()) {
      return Fail(absl::CancelledError(
          "the stream was cancelled before its end; re-send the report to resume it"));
    }
    if (parser_) {
      BatchSink sink(*this);
      parser_->FinishTo(sink);
      sink.Done();
    }
    AddFullBatches();
    AddOpenBatch();
    input_ended_ = true;
    Continue();
  }

  // Where a lines-phase message's items go (parse::ItemSink): straight into
  // the open batch's next item, which is validated (domain::Prepare) when the
  // next item starts or the message ends. Batches hold kBatchLines items
  // (open_batch_, then full_batches_); the store's writer keeps each verdict
  // unless the line's catalogue entry or the day changed meanwhile. The
  // catalogue entries are read from the store's committed view once per
  // message. The CSV parser builds its lines in the items of spent batches,
  // whose strings keep their memory: no item is moved or freed per line.
  // Read side only.
  class BatchSink final : public parse::ItemSink {
   public:
    explicit BatchSink(IngestReactor& r)
        : r_(r), lc_(domain::LineContextOf(r.header_, r.service_.clock().Now())) {
      r_.catalogue_.clear();
      lookup_ = [this](const std::string& sku) -> const v1::Product* {
        auto& catalogue = r_.catalogue_;
        auto it = catalogue.find(sku);
        if (it == catalogue.end()) {
          std::optional<v1::Product> product;
          auto raw = r_.store_.Get(kProductsCf, sku);
          // A read failure leaves the line to the writer (it reads again).
          if (!raw.ok()) return nullptr;
          if (*raw && !product.emplace().ParseFromString(**raw)) product.reset();
          it = catalogue.emplace(sku, std::move(product)).first;
        }
        return it->second ? &*it->second : nullptr;
      };
    }

    parse::Line& AddLine() override {
      parse::Item& item = Next().item;
      if (auto* line = std::get_if<parse::Line>(&item)) {
        line->Clear();
        return *line;
      }
      return item.emplace<parse::Line>();
    }
    void Add(parse::Item item) override { Next().item = std::move(item); }

    // Validates the message's last item (the others were validated as the next began).
    void Done() { Commit(); }

   private:
    domain::PreparedItem& Next() {
      Commit();
      pending_ = true;
      return r_.NextSlot();
    }

    // Validates the item filled last, and counts it in the open batch.
    void Commit() {
      if (!pending_) return;
      pending_ = false;
      domain::PreparedItem& slot = r_.open_batch_[r_.open_used_];
      const int64_t n = parse::LineNumberOf(slot.item);
      if (n <= r_.skip_through_) return;  // recorded by an earlier stream: the slot is reused
      CHANNELOPS_CHECK(n > r_.prepared_last_)
          << "parser items out of order: " << n << " after " << r_.prepared_last_;
      r_.prepared_last_ = n;
      domain::Prepare(slot, lc_, lookup_);
      if (++r_.open_used_ == kBatchLines) {
        r_.full_batches_.push_back(std::move(r_.open_batch_));
        r_.open_batch_ = {};
        r_.open_used_ = 0;
        if (!r_.read_spares_.empty()) {
          r_.open_batch_ = std::move(r_.read_spares_.back());
          r_.read_spares_.pop_back();
          r_.read_spares_held_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
    }

    IngestReactor& r_;
    const domain::LineContext lc_;
    domain::ProductLookup lookup_;
    bool pending_ = false;  // the slot at open_used_ holds an item not yet committed
  };

  // The open batch's next item: a spent batch's item (reused, its memory
  // kept), else a new one.
  domain::PreparedItem& NextSlot() {
    if (open_used_ < open_batch_.size()) return open_batch_[open_used_];
    if (open_batch_.capacity() < kBatchLines) open_batch_.reserve(kBatchLines);
    return open_batch_.emplace_back();
  }

  // Hands the read side's full batches to the pending ones, and spent batches
  // to the read side for reuse. Under mu_, with no read outstanding.
  void AddFullBatches() {
    for (auto& batch : full_batches_) AddBatch(std::move(batch));
    full_batches_.clear();
    while (!spares_.empty()) {
      read_spares_.push_back(std::move(spares_.back()));
      spares_.pop_back();
    }
    read_spares_held_.store(read_spares_.size(), std::memory_order_relaxed);
  }
  // The open batch, at the end of input.
  void AddOpenBatch() {
    open_batch_.resize(open_used_);
    open_used_ = 0;
    if (!open_batch_.empty()) AddBatch(std::move(open_batch_));
    open_batch_ = {};
  }
  void AddBatch(domain::PreparedItems batch) {
    const int64_t n = parse::LineNumberOf(batch.back().item);
    if (first_line_ == 0) first_line_ = parse::LineNumberOf(batch.front().item);
    last_line_ = n;
    pending_lines_ += batch.size();
    pending_.push_back(std::move(batch));
  }

  // Starts the stream's next read (at most one is outstanding).
  void Read() {
    reading_ = true;
    StartRead(&msg_);
  }

  // Normal mode: reads ahead while batches are in the store, up to this many
  // parsed items waiting (memory: about two chunks plus the batches in flight).
  bool MayReadAhead() const {
    return !aon_ && !input_ended_ && !reading_ && phase_ == Phase::kLines &&
           pending_lines_ < kBatchLines * kMaxBatchesInFlight;
  }

  // The next batch (up to kBatchLines parsed items), counted as received.
  domain::PreparedItems TakeBatch() {
    domain::PreparedItems batch = std::move(pending_.front());
    pending_.pop_front();
    pending_lines_ -= batch.size();
    received_ += static_cast<int64_t>(batch.size());
    return batch;
  }

  // Decides what to do next: a full batch, the end, or another read. Runs
  // under mu_ (a reaction or a store callback holds it).
  void Continue() {
    if (finished_) return;
    if (in_flight_ > 0 && !deferred_failure_.ok()) return;  // the last answer continues
    if (!deferred_failure_.ok()) return FinishNow(deferred_failure_);
    const auto batch_ready = [&] {
      return !pending_.empty();  // full batches, and the last one once input ended
    };
    if (!aon_) {
      // Normal mode: a window of up to kMaxBatchesInFlight batches in the
      // store, so that the writer decides one while the committer writes and
      // syncs the ones before; each answer makes room for the next batch.
      while (in_flight_ < kMaxBatchesInFlight && batch_ready()) {
        domain::PreparedItems batch = TakeBatch();
        // The next chunk is read and parsed while batches are in the store
        // (before queuing: a closed store answers at once, and the stream may
        // be finished when SubmitBatch returns).
        if (MayReadAhead()) Read();
        SubmitBatch(std::move(batch));
        if (finished_ || !deferred_failure_.ok()) return;
      }
      if (in_flight_ > 0) {
        if (MayReadAhead()) Read();
        return;
      }
    } else if (batch_ready()) {
      domain::PreparedItems batch = TakeBatch();
      if (!published_ && received_ > kMaxAllOrNothingLines) {
        return Fail(core::InvalidArgument(
            "header.all_or_nothing",
            absl::StrCat("all_or_nothing reports are limited to ", kMaxAllOrNothingLines,
                         " lines; send this one without all_or_nothing, or split it")));
      }
      if (published_) {
        // Resumed after publishing: every line is recorded already.
        return Continue();
      }
      return Run(StageCommand(std::move(batch)), &IngestReactor::OnBatch);
    }
    if (!input_ended_) {
      if (!reading_) Read();
      return;
    }
    if (aon_ && !published_) return Run(PublishCommand(), &IngestReactor::OnPublished);
    Complete();
  }

  void OnBatch(const Outcome& o) {
    ignored_ += o.ignored;
    rejected_ += static_cast<int64_t>(o.rejects.size());
    duplicates_ += static_cast<int64_t>(o.duplicates.size());
    Keep(o.rejects, o.duplicates);
    Continue();
  }

  void OnPublished(const Outcome& o) {
    published_ = true;
    staged_ = false;  // published or deleted by the command
    if (!o.publish_status.ok()) return FinishNow(o.publish_status);
    if (o.refused) {
      v1::Report* r = response_->mutable_report();
      *r->mutable_header() = header_;
      r->set_status(v1::REPORT_STATUS_REFUSED);
      auto* n = r->mutable_counts();
      n->set_lines_received(received_);
      n->set_rejected(rejected_);
      n->set_duplicates(duplicates_);
      n->set_ignored(ignored_);
      r->set_last_line_number(last_line_);
      return FinishNow(absl::OkStatus());
    }
    Keep({}, o.duplicates);
    if (o.completed) return OnCompleted(o);
    Complete();
  }

  // Reversal of the corrected report (if any), then ReportCompleted.
  void Complete() {
    if (!header_.corrects_report_id().empty() && !reversal_done_) {
      return Run(ReverseCommand(cursor_), &IngestReactor::OnReversed);
    }
    Run(CompleteCommand(), &IngestReactor::OnCompleted);
  }

  void OnReversed(const Outcome& o) {
    cursor_ = o.cursor;
    reversal_done_ = !o.more;
    Complete();
  }

  void OnCompleted(const Outcome& o) {
    *response_->mutable_report() = o.report;
    FinishNow(absl::OkStatus());
  }

  void FinishReplay() {
    *response_->mutable_report() = replay_;
    response_->set_replayed(true);
    const std::string prefix = Join0(header_.report_id(), "");
    absl::Status parse = absl::OkStatus();
    absl::Status st = store_.Scan(
        kRejectsCf, prefix, prefix, kMaxRejectsInResponse + 1,
        [&](absl::string_view key, absl::string_view v) {
          if (response_->rejects_size() == kMaxRejectsInResponse) {
            response_->set_rejects_truncated(true);
            return false;
          }
          if (!response_->add_rejects()->ParseFromArray(v.data(), static_cast<int>(v.size()))) {
            parse = Corrupt(kRejectsCf, key);
            return false;
          }
          return true;
        });
    FinishNow(st.ok() ? parse : st);
  }

  void Keep(const std::vector<v1::RejectedLine>& rejects,
            const std::vector<v1::DuplicateLine>& duplicates) {
    for (const auto& r : rejects) {
      if (response_->rejects_size() < kMaxRejectsInResponse) {
        *response_->add_rejects() = r;
      } else {
        response_->set_rejects_truncated(true);
      }
    }
    for (const auto& d : duplicates) {
      if (response_->duplicates_size() < kMaxRejectsInResponse) *response_->add_duplicates() = d;
    }
  }

  // An error: an all_or_nothing stream first deletes what it staged; a
  // normal-mode stream with batches in the store waits for their answers (their
  // callbacks use this reactor) and finishes from the last one.
  void Fail(absl::Status status) {
    phase_ = Phase::kEnding;
    if (in_flight_ > 0) {
      if (deferred_failure_.ok()) deferred_failure_ = std::move(status);
      return;
    }
    if (aon_ && staged_) {
      staged_ = false;
      failure_ = std::move(status);
      return Run(CleanupCommand(),
                 [](IngestReactor* self, const Outcome&) { self->FinishNow(self->failure_); });
    }
    FinishNow(std::move(status));
  }

  void FinishNow(const absl::Status& status) {
    finished_ = true;
    // Nothing of this report happens after Finish: release its id first, so a
    // client that re-sends as soon as it has the answer is not refused.
    if (claimed_) service_.ReleaseReport(header_.report_id());
    claimed_ = false;
    if (!status.ok()) response_->Clear();
    Finish(core::ToGrpcStatus(status));
  }

  // A command and the Outcome it fills for the reactor.
  struct Step {
    eventstore::Command command;
    std::shared_ptr<Outcome> outcome;
  };

  // Binds a command body to a fresh Outcome.
  static Step Bind(std::function<absl::Status(Tx&, Outcome&)> body) {
    auto outcome = std::make_shared<Outcome>();
    return Step{[body = std::move(body), outcome](Tx& tx) -> absl::StatusOr<std::string> {
                  CHANNELOPS_RETURN_IF_ERROR(body(tx, *outcome));
                  return std::string();
                },
                outcome};
  }

  // Queues a step; `then` runs with its outcome once it is durable, or the
  // stream fails with its error. Exactly one step or read is outstanding.
  void Run(Step step, OutcomeFn then) {
    store_.Execute(Meta(), std::move(step.command),
                   [this, outcome = std::move(step.outcome),
                    then = std::move(then)](absl::StatusOr<CommandResult> r) {
                     std::lock_guard<std::recursive_mutex> l(mu_);
                     if (!r.ok()) return Fail(r.status());
                     then(this, *outcome);
                   });
  }

  // The metadata of this stream's commands.
  CommandMeta Meta() const {
    CommandMeta meta;
    meta.request_id = absl::StrCat("report/", header_.report_id(), "/", attempt_);
    meta.actor = actor_;
    return meta;
  }

  // Queues one BatchCommand (normal mode); its answer continues the stream.
  // Batches are queued in line order and decided one after the other; each
  // checks that the report's last recorded line is the previous batch's last,
  // so a batch that failed (its writes dropped) fails every later one in the
  // store too and the report stays contiguous: a re-sent stream resumes after
  // its last line. After a failure nothing more is queued, and the stream
  // finishes once every queued batch has answered (each answer uses `this`).
  // An answer may run inside Execute (a closed store answers at once) or on
  // another thread while a read completes: mu_, recursive.
  void SubmitBatch(domain::PreparedItems items) {
    const int64_t expect = submitted_last_;
    submitted_last_ = parse::LineNumberOf(items.back().item);
    Step step = BatchCommand(std::move(items), expect);
    ++in_flight_;
    store_.Execute(Meta(), std::move(step.command),
                   [this, outcome = std::move(step.outcome)](absl::StatusOr<CommandResult> r) {
                     std::lock_guard<std::recursive_mutex> l(mu_);
                     --in_flight_;
                     if (!r.ok()) {
                       if (deferred_failure_.ok()) deferred_failure_ = r.status();
                     } else if (deferred_failure_.ok()) {
                       ignored_ += outcome->ignored;
                       rejected_ += static_cast<int64_t>(outcome->rejects.size());
                       duplicates_ += static_cast<int64_t>(outcome->duplicates.size());
                       Keep(outcome->rejects, outcome->duplicates);
                     }
                     // A full batch's items are reused for later lines.
                     if (outcome->spent_items.size() == kBatchLines &&
                         spares_.size() + read_spares_held_.load(std::memory_order_relaxed) <
                             kMaxSpareBatches) {
                       spares_.push_back(std::move(outcome->spent_items));
                     }
                     Continue();
                   });
  }

  // ---- commands (their bodies run on the store's writer thread) ----

  Step OpenCommand() {
    return Bind([h = header_, actor = actor_](Tx& tx, Outcome& out) -> absl::Status {
      Context c{tx.now(), actor};
      domain::OpenReport open;
      open.header = h;
      CHANNELOPS_ASSIGN_OR_RETURN(open.existing,
                                  TxGetOrEmpty<v1::Report>(tx, kReportsCf, h.report_id()));
      if (!h.corrects_report_id().empty()) {
        CHANNELOPS_ASSIGN_OR_RETURN(open.corrected,
                                    TxGet<v1::Report>(tx, kReportsCf, h.corrects_report_id()));
      }
      CHANNELOPS_ASSIGN_OR_RETURN(domain::OpenDecision d, domain::Decide(open, c));
      out.open = d.kind;
      out.report = open.existing;
      if (d.events.empty()) return absl::OkStatus();
      CHANNELOPS_RETURN_IF_ERROR(
          AppendEvents(tx, domain::ReportStream(h.report_id()), d.events).status());
      out.report = domain::Evolve(v1::Report(), d.events.front());
      tx.Put(kReportsCf, h.report_id(), out.report.SerializeAsString());
      if (open.corrected) {
        v1::Report r = domain::Evolve(*open.corrected, d.events.front());
        tx.Put(kReportsCf, h.corrects_report_id(), r.SerializeAsString());
      }
      return absl::OkStatus();
    });
  }

  // `expect_last`: the report's last recorded line before this batch (the
  // previous batch's last, or where the stream resumed).
  Step BatchCommand(domain::PreparedItems items, int64_t expect_last) {
    return Bind([h = header_, actor = actor_, items = std::move(items), expect_last](
                    Tx& tx, Outcome& out) mutable -> absl::Status {
      CHANNELOPS_ASSIGN_OR_RETURN(v1::Report current,
                                  TxGetOrEmpty<v1::Report>(tx, kReportsCf, h.report_id()));
      if (current.last_line_number() != expect_last) {
        return absl::AbortedError(absl::StrCat(
            "report ", h.report_id(), ": an earlier batch of this stream was not recorded (the ",
            "report's last line is ", current.last_line_number(), ", expected ", expect_last,
            "); re-send the report to resume after its last recorded line"));
      }
      Context c{tx.now(), actor};
      domain::IngestBatch b;
      b.header = &h;
      b.items = std::move(items);
      CHANNELOPS_RETURN_IF_ERROR(LoadBatchState(tx, b, ""));
      domain::BatchDecision d = domain::Decide(b, c);
      CHANNELOPS_RETURN_IF_ERROR(CommitBatch(tx, h, d, std::move(current)));
      out.accepted = static_cast<int64_t>(d.accepted);
      out.ignored = d.ignored;
      out.rejects = std::move(d.rejects);
      out.duplicates = std::move(d.duplicates);
      out.spent_items = std::move(b.items);
      out.spent_decision = std::move(d);
      return absl::OkStatus();
    });
  }

  // all_or_nothing: validates a batch and stages its accepted lines (nothing
  // more is staged once a line was rejected: the report will be refused).
  Step StageCommand(domain::PreparedItems items) {
    staged_ = true;
    return Bind([h = header_, actor = actor_, attempt = attempt_, items = std::move(items),
                 refused = rejected_ > 0](Tx& tx, Outcome& out) mutable -> absl::Status {
      Context c{tx.now(), actor};
      domain::IngestBatch b;
      b.header = &h;
      b.items = std::move(items);
      CHANNELOPS_RETURN_IF_ERROR(LoadBatchState(tx, b, attempt));
      domain::BatchDecision d = domain::Decide(b, c);
      if (!refused && d.rejects.empty()) {
        size_t accepted = 0;
        for (const auto& chunk : d.encoded) {
          for (const v1::PosLine* l : chunk.lines) {
            tx.Put(kStagingCf, StagingKey(attempt, 'L', BigEndianLine(l->line_number())),
                   l->SerializeAsString());
            if (const std::string& identity = d.identities[accepted++]; !identity.empty()) {
              v1::LineOwner owner;
              owner.set_report_id(h.report_id());
              owner.set_line_number(l->line_number());
              tx.Put(kStagingCf, StagingKey(attempt, 'I', identity), owner.SerializeAsString());
            }
          }
        }
        for (const v1::DuplicateLine& dup : d.duplicates) {
          tx.Put(kStagingCf, StagingKey(attempt, 'D', BigEndianLine(dup.line_number())),
                 dup.SerializeAsString());
        }
      }
      out.accepted = static_cast<int64_t>(d.accepted);
      out.ignored = d.ignored;
      out.rejects = std::move(d.rejects);
      out.duplicates = std::move(d.duplicates);
      return absl::OkStatus();
    });
  }

  // all_or_nothing, end of input: publishes every staged line in one atomic
  // batch, or (a line was rejected, or the correction is no longer allowed)
  // deletes the staging and records nothing else.
  Step PublishCommand() {
    return Bind([&store = store_, h = header_, actor = actor_, attempt = attempt_,
                 refused = rejected_ > 0, first = first_line_, last = last_line_,
                 ignored = ignored_](Tx& tx, Outcome& out) -> absl::Status {
      Context c{tx.now(), actor};
      CHANNELOPS_RETURN_IF_ERROR(DeleteStaging(tx, store, attempt));
      if (refused) {
        out.refused = true;
        return absl::OkStatus();
      }
      domain::OpenReport open;
      open.header = h;
      open.publishing = true;
      CHANNELOPS_ASSIGN_OR_RETURN(open.existing,
                                  TxGetOrEmpty<v1::Report>(tx, kReportsCf, h.report_id()));
      if (!h.corrects_report_id().empty()) {
        CHANNELOPS_ASSIGN_OR_RETURN(open.corrected,
                                    TxGet<v1::Report>(tx, kReportsCf, h.corrects_report_id()));
      }
      auto opened = domain::Decide(open, c);
      if (opened.ok() && opened->kind != domain::OpenKind::kNew) {
        opened = absl::AbortedError(absl::StrCat("header.report_id: report ", h.report_id(),
                                                 " was recorded by another stream meanwhile"));
      }
      if (!opened.ok()) {
        out.publish_status = opened.status();  // the staging deletes above are still written
        return absl::OkStatus();
      }
      // The staged lines, and the duplicates found while staging.
      std::vector<v1::PosLine> lines;
      std::vector<v1::DuplicateLine> dups;
      const std::string prefix = Join0(attempt, "");
      absl::Status parse = absl::OkStatus();
      CHANNELOPS_RETURN_IF_ERROR(store.Scan(
          kStagingCf, prefix, prefix, SIZE_MAX, [&](absl::string_view key, absl::string_view v) {
            const char kind = key.size() > prefix.size() ? key[prefix.size()] : '?';
            bool ok = true;
            if (kind == 'L')
              ok = lines.emplace_back().ParseFromArray(v.data(), static_cast<int>(v.size()));
            if (kind == 'D')
              ok = dups.emplace_back().ParseFromArray(v.data(), static_cast<int>(v.size()));
            if (!ok) parse = Corrupt(kStagingCf, key);
            return ok;
          }));
      CHANNELOPS_RETURN_IF_ERROR(parse);
      // Identities recorded by other reports since staging are duplicates now.
      domain::BatchDecision d;
      for (v1::PosLine& l : lines) {
        if (std::string identity = domain::LineIdentity(l); !identity.empty()) {
          CHANNELOPS_ASSIGN_OR_RETURN(auto owner, TxGet<v1::LineOwner>(tx, kLineIndexCf, identity));
          if (owner && owner->report_id() != h.corrects_report_id()) {
            v1::DuplicateLine dup;
            dup.set_line_number(l.line_number());
            dup.set_original_report_id(owner->report_id());
            dup.set_original_line_number(owner->line_number());
            dups.push_back(std::move(dup));
            continue;
          }
        }
        d.Accept(std::move(l));
      }
      std::sort(dups.begin(), dups.end(),
                [](const auto& a, const auto& b) { return a.line_number() < b.line_number(); });
      v1::ReportLinesProcessed p;
      p.set_report_id(h.report_id());
      p.set_partner_id(h.partner_id());
      p.set_first_line_number(first);
      p.set_last_line_number(last);
      p.set_accepted(static_cast<int64_t>(d.accepted));
      for (const auto& dup : dups) *p.add_duplicates() = dup;
      p.set_ignored(ignored);
      d.processed = std::move(p);
      // ReportReceived first: the report exists from this batch on.
      CHANNELOPS_RETURN_IF_ERROR(
          AppendEvents(tx, domain::ReportStream(h.report_id()), opened->events).status());
      CHANNELOPS_RETURN_IF_ERROR(
          CommitBatch(tx, h, d, domain::Evolve(v1::Report(), opened->events.front())));
      if (open.corrected) {
        // Its lines are reversed by the next commands, then both complete.
        v1::Report r = domain::Evolve(*open.corrected, opened->events.front());
        tx.Put(kReportsCf, h.corrects_report_id(), r.SerializeAsString());
      } else {
        // Complete in the same atomic batch as the lines: all or nothing.
        domain::CompleteReport done;
        CHANNELOPS_ASSIGN_OR_RETURN(done.report,
                                    TxGetOrEmpty<v1::Report>(tx, kReportsCf, h.report_id()));
        domain::CompleteDecision cd = domain::Decide(done, c);
        CHANNELOPS_RETURN_IF_ERROR(
            AppendEvents(tx, domain::ReportStream(h.report_id()), {cd.completed}).status());
        out.report = domain::Evolve(std::move(done.report), cd.completed);
        tx.Put(kReportsCf, h.report_id(), out.report.SerializeAsString());
        out.completed = true;
      }
      out.duplicates = std::move(dups);
      return absl::OkStatus();
    });
  }

  Step CleanupCommand() {
    return Bind([&store = store_, attempt = attempt_](Tx& tx, Outcome&) -> absl::Status {
      return DeleteStaging(tx, store, attempt);
    });
  }

  // Reverses the next chunks of the corrected report after `cursor` (an
  // rm_report_chunks key; committed rows: earlier reversal batches are
  // durable), about kBatchLines lines per command.
  Step ReverseCommand(std::string cursor) {
    return Bind([&store = store_, h = header_, cursor = std::move(cursor)](
                    Tx& tx, Outcome& out) -> absl::Status {
      const std::string& corrected = h.corrects_report_id();
      const std::string prefix = Join0(corrected, "");
      std::string start = cursor.empty() ? prefix : cursor + std::string(1, '\0');
      std::vector<std::string> keys;
      size_t lines = 0;
      bool budget_spent = false;
      CHANNELOPS_RETURN_IF_ERROR(store.Scan(kReportChunksCf, prefix, start, SIZE_MAX,
                                            [&](absl::string_view key, absl::string_view v) {
                                              if (lines >= kBatchLines) {
                                                budget_spent = true;
                                                return false;
                                              }
                                              v1::ChunkRecord rec;
                                              if (!rec.ParseFromArray(
                                                      v.data(), static_cast<int>(v.size()))) {
                                                keys.emplace_back(key);  // TxGet reports it
                                                return false;
                                              }
                                              keys.emplace_back(key);
                                              lines += static_cast<size_t>(rec.lines());
                                              return true;
                                            }));
      std::vector<domain::Event> events;
      std::vector<absl::Time> occurred;
      std::vector<v1::PosLinesAccepted> chunks;
      std::vector<std::pair<std::string, v1::ChunkRecord>> records;
      for (const std::string& key : keys) {
        CHANNELOPS_ASSIGN_OR_RETURN(auto rec, TxGet<v1::ChunkRecord>(tx, kReportChunksCf, key));
        if (!rec || rec->reversed()) continue;  // reversed by an earlier stream of this correction
        CHANNELOPS_ASSIGN_OR_RETURN(v1::PosLinesAccepted chunk, LoadChunk(store, corrected, *rec));
        for (const v1::PosLine& l : chunk.lines()) {
          v1::ReportLineReversed e;
          *e.mutable_line() = l;
          e.set_corrected_by_report_id(h.report_id());
          events.push_back(std::move(e));
          occurred.push_back(domain::FromProtoTime(l.movement_at()));
        }
        chunks.push_back(std::move(chunk));
        rec->set_reversed(true);
        records.emplace_back(key, std::move(*rec));
      }
      CHANNELOPS_ASSIGN_OR_RETURN(
          auto positions, AppendEvents(tx, domain::ReportStream(corrected), events, occurred));
      MovementWriter w(tx);
      size_t i = 0;
      for (const v1::PosLinesAccepted& chunk : chunks) {
        for (const v1::PosLine& l : chunk.lines()) {
          CHANNELOPS_RETURN_IF_ERROR(w.ReverseLine(l, positions[i++]));
        }
      }
      for (const auto& [key, rec] : records) tx.Put(kReportChunksCf, key, rec.SerializeAsString());
      CHANNELOPS_RETURN_IF_ERROR(w.Flush());
      out.cursor = keys.empty() ? cursor : keys.back();
      out.more = budget_spent;
      return absl::OkStatus();
    });
  }

  Step CompleteCommand() {
    return Bind([h = header_, actor = actor_](Tx& tx, Outcome& out) -> absl::Status {
      Context c{tx.now(), actor};
      domain::CompleteReport cmd;
      CHANNELOPS_ASSIGN_OR_RETURN(cmd.report,
                                  TxGetOrEmpty<v1::Report>(tx, kReportsCf, h.report_id()));
      CHANNELOPS_CHECK(!cmd.report.header().report_id().empty()) << "completing an unopened report";
      if (!h.corrects_report_id().empty()) {
        CHANNELOPS_ASSIGN_OR_RETURN(cmd.corrected,
                                    TxGet<v1::Report>(tx, kReportsCf, h.corrects_report_id()));
        CHANNELOPS_CHECK(cmd.corrected.has_value()) << "corrected report vanished";
        cmd.lines_reversed = cmd.corrected->counts().accepted();
      }
      domain::CompleteDecision d = domain::Decide(cmd, c);
      if (d.superseded) {
        CHANNELOPS_RETURN_IF_ERROR(
            AppendEvents(tx, domain::ReportStream(h.corrects_report_id()), {*d.superseded})
                .status());
        v1::Report r = domain::Evolve(*cmd.corrected, *d.superseded);
        tx.Put(kReportsCf, h.corrects_report_id(), r.SerializeAsString());
      }
      CHANNELOPS_RETURN_IF_ERROR(
          AppendEvents(tx, domain::ReportStream(h.report_id()), {d.completed}).status());
      out.report = domain::Evolve(std::move(cmd.report), d.completed);
      tx.Put(kReportsCf, h.report_id(), out.report.SerializeAsString());
      return absl::OkStatus();
    });
  }

  PosIngestionService& service_;
  EventStore& store_;
  grpc::CallbackServerContext* ctx_;
  v1::IngestReportResponse* response_;
  const std::string attempt_;  // UUIDv7 of this stream (staging keys)
  const std::string actor_;

  v1::IngestReportRequest msg_;
  v1::ReportHeader header_;
  Phase phase_ = Phase::kHeader;
  bool claimed_ = false;
  bool aon_ = false;
  std::unique_ptr<parse::Parser> parser_;
  // Read side: parsed and validated items, in batches of kBatchLines (the last one open).
  domain::PreparedItems open_batch_;  // items [0, open_used_) are this batch's
  size_t open_used_ = 0;
  std::vector<domain::PreparedItems> full_batches_;
  std::vector<domain::PreparedItems> read_spares_;  // spent batches, to reuse
  // Under mu_: spent batches the store answered, for the read side to reuse;
  // with the read side's (read_spares_held_), at most kMaxSpareBatches.
  std::vector<domain::PreparedItems> spares_;
  std::atomic<size_t> read_spares_held_{0};
  int64_t prepared_last_ = 0;  // the last line prepared
  // Read side: catalogue entries read for the message being prepared (nullopt: none).
  absl::flat_hash_map<std::string, std::optional<v1::Product>> catalogue_;
  // Parsed items not yet in a batch. A deque: batches are taken from the
  // front (a vector shifted the rest, up to a 4 MiB chunk's items, per batch).
  std::deque<domain::PreparedItems> pending_;  // batches, in line order
  size_t pending_lines_ = 0;
  int64_t typed_lines_ = 0;
  int64_t skip_through_ = 0;
  int64_t submitted_last_ = 0;  // last line of the batches queued so far (normal mode)
  // Reactions and store callbacks may run concurrently once a normal-mode
  // stream reads ahead: every one holds mu_. Recursive: a closed store
  // answers inside Execute, on the caller's thread.
  std::recursive_mutex mu_;
  bool reading_ = false;           // a read is outstanding
  size_t in_flight_ = 0;           // normal mode: batch commands in the store
  bool finished_ = false;          // Finish was called
  absl::Status deferred_failure_;  // failed while batches were in the store
  int64_t first_line_ = 0;
  int64_t last_line_ = 0;
  bool input_ended_ = false;

  int64_t received_ = 0;
  int64_t rejected_ = 0;
  int64_t duplicates_ = 0;
  int64_t ignored_ = 0;
  bool staged_ = false;
  bool published_ = false;
  bool reversal_done_ = false;
  std::string cursor_;
  v1::Report replay_;
  absl::Status failure_;
};

}  // namespace

grpc::ServerReadReactor<v1::IngestReportRequest>* NewIngestReactor(
    PosIngestionService& service, grpc::CallbackServerContext* ctx,
    v1::IngestReportResponse* response) {
  return new IngestReactor(service, ctx, response);
}

}  // namespace channelops::pos
