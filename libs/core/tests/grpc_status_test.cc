#include "channelops/core/grpc_status.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "channelops/core/money.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace channelops::core {
namespace {

using ::testing::HasSubstr;
using Violations = std::vector<std::pair<std::string, std::string>>;

struct CodePair {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

// Spelled out name by name, so that a cast that happened to work by accident
// would still be caught if either enum changed.
constexpr CodePair kCodePairs[] = {
    {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
    {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
    {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
    {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
    {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
    {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
    {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
    {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
    {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
    {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
    {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
    {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
    {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
    {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
};

// Decodes the rich error details a gRPC client would see.
google::rpc::Status Details(const grpc::Status& s) {
  google::rpc::Status out;
  EXPECT_TRUE(out.ParseFromString(s.error_details()));
  return out;
}

TEST(ToGrpcStatusTest, MapsEveryCode) {
  for (const CodePair& p : kCodePairs) {
    grpc::Status g = ToGrpcStatus(absl::Status(p.absl_code, "boom"));
    EXPECT_EQ(g.error_code(), p.grpc_code) << absl::StatusCodeToString(p.absl_code);
    EXPECT_EQ(g.error_message(), "boom");
    EXPECT_EQ(g.error_details(), "") << "no payload, no details";
  }
}

TEST(ToGrpcStatusTest, OkIsOk) {
  absl::Status ok;
  ok.SetPayload(kBadRequestTypeUrl, absl::Cord("ignored"));  // no-op on OK, by absl's contract
  grpc::Status g = ToGrpcStatus(ok);
  EXPECT_TRUE(g.ok());
  EXPECT_EQ(g.error_message(), "");
  EXPECT_EQ(g.error_details(), "");
}

TEST(ToGrpcStatusTest, CodeOutsideTheCanonicalRangeIsUnknown) {
  grpc::Status g = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(g.error_message(), "odd");
}

TEST(FromGrpcStatusTest, MapsEveryCode) {
  for (const CodePair& p : kCodePairs) {
    absl::Status s = FromGrpcStatus(grpc::Status(p.grpc_code, "boom"));
    EXPECT_EQ(s.code(), p.absl_code) << absl::StatusCodeToString(p.absl_code);
    EXPECT_EQ(s.message(), "boom");
  }
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  // grpc::StatusCode has no fixed underlying type: 20 is representable, 99 would be UB.
  EXPECT_EQ(FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "x")).code(),
            absl::StatusCode::kUnknown);
}

TEST(FromGrpcStatusTest, IgnoresUnparseableDetails) {
  absl::Status s =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad", "\xff\xff\xff"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad");
  EXPECT_TRUE(GetFieldViolations(s).empty());
}

TEST(InvalidArgumentTest, MessageCodeAndPayload) {
  struct Case {
    std::string_view field;
    std::string_view reason;
    std::string_view message;
  };
  const Case cases[] = {
      {"deal_id", "is required", "deal_id: is required"},
      {"lines[2].unit_price.currency_code", "must be a 3-letter ISO 4217 code",
       "lines[2].unit_price.currency_code: must be a 3-letter ISO 4217 code"},
      {"", "request is empty", ": request is empty"},
  };
  for (const Case& c : cases) {
    absl::Status s = InvalidArgument(c.field, c.reason);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(s.message()), c.message);
    EXPECT_EQ(GetFieldViolations(s), (Violations{{std::string(c.field), std::string(c.reason)}}));
  }
}

TEST(InvalidArgumentTest, ToGrpcStatusCarriesBadRequest) {
  grpc::Status g = ToGrpcStatus(InvalidArgument("partner_id", "is required"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "partner_id: is required");

  google::rpc::Status rpc = Details(g);
  EXPECT_EQ(rpc.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(rpc.message(), "partner_id: is required");
  ASSERT_EQ(rpc.details_size(), 1);
  EXPECT_EQ(rpc.details(0).type_url(), "type.googleapis.com/google.rpc.BadRequest");
  google::rpc::BadRequest br;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&br));
  ASSERT_EQ(br.field_violations_size(), 1);
  EXPECT_EQ(br.field_violations(0).field(), "partner_id");
  EXPECT_EQ(br.field_violations(0).description(), "is required");
}

TEST(ToGrpcStatusTest, OnlyGoogleApisTypeUrlsBecomeDetails) {
  absl::Status s = absl::InternalError("x");
  s.SetPayload("example.com/private", absl::Cord("secret"));
  EXPECT_EQ(ToGrpcStatus(s).error_details(), "");
}

TEST(FailedPreconditionTest, MessageCodeAndDetails) {
  absl::Status s = FailedPrecondition("deal/123", "deal is already approved");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "deal/123: deal is already approved");
  EXPECT_TRUE(GetFieldViolations(s).empty());

  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  google::rpc::Status rpc = Details(g);
  ASSERT_EQ(rpc.details_size(), 1);
  google::rpc::PreconditionFailure pf;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&pf));
  ASSERT_EQ(pf.violations_size(), 1);
  EXPECT_EQ(pf.violations(0).subject(), "deal/123");
  EXPECT_EQ(pf.violations(0).description(), "deal is already approved");
}

TEST(FieldViolationsTest, EmptyIsOk) {
  FieldViolations v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.size(), 0u);
  EXPECT_TRUE(v.ToStatus().ok());
}

TEST(FieldViolationsTest, ListsEveryViolationInOrder) {
  FieldViolations v;
  v.Add("a", "x");
  v.Add("b", "y");
  v.Add("lines[0].sku", "is required");
  EXPECT_FALSE(v.empty());
  EXPECT_EQ(v.size(), 3u);
  absl::Status s = v.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "a: x; b: y; lines[0].sku: is required");
  const Violations want = {{"a", "x"}, {"b", "y"}, {"lines[0].sku", "is required"}};
  EXPECT_EQ(GetFieldViolations(s), want);
  EXPECT_EQ(v.violations(), want);
  // And a gRPC client sees all three.
  google::rpc::BadRequest br;
  ASSERT_TRUE(Details(ToGrpcStatus(s)).details(0).UnpackTo(&br));
  EXPECT_EQ(br.field_violations_size(), 3);
}

TEST(FieldViolationsTest, CapsWhatIsReported) {
  FieldViolations v;
  const size_t n = FieldViolations::kMaxReported + 5;
  for (size_t i = 0; i < n; ++i) v.Add(absl::StrCat("lines[", i, "].qty"), "must be positive");
  EXPECT_EQ(v.size(), n);
  absl::Status s = v.ToStatus();
  EXPECT_THAT(std::string(s.message()), HasSubstr("; and 5 more"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("lines[19].qty: must be positive"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("lines[20].qty")));
  Violations got = GetFieldViolations(s);
  ASSERT_EQ(got.size(), FieldViolations::kMaxReported);
  EXPECT_EQ(got.front().first, "lines[0].qty");
  EXPECT_EQ(got.back().first, "lines[19].qty");
}

TEST(FieldViolationsTest, AddFrom) {
  FieldViolations v;
  v.AddFrom(absl::OkStatus(), "ignored");
  EXPECT_TRUE(v.empty());

  FieldViolations inner;
  inner.Add("p.q", "r");
  inner.Add("s", "t");
  v.AddFrom(inner.ToStatus());
  v.AddFrom(InvalidArgument("u", "v"));
  v.AddFrom(absl::NotFoundError("no such partner"), "partner_id");
  EXPECT_EQ(v.violations(),
            (Violations{{"p.q", "r"}, {"s", "t"}, {"u", "v"}, {"partner_id", "no such partner"}}));
}

TEST(FieldViolationsTest, CollectsMoneyErrors) {
  FieldViolations v;
  common::v1::Money bad;
  bad.set_currency_code("usd");
  for (int i = 0; i < 2; ++i) {
    auto m = Money::FromProto(bad, absl::StrCat("lines[", i, "].unit_price"));
    v.AddFrom(m.status());
  }
  EXPECT_EQ(v.ToStatus().message(),
            "lines[0].unit_price.currency_code: must be a 3-letter ISO 4217 code; "
            "lines[1].unit_price.currency_code: must be a 3-letter ISO 4217 code");
}

TEST(RoundTripTest, FromGrpcOfToGrpcKeepsCodeMessageAndDetails) {
  FieldViolations many;
  many.Add("a", "x");
  many.Add("b", "y");
  const absl::Status cases[] = {
      InvalidArgument("deal_id", "is required"), many.ToStatus(),
      FailedPrecondition("deal/1", "expired"),   absl::NotFoundError("deal 1"),
      absl::UnavailableError("try later"),
  };
  for (const absl::Status& s : cases) {
    absl::Status back = FromGrpcStatus(ToGrpcStatus(s));
    EXPECT_EQ(back.code(), s.code()) << s;
    EXPECT_EQ(back.message(), s.message()) << s;
    EXPECT_EQ(GetFieldViolations(back), GetFieldViolations(s)) << s;
    EXPECT_EQ(back.GetPayload(kPreconditionFailureTypeUrl),
              s.GetPayload(kPreconditionFailureTypeUrl))
        << s;
  }
}

}  // namespace
}  // namespace channelops::core
