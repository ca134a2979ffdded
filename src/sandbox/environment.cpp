#include "kopt/sandbox/environment.hpp"

#include <algorithm>
#include <cctype>

extern char** environ;

namespace kopt::sandbox {

bool is_scrubbed_name(const std::string& name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const char* word : {"KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "PASSWD"}) {
    if (upper.find(word) != std::string::npos) return true;
  }
  const std::string suffix = "_PROXY";
  return upper.size() >= suffix.size() &&
         upper.compare(upper.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> scrubbed_environment(const std::vector<std::string>& base,
                                              const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> vars;
  for (const auto& entry : base) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    const std::string name = entry.substr(0, eq);
    if (is_scrubbed_name(name)) continue;
    vars[name] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : overrides) vars[name] = value;
  std::vector<std::string> out;
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<std::string> secret_values(const std::vector<std::string>& base) {
  std::vector<std::string> out;
  for (const auto& entry : base) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    if (is_scrubbed_name(entry.substr(0, eq)) && entry.size() - eq - 1 >= 6)
      out.push_back(entry.substr(eq + 1));
  }
  return out;
}

std::vector<std::string> current_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

std::map<std::string, std::string> sandbox_variables(const std::string& dir) {
  return {
      {"HOME", dir},
      {"XDG_CACHE_HOME", dir + "/cache"},
      {"TRITON_CACHE_DIR", dir + "/cache/triton"},
      {"TORCHINDUCTOR_CACHE_DIR", dir + "/cache/inductor"},
      {"TORCH_EXTENSIONS_DIR", dir + "/cache/torch_extensions"},
      {"CUDA_CACHE_PATH", dir + "/cache/nv"},
      {"TMPDIR", dir + "/tmp"},
      {"PYTHONDONTWRITEBYTECODE", "1"},
      {"PYTHONUNBUFFERED", "1"},
  };
}

}  // namespace kopt::sandbox
