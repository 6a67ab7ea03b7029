#include "mdf/storage.h"

#include <algorithm>
#include <utility>

#include "channelops/core/check.h"
#include "channelops/core/status_macros.h"
#include "channelops/server/rpc.h"
#include "mdf/domain/convert.h"
#include "mdf/domain/decider.h"
#include "mdf/domain/ledger.h"

namespace channelops::mdf {
namespace {

using eventstore::Tx;

std::string Join0(const std::string& a, const std::string& b) {
  std::string k = a;
  k.push_back('\0');
  k.append(b);
  return k;
}

uint64_t Micros(absl::Time t) {
  return static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMicros(t), 0));
}

absl::Time FundExpiry(const v1::Fund& f) { return domain::FromProtoTime(f.expires_at()); }
absl::Time ClaimDeadlineOf(const v1::FundRequest& r) {
  return domain::FromProtoTime(r.claim_deadline());
}

bool Approved(const v1::FundRequest& r) { return r.status() == v1::FUND_REQUEST_STATUS_APPROVED; }

absl::Status AddPartnerFund(Tx& tx, const std::string& partner_id, const std::string& fund_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto stored,
                              server::GetProto<v1::PartnerFunds>(tx, kPartnerFundsCf, partner_id));
  v1::PartnerFunds list = stored ? std::move(*stored) : v1::PartnerFunds();
  std::vector<std::string> ids(list.fund_ids().begin(), list.fund_ids().end());
  auto it = std::lower_bound(ids.begin(), ids.end(), fund_id);
  if (it != ids.end() && *it == fund_id) return absl::OkStatus();
  ids.insert(it, fund_id);
  list.clear_fund_ids();
  for (auto& id : ids) list.add_fund_ids(std::move(id));
  tx.Put(kPartnerFundsCf, partner_id, list.SerializeAsString());
  return absl::OkStatus();
}

absl::Status WriteFund(Tx& tx, const v1::Fund& before, const v1::Fund& after) {
  const std::string& id = after.fund_id();
  tx.Put(kFundsCf, id, after.SerializeAsString());
  if (before.fund_id().empty()) {
    CHANNELOPS_RETURN_IF_ERROR(AddPartnerFund(tx, after.partner_id(), id));
  }
  const bool was_open = !before.fund_id().empty() && before.status() == v1::FUND_STATUS_OPEN;
  const bool is_open = after.status() == v1::FUND_STATUS_OPEN;
  if (was_open && (!is_open || FundExpiry(before) != FundExpiry(after))) {
    tx.Delete(kDeadlinesCf, DeadlineKey(kFundExpiryPrefix, FundExpiry(before), id));
  }
  if (is_open) tx.Put(kDeadlinesCf, DeadlineKey(kFundExpiryPrefix, FundExpiry(after), id), "");
  return absl::OkStatus();
}

void WriteRequest(Tx& tx, const v1::FundRequest& before, const v1::FundRequest& after) {
  const std::string& id = after.fund_request_id();
  tx.Put(kRequestsCf, id, after.SerializeAsString());
  if (before.fund_request_id().empty()) {
    tx.Put(kIndexCf, IndexPrefix("fr", after.fund_id()) + id, "");
    tx.Put(kIndexCf, IndexPrefix("pr", after.partner_id()) + id, "");
  }
  if (Approved(before) && (!Approved(after) || ClaimDeadlineOf(before) != ClaimDeadlineOf(after))) {
    tx.Delete(kDeadlinesCf, DeadlineKey(kClaimWindowPrefix, ClaimDeadlineOf(before), id));
  }
  if (Approved(after)) {
    tx.Put(kDeadlinesCf, DeadlineKey(kClaimWindowPrefix, ClaimDeadlineOf(after), id), "");
  }
}

void WriteClaim(Tx& tx, const v1::Claim& before, const v1::Claim& after) {
  const std::string& id = after.claim_id();
  tx.Put(kClaimsCf, id, after.SerializeAsString());
  if (before.claim_id().empty()) {
    tx.Put(kIndexCf, IndexPrefix("rc", after.fund_request_id()) + id, "");
    tx.Put(kIndexCf, IndexPrefix("fc", after.fund_id()) + id, "");
    tx.Put(kIndexCf, IndexPrefix("pc", after.partner_id()) + id, "");
  }
}

// The expected version of the stream `e` goes to, from the aggregates so far.
int64_t ExpectedVersion(const Aggregates& a, const domain::Event& e) {
  const std::string stream = domain::StreamOf(e);
  auto version = [](const std::string& id, uint64_t v) {
    return id.empty() ? eventstore::kNoStream : static_cast<int64_t>(v);
  };
  if (!a.fund.fund_id().empty() && stream == domain::FundStream(a.fund.fund_id())) {
    return version(a.fund.fund_id(), a.fund.version());
  }
  if (!a.request.fund_request_id().empty() &&
      stream == domain::RequestStream(a.request.fund_request_id())) {
    return version(a.request.fund_request_id(), a.request.version());
  }
  if (!a.claim.claim_id().empty() && stream == domain::ClaimStream(a.claim.claim_id())) {
    return version(a.claim.claim_id(), a.claim.version());
  }
  return eventstore::kNoStream;  // the event creates its aggregate
}

}  // namespace

