# Thin target helpers, in the spirit of absl_cc_library / v_cc_library.
include(CMakeParseArguments)

# channelops_cc_library(NAME x SRCS ... HDRS_DIR include DEPS ...)
# Creates channelops_x (alias channelops::x). Public headers live in <dir>/include.
function(channelops_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  set(tgt channelops_${A_NAME})
  if(A_SRCS)
    add_library(${tgt} STATIC ${A_SRCS})
    target_include_directories(${tgt} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                               PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${tgt} PUBLIC ${A_DEPS})
    target_compile_options(${tgt} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  else()
    add_library(${tgt} INTERFACE)
    target_include_directories(${tgt} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(${tgt} INTERFACE ${A_DEPS})
  endif()
  add_library(channelops::${A_NAME} ALIAS ${tgt})
endfunction()

# channelops_cc_test(NAME x SRCS ... DEPS ... LABELS unit [TIMEOUT s])
function(channelops_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${A_NAME} PRIVATE -Wall -Wno-unused-parameter)
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                       ENVIRONMENT "CHANNELOPS_BIN_DIR=${CMAKE_BINARY_DIR}/bin;CHANNELOPS_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# channelops_proto_library(NAME x PROTOS a.proto b.proto ... [GRPC])
# One static library for many protos: generated code lives in few libraries so that
# a change to one .proto recompiles one .pb.cc.
function(channelops_proto_library)
  cmake_parse_arguments(A "GRPC" "NAME" "PROTOS;DEPS" ${ARGN})
  set(out ${CMAKE_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(srcs)
  foreach(p ${A_PROTOS})
    get_filename_component(abs ${p} ABSOLUTE)
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR}/proto ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(gen ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    set(plugin_args)
    if(A_GRPC)
      list(APPEND gen ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
      set(plugin_args --grpc_out=${out} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${gen}
      COMMAND protobuf::protoc --cpp_out=${out} ${plugin_args} -I ${CMAKE_SOURCE_DIR}/proto
              -I /usr/include ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}")
    list(APPEND srcs ${out}/${base}.pb.cc)
    if(A_GRPC)
      list(APPEND srcs ${out}/${base}.grpc.pb.cc)
    endif()
  endforeach()
  add_library(channelops_${A_NAME} STATIC ${srcs})
  target_include_directories(channelops_${A_NAME} PUBLIC ${out})
  target_link_libraries(channelops_${A_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++ ${A_DEPS})
  add_library(channelops::${A_NAME} ALIAS channelops_${A_NAME})
endfunction()

# channelops_service(NAME deal_registration SRCS main.cc DEPS ...)
# A service binary, placed in ${CMAKE_BINARY_DIR}/bin.
function(channelops_service)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  # Every message type is linked in (whole archive) so that Any payloads can be
  # rendered as JSON (--kafka_format=json, channelopsctl) and reflection lists them.
  # (The objects are linked directly; the archive then supplies nothing twice.)
  target_sources(${A_NAME} PRIVATE $<TARGET_OBJECTS:channelops_proto>)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} channelops_proto)
  target_compile_options(${A_NAME} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  if(TARGET PkgConfig::JEMALLOC)
    target_link_libraries(${A_NAME} PRIVATE PkgConfig::JEMALLOC)  # see CMakeLists.txt
  endif()
endfunction()
