// libFuzzer target: pos_ingestion's unary request validation and decision path
// (services/pos_ingestion/pos_ingestion_service.cc, read_models.cc), structured
// by the channelops.pos.v1 request protos (input format: request_fuzz.h). The
// report parsers have their own targets (pos_*_fuzz.cc).
//
// Each step is one request: UpsertProduct, ChangePrice (planned, then either
// scheduled or applied at once with the partners' holdings at its effective
// instant, as ChangePriceCommand does), SetPriceProtectionTerms,
// RecordShipments; or a Tick that moves the store clock and applies the due
// scheduled price changes (ApplyDuePriceChanges). Valid requests go through
// the handler's load -> Decide -> writes against in-memory read models
// (rm_products, rm_price_changes, rm_pending_prices, rm_terms, rm_enrolment,
// rm_shipments, rm_ledger, rm_transit, rm_sku_holders, rm_credits), with the
// same keys, so that colliding writes overwrite as they would in RocksDB.
//
// Invariants after every step: validation fails only with INVALID_ARGUMENT,
// Decide only with its documented codes; a product's version counts its
// stream; the ledger of every partner and SKU folds to exactly the shipments
// recorded (on hand = received units, in transit = units not yet received,
// never negative, at every instant); a price change applies in effective
// order, sets the list price, and its credits are positive, bounded by drop x
// eligible units, eligible units bounded by the holding, and add up to the
// change's credits_total; every due scheduled change applies.
//
//   pos_requests_fuzz -max_len=8192 CORPUS_DIR tests/fuzz/seeds/pos_requests

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/core/check.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/decider.h"
#include "pos_ingestion/domain/inventory.h"
#include "pos_ingestion/domain/validation.h"
#include "request_fuzz.h"

namespace channelops::pos {
namespace {

using absl::StatusCode;
using fuzz::CheckCode;
using fuzz::Parse;
using fuzz::Step;

enum Kind : uint8_t { kProduct, kChangePrice, kTerms, kShipments, kTick, kKinds };

constexpr char kActor[] = "fuzz";
constexpr char kDefaultProgram[] =
    "\x01"
    "default";                                                // read_models.h kDefaultProgramKey
const absl::Time kStart = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00Z

const std::initializer_list<StatusCode> kDecideCodes = {
    StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kFailedPrecondition,
    StatusCode::kAlreadyExists, StatusCode::kOutOfRange};

using LedgerKey = std::pair<int64_t, uint64_t>;  // (micros, global position): the key suffix
using Ledger = std::map<LedgerKey, v1::LedgerEntry>;

class Harness : public fuzz::HarnessBase<Harness> {
 public:
  explicit Harness(bool strict) : HarnessBase(strict, kStart) {}

 private:
  friend class fuzz::HarnessBase<Harness>;
  bool DecidedOk(const Step& step, const absl::Status& st) {
    CheckCode(st, kDecideCodes, "Decide");
    if (!st.ok()) Refused(step, st);
    return st.ok();
  }

  void RunStep(const Step& step) {
    switch (step.kind % kKinds) {
      case kProduct:
        return UpsertProduct(step);
      case kChangePrice:
        return ChangePrice(step);
      case kTerms:
        return SetTerms(step);
      case kShipments:
        return RecordShipments(step);
      case kTick:
        now_ += fuzz::HoursOf(step.payload);
        return ApplyDuePriceChanges();
    }
  }

  // AppendEvents (kAnyVersion): the positions of the events, in order.
  std::vector<uint64_t> Append(const std::string& stream, size_t n) {
    std::vector<uint64_t> positions;
    for (size_t i = 0; i < n; ++i) positions.push_back(++global_position_);
    streams_[stream] += n;
    return positions;
  }

  v1::Product ProductOrEmpty(const std::string& sku) const {
    auto it = products_.find(sku);
    return it == products_.end() ? v1::Product() : it->second;
  }

  // ---- catalogue and prices ----

