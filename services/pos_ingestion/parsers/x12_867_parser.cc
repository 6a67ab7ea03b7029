// X12 867 Product Transfer and Resale Report, read segment by segment.
//
//   ST*867 / BPT / CUR / DTM / N1 ...         transaction header
//   PTD*<transfer type>                       a detail loop: SS, DS, SD, SH, RU, RV, IA, ...
//     DTM, REF (IV invoice, OI original invoice, AH deal registration, CT SPA),
//     N1 (EN end user > BY buyer > ST ship-to) + N3 / N4: the loop's defaults
//     QTY*<qual>*<quantity>*<unit>            one report line per QTY
//       LIN*<line no>*VP*<sku>  UIT*<unit>*<price>  REF / DTM / N1 + N3 / N4 overrides
//   CTT / SE*<segment count>                  SE01 is checked
//
// A line is emitted when its QTY loop ends (next QTY, PTD, CTT or SE). A
// malformed element inside the loop turns the whole line into an Issue named
// after the element (e.g. "QTY02").

#include <optional>
#include <string>
#include <utility>

#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/parsers/text.h"
#include "pos_ingestion/parsers/x12.h"

namespace channelops::pos::parse {
namespace {

// End-customer N1 entity codes, by preference.
int CustomerPriority(std::string_view entity) {
  if (entity == "EN" || entity == "UE") return 3;  // end user / ultimate end user
  if (entity == "BY") return 2;                    // buyer
  if (entity == "ST") return 1;                    // ship to
  return 0;
}

// Vendor item id qualifiers in LIN, by preference (UP/BP and the like are not SKUs).
int ItemPriority(std::string_view qualifier) {
  if (qualifier == "VP" || qualifier == "VN") return 4;
  if (qualifier == "SK") return 3;
  if (qualifier == "MG") return 2;
  if (qualifier == "VA") return 1;
  return 0;
}

// Line fields that a PTD loop sets as defaults and a QTY loop may override.
struct Context {
  std::string date;
  std::string invoice;
  std::string original_invoice;
  std::string deal_registration_id;
  std::string spa_id;
  Party customer;
  int customer_priority = 0;
  std::optional<Issue> problem;  // a malformed default (e.g. a bad PTD-level DTM)
};

class X12_867Parser final : public Parser {
 public:
  void Push(std::string_view bytes, std::vector<Item>& out) override {
    segments_.clear();
    std::vector<Item> fatal;  // after the items of the segments before it
    tokenizer_.Push(bytes, segments_, fatal);
    for (const Segment& s : segments_) OnSegment(s, out);
    for (Item& f : fatal) out.push_back(std::move(f));
  }

  void Finish(std::vector<Item>& out) override {
    segments_.clear();
    std::vector<Item> fatal;
    tokenizer_.Finish(segments_, fatal);
    for (const Segment& s : segments_) OnSegment(s, out);
    for (Item& f : fatal) out.push_back(std::move(f));
    if (tokenizer_.failed()) return;
    EndLine(out);
    if (in_transaction_) {
      Problem(out, last_ordinal_ + 1, "SE", IssueCode::kMissingField,
              "transaction set " + control_ + " has no SE trailer (truncated input?)");
      in_transaction_ = false;
    }
  }

  bool failed() const override { return tokenizer_.failed(); }

 private:
  enum class Level { kHeader, kPtd, kQty };
  enum class N1Target { kNone, kPtd, kQty };

  static void Problem(std::vector<Item>& out, int64_t number, std::string field, IssueCode code,
                      std::string message) {
    Issue i;
    i.line_number = number;
    i.field = std::move(field);
    i.code = code;
    i.message = std::move(message);
    out.push_back(std::move(i));
  }

