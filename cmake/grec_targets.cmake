# Helpers that give every grec library the same flags. Targets that use LibTorch share one
# precompiled <torch/torch.h> (it dominates compile time); targets that do not never see torch.

set(GREC_WARNINGS -Wall -Wextra -Wno-unused-parameter -Winvalid-pch)

# The shared precompiled header: built once, reused by every torch target.
add_library(grec_torch_pch STATIC ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cc)
target_link_libraries(grec_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_compile_options(grec_torch_pch PRIVATE ${GREC_WARNINGS})
target_precompile_headers(grec_torch_pch PRIVATE <torch/torch.h>)

# grec_library(name DIR dir SOURCES ... [TORCH] [DEPS ...])
function(grec_library name)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${GREC_WARNINGS})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  if(A_TORCH)
    grec_use_torch(${name})
  endif()
endfunction()

# Links LibTorch and reuses the shared precompiled header.
function(grec_use_torch name)
  target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES})
  target_compile_options(${name} PRIVATE ${GREC_WARNINGS})
  target_precompile_headers(${name} REUSE_FROM grec_torch_pch)
endfunction()
