# Runs CMD with ARGS (a ;-list) and fails unless it exits with EXPECTED and,
# when OUTPUT_REGEX is given, its stdout+stderr match that regular expression.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL EXPECTED)
  message(FATAL_ERROR "expected exit ${EXPECTED}, got ${code}\nstdout: ${out}\nstderr: ${err}")
endif()
if(DEFINED OUTPUT_REGEX AND NOT "${out}${err}" MATCHES "${OUTPUT_REGEX}")
  message(FATAL_ERROR "output does not match '${OUTPUT_REGEX}'\nstdout: ${out}\nstderr: ${err}")
endif()
message(STATUS "exit ${code} as expected\n${out}${err}")