  void UpsertProduct(const Step& step) {
    v1::UpsertProductRequest r;
    if (!Load(step, &r, domain::ValidateUpsertProduct)) return;
    const v1::Product before = ProductOrEmpty(r.product().sku());
    auto events = domain::Decide(before, domain::UpsertProduct{r.product()}, Ctx());
    if (!DecidedOk(step, events.status())) return;
    v1::Product after = before;
    for (const auto& e : *events) after = domain::Evolve(std::move(after), e);
    if (events->empty()) return;
    Append(domain::SkuStream(r.product().sku()), events->size());
    products_[r.product().sku()] = after;
  }

  void ChangePrice(const Step& step) {
    v1::ChangePriceRequest r;
    if (!Load(step, &r, domain::ValidateChangePrice)) return;
    const v1::Product product = ProductOrEmpty(r.sku());
    domain::ChangePrice cmd;
    cmd.change_id = absl::StrCat("change-", ++next_change_);  // core::NewUuidV7 in the service
    cmd.new_price = r.new_price();
    cmd.effective_at = r.has_effective_at() ? domain::FromProtoTime(r.effective_at()) : now_;
    auto plan = domain::PlanPriceChange(product, cmd, Ctx());
    if (!DecidedOk(step, plan.status())) return;
    if (!plan->apply_now) {
      CHANNELOPS_CHECK(plan->events.size() == 1 && cmd.effective_at > now_);
      Append(domain::SkuStream(r.sku()), 1);
      products_[r.sku()] = domain::Evolve(product, plan->events.front());
      history_[{r.sku(), absl::ToUnixMicros(cmd.effective_at)}] = plan->change;
      pending_.insert({absl::ToUnixMicros(cmd.effective_at), r.sku(), plan->change.change_id()});
      return;
    }
    CHANNELOPS_CHECK(plan->events.empty() && cmd.effective_at <= now_);
    domain::ApplyPriceChange apply;
    apply.change = std::move(plan->change);
    apply.holdings = Holdings(r.sku(), cmd.effective_at);
    auto events = domain::Decide(product, apply, Ctx());
    if (!DecidedOk(step, events.status())) return;
    CommitPriceChange(product, apply, *events, false);
  }

  // ApplyScheduledCommand for every pending change due now, in key order.
  void ApplyDuePriceChanges() {
    const int64_t cutoff = absl::ToUnixMicros(now_);
    std::vector<std::tuple<int64_t, std::string, std::string>> due;
    for (const auto& p : pending_) {
      if (std::get<0>(p) > cutoff) break;
      due.push_back(p);
    }
    for (const auto& [at, sku, change_id] : due) {
      auto change = history_.find({sku, at});
      CHANNELOPS_CHECK(change != history_.end()) << "pending change without history";
      if (change->second.status() != v1::PRICE_CHANGE_STATUS_SCHEDULED) continue;
      CHANNELOPS_CHECK(change->second.change_id() == change_id)
          << "price history of " << sku << " at " << at << " was overwritten";
      const v1::Product product = ProductOrEmpty(sku);
      domain::ApplyPriceChange apply;
      apply.change = change->second;
      apply.was_scheduled = true;
      apply.holdings = Holdings(sku, domain::FromProtoTime(change->second.effective_at()));
      auto events = domain::Decide(product, apply, Ctx("system:price_sweeper"));
      CHANNELOPS_CHECK(events.ok()) << "a due scheduled price change failed: " << events.status();
      CommitPriceChange(product, apply, *events, true);
    }
  }

  // LoadHoldings: every partner that ever moved the SKU, by partner id.
  std::vector<domain::Holding> Holdings(const std::string& sku, absl::Time at) const {
    std::vector<domain::Holding> out;
    const int64_t at_us = absl::ToUnixMicros(at);
    for (const auto& [holder_sku, partner] : holders_) {
      if (holder_sku != sku) continue;
      domain::Holding h;
      h.partner_id = partner;
      h.terms = TermsFor(partner);
      v1::InventoryPosition p = Fold(partner, sku, at_us);
      h.on_hand = p.on_hand();
      h.in_transit = p.in_transit();
      if (h.terms && h.terms->eligibility_days() > 0) {
        const int64_t from =
            absl::ToUnixMicros(at - absl::Hours(24) * h.terms->eligibility_days()) + 1;
        auto it = ledger_.find({partner, sku});
        if (it != ledger_.end()) {
          for (const auto& [key, e] : it->second) {
            if (key.first < from) continue;
            if (key.first > at_us) break;
            if (e.kind() == v1::LEDGER_KIND_RECEIVED) h.received_in_window += e.delta();
          }
        }
      }
      out.push_back(std::move(h));
    }
    return out;
  }

