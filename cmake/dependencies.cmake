# Every external dependency is found here, and only here.
if(SCULPT_TORCH_FROM_PYTHON)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c "import torch; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE SCULPT_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  list(PREPEND CMAKE_PREFIX_PATH ${SCULPT_TORCH_PREFIX})
endif()
find_package(Torch REQUIRED)
# TORCH_CXX_FLAGS carries the ABI flag (-D_GLIBCXX_USE_CXX11_ABI=…) this libtorch was built with.
separate_arguments(SCULPT_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_path(SCULPT_STB_INCLUDE stb_image.h PATH_SUFFIXES stb REQUIRED)
find_path(SCULPT_PCRE2_INCLUDE pcre2.h REQUIRED)
find_library(SCULPT_PCRE2_LIB pcre2-8 REQUIRED)
find_path(SCULPT_UTF8PROC_INCLUDE utf8proc.h REQUIRED)
find_library(SCULPT_UTF8PROC_LIB utf8proc REQUIRED)
