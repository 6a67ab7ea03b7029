#pragma once

// The gRPC <-> event store plumbing every service handler uses, so that each
// service's handlers contain only validation, mapping and its command.
//
//   grpc::ServerUnaryReactor* Svc::DoThing(grpc::CallbackServerContext* ctx,
//                                          const DoThingRequest* req, DoThingResponse* resp) {
//     auto* reactor = ctx->DefaultReactor();
//     if (auto st = Validate(*req); !st.ok()) return server::FinishRpc(reactor, st);
//     return server::SubmitCommand(store_, reactor,
//                                  server::CommandMetaFor(*ctx, "DoThing", req->request_id()),
//                                  [..](eventstore::Tx& tx) -> absl::StatusOr<std::string> {..},
//                                  resp);
//   }

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "channelops/core/grpc_status.h"
#include "channelops/core/status_macros.h"
#include "channelops/eventstore/event_store.h"
#include "channelops/server/runtime.h"
#include "grpcpp/grpcpp.h"

namespace channelops::server {

// Idempotency key "<method>/<request_id>", causation = request id, actor = the
// authenticated caller.
inline eventstore::CommandMeta CommandMetaFor(const grpc::CallbackServerContext& ctx,
                                              absl::string_view method,
                                              const std::string& request_id) {
  eventstore::CommandMeta meta;
  meta.idempotency_key = absl::StrCat(method, "/", request_id);
  meta.request_id = request_id;
  meta.actor = CallerIdentity(ctx);
  return meta;
}

inline grpc::ServerUnaryReactor* FinishRpc(grpc::ServerUnaryReactor* reactor,
                                           const absl::Status& status) {
  reactor->Finish(core::ToGrpcStatus(status));
  return reactor;
}

// Finishes the RPC with a command's result: its response bytes parsed into
// `response`, or its error mapped to a gRPC status.
template <class Response>
void FinishWithResult(grpc::ServerUnaryReactor* reactor, Response* response,
                      absl::StatusOr<eventstore::CommandResult> result) {
  if (!result.ok()) {
    reactor->Finish(core::ToGrpcStatus(result.status()));
  } else if (!response->ParseFromString(result->response)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "corrupt response"));
  } else {
    reactor->Finish(grpc::Status::OK);
  }
}

// Queues `command` on the store's writer; when it is durable (or failed),
// parses its response bytes into `response` and finishes the RPC. Never blocks
// the calling gRPC thread.
template <class Response>
grpc::ServerUnaryReactor* SubmitCommand(eventstore::EventStore& store,
                                        grpc::ServerUnaryReactor* reactor,
                                        eventstore::CommandMeta meta, eventstore::Command command,
                                        Response* response) {
  store.Execute(std::move(meta), std::move(command),
                [reactor, response](absl::StatusOr<eventstore::CommandResult> result) {
                  FinishWithResult(reactor, response, std::move(result));
                });
  return reactor;
}

// A command that builds its answer as a message: it fills `out` and returns
// the message's bytes (stored for idempotent retries). The message it filled
// is what the caller gets: SubmitTypedCommand does not parse it back from the
// bytes (RegisterDeal's answer holds a whole Deal, ~1 KB: the parse was ~8% of
// the store's answering thread). A retry answered from the store is parsed.
template <class Response>
using TypedCommand =
    absl::AnyInvocable<absl::StatusOr<std::string>(eventstore::Tx&, Response& out)>;

// Queues `command` like SubmitCommand; the command fills `response` itself, on
// the store's writer. That is safe: gRPC does not touch the response until
// the reactor finishes, which happens only on the store's answering thread
// after the command ran (the store's queues order the two). A command that
// fails, or whose batch fails, finishes the RPC with its error, and gRPC sends
// no message with an error status.
template <class Response>
grpc::ServerUnaryReactor* SubmitTypedCommand(eventstore::EventStore& store,
                                             grpc::ServerUnaryReactor* reactor,
                                             eventstore::CommandMeta meta,
                                             TypedCommand<Response> command, Response* response) {
  store.Execute(
      std::move(meta),
      [command = std::move(command), response](eventstore::Tx& tx) mutable {
        return command(tx, *response);
      },
      [reactor, response](absl::StatusOr<eventstore::CommandResult> result) {
        if (result.ok() && !result->replayed) {
          reactor->Finish(grpc::Status::OK);  // the command filled *response
          return;
        }
        FinishWithResult(reactor, response, std::move(result));
      });
  return reactor;
}

// A proto stored in a read model (committed data, or through a Tx inside a
// command). nullopt when absent; DATA_LOSS when the bytes do not parse.
template <class M, class Reader>
absl::StatusOr<std::optional<M>> GetProto(Reader& reader, absl::string_view cf,
                                          absl::string_view key) {
  CHANNELOPS_ASSIGN_OR_RETURN(std::optional<std::string> raw, reader.Get(cf, key));
  if (!raw) return std::optional<M>();
  M m;
  if (!m.ParseFromString(*raw)) {
    return absl::DataLossError(absl::StrCat("corrupt ", M::descriptor()->full_name(), " in ", cf));
  }
  return std::optional<M>(std::move(m));
}

}  // namespace channelops::server
