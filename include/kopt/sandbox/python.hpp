#pragma once
// Choosing the Python interpreter that runs workers.
#include <functional>
#include <string>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::sandbox {

struct PythonChoice {
  std::string path;
  std::string torch_origin;        // where the interpreter finds torch (its __init__.py)
  std::string source;                // "--python", "KOPT_PYTHON", "PATH", "/usr/bin/python3"
  std::vector<std::string> skipped;  // "PATH: cannot import torch", one line each
};

// Asks `python` where torch is (importlib find_spec, without importing it) with a
// deadline; returns the location or a Failure
// saying why not. Failure kinds: "python".
Result<std::string> probe_python(const std::string& path, int timeout_seconds = 120);

// Whether `path` is a regular file this process may execute (an interpreter named by
// --python or KOPT_PYTHON, checked before anything runs and again by probe_python).
bool executable_file(const std::string& path);

// The interpreter to use: `flag` if set, else $KOPT_PYTHON, else the first python3 on
// PATH that imports torch, else /usr/bin/python3. An explicitly named interpreter that
// cannot import torch is an error (not silently replaced). Failure kinds: "python".
Result<PythonChoice> find_python(
    const std::string& flag, const std::string& env_value, const std::string& path_env,
    const std::function<Result<std::string>(const std::string&)>& probe);

}  // namespace kopt::sandbox