  std::optional<v1::PriceProtectionTerms> TermsFor(const std::string& partner) const {
    auto e = enrolment_.find(partner);
    if (e == enrolment_.end()) e = enrolment_.find(kDefaultProgram);
    if (e == enrolment_.end()) return std::nullopt;
    auto t = terms_.find(e->second);
    if (t == terms_.end()) return std::nullopt;
    return t->second;
  }

  // FoldLedger: on-hand and transit movements up to `at_us`.
  v1::InventoryPosition Fold(const std::string& partner, const std::string& sku,
                             int64_t at_us) const {
    v1::InventoryPosition p;
    p.set_sku(sku);
    for (const auto* cf : {&ledger_, &transit_}) {
      auto it = cf->find({partner, sku});
      if (it == cf->end()) continue;
      for (const auto& [key, e] : it->second) {
        if (key.first > at_us) break;
        domain::Accumulate(p, e);
      }
    }
    return p;
  }

  void CommitPriceChange(const v1::Product& before, const domain::ApplyPriceChange& apply,
                         const std::vector<domain::Event>& events, bool was_scheduled) {
    CHANNELOPS_CHECK(!events.empty() && std::holds_alternative<v1::PriceChanged>(events.front()))
        << "a price change starts with PriceChanged";
    const v1::PriceChange& change = std::get<v1::PriceChanged>(events.front()).change();
    CHANNELOPS_CHECK(change.status() == v1::PRICE_CHANGE_STATUS_APPLIED);
    CHANNELOPS_CHECK(change.credits_count() == static_cast<int32_t>(events.size() - 1));
    Append(domain::SkuStream(before.sku()), 1);
    int64_t total = 0;
    std::map<std::string, const domain::Holding*> holdings;
    for (const auto& h : apply.holdings) holdings[h.partner_id] = &h;
    for (size_t i = 1; i < events.size(); ++i) {
      const v1::PriceProtectionCredit& c =
          std::get<v1::PriceProtectionCredited>(events[i]).credit();
      Append(domain::PartnerStream(c.partner_id()), 1);
      credits_[{c.partner_id(), c.change_id()}] = c;
      const domain::Holding* h = holdings[c.partner_id()];
      CHANNELOPS_CHECK(h != nullptr && h->terms.has_value()) << "credit without a holding";
      const int64_t drop = c.old_price().amount_micros() - c.new_price().amount_micros();
      CHANNELOPS_CHECK(drop > 0 && drop == c.price_drop().amount_micros());
      CHANNELOPS_CHECK(c.eligible_quantity() > 0 &&
                       c.eligible_quantity() <=
                           std::max<int64_t>(h->on_hand, 0) + std::max<int64_t>(h->in_transit, 0))
          << "credit for " << c.eligible_quantity() << " units, partner holds " << h->on_hand
          << " + " << h->in_transit;
      const __int128 full = static_cast<__int128>(drop) * c.eligible_quantity();
      CHANNELOPS_CHECK(c.amount().amount_micros() > 0 && c.amount().amount_micros() <= full)
          << "credit " << c.ShortDebugString();
      total += c.amount().amount_micros();
    }
    CHANNELOPS_CHECK(change.credits_total().amount_micros() == total);
    v1::Product after = domain::Evolve(before, events.front());
    CHANNELOPS_CHECK(after.list_price().SerializeAsString() ==
                     change.new_price().SerializeAsString());
    products_[after.sku()] = after;
    const int64_t effective = absl::ToUnixMicros(domain::FromProtoTime(change.effective_at()));
    history_[{after.sku(), effective}] = change;
    if (was_scheduled) pending_.erase({effective, after.sku(), change.change_id()});
  }

  // ---- programmes ----

