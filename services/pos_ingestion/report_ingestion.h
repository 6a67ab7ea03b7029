#pragma once

// The IngestReport stream: a gRPC callback read reactor that parses a report
// incrementally and commits it in batches of store commands.
//
//   header     validated (INVALID_ARGUMENT, nothing written), authorized, the
//              report id claimed for this stream (ABORTED if another stream
//              holds it), then an "open" command decides: new, resume (an
//              earlier stream broke: lines up to Report.last_line_number are
//              skipped) or replay (already complete: the rest of the stream is
//              read and dropped, the stored report is the answer).
//   lines      typed LineBatch messages or byte chunks go through the format's
//              push parser; every kBatchLines items one store command validates
//              and records them (normal mode) or stages them in rm_staging
//              (all_or_nothing, one command at a time). Normal mode queues up
//              to kMaxBatchesInFlight batches together, so the store decides
//              one while it syncs the one before, and reads and parses the
//              next message meanwhile (one read outstanding, at most ~8,000
//              parsed lines waiting). Each batch checks that the report's last
//              recorded line is its predecessor's, so a failed batch leaves no
//              gap. The stream is paced by the store; the memory held is two
//              chunks plus a group of batches.
//   end        all_or_nothing: one command publishes every staged line, or
//              deletes them and answers REFUSED with the rejects when any line
//              was rejected. A correction then reverses the corrected report's
//              lines in batches. A last command records ReportCompleted (and
//              ReportSuperseded for the corrected report).
//
// A stream that breaks (client cancel, deadline) leaves a normal-mode report
// RECEIVING with what was committed: re-sending it resumes. An
// all_or_nothing stream that breaks leaves nothing (its staging is deleted, or
// swept later if the process died).

#include "channelops/pos/v1/pos.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace channelops::pos {

class PosIngestionService;

// Starts the reactor of one IngestReport call; it deletes itself when done.
grpc::ServerReadReactor<v1::IngestReportRequest>* NewIngestReactor(
    PosIngestionService& service, grpc::CallbackServerContext* ctx,
    v1::IngestReportResponse* response);

}  // namespace channelops::pos
