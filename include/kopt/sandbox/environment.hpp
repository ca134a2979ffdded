#pragma once
// The environment a worker gets: kopt's own, scrubbed of secrets and proxies, with
// per-worker cache directories.
#include <map>
#include <string>
#include <vector>

namespace kopt::sandbox {

// True for names that may hold a secret (contain KEY, TOKEN, SECRET, PASSWORD or
// CREDENTIAL, case-insensitive) or configure a proxy (*_proxy, any case).
bool is_scrubbed_name(const std::string& name);

// `base` ("NAME=value" entries, e.g. from environ) without scrubbed names, with
// `overrides` set (replacing any entry of the same name). Sorted by name.
std::vector<std::string> scrubbed_environment(const std::vector<std::string>& base,
                                              const std::map<std::string, std::string>& overrides);

// The values of scrubbed variables in `base`, for redacting worker text.
std::vector<std::string> secret_values(const std::vector<std::string>& base);

// kopt's own environment as "NAME=value" entries.
std::vector<std::string> current_environment();

// The cache variables for a worker whose sandbox is `dir` (HOME, XDG_CACHE_HOME,
// TRITON_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR, TORCH_EXTENSIONS_DIR, CUDA_CACHE_PATH, TMPDIR).
std::map<std::string, std::string> sandbox_variables(const std::string& dir);

}  // namespace kopt::sandbox
