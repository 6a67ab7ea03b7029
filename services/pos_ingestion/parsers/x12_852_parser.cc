// X12 852 Product Activity Data, read segment by segment.
//
//   ST*852 / XQ*<action>*<start CCYYMMDD>*<end CCYYMMDD> / N1 (reporting location) ...
//   LIN*<id>*VN*<sku>                        the item of the following ZA segments
//     ZA*<activity>*<quantity>*<unit>[*<date qualifier>*<date>]   one report line per ZA:
//        QA on hand, QS sold, QR received, QU returned by consumers (QP, QI, QB, QE, ...
//        are reported and ignored by the domain)
//   CTT / SE*<segment count>                 SE01 is checked
//
// A line's date is ZA05 if given, else the XQ end date (else its start date).
// Quantities broken down by location (SDQ) are not supported: ZA02 must carry
// the total.

#include <string>
#include <utility>

#include "pos_ingestion/parsers/line.h"
#include "pos_ingestion/parsers/text.h"
#include "pos_ingestion/parsers/x12.h"

namespace channelops::pos::parse {
namespace {

int ItemPriority(std::string_view qualifier) {
  if (qualifier == "VP" || qualifier == "VN") return 4;
  if (qualifier == "SK") return 3;
  if (qualifier == "MG") return 2;
  if (qualifier == "VA") return 1;
  return 0;
}

class X12_852Parser final : public Parser {
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
    if (in_transaction_) {
      Problem(out, last_ordinal_ + 1, "SE", IssueCode::kMissingField,
              "transaction set " + control_ + " has no SE trailer (truncated input?)");
      in_transaction_ = false;
    }
  }

  bool failed() const override { return tokenizer_.failed(); }

 private:
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
    if (id == "ISA" || id == "GS" || id == "GE" || id == "IEA") return;
    if (id == "ST") {
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
      skip_transaction_ = s.Element(1) != "852";
      if (skip_transaction_) {
        field = "ST01";
        problem += std::string(problem.empty() ? "" : "; ") + "transaction set " +
                   Quote(s.Element(1)) + " is not an 852";
      }
      if (!problem.empty()) Problem(out, s.ordinal, field, IssueCode::kMalformed, problem);
      default_date_.clear();
      date_problem_.clear();
      currency_.clear();
      sku_.clear();
      have_item_ = false;
      return;
    }
    if (!in_transaction_) {
      Problem(out, s.ordinal, id, IssueCode::kMalformed,
              "segment " + id + " outside a transaction set (ST..SE)");
      return;
    }
    ++segment_count_;
    if (id == "SE") {
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
    if (id == "XQ") return OnXq(s);
    if (id == "CUR") {
      if (!s.Element(2).empty()) currency_ = std::string(s.Element(2));
      return;
    }
    if (id == "LIN") return OnLin(s);
    if (id == "ZA") return OnZa(s, out);
    // N1, N3, N4, REF, DTM, PID, CTP, SDQ, CTT, ...: not needed.
  }

  void OnXq(const Segment& s) {
    std::string_view raw = !s.Element(3).empty() ? s.Element(3) : s.Element(2);
    auto d = ParseX12Date(raw);
    if (d) {
      default_date_ = *d;
    } else if (!raw.empty()) {
      date_problem_ = "XQ date " + Quote(raw) + " is not a CCYYMMDD date";
    }
  }

  void OnLin(const Segment& s) {
    have_item_ = true;
    sku_.clear();
    int best = 0;
    for (size_t i = 2; i + 1 < s.elements.size(); i += 2) {
      int p = ItemPriority(s.Element(i));
      if (p > best && !s.Element(i + 1).empty()) {
        best = p;
        sku_ = std::string(s.Element(i + 1));
      }
    }
  }

  void OnZa(const Segment& s, std::vector<Item>& out) {
    if (!have_item_) {
      Problem(out, s.ordinal, "LIN", IssueCode::kMissingField, "ZA without a preceding LIN item");
      return;
    }
    Line l;
    l.line_number = s.ordinal;
    l.activity_code = Upper(s.Element(1));
    l.sku = sku_;
    l.currency = currency_;
    if (!s.Element(2).empty()) {
      auto q = ParseWholeNumber(s.Element(2));
      if (!q) {
        return Problem(out, s.ordinal, "ZA02", IssueCode::kMalformed,
                       Quote(s.Element(2)) + " is not a whole quantity");
      }
      l.has_quantity = true;
      l.quantity = *q;
    }
    l.unit_of_measure = Upper(Components(s.Element(3), tokenizer_.component_separator()).front());
    if (!s.Element(5).empty()) {
      auto d = ParseX12Date(s.Element(5));
      if (!d) {
        return Problem(out, s.ordinal, "ZA05", IssueCode::kMalformed,
                       Quote(s.Element(5)) + " is not a CCYYMMDD date");
      }
      l.date = *d;
    } else if (!date_problem_.empty()) {
      return Problem(out, s.ordinal, "XQ", IssueCode::kMalformed, date_problem_);
    } else {
      l.date = default_date_;
    }
    out.push_back(std::move(l));
  }

  X12Tokenizer tokenizer_;
  std::vector<Segment> segments_;
  bool in_transaction_ = false;
  bool skip_transaction_ = false;
  int64_t segment_count_ = 0;
  int64_t last_ordinal_ = 0;
  std::string control_;
  std::string default_date_;
  std::string date_problem_;
  std::string currency_;
  std::string sku_;
  bool have_item_ = false;
};

}  // namespace

std::unique_ptr<Parser> NewX12_852Parser() { return std::make_unique<X12_852Parser>(); }

}  // namespace channelops::pos::parse
