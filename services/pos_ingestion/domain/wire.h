#pragma once

// PosLine's wire encoding, written by hand for the ingestion hot path.
//
// Every accepted line is serialized once, on the stream's thread, into the
// chunk event that carries it. Protobuf's generated serializer checks every
// string field for UTF-8 again as it writes (VerifyUtf8String), and writes
// nested messages through out-of-line calls: ~30% of the stream thread's
// instructions in the service (tools/bench/callgrind_pos.sh). The lines this
// encodes hold only text that is UTF-8 already: validated input, catalogue
// entries and the report header (ValidateLine rejects end-customer text that
// is not UTF-8).
//
// The bytes are exactly what PosLine::SerializeToString writes (fields in
// number order, proto3 defaults omitted, present sub-messages written even when
// empty): wire_test fills every field of the message tree by reflection and
// compares, so a field added to the .proto and not here fails it.

#include <cstdint>
#include <string>

#include "channelops/pos/v1/pos.pb.h"

namespace channelops::pos::domain {

// Replaces *out with the encoding of `line`, which must have no unknown fields
// (the service builds its lines; it never parses them from bytes).
void EncodePosLine(const v1::PosLine& line, std::string* out);

// A LineOwner{report_id, line_number} (rm_line_index's value, one per accepted
// line) as the encoding of its report_id, made once per chunk by
// LineOwnerPrefix, followed by its line number's: the bytes of
// LineOwner::SerializeAsString.
std::string LineOwnerPrefix(const std::string& report_id);
std::string EncodeLineOwner(const std::string& prefix, int64_t line_number);

}  // namespace channelops::pos::domain
