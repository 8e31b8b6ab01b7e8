# sculpt_add_test(name SOURCES a.cpp … [LIBS layer …] LABELS unit|parity|toyworld|gpu)
# The one way to add a test: one GoogleTest executable, registered with CTest under its labels.
# LIBS defaults to the whole library; a test of one layer may link just that layer.
find_package(GTest REQUIRED)

add_library(sculpt_test_support STATIC ${PROJECT_SOURCE_DIR}/tests/support.cpp)
target_include_directories(sculpt_test_support PUBLIC ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(sculpt_test_support PUBLIC sculpt_core GTest::gtest)
target_compile_definitions(sculpt_test_support PUBLIC SCULPT_GOLDEN_DIR="${SCULPT_GOLDEN_DIR}"
                           SCULPT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SCULPT_CLI="$<TARGET_FILE:sculpt_cli>")
target_precompile_headers(sculpt_test_support REUSE_FROM sculpt_core)

function(sculpt_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_LIBS)
    set(T_LIBS sculpt)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} sculpt_test_support GTest::gtest_main)
  target_precompile_headers(${name} REUSE_FROM sculpt_core)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
endfunction()