  void OnSegment(const Segment& s, std::vector<Item>& out) {
    last_ordinal_ = s.ordinal;
    const std::string& id = s.id();
    if (id == "ISA" || id == "GS" || id == "GE" || id == "IEA") {
      EndLine(out);
      return;
    }
    if (id == "ST") {
      EndLine(out);
      // One issue per segment: an unclosed previous set and a wrong type together.
      std::string problem;
      std::string field;
      if (in_transaction_) {
        field = "SE";
        problem = "ST before the SE of transaction set " + control_;
      }
      in_transaction_ = true;
      segment_count_ = 1;
      control_ = std::string(s.Element(2));
      skip_transaction_ = s.Element(1) != "867";
      if (skip_transaction_) {
        field = "ST01";
        problem += std::string(problem.empty() ? "" : "; ") + "transaction set " +
                   Quote(s.Element(1)) + " is not an 867";
      }
      if (!problem.empty()) Problem(out, s.ordinal, field, IssueCode::kMalformed, problem);
      StartTransaction();
      return;
    }
    if (!in_transaction_) {
      Problem(out, s.ordinal, id, IssueCode::kMalformed,
              "segment " + id + " outside a transaction set (ST..SE)");
      return;
    }
    ++segment_count_;
    if (id == "SE") {
      EndLine(out);
      in_transaction_ = false;
      auto declared = ParseInt(s.Element(1));
      if (!declared || *declared != segment_count_) {
        Problem(out, s.ordinal, "SE01", IssueCode::kMalformed,
                "SE01 declares " + std::string(s.Element(1)) +
                    " segments, the transaction set has " + std::to_string(segment_count_));
      }
      return;
    }
    if (skip_transaction_) return;
    if (id == "PTD") return OnPtd(s, out);
    if (id == "QTY") return OnQty(s, out);
    if (id == "CTT") {
      EndLine(out);
      level_ = Level::kHeader;
      return;
    }
    if (id == "CUR") {
      if (!s.Element(2).empty()) currency_ = std::string(s.Element(2));
      return;
    }
    if (level_ == Level::kHeader) return;  // BPT, header DTM / N1 / REF: the gRPC header rules
    Context& ctx = level_ == Level::kQty ? line_ctx_ : ptd_;
    if (id == "DTM") return OnDtm(s, ctx);
    if (id == "REF") return OnRef(s, ctx);
    if (id == "N1") return OnN1(s, ctx);
    if (id == "N3" || id == "N4") return OnAddress(s);
    if (level_ != Level::kQty) return;
    if (id == "LIN") return OnLin(s);
    if (id == "UIT") return OnUit(s);
    // PID, AMT, MEA, PO4, ...: not needed.
  }

  void StartTransaction() {
    level_ = Level::kHeader;
    currency_.clear();
    ptd_ = Context();
    line_.reset();
  }

  void OnPtd(const Segment& s, std::vector<Item>& out) {
    EndLine(out);
    level_ = Level::kPtd;
    ptd_ = Context();
    ptd_code_ = Upper(s.Element(1));
    qty_in_ptd_ = 0;
    n1_target_ = N1Target::kNone;
  }

  void OnQty(const Segment& s, std::vector<Item>& out) {
    EndLine(out);
    if (level_ == Level::kHeader) {
      Problem(out, s.ordinal, "QTY", IssueCode::kMalformed, "QTY outside a PTD loop");
      return;
    }
    level_ = Level::kQty;
    n1_target_ = N1Target::kNone;
    line_ctx_ = Context();
    line_.emplace();
    Line& l = *line_;
    l.line_number = s.ordinal;
    l.activity_code = ptd_code_;
    l.invoice_line = ++qty_in_ptd_;
    l.currency = currency_;
    if (!s.Element(2).empty()) {
      auto q = ParseWholeNumber(s.Element(2));
      if (!q) {
        Break("QTY02", Quote(s.Element(2)) + " is not a whole quantity");
      } else {
        l.has_quantity = true;
        l.quantity = *q;
      }
    }
    auto unit = Components(s.Element(3), tokenizer_.component_separator());
    l.unit_of_measure = Upper(unit.front());
  }

  void OnDtm(const Segment& s, Context& ctx) {
    std::string_view qualifier = s.Element(1);
    if (qualifier == "090" || qualifier == "091") return;  // report period, not a line date
    if (!ctx.date.empty() || (ctx.problem && ctx.problem->field == "DTM02")) return;
    auto d = ParseX12Date(s.Element(2));
    if (!d) {
      SetProblem(ctx, "DTM02", Quote(s.Element(2)) + " is not a CCYYMMDD date");
      return;
    }
    ctx.date = *d;
  }

  void OnRef(const Segment& s, Context& ctx) {
    std::string_view q = s.Element(1);
    std::string value(s.Element(2));
    if (q == "IV") ctx.invoice = value;
    if (q == "OI") ctx.original_invoice = value;
    if (q == "AH") ctx.deal_registration_id = value;
    if (q == "CT") ctx.spa_id = value;
  }

