#include "pos_ingestion/domain/decider.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channelops/core/check.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/money.h"
#include "channelops/core/status_macros.h"
#include "channelops/core/vectors.h"
#include "pos_ingestion/domain/convert.h"
#include "pos_ingestion/domain/lines.h"
#include "pos_ingestion/domain/validation.h"
#include "pos_ingestion/domain/wire.h"

namespace channelops::pos::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool SameMoney(const common::v1::Money& a, const common::v1::Money& b) {
  return a.currency_code() == b.currency_code() && a.amount_micros() == b.amount_micros();
}

bool SameTime(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

// The latest price change of a product, applied or scheduled (InfinitePast:
// none). The catalogue's own creation instant does not count: a product loaded
// today may have had its list price for years, and a drop backdated before the
// load is still a drop.
absl::Time LastChange(const v1::Product& p) {
  absl::Time t = absl::InfinitePast();
  if (p.has_price_effective_at()) t = std::max(t, FromProtoTime(p.price_effective_at()));
  if (p.has_last_change_effective_at()) {
    t = std::max(t, FromProtoTime(p.last_change_effective_at()));
  }
  return t;
}

// The fields of a header that identify a report (a re-send must repeat them).
bool SameReport(const v1::ReportHeader& a, const v1::ReportHeader& b) {
  return a.partner_id() == b.partner_id() && a.kind() == b.kind() && a.format() == b.format() &&
         a.period().start_date() == b.period().start_date() &&
         a.period().end_date() == b.period().end_date() &&
         a.corrects_report_id() == b.corrects_report_id() &&
         a.all_or_nothing() == b.all_or_nothing();
}

}  // namespace

const google::protobuf::Message& AsMessage(const Event& e) {
  return std::visit([](const auto& m) -> const google::protobuf::Message& { return m; }, e);
}

std::string SkuStream(const std::string& sku) { return absl::StrCat("sku-", sku); }
std::string ProgramStream(const std::string& id) { return absl::StrCat("program-", id); }
std::string PartnerStream(const std::string& id) { return absl::StrCat("partner-", id); }
std::string ReportStream(const std::string& id) { return absl::StrCat("report-", id); }

// ---------------------------------------------------------------------------
// Products and prices
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::Product& state, const UpsertProduct& c,
                                          const Context& ctx) {
  const v1::Product& in = c.product;
  v1::ProductUpserted e;
  if (state.sku().empty()) {
    v1::Product p = in;
    p.clear_version();
    p.clear_last_change_effective_at();
    p.clear_price_effective_at();
    *e.mutable_product() = std::move(p);
    e.set_created(true);
    return core::VectorOf<Event>(std::move(e));
  }
  const std::string subject = absl::StrCat("product/", state.sku());
  if (in.unit_of_measure() != state.unit_of_measure()) {
    return core::FailedPrecondition(
        subject, absl::StrCat("the unit of measure is ", state.unit_of_measure(),
                              " and cannot change (quantities already reported in it)"));
  }
  if (in.list_price().currency_code() != state.list_price().currency_code()) {
    return core::FailedPrecondition(
        subject,
        absl::StrCat("the currency is ", state.list_price().currency_code(), " and cannot change"));
  }
  if (!SameMoney(in.list_price(), state.list_price())) {
    return core::FailedPrecondition(
        subject, absl::StrCat("the list price is ", MoneyOf(state.list_price()).ToString(),
                              "; change it with ChangePrice (price protection applies)"));
  }
  if (in.product_line() == state.product_line() && in.description() == state.description()) {
    return std::vector<Event>{};
  }
  v1::Product p = state;
  p.set_product_line(in.product_line());
  p.set_description(in.description());
  *e.mutable_product() = std::move(p);
  return core::VectorOf<Event>(std::move(e));
}