  void SetTerms(const Step& step) {
    v1::SetPriceProtectionTermsRequest r;
    if (!Load(step, &r, domain::ValidateSetPriceProtectionTerms)) return;
    const std::string& program = r.terms().program_id();
    auto found = terms_.find(program);
    const v1::PriceProtectionTerms before =
        found == terms_.end() ? v1::PriceProtectionTerms() : found->second;
    auto events = domain::Decide(before, domain::SetTerms{r.terms()}, Ctx());
    if (!DecidedOk(step, events.status())) return;
    Append(domain::ProgramStream(program), events->size());
    const v1::PriceProtectionTerms after = domain::Evolve(before, events->front());
    CHANNELOPS_CHECK(after.version() == before.version() + 1);
    terms_[program] = after;
    for (const std::string& p : after.partner_ids()) enrolment_[p] = program;
    for (const std::string& p :
         std::get<v1::PriceProtectionTermsSet>(events->front()).unenrolled_partner_ids()) {
      auto e = enrolment_.find(p);
      if (e != enrolment_.end() && e->second == program) enrolment_.erase(e);
    }
    auto d = enrolment_.find(kDefaultProgram);
    if (after.default_program()) {
      enrolment_[kDefaultProgram] = program;
    } else if (d != enrolment_.end() && d->second == program) {
      enrolment_.erase(d);
    }
  }

  // ---- sell-in ----

  void RecordShipments(const Step& step) {
    v1::RecordShipmentsRequest r;
    if (!Load(step, &r, domain::ValidateRecordShipments)) return;
    domain::RecordShipments cmd;
    cmd.shipments.assign(r.shipments().begin(), r.shipments().end());
    for (const v1::Shipment& s : r.shipments()) {
      if (auto p = products_.find(s.sku()); p != products_.end()) cmd.products.emplace(*p);
      if (auto old = shipments_.find(s.shipment_id()); old != shipments_.end()) {
        cmd.existing.emplace(*old);
      }
    }
    auto d = domain::Decide(cmd, Ctx());
    if (!DecidedOk(step, d.status())) return;
    CHANNELOPS_CHECK(d->recorded + d->already_recorded + d->received_updates == r.shipments_size())
        << "every shipment is recorded, re-sent or updated";
    for (const domain::Event& e : d->events) RecordShipment(e);
  }

  void WriteLedger(std::map<std::pair<std::string, std::string>, Ledger>& cf,
                   const std::string& partner, const std::string& sku, absl::Time at,
                   uint64_t position, const v1::LedgerEntry& entry) {
    holders_.insert({sku, partner});
    cf[{partner, sku}][{absl::ToUnixMicros(at), position}] = entry;  // Put: overwrites
  }

  // The service's RecordShipment: stream, rm_shipments, ledger and transit.
  void RecordShipment(const domain::Event& e) {
    const std::string partner = std::holds_alternative<v1::ShipmentRecorded>(e)
                                    ? std::get<v1::ShipmentRecorded>(e).partner_id()
                                    : std::get<v1::ShipmentReceived>(e).partner_id();
    const uint64_t position = Append(domain::PartnerStream(partner), 1).front();
    if (const auto* r = std::get_if<v1::ShipmentRecorded>(&e)) {
      v1::Shipment s = domain::Evolve(v1::Shipment(), e);
      shipments_[s.shipment_id()] = s;
      const absl::Time shipped = domain::FromProtoTime(r->shipped_at());
      const bool received_at_once =
          r->has_received_at() && domain::FromProtoTime(r->received_at()) == shipped;
      if (!received_at_once) {
        WriteLedger(transit_, r->partner_id(), r->sku(), shipped, position,
                    domain::TransitEntryOf(r->shipment_id(), r->quantity()));
      }
      if (r->has_received_at()) {
        const absl::Time received = domain::FromProtoTime(r->received_at());
        if (!received_at_once) {
          WriteLedger(transit_, r->partner_id(), r->sku(), received, position,
                      domain::TransitEntryOf(r->shipment_id(), -r->quantity()));
        }
        WriteLedger(ledger_, r->partner_id(), r->sku(), received, position,
                    domain::ReceivedEntryOf(r->shipment_id(), r->quantity()));
      }
      return;
    }
    const auto& r = std::get<v1::ShipmentReceived>(e);
    auto stored = shipments_.find(r.shipment_id());
    CHANNELOPS_CHECK(stored != shipments_.end()) << "received an unknown shipment";
    stored->second = domain::Evolve(stored->second, e);
    const absl::Time received = domain::FromProtoTime(r.received_at());
    WriteLedger(transit_, r.partner_id(), r.sku(), received, position,
                domain::TransitEntryOf(r.shipment_id(), -r.quantity()));
    WriteLedger(ledger_, r.partner_id(), r.sku(), received, position,
                domain::ReceivedEntryOf(r.shipment_id(), r.quantity()));
  }

