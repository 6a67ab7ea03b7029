// libFuzzer target: the POS ingestion X12 867 push parser
// (services/pos_ingestion/parsers/). Built only with clang
// (services/pos_ingestion/CMakeLists.txt); the portable equivalent is
// pos_ingestion_parser_mutation_test. Each input is parsed whole and in chunks
// of 1 + size % 61 bytes, and must keep the parser contract
// (services/pos_ingestion/tests/parser_contract.h); ASan/UBSan catch the rest.
//
//   pos_x12_867_fuzz -seed_inputs=services/pos_ingestion/tests/testdata/<fixture> CORPUS_DIR

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pos_ingestion/tests/parser_contract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace channelops::pos::parse::testing;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string violation = CheckParserContract(Format::k867, input, 1 + size % 61);
  if (!violation.empty()) {
    std::fprintf(stderr, "parser contract violated: %s\n", violation.c_str());
    std::abort();
  }
  return 0;
}