absl::StatusOr<PricePlan> PlanPriceChange(const v1::Product& state, const ChangePrice& c,
                                          const Context& ctx) {
  if (state.sku().empty()) return absl::NotFoundError("sku: no such product");
  if (c.new_price.currency_code() != state.list_price().currency_code()) {
    return core::InvalidArgument(
        "new_price.currency_code",
        absl::StrCat("must be the product's currency ", state.list_price().currency_code()));
  }
  if (c.effective_at <= LastChange(state)) {
    return core::FailedPrecondition(
        absl::StrCat("product/", state.sku()),
        absl::StrCat("effective_at must be after the latest price change of the SKU (",
                     absl::FormatTime(LastChange(state), absl::UTCTimeZone()),
                     "): changes apply in effective order"));
  }
  PricePlan plan;
  v1::PriceChange& ch = plan.change;
  ch.set_change_id(c.change_id);
  ch.set_sku(state.sku());
  *ch.mutable_new_price() = c.new_price;
  *ch.mutable_effective_at() = ToProtoTime(c.effective_at);
  if (c.effective_at > ctx.now) {
    ch.set_status(v1::PRICE_CHANGE_STATUS_SCHEDULED);
    v1::PriceChangeScheduled e;
    *e.mutable_change() = ch;
    plan.events.push_back(std::move(e));
  } else {
    plan.apply_now = true;
  }
  return plan;
}

absl::StatusOr<std::optional<v1::PriceProtectionCredit>> ComputeCredit(
    const v1::PriceChange& change, const Holding& h, absl::Time applied_at) {
  using Out = std::optional<v1::PriceProtectionCredit>;
  if (!h.terms) return Out();
  const v1::PriceProtectionTerms& terms = *h.terms;
  const core::Money old_price = MoneyOf(change.old_price());
  const core::Money new_price = MoneyOf(change.new_price());
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money drop, old_price.Sub(new_price));
  if (drop.micros() <= 0) return Out();
  const absl::Time effective = FromProtoTime(change.effective_at());
  std::optional<absl::Time> deadline;
  if (terms.claim_window_days() > 0) {
    deadline = effective + absl::Hours(24) * terms.claim_window_days();
    if (applied_at > *deadline) return Out();
  }
  int64_t stock = std::max<int64_t>(h.on_hand, 0);
  if (terms.eligibility_days() > 0)
    stock = std::min(stock, std::max<int64_t>(h.received_in_window, 0));
  const int64_t transit = terms.include_in_transit() ? std::max<int64_t>(h.in_transit, 0) : 0;
  const int64_t eligible = stock + transit;
  if (eligible == 0) return Out();
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money full, drop.MultiplyBy(eligible));
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money amount, full.ApplyBasisPoints(terms.supported_bps()));
  if (amount.is_zero()) return Out();
  v1::PriceProtectionCredit cr;
  cr.set_credit_id(absl::StrCat(change.change_id(), "/", h.partner_id));
  cr.set_change_id(change.change_id());
  cr.set_partner_id(h.partner_id);
  cr.set_sku(change.sku());
  cr.set_program_id(terms.program_id());
  *cr.mutable_effective_at() = change.effective_at();
  *cr.mutable_old_price() = change.old_price();
  *cr.mutable_new_price() = change.new_price();
  *cr.mutable_price_drop() = drop.ToProto();
  cr.set_on_hand_quantity(h.on_hand);
  cr.set_in_transit_quantity(h.in_transit);
  cr.set_eligible_quantity(eligible);
  cr.set_supported_bps(terms.supported_bps());
  *cr.mutable_amount() = amount.ToProto();
  if (deadline) *cr.mutable_claim_deadline() = ToProtoTime(*deadline);
  return Out(std::move(cr));
}

absl::StatusOr<std::vector<Event>> Decide(const v1::Product& state, const ApplyPriceChange& c,
                                          const Context& ctx) {
  if (state.sku().empty()) return absl::NotFoundError("sku: no such product");
  const absl::Time effective = FromProtoTime(c.change.effective_at());
  const absl::Time applied = state.has_price_effective_at()
                                 ? FromProtoTime(state.price_effective_at())
                                 : absl::InfinitePast();
  if (effective <= applied || (!c.was_scheduled && effective <= LastChange(state))) {
    return core::FailedPrecondition(absl::StrCat("product/", state.sku()),
                                    "a later price change was applied in the meantime");
  }
  v1::PriceChange change = c.change;
  *change.mutable_old_price() = state.list_price();
  change.set_status(v1::PRICE_CHANGE_STATUS_APPLIED);
  *change.mutable_applied_at() = ToProtoTime(ctx.now);
  CHANNELOPS_ASSIGN_OR_RETURN(core::Money total,
                              core::Money::Create(state.list_price().currency_code(), 0));
  std::vector<Event> credits;
  for (const Holding& h : c.holdings) {
    CHANNELOPS_ASSIGN_OR_RETURN(auto credit, ComputeCredit(change, h, ctx.now));
    if (!credit && h.terms && h.terms->claim_window_days() > 0 &&
        ctx.now > effective + absl::Hours(24) * h.terms->claim_window_days()) {
      change.set_claim_window_passed(true);
    }
    if (!credit) continue;
    CHANNELOPS_ASSIGN_OR_RETURN(total, total.Add(MoneyOf(credit->amount())));
    v1::PriceProtectionCredited e;
    *e.mutable_credit() = std::move(*credit);
    e.set_product_line(state.product_line());
    credits.push_back(std::move(e));
  }
  change.set_credits_count(static_cast<int32_t>(credits.size()));
  *change.mutable_credits_total() = total.ToProto();
  v1::PriceChanged changed;
  *changed.mutable_change() = std::move(change);
  changed.set_product_line(state.product_line());
  changed.set_was_scheduled(c.was_scheduled);
  std::vector<Event> out;
  out.reserve(credits.size() + 1);
  out.push_back(std::move(changed));
  for (auto& e : credits) out.push_back(std::move(e));
  return out;
}

