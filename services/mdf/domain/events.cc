#include "mdf/domain/events.h"

#include <type_traits>

#include "absl/strings/str_cat.h"

namespace channelops::mdf::domain {

const google::protobuf::Message& AsMessage(const Event& e) {
  return std::visit([](const auto& m) -> const google::protobuf::Message& { return m; }, e);
}

std::string FundStream(const std::string& fund_id) { return absl::StrCat("fund-", fund_id); }
std::string RequestStream(const std::string& id) { return absl::StrCat("request-", id); }
std::string ClaimStream(const std::string& id) { return absl::StrCat("claim-", id); }

std::string StreamOf(const Event& e) {
  return std::visit(
      [](const auto& m) -> std::string {
        using K = std::decay_t<decltype(m.keys())>;
        if constexpr (std::is_same_v<K, v1::FundKeys>) {
          return FundStream(m.keys().fund_id());
        } else if constexpr (std::is_same_v<K, v1::FundRequestKeys>) {
          return RequestStream(m.keys().fund_request_id());
        } else {
          return ClaimStream(m.keys().claim_id());
        }
      },
      e);
}

const std::string& FundIdOf(const Event& e) {
  return std::visit([](const auto& m) -> const std::string& { return m.keys().fund_id(); }, e);
}

const std::string& PartnerIdOf(const Event& e) {
  return std::visit([](const auto& m) -> const std::string& { return m.keys().partner_id(); }, e);
}

}  // namespace channelops::mdf::domain
