#include "lead_routing/domain/events.h"

#include "absl/strings/str_cat.h"

namespace channelops::leads::domain {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

const google::protobuf::Message& AsMessage(const Event& e) {
  return std::visit([](const auto& m) -> const google::protobuf::Message& { return m; }, e);
}

std::string TerritoryStream(const std::string& territory_id) {
  return absl::StrCat("territory-", territory_id);
}
std::string PartnerStream(const std::string& partner_id) {
  return absl::StrCat("partner-", partner_id);
}
std::string LeadStream(const std::string& lead_id) { return absl::StrCat("lead-", lead_id); }

std::string StreamOf(const Event& e) {
  return std::visit(
      Overloaded{
          [](const v1::TerritoryUpserted& t) {
            return TerritoryStream(t.territory().territory_id());
          },
          [](const v1::PartnerProfileUpserted& p) {
            return PartnerStream(p.profile().partner_id());
          },
          [](const v1::PartnerPaused& p) { return PartnerStream(p.partner_id()); },
          [](const auto& lead_event) { return LeadStream(lead_event.keys().lead_id()); },
      },
      e);
}

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  int64_t us = absl::ToUnixMicros(t);
  int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  google::protobuf::Timestamp ts;
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>((us - secs * 1000000) * 1000));
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  int64_t us = absl::ToInt64Microseconds(d);
  google::protobuf::Duration out;
  out.set_seconds(us / 1000000);
  out.set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
  return out;
}

absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace channelops::leads::domain