v1::Product Evolve(v1::Product state, const Event& e) {
  std::visit(Overloaded{
                 [&](const v1::ProductUpserted& u) {
                   uint64_t version = state.version();
                   state = u.product();
                   state.set_version(version + 1);
                 },
                 [&](const v1::PriceChangeScheduled& s) {
                   *state.mutable_last_change_effective_at() = s.change().effective_at();
                   state.set_version(state.version() + 1);
                 },
                 [&](const v1::PriceChanged& c) {
                   *state.mutable_list_price() = c.change().new_price();
                   *state.mutable_price_effective_at() = c.change().effective_at();
                   if (!state.has_last_change_effective_at() ||
                       FromProtoTime(state.last_change_effective_at()) <
                           FromProtoTime(c.change().effective_at())) {
                     *state.mutable_last_change_effective_at() = c.change().effective_at();
                   }
                   state.set_version(state.version() + 1);
                 },
                 [](const auto&) {},
             },
             e);
  return state;
}

// ---------------------------------------------------------------------------
// Price-protection programmes
// ---------------------------------------------------------------------------

absl::StatusOr<std::vector<Event>> Decide(const v1::PriceProtectionTerms& state, const SetTerms& c,
                                          const Context& ctx) {
  v1::PriceProtectionTerms t = c.terms;
  std::sort(t.mutable_partner_ids()->begin(), t.mutable_partner_ids()->end());
  t.mutable_partner_ids()->erase(
      std::unique(t.mutable_partner_ids()->begin(), t.mutable_partner_ids()->end()),
      t.mutable_partner_ids()->end());
  t.set_version(state.version() + 1);
  *t.mutable_effective_at() = ToProtoTime(ctx.now);
  v1::PriceProtectionTermsSet e;
  std::set<std::string> now(t.partner_ids().begin(), t.partner_ids().end());
  for (const std::string& p : state.partner_ids()) {
    if (!now.count(p)) e.add_unenrolled_partner_ids(p);
  }
  *e.mutable_terms() = std::move(t);
  return core::VectorOf<Event>(std::move(e));
}

v1::PriceProtectionTerms Evolve(v1::PriceProtectionTerms state, const Event& e) {
  if (const auto* set = std::get_if<v1::PriceProtectionTermsSet>(&e)) return set->terms();
  return state;
}

// ---------------------------------------------------------------------------
// Shipments
// ---------------------------------------------------------------------------

