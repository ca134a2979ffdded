# Usage: cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P embed_file.cmake
# Writes a C++ source that defines `extern const std::string_view SYMBOL` holding
# the bytes of INPUT, so the binary carries its own copy (no path lookups at run time).
file(READ "${INPUT}" content HEX)
string(LENGTH "${content}" hex_length)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
math(EXPR size "${hex_length} / 2")
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by cmake/embed_file.cmake. Do not edit.\n"
"#include <string_view>\n"
"namespace kopt::embedded {\n"
"static const char ${SYMBOL}_data[] = {${bytes} '\\0'};\n"
"extern const std::string_view ${SYMBOL}(${SYMBOL}_data, ${size});\n"
"}\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
file(REMOVE "${OUTPUT}.tmp")