  void OnN1(const Segment& s, Context& ctx) {
    int priority = CustomerPriority(s.Element(1));
    if (priority == 0 || priority < ctx.customer_priority) {
      n1_target_ = N1Target::kNone;
      return;
    }
    ctx.customer_priority = priority;
    ctx.customer = Party();
    ctx.customer.name = std::string(s.Element(2));
    ctx.customer.customer_id = std::string(s.Element(4));
    n1_target_ = level_ == Level::kQty ? N1Target::kQty : N1Target::kPtd;
  }

  void OnAddress(const Segment& s) {
    if (n1_target_ == N1Target::kNone) return;
    Party& p = n1_target_ == N1Target::kQty ? line_ctx_.customer : ptd_.customer;
    if (s.id() == "N3") {
      p.address_line = std::string(s.Element(1));
    } else {
      p.city = std::string(s.Element(1));
      p.region = std::string(s.Element(2));
      p.postal_code = std::string(s.Element(3));
      p.country = std::string(s.Element(4));
    }
  }

  void OnLin(const Segment& s) {
    Line& l = *line_;
    if (auto n = ParseInt(s.Element(1)); n && *n >= 1 && *n <= 1'000'000'000) l.invoice_line = *n;
    int best = 0;
    for (size_t i = 2; i + 1 < s.elements.size(); i += 2) {
      int p = ItemPriority(s.Element(i));
      if (p > best && !s.Element(i + 1).empty()) {
        best = p;
        l.sku = std::string(s.Element(i + 1));
      }
    }
  }

  void OnUit(const Segment& s) {
    Line& l = *line_;
    auto unit = Components(s.Element(1), tokenizer_.component_separator());
    if (l.unit_of_measure.empty()) l.unit_of_measure = Upper(unit.front());
    l.unit_price = std::string(s.Element(2));
  }

  void Break(std::string field, std::string message) {
    if (!line_ || line_problem_) return;
    Issue i;
    i.line_number = line_->line_number;
    i.field = std::move(field);
    i.code = IssueCode::kMalformed;
    i.message = std::move(message);
    line_problem_ = std::move(i);
  }

  void SetProblem(Context& ctx, std::string field, std::string message) {
    if (&ctx == &line_ctx_) return Break(std::move(field), std::move(message));
    if (ctx.problem) return;
    Issue i;
    i.field = std::move(field);
    i.code = IssueCode::kMalformed;
    i.message = std::move(message);
    ctx.problem = std::move(i);
  }

  // Completes the current QTY loop: QTY-level values win over the PTD's.
  void EndLine(std::vector<Item>& out) {
    if (!line_) return;
    Line l = std::move(*line_);
    line_.reset();
    std::optional<Issue> problem = std::move(line_problem_);
    line_problem_.reset();
    auto pick = [](std::string& mine, const std::string& loop) {
      if (mine.empty()) mine = loop;
    };
    l.date = line_ctx_.date;
    if (l.date.empty() && ptd_.problem && !problem) {
      problem = *ptd_.problem;
      problem->line_number = l.line_number;
    }
    pick(l.date, ptd_.date);
    l.invoice_number = line_ctx_.invoice;
    pick(l.invoice_number, ptd_.invoice);
    l.original_invoice_number = line_ctx_.original_invoice;
    pick(l.original_invoice_number, ptd_.original_invoice);
    l.deal_registration_id = line_ctx_.deal_registration_id;
    pick(l.deal_registration_id, ptd_.deal_registration_id);
    l.spa_id = line_ctx_.spa_id;
    pick(l.spa_id, ptd_.spa_id);
    l.customer = line_ctx_.customer_priority > 0 ? line_ctx_.customer : ptd_.customer;
    if (problem) {
      out.push_back(std::move(*problem));
    } else {
      out.push_back(std::move(l));
    }
    level_ = Level::kPtd;
    n1_target_ = N1Target::kNone;
  }

  X12Tokenizer tokenizer_;
  std::vector<Segment> segments_;
  bool in_transaction_ = false;
  bool skip_transaction_ = false;
  int64_t segment_count_ = 0;
  int64_t last_ordinal_ = 0;
  std::string control_;
  std::string currency_;
  Level level_ = Level::kHeader;
  std::string ptd_code_;
  int64_t qty_in_ptd_ = 0;
  Context ptd_;
  Context line_ctx_;
  N1Target n1_target_ = N1Target::kNone;
  std::optional<Line> line_;
  std::optional<Issue> line_problem_;
};

}  // namespace

std::unique_ptr<Parser> NewX12_867Parser() { return std::make_unique<X12_867Parser>(); }

}  // namespace channelops::pos::parse
