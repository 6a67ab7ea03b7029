#pragma once

// The MDF events as one variant, and the streams they belong to. Pure and
// thread-safe.

#include <string>
#include <variant>

#include "channelops/mdf/v1/events.pb.h"
#include "google/protobuf/message.h"

namespace channelops::mdf::domain {

using Event =
    std::variant<v1::FundAllocated, v1::FundsAdjusted, v1::CoopAccrued, v1::FundExpired,
                 v1::FundRequestSubmitted, v1::FundRequestResubmitted, v1::FundRequestApproved,
                 v1::FundRequestRejected, v1::FundRequestReturned, v1::FundRequestClosed,
                 v1::ClaimSubmitted, v1::ClaimApproved, v1::ClaimRejected, v1::ClaimPaid>;

// The event as a protobuf message (to pack into an envelope).
const google::protobuf::Message& AsMessage(const Event& e);

// Stream ids: "fund-<id>", "request-<id>", "claim-<id>".
std::string FundStream(const std::string& fund_id);
std::string RequestStream(const std::string& fund_request_id);
std::string ClaimStream(const std::string& claim_id);

// The stream an event is appended to.
std::string StreamOf(const Event& e);

// The fund / partner every event names.
const std::string& FundIdOf(const Event& e);
const std::string& PartnerIdOf(const Event& e);

}  // namespace channelops::mdf::domain
