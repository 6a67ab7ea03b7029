#pragma once

// The events of the lead routing context as one variant, their streams, and
// the time conversions the domain uses. Pure and thread-safe.

#include <string>
#include <variant>

#include "absl/time/time.h"
#include "channelops/leads/v1/events.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace channelops::leads::domain {

using Event =
    std::variant<v1::TerritoryUpserted, v1::PartnerProfileUpserted, v1::PartnerPaused,
                 v1::LeadSubmitted, v1::LeadRouted, v1::LeadUnrouted, v1::LeadAccepted,
                 v1::LeadDeclined, v1::LeadAcceptanceTimedOut, v1::LeadConverted, v1::LeadClosed>;

// The event as a protobuf message (to pack into an envelope).
const google::protobuf::Message& AsMessage(const Event& e);

// Stream ids.
std::string TerritoryStream(const std::string& territory_id);  // "territory-<id>"
std::string PartnerStream(const std::string& partner_id);      // "partner-<id>"
std::string LeadStream(const std::string& lead_id);            // "lead-<id>"
// The stream an event belongs to.
std::string StreamOf(const Event& e);

// Microsecond precision both ways; an unset Timestamp is the Unix epoch.
google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace channelops::leads::domain