std::vector<std::string> ReadModelCfs() {
  return {kFundsCf, kPartnerFundsCf, kRequestsCf,  kClaimsCf,
          kIndexCf, kLedgerCf,       kDeadlinesCf, kShipmentsCf};
}

std::string IndexPrefix(const char* kind, const std::string& owner) {
  return Join0(absl::StrCat(kind, "/", owner), "");
}

std::string DeadlineKey(const char* kind, absl::Time at, const std::string& id) {
  return absl::StrCat(kind, eventstore::EncodeU64(Micros(at)), id);
}

std::string LedgerPrefix(const std::string& partner_id) { return Join0(partner_id, ""); }

std::string LedgerKeyAt(const std::string& partner_id, absl::Time at) {
  return LedgerPrefix(partner_id) + eventstore::EncodeU64(Micros(at));
}

absl::Status Corrupt(const char* cf, const std::string& key) {
  return absl::DataLossError(absl::StrCat("corrupt ", cf, " read model at '", key, "'"));
}

absl::StatusOr<v1::Fund> LoadFund(Tx& tx, const std::string& fund_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto f, server::GetProto<v1::Fund>(tx, kFundsCf, fund_id));
  return f ? std::move(*f) : v1::Fund();
}

absl::StatusOr<v1::FundRequest> LoadRequest(Tx& tx, const std::string& id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto r, server::GetProto<v1::FundRequest>(tx, kRequestsCf, id));
  return r ? std::move(*r) : v1::FundRequest();
}

absl::StatusOr<v1::Claim> LoadClaim(Tx& tx, const std::string& claim_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto c, server::GetProto<v1::Claim>(tx, kClaimsCf, claim_id));
  return c ? std::move(*c) : v1::Claim();
}

absl::StatusOr<std::vector<v1::Fund>> LoadPartnerFunds(Tx& tx, const std::string& partner_id) {
  CHANNELOPS_ASSIGN_OR_RETURN(auto list,
                              server::GetProto<v1::PartnerFunds>(tx, kPartnerFundsCf, partner_id));
  std::vector<v1::Fund> funds;
  if (!list) return funds;
  for (const std::string& id : list->fund_ids()) {
    CHANNELOPS_ASSIGN_OR_RETURN(v1::Fund f, LoadFund(tx, id));
    if (f.fund_id().empty()) return Corrupt(kPartnerFundsCf, partner_id);
    funds.push_back(std::move(f));
  }
  return funds;
}

absl::Status FundNotFound(const std::string& fund_id) {
  return absl::NotFoundError(absl::StrCat("fund_id: no fund ", fund_id));
}
absl::Status RequestNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("fund_request_id: no fund request ", id));
}
absl::Status ClaimNotFound(const std::string& claim_id) {
  return absl::NotFoundError(absl::StrCat("claim_id: no claim ", claim_id));
}

absl::StatusOr<Aggregates> Commit(Tx& tx, const Aggregates& before,
                                  const std::vector<domain::Event>& events) {
  if (events.empty()) return before;
  Aggregates after = before;
  for (const domain::Event& e : events) {
    const int64_t expected = ExpectedVersion(after, e);
    CHANNELOPS_ASSIGN_OR_RETURN(
        uint64_t position,
        tx.Append(domain::StreamOf(e), expected, {eventstore::NewEvent::Of(domain::AsMessage(e))}));
    after.fund = domain::Evolve(std::move(after.fund), e);
    after.request = domain::Evolve(std::move(after.request), e);
    after.claim = domain::Evolve(std::move(after.claim), e);
    CHANNELOPS_CHECK(after.fund.fund_id() == domain::FundIdOf(e))
        << "event of fund " << domain::FundIdOf(e) << " committed with fund "
        << after.fund.fund_id();
    std::vector<v1::LedgerEntry> entries = domain::LedgerEntriesOf(e);
    for (size_t i = 0; i < entries.size(); ++i) {
      const v1::LedgerEntry& entry = entries[i];
      std::string key =
          LedgerKeyAt(entry.partner_id(), domain::FromProtoTime(entry.occurred_at())) +
          eventstore::EncodeU64(position);
      key.push_back(static_cast<char>(i));
      tx.Put(kLedgerCf, key, entry.SerializeAsString());
    }
  }
  CHANNELOPS_RETURN_IF_ERROR(WriteFund(tx, before.fund, after.fund));
  if (!after.request.fund_request_id().empty()) WriteRequest(tx, before.request, after.request);
  if (!after.claim.claim_id().empty()) WriteClaim(tx, before.claim, after.claim);
  return after;
}

}  // namespace channelops::mdf
