// libFuzzer target: the POS ingestion RFC 4180 CSV with a header row push parser
// (services/pos_ingestion/parsers/). Built only with clang
// (services/pos_ingestion/CMakeLists.txt); the portable equivalent is
// pos_ingestion_parser_mutation_test. Each input is parsed whole, in chunks
// of 1 + size % 61 bytes and in chunks of 1 byte, and must keep the parser contract
// (services/pos_ingestion/tests/parser_contract.h); ASan/UBSan catch the rest.
//
//   pos_csv_fuzz -seed_inputs=services/pos_ingestion/tests/testdata/<fixture> CORPUS_DIR

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pos_ingestion/tests/parser_contract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace channelops::pos::parse::testing;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string violation = CheckParserContract(Format::kCsv, input, 1 + size % 61);
  // One byte at a time no chunk holds a whole record: the state machine alone,
  // against the whole-record fast path of the unsplit parse.
  if (violation.empty()) violation = CheckParserContract(Format::kCsv, input, 1);
  if (!violation.empty()) {
    std::fprintf(stderr, "parser contract violated: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}