absl::StatusOr<ShipmentsDecision> Decide(const RecordShipments& c, const Context& ctx) {
  core::FieldViolations violations;
  ShipmentsDecision out;
  absl::Status precondition = absl::OkStatus();
  for (size_t i = 0; i < c.shipments.size(); ++i) {
    const v1::Shipment& s = c.shipments[i];
    const std::string at = absl::StrCat("shipments[", i, "]");
    auto product = c.products.find(s.sku());
    if (product == c.products.end()) {
      violations.Add(absl::StrCat(at, ".sku"),
                     absl::StrCat("SKU '", s.sku(), "' is not in the catalogue"));
      continue;
    }
    const std::string& currency = product->second.list_price().currency_code();
    if (s.unit_price().currency_code() != currency) {
      violations.Add(absl::StrCat(at, ".unit_price.currency_code"),
                     absl::StrCat("must be the product's currency ", currency));
      continue;
    }
    auto extended = MoneyOf(s.unit_price()).MultiplyBy(s.quantity());
    if (!extended.ok()) {
      violations.Add(absl::StrCat(at, ".quantity"), "quantity x unit_price overflows");
      continue;
    }
    auto existing = c.existing.find(s.shipment_id());
    if (existing != c.existing.end()) {
      const v1::Shipment& old = existing->second;
      bool same = old.partner_id() == s.partner_id() && old.sku() == s.sku() &&
                  old.quantity() == s.quantity() && SameMoney(old.unit_price(), s.unit_price()) &&
                  SameTime(old.shipped_at(), s.shipped_at());
      if (!same) {
        if (precondition.ok()) {
          precondition = core::FailedPrecondition(
              absl::StrCat("shipment/", s.shipment_id()),
              absl::StrCat("already recorded with other content (", at, ")"));
        }
        continue;
      }
      if (!old.has_received_at() && s.has_received_at()) {
        v1::ShipmentReceived r;
        r.set_shipment_id(s.shipment_id());
        r.set_partner_id(s.partner_id());
        r.set_sku(s.sku());
        r.set_quantity(s.quantity());
        *r.mutable_received_at() = s.received_at();
        out.events.push_back(std::move(r));
        ++out.received_updates;
      } else if (old.has_received_at() && s.has_received_at() &&
                 !SameTime(old.received_at(), s.received_at())) {
        if (precondition.ok()) {
          precondition = core::FailedPrecondition(
              absl::StrCat("shipment/", s.shipment_id()),
              absl::StrCat("already received at another instant (", at, ")"));
        }
      } else {
        ++out.already_recorded;
      }
      continue;
    }
    v1::ShipmentRecorded r;
    r.set_shipment_id(s.shipment_id());
    r.set_partner_id(s.partner_id());
    r.set_sku(s.sku());
    r.set_product_line(product->second.product_line());
    r.set_quantity(s.quantity());
    r.set_unit_of_measure(product->second.unit_of_measure());
    *r.mutable_unit_price() = s.unit_price();
    *r.mutable_extended_amount() = extended->ToProto();
    *r.mutable_shipped_at() = s.shipped_at();
    if (s.has_received_at()) *r.mutable_received_at() = s.received_at();
    out.events.push_back(std::move(r));
    ++out.recorded;
  }
  CHANNELOPS_RETURN_IF_ERROR(violations.ToStatus());
  CHANNELOPS_RETURN_IF_ERROR(precondition);
  return out;
}

v1::Shipment Evolve(v1::Shipment state, const Event& e) {
  std::visit(
      Overloaded{
          [&](const v1::ShipmentRecorded& r) {
            state.set_shipment_id(r.shipment_id());
            state.set_partner_id(r.partner_id());
            state.set_sku(r.sku());
            state.set_quantity(r.quantity());
            *state.mutable_unit_price() = r.unit_price();
            *state.mutable_extended_amount() = r.extended_amount();
            *state.mutable_shipped_at() = r.shipped_at();
            if (r.has_received_at()) *state.mutable_received_at() = r.received_at();
          },
          [&](const v1::ShipmentReceived& r) { *state.mutable_received_at() = r.received_at(); },
          [](const auto&) {},
      },
      e);
  return state;
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

absl::StatusOr<OpenDecision> Decide(const OpenReport& c, const Context& ctx) {
  const v1::ReportHeader& h = c.header;
  OpenDecision out;
  if (!c.existing.header().report_id().empty()) {
    if (!SameReport(c.existing.header(), h)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "header.report_id: report ", h.report_id(),
          " was already received with another partner, kind, format, period, correction or mode"));
    }
    out.kind =
        c.existing.status() == v1::REPORT_STATUS_RECEIVING ? OpenKind::kResume : OpenKind::kReplay;
    return out;
  }
  if (!h.corrects_report_id().empty()) {
    const std::string subject = absl::StrCat("report/", h.corrects_report_id());
    if (!c.corrected) {
      return absl::NotFoundError(
          absl::StrCat("header.corrects_report_id: no report ", h.corrects_report_id()));
    }
    const v1::Report& r = *c.corrected;
    if (r.header().partner_id() != h.partner_id()) {
      return core::FailedPrecondition(subject, "belongs to another partner");
    }
    if (r.header().kind() != h.kind()) {
      return core::FailedPrecondition(
          subject, absl::StrCat("is a ", v1::ReportKind_Name(r.header().kind()),
                                " report; a correction must be of the same kind"));
    }
    if (r.status() == v1::REPORT_STATUS_SUPERSEDED) {
      return core::FailedPrecondition(
          subject, absl::StrCat("was already corrected by ", r.superseded_by(), "; correct that"));
    }
    if (r.status() != v1::REPORT_STATUS_COMPLETED) {
      return core::FailedPrecondition(subject, "is not complete yet");
    }
    if (!r.correction_pending_by().empty() && r.correction_pending_by() != h.report_id()) {
      return core::FailedPrecondition(
          subject, absl::StrCat("is being corrected by ", r.correction_pending_by()));
    }
  }
  out.kind = OpenKind::kNew;
  if (!h.all_or_nothing() || c.publishing) {
    v1::ReportReceived e;
    *e.mutable_header() = h;
    *e.mutable_received_at() = ToProtoTime(ctx.now);
    out.events.push_back(std::move(e));
  }
  return out;
}