  // ---- invariants ----

  void CheckInvariants() const {
    for (const auto& [sku, p] : products_) {
      CHANNELOPS_CHECK(streams_.at(domain::SkuStream(sku)) == p.version())
          << "product " << sku << " version " << p.version() << " is not its stream's";
      CHANNELOPS_CHECK(p.list_price().amount_micros() >= 0);
    }
    // What the shipments say each partner holds (received) and has in transit.
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> expected;
    for (const auto& [id, s] : shipments_) {
      auto& e = expected[{s.partner_id(), s.sku()}];
      (s.has_received_at() ? e.first : e.second) += s.quantity();
    }
    std::set<std::pair<std::string, std::string>> keys;
    for (const auto& [key, unused] : ledger_) keys.insert(key);
    for (const auto& [key, unused] : transit_) keys.insert(key);
    for (const auto& [key, unused] : expected) keys.insert(key);
    for (const auto& key : keys) {
      const v1::InventoryPosition all = Fold(key.first, key.second, INT64_MAX);
      const auto want = expected[key];
      CHANNELOPS_CHECK(all.on_hand() == want.first && all.received() == want.first &&
                       all.in_transit() == want.second)
          << key.first << "/" << key.second << ": ledger says on hand " << all.on_hand()
          << ", in transit " << all.in_transit() << "; shipments say " << want.first << ", "
          << want.second;
      // At every instant of a movement, nothing is negative.
      std::set<int64_t> instants;
      for (const auto* cf : {&ledger_, &transit_}) {
        auto it = cf->find(key);
        if (it == cf->end()) continue;
        for (const auto& [k, e] : it->second) instants.insert(k.first);
      }
      for (int64_t t : instants) {
        const v1::InventoryPosition p = Fold(key.first, key.second, t);
        CHANNELOPS_CHECK(p.on_hand() >= 0 && p.in_transit() >= 0)
            << key.first << "/" << key.second << " at " << t << ": " << p.ShortDebugString();
      }
    }
  }

  domain::Context Ctx(const char* actor = kActor) const { return domain::Context{now_, actor}; }

