#pragma once

// The MDF read models (rm_* column families) and the one function that turns
// decided events into storage: append to the streams and update every read
// model in the same store command (so queries are strongly consistent with the
// events). Used by the gRPC service and by the co-op accrual consumer.
//
// Tx functions run on the store's writer thread only; the EventStore ones read
// committed data and are thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/mdf/v1/mdf.pb.h"
#include "channelops/mdf/v1/read_models.pb.h"
#include "mdf/domain/events.h"

namespace channelops::mdf {

// Read-model column families (pass to ServiceRuntime / EventStore options).
inline constexpr char kFundsCf[] = "rm_funds";                 // fund_id -> Fund
inline constexpr char kPartnerFundsCf[] = "rm_partner_funds";  // partner_id -> PartnerFunds
inline constexpr char kRequestsCf[] = "rm_requests";           // fund_request_id -> FundRequest
inline constexpr char kClaimsCf[] = "rm_claims";               // claim_id -> Claim
// Listing indexes: "<kind>/" owner \0 id -> "" with kind
//   fr (fund -> requests), pr (partner -> requests),
//   rc (request -> claims), fc (fund -> claims), pc (partner -> claims).
inline constexpr char kIndexCf[] = "rm_index";
// Partner ledger: partner \0 BE u64 occurred micros, BE u64 global position,
// u8 n -> LedgerEntry. The statement's range scan.
inline constexpr char kLedgerCf[] = "rm_ledger";
// Sweeper schedules: 'e' BE u64 expires_at micros fund_id (OPEN funds) and
// 'c' BE u64 claim_deadline micros fund_request_id (APPROVED requests) -> "".
inline constexpr char kDeadlinesCf[] = "rm_deadlines";
inline constexpr char kShipmentsCf[] = "rm_shipments";  // shipment_id -> ShipmentAccrual (credited)

inline constexpr char kFundExpiryPrefix[] = "e";
inline constexpr char kClaimWindowPrefix[] = "c";

std::vector<std::string> ReadModelCfs();

// "<kind>/" owner \0, the prefix of an index's entries for one owner.
std::string IndexPrefix(const char* kind, const std::string& owner);
// kind + BE u64 micros (clamped at 0) + id.
std::string DeadlineKey(const char* kind, absl::Time at, const std::string& id);
// partner \0, and partner \0 + BE u64 micros: bounds of a statement scan.
std::string LedgerPrefix(const std::string& partner_id);
std::string LedgerKeyAt(const std::string& partner_id, absl::Time at);

// DATA_LOSS: a read model contradicts another (an index names a missing record).
absl::Status Corrupt(const char* cf, const std::string& key);

// The aggregate, or an empty message if it does not exist.
absl::StatusOr<v1::Fund> LoadFund(eventstore::Tx& tx, const std::string& fund_id);
absl::StatusOr<v1::FundRequest> LoadRequest(eventstore::Tx& tx, const std::string& id);
absl::StatusOr<v1::Claim> LoadClaim(eventstore::Tx& tx, const std::string& claim_id);
// Every fund of a partner, by fund id.
absl::StatusOr<std::vector<v1::Fund>> LoadPartnerFunds(eventstore::Tx& tx,
                                                       const std::string& partner_id);

// NOT_FOUND statuses naming the request field.
absl::Status FundNotFound(const std::string& fund_id);
absl::Status RequestNotFound(const std::string& fund_request_id);
absl::Status ClaimNotFound(const std::string& claim_id);

// The aggregates one command works on (empty messages where none).
struct Aggregates {
  v1::Fund fund;
  v1::FundRequest request;
  v1::Claim claim;
};

// Appends `events` to their streams (expected version: the aggregate's version
// in `before`, or "no stream" for a new one), evolves the aggregates, and
// writes every read model derived from them: the aggregates, the listing
// indexes, the partner ledger and the sweeper schedules. Returns the
// aggregates after. Errors: those of Tx (UNAVAILABLE, ABORTED on a version
// mismatch, which would mean corrupt read models). CHECKs that every event
// names the aggregates given.
absl::StatusOr<Aggregates> Commit(eventstore::Tx& tx, const Aggregates& before,
                                  const std::vector<domain::Event>& events);

}  // namespace channelops::mdf