std::string RawLineIdentity(const std::string& partner_id, const parse::Line& l) {
  if (l.invoice_number.empty() || l.invoice_number.size() > kMaxIdLength) return "";
  return LineIdentityOf(partner_id, l.invoice_number,
                        static_cast<int32_t>(l.invoice_line > 0 ? l.invoice_line : 1));
}

void Prepare(PreparedItem& p, const LineContext& ctx, const ProductLookup& products) {
  // `p` may be reused: every field is set (strings and messages keep their memory).
  p.prepared = false;
  p.read_product = false;
  p.product_found = false;
  p.product_version = 0;
  p.identity.clear();
  p.bytes.clear();
  const auto* l = std::get_if<parse::Line>(&p.item);
  if (l == nullptr) return;
  p.prepared = true;
  p.today = ctx.today;
  const ProductLookup recording = [&p, &products](const std::string& sku) {
    const v1::Product* found = products(sku);
    p.read_product = true;
    p.product_found = found != nullptr;
    p.product_version = found != nullptr ? found->version() : 0;
    return found;
  };
  ValidateLineInto(*l, ctx, recording, p.verdict);
  p.identity = RawLineIdentity(ctx.header->partner_id(), *l);
  if (p.verdict.kind == LineVerdict::Kind::kAccepted) EncodePosLine(p.verdict.line, &p.bytes);
}

namespace {

// Whether a prepared verdict is the one ValidateLine would give now: made on
// the same day, and with the same catalogue entry (or its absence) if it read one.
bool StillValid(const PreparedItem& p, const LineContext& lc,
                const absl::flat_hash_map<std::string, v1::Product>& products) {
  if (!p.prepared || p.today != lc.today) return false;
  if (!p.read_product) return true;
  auto it = products.find(std::get<parse::Line>(p.item).sku);
  if (it == products.end()) return !p.product_found;
  return p.product_found && it->second.version() == p.product_version;
}

}  // namespace

