# Runs CMD with ARGS (a ;-list) and fails unless it exits with EXPECTED.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL EXPECTED)
  message(FATAL_ERROR "expected exit ${EXPECTED}, got ${code}\nstdout: ${out}\nstderr: ${err}")
endif()
message(STATUS "exit ${code} as expected\n${out}${err}")
