#pragma once

// gRPC <-> domain mapping for channelops.comp.v1.CompensationService.
//
// Every mutating RPC validates the request's shape on the gRPC thread
// (INVALID_ARGUMENT, nothing written), then queues a command on the event
// store's single writer: the command reads state through the Tx (read models
// rm_*), calls the pure domain Decide, appends the events and updates the read
// models in the same atomic batch, and returns the serialized response. The RPC
// is finished from the store's callback once the batch is durable: no gRPC
// thread ever blocks. Queries read the committed read models directly.
//
// Every handler first authorizes the caller (server::Authorizer, from
// --authz_policy): UNAUTHENTICATED / PERMISSION_DENIED before anything else.
//
// Thread-safe: gRPC calls the handlers from many threads.

#include <string>
#include <vector>

#include "channelops/comp/v1/comp.grpc.pb.h"
#include "channelops/core/clock.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/authz.h"

namespace channelops::comp {

// Read-model column families (pass to ServiceRuntime / EventStore options).
inline constexpr char kPlansCf[] = "rm_plans";                 // plan_id -> Plan (latest version)
inline constexpr char kPlanVersionsCf[] = "rm_plan_versions";  // plan_id \0 BE u64 version -> Plan
inline constexpr char kAssignmentsCf[] = "rm_assignments";     // assignment_id -> Assignment
inline constexpr char kPayeeAssignmentsCf[] =
    "rm_payee_assignments";  // payee_id \0 assignment_id -> "" (every payee ever named)
inline constexpr char kPeriodsCf[] = "rm_periods";   // period_id -> Period (closed); "~calendar"
inline constexpr char kCalendarKey[] = "~calendar";  // -> PeriodCalendar

class CompensationService final : public v1::CompensationService::CallbackService {
 public:
  // The read models this service needs in its store.
  static std::vector<std::string> ReadModelCfs();

  // `store` must have been opened with ReadModelCfs() and with `clock` (the
  // store's clock decides every command's "now"). Both must outlive this.
  CompensationService(eventstore::EventStore& store, core::Clock& clock);

  // Every handler authorizes the caller first (allow-all until set). The
  // authorizer must outlive this.
  void set_authorizer(const server::Authorizer& authz) { authz_ = &authz; }

  grpc::ServerUnaryReactor* PublishPlan(grpc::CallbackServerContext* ctx,
                                        const v1::PublishPlanRequest* req,
                                        v1::PlanResponse* resp) override;
  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext* ctx, const v1::GetPlanRequest* req,
                                    v1::PlanResponse* resp) override;
  grpc::ServerUnaryReactor* AssignRole(grpc::CallbackServerContext* ctx,
                                       const v1::AssignRoleRequest* req,
                                       v1::AssignRoleResponse* resp) override;
  grpc::ServerUnaryReactor* ListAssignments(grpc::CallbackServerContext* ctx,
                                            const v1::ListAssignmentsRequest* req,
                                            v1::ListAssignmentsResponse* resp) override;
  grpc::ServerUnaryReactor* ClosePeriod(grpc::CallbackServerContext* ctx,
                                        const v1::ClosePeriodRequest* req,
                                        v1::PeriodResponse* resp) override;
  grpc::ServerUnaryReactor* GetPeriod(grpc::CallbackServerContext* ctx,
                                      const v1::GetPeriodRequest* req,
                                      v1::PeriodResponse* resp) override;

 private:
  eventstore::EventStore& store_;
  core::Clock& clock_;
  const server::Authorizer* authz_ = &kAllowAll;
  static inline const server::Authorizer kAllowAll{};
};

}  // namespace channelops::comp