BatchDecision Decide(IngestBatch& c, const Context& ctx) {
  const v1::ReportHeader& h = *c.header;
  const LineContext lc = LineContextOf(h, ctx.now);
  ProductLookup lookup = [&c](const std::string& sku) -> const v1::Product* {
    auto it = c.products.find(sku);
    return it == c.products.end() ? nullptr : &it->second;
  };
  BatchDecision out;
  out.encoded.reserve(c.items.size() / kMaxLinesPerChunk + 2);
  absl::flat_hash_map<std::string, int64_t> seen;  // identities accepted in this batch
  int64_t first = 0, last = 0;
  out.identities.reserve(c.items.size());
  for (PreparedItem& item : c.items) {
    const int64_t n = parse::LineNumberOf(item.item);
    if (first == 0) first = n;
    last = n;
    if (const auto* issue = std::get_if<parse::Issue>(&item.item)) {
      out.rejects.push_back(RejectOf(*issue));
      continue;
    }
    const bool kept = StillValid(item, lc, c.products);
    if (!kept) {
      ValidateLineInto(std::get<parse::Line>(item.item), lc, lookup, item.verdict);
      item.bytes.clear();
    }
    LineVerdict& v = item.verdict;
    if (v.kind == LineVerdict::Kind::kIgnored) {
      ++out.ignored;
      continue;
    }
    if (v.kind == LineVerdict::Kind::kRejected) {
      out.rejects.push_back(std::move(v.reject));
      continue;
    }
    std::string identity = kept ? std::move(item.identity) : LineIdentity(v.line);
    if (!identity.empty()) {
      // One hash of the identity for the batch's own lines: taken, or taken now.
      auto [in_batch, fresh] = seen.try_emplace(identity, n);
      if (!fresh) {
        v1::DuplicateLine& dup = out.duplicates.emplace_back();
        dup.set_line_number(n);
        dup.set_original_report_id(h.report_id());
        dup.set_original_line_number(in_batch->second);
        continue;
      }
      if (auto it = c.owners.find(identity);
          it != c.owners.end() &&
          (h.corrects_report_id().empty() || it->second.report_id() != h.corrects_report_id())) {
        seen.erase(in_batch);  // not this batch's: a later copy names the same original
        v1::DuplicateLine& dup = out.duplicates.emplace_back();
        dup.set_line_number(n);
        dup.set_original_report_id(it->second.report_id());
        dup.set_original_line_number(it->second.line_number());
        continue;
      }
    }
    if (!kept) EncodePosLine(v.line, &item.bytes);
    out.AcceptSerialized(&v.line, item.bytes, std::move(identity));
  }
  v1::ReportLinesProcessed p;
  p.set_report_id(h.report_id());
  p.set_partner_id(h.partner_id());
  p.set_first_line_number(first);
  p.set_last_line_number(last);
  p.set_accepted(static_cast<int64_t>(out.accepted));
  for (const auto& r : out.rejects) *p.add_rejects() = r;
  for (const auto& d : out.duplicates) *p.add_duplicates() = d;
  p.set_ignored(out.ignored);
  out.processed = std::move(p);
  return out;
}

CompleteDecision Decide(const CompleteReport& c, const Context& ctx) {
  CompleteDecision out;
  const v1::ReportHeader& h = c.report.header();
  out.completed.set_report_id(h.report_id());
  out.completed.set_partner_id(h.partner_id());
  out.completed.set_kind(h.kind());
  *out.completed.mutable_counts() = c.report.counts();
  out.completed.set_corrects_report_id(h.corrects_report_id());
  out.completed.set_all_or_nothing(h.all_or_nothing());
  *out.completed.mutable_completed_at() = ToProtoTime(ctx.now);
  if (c.corrected) {
    v1::ReportSuperseded s;
    s.set_report_id(c.corrected->header().report_id());
    s.set_partner_id(c.corrected->header().partner_id());
    s.set_superseded_by_report_id(h.report_id());
    s.set_lines_reversed(c.lines_reversed);
    out.superseded = std::move(s);
  }
  return out;
}

v1::Report Evolve(v1::Report state, const Event& e) {
  std::visit(
      Overloaded{
          [&](const v1::ReportReceived& r) {
            if (state.header().report_id().empty() ||
                state.header().report_id() == r.header().report_id()) {
              *state.mutable_header() = r.header();
              state.set_status(v1::REPORT_STATUS_RECEIVING);
              *state.mutable_received_at() = r.received_at();
            } else if (r.header().corrects_report_id() == state.header().report_id()) {
              state.set_correction_pending_by(r.header().report_id());
            }
          },
          [&](const v1::ReportLinesProcessed& p) {
            v1::ReportCounts& n = *state.mutable_counts();
            const int64_t rejected = p.rejects_size();
            const int64_t dups = p.duplicates_size();
            n.set_accepted(n.accepted() + p.accepted());
            n.set_rejected(n.rejected() + rejected);
            n.set_duplicates(n.duplicates() + dups);
            n.set_ignored(n.ignored() + p.ignored());
            n.set_lines_received(n.lines_received() + p.accepted() + rejected + dups + p.ignored());
            state.set_last_line_number(std::max(state.last_line_number(), p.last_line_number()));
          },
          [&](const v1::ReportCompleted& c) {
            state.set_status(v1::REPORT_STATUS_COMPLETED);
            *state.mutable_counts() = c.counts();
            *state.mutable_completed_at() = c.completed_at();
          },
          [&](const v1::ReportSuperseded& s) {
            state.set_status(v1::REPORT_STATUS_SUPERSEDED);
            state.set_superseded_by(s.superseded_by_report_id());
            state.clear_correction_pending_by();
            state.mutable_counts()->set_lines_reversed(s.lines_reversed());
          },
          [](const auto&) {},
      },
      e);
  return state;
}

}  // namespace channelops::pos::domain