  int next_change_ = 0;
  uint64_t global_position_ = 0;
  std::map<std::string, v1::Product> products_;                         // rm_products
  std::map<std::pair<std::string, int64_t>, v1::PriceChange> history_;  // rm_price_changes
  std::set<std::tuple<int64_t, std::string, std::string>> pending_;     // rm_pending_prices
  std::map<std::string, v1::PriceProtectionTerms> terms_;               // rm_terms
  std::map<std::string, std::string> enrolment_;                        // rm_enrolment
  std::map<std::string, v1::Shipment> shipments_;                       // rm_shipments
  std::map<std::pair<std::string, std::string>, Ledger> ledger_;        // rm_ledger
  std::map<std::pair<std::string, std::string>, Ledger> transit_;       // rm_transit
  std::set<std::pair<std::string, std::string>> holders_;               // rm_sku_holders
  std::map<std::pair<std::string, std::string>, v1::PriceProtectionCredit> credits_;  // rm_credits
  std::map<std::string, uint64_t> streams_;
};

// ---- seeds ----

common::v1::Money Usd(int64_t micros) {
  common::v1::Money m;
  m.set_currency_code("USD");
  m.set_amount_micros(micros);
  return m;
}

google::protobuf::Timestamp Day(int day) {  // 2026-01-01 + day
  google::protobuf::Timestamp t;
  t.set_seconds(1767225600 + int64_t{86400} * day);
  return t;
}

v1::UpsertProductRequest Product(const std::string& sku, int64_t price) {
  v1::UpsertProductRequest r;
  r.set_request_id(absl::StrCat("product-", sku));
  v1::Product* p = r.mutable_product();
  p->set_sku(sku);
  p->set_product_line("storage");
  p->set_unit_of_measure("EA");
  *p->mutable_list_price() = Usd(price);
  p->set_description("Storage array");
  return r;
}

v1::Shipment Shipment(const std::string& id, const std::string& partner, const std::string& sku,
                      int64_t qty, int shipped, std::optional<int> received) {
  v1::Shipment s;
  s.set_shipment_id(id);
  s.set_partner_id(partner);
  s.set_sku(sku);
  s.set_quantity(qty);
  *s.mutable_unit_price() = Usd(800'000'000);
  *s.mutable_shipped_at() = Day(shipped);
  if (received) *s.mutable_received_at() = Day(*received);
  return s;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  {  // Terms, shipments (in transit, received, received later), a drop now and a scheduled one.
    std::string s;
    fuzz::AppendStep(s, kProduct, Product("NET-100", 1'000'000'000));
    v1::SetPriceProtectionTermsRequest t;
    t.set_request_id("terms-1");
    t.mutable_terms()->set_program_id("pp-gold");
    t.mutable_terms()->set_supported_bps(7500);
    t.mutable_terms()->set_claim_window_days(30);
    t.mutable_terms()->set_include_in_transit(true);
    t.mutable_terms()->set_eligibility_days(60);
    t.mutable_terms()->add_partner_ids("dist-1");
    fuzz::AppendStep(s, kTerms, t);
    v1::SetPriceProtectionTermsRequest d;
    d.set_request_id("terms-2");
    d.mutable_terms()->set_program_id("pp-default");
    d.mutable_terms()->set_supported_bps(5000);
    d.mutable_terms()->set_default_program(true);
    fuzz::AppendStep(s, kTerms, d);
    v1::RecordShipmentsRequest ships;
    ships.set_request_id("ship-1");
    *ships.add_shipments() = Shipment("s1", "dist-1", "NET-100", 40, -20, -15);
    *ships.add_shipments() = Shipment("s2", "dist-1", "NET-100", 10, -3, std::nullopt);
    *ships.add_shipments() = Shipment("s3", "dist-2", "NET-100", 25, -10, -10);
    fuzz::AppendStep(s, kShipments, ships);
    v1::RecordShipmentsRequest later;
    later.set_request_id("ship-2");
    *later.add_shipments() = Shipment("s2", "dist-1", "NET-100", 10, -3, 0);
    *later.add_shipments() = Shipment("s1", "dist-1", "NET-100", 40, -20, -15);
    fuzz::AppendStep(s, kShipments, later);
    v1::ChangePriceRequest drop;
    drop.set_request_id("price-1");
    drop.set_sku("NET-100");
    *drop.mutable_new_price() = Usd(900'000'000);
    *drop.mutable_effective_at() = Day(-1);
    fuzz::AppendStep(s, kChangePrice, drop);
    v1::ChangePriceRequest scheduled;
    scheduled.set_request_id("price-2");
    scheduled.set_sku("NET-100");
    *scheduled.mutable_new_price() = Usd(850'000'000);
    *scheduled.mutable_effective_at() = Day(5);
    fuzz::AppendStep(s, kChangePrice, scheduled);
    fuzz::AppendRaw(s, kTick, fuzz::Hours(24 * 6));
    v1::ChangePriceRequest now;
    now.set_request_id("price-3");
    now.set_sku("NET-100");
    *now.mutable_new_price() = Usd(950'000'000);
    fuzz::AppendStep(s, kChangePrice, now);
    v1::UpsertProductRequest relabel = Product("NET-100", 950'000'000);
    relabel.set_request_id("product-2");
    relabel.mutable_product()->set_description("Storage array, 2U");
    fuzz::AppendStep(s, kProduct, relabel);
    seeds.push_back(std::move(s));
  }
  return seeds;
}

}  // namespace
}  // namespace channelops::pos

CHANNELOPS_REQUEST_FUZZER(channelops::pos)
