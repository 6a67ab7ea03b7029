#pragma once

// gRPC queries of channelops.analytics.v1.AnalyticsService over the read models
// the Projector builds. Every handler validates the request, reads committed
// data from the store (eventually consistent with the topics: see
// GetProjectionStatus) and finishes the reactor inline; nothing is written.
//
// Every handler first authorizes the caller (server::Authorizer): a
// partner-scoped caller sees only its own partner's ROI and pipeline (the
// authorizer checks partner_id) and only statements and lines paid to its
// partner (checked here).
//
// Thread-safe: gRPC calls the handlers from many threads.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "channelops/analytics/v1/analytics.grpc.pb.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"

namespace prometheus {
class Registry;
class Gauge;
}  // namespace prometheus

namespace channelops::projections {

struct AnalyticsOptions {
  std::string consumer_name = "projections";  // the consumer runner's name (offsets, lag metric)
  int32_t roi_margin_bps = 3000;              // margin applied to attributed revenue in ROI
};

class AnalyticsService final : public analytics::v1::AnalyticsService::CallbackService {
 public:
  // `store` holds the projections read models (ReadModelCfs()); `metrics`
  // (optional) is the registry the consumer runner exports its lag to. Both
  // must outlive this.
  AnalyticsService(const eventstore::EventStore& store, prometheus::Registry* metrics,
                   AnalyticsOptions options);

  // Allow-all until set. The authorizer must outlive this.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }

  grpc::ServerUnaryReactor* GetProjectionStatus(
      grpc::CallbackServerContext* ctx, const analytics::v1::GetProjectionStatusRequest* req,
      analytics::v1::ProjectionStatus* resp) override;
  grpc::ServerUnaryReactor* GetCommissionStatement(
      grpc::CallbackServerContext* ctx, const analytics::v1::GetCommissionStatementRequest* req,
      analytics::v1::CommissionStatement* resp) override;
  grpc::ServerUnaryReactor* ExplainCredit(grpc::CallbackServerContext* ctx,
                                          const analytics::v1::ExplainCreditRequest* req,
                                          analytics::v1::ExplainCreditResponse* resp) override;
  grpc::ServerUnaryReactor* GetPartnerRoi(grpc::CallbackServerContext* ctx,
                                          const analytics::v1::GetPartnerRoiRequest* req,
                                          analytics::v1::PartnerRoi* resp) override;
  grpc::ServerUnaryReactor* ListPartnerRoi(grpc::CallbackServerContext* ctx,
                                           const analytics::v1::ListPartnerRoiRequest* req,
                                           analytics::v1::ListPartnerRoiResponse* resp) override;
  grpc::ServerUnaryReactor* GetPartnerPipeline(grpc::CallbackServerContext* ctx,
                                               const analytics::v1::GetPartnerPipelineRequest* req,
                                               analytics::v1::PartnerPipeline* resp) override;

  // The same queries as plain functions (tests, tools). Errors: NOT_FOUND
  // (ExplainCredit of an unknown line), DATA_LOSS (corrupt read model),
  // UNAVAILABLE (storage). Requests must be valid (the RPCs validate).
  absl::StatusOr<analytics::v1::ProjectionStatus> Status() const;
  absl::StatusOr<analytics::v1::CommissionStatement> Statement(const std::string& payee_id,
                                                               const std::string& period_id,
                                                               size_t max_lines = SIZE_MAX) const;
  absl::StatusOr<analytics::v1::ExplainCreditResponse> Explain(const std::string& line_id) const;
  absl::StatusOr<analytics::v1::PartnerRoi> Roi(const std::string& partner_id,
                                                const std::string& period_id,
                                                const std::string& currency) const;
  absl::StatusOr<analytics::v1::PartnerPipeline> Pipeline(const std::string& partner_id,
                                                          const std::string& currency) const;

  // Sets the projections gauges (credit lines, sales, uncredited sales) from the
  // store; call periodically (ServiceRuntime::AddBackgroundTask).
  void UpdateMetrics();

 private:
  const eventstore::EventStore& store_;
  prometheus::Registry* metrics_;
  AnalyticsOptions options_;
  const server::Authorizer* authz_ = &kAllowAll;
  static inline const server::Authorizer kAllowAll{};
  prometheus::Gauge* credit_lines_gauge_ = nullptr;
  prometheus::Gauge* sales_gauge_ = nullptr;
  prometheus::Gauge* uncredited_gauge_ = nullptr;
};

}  // namespace channelops::projections
