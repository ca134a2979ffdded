#include "kopt/providers/factory.hpp"

#include "exec_provider.hpp"
#include "files_provider.hpp"
#include "http_provider.hpp"
#include "kopt/providers/command_line.hpp"
#include "kopt/providers/transcript.hpp"
#include "kopt/sandbox/environment.hpp"

namespace kopt::providers {

namespace {

bool is_http_url(const std::string& url) {
  return (url.rfind("http://", 0) == 0 && url.size() > 7) || (url.rfind("https://", 0) == 0 && url.size() > 8);
}

std::string pick_base(const ProviderOptions& options, const std::vector<std::string>& env, const char* var,
                      const char* fallback) {
  if (!options.base_url.empty()) return options.base_url;
  const std::string from_env = env_value(env, var);
  return from_env.empty() ? fallback : from_env;
}

}  // namespace

std::string env_value(const std::vector<std::string>& env, const std::string& name) {
  const std::string prefix = name + "=";
  for (const auto& entry : env)
    if (entry.compare(0, prefix.size(), prefix) == 0) return entry.substr(prefix.size());
  return {};
}

Result<std::unique_ptr<Provider>> make_provider(const ProviderOptions& options, const std::vector<std::string>& env) {
  if (options.max_output_tokens <= 0) return Failure{"usage", "--max-output-tokens must be positive"};
  if (options.kind == "openai" || options.kind == "anthropic") {
    const bool openai = options.kind == "openai";
    if (options.model.empty()) return Failure{"usage", "--model is required for --provider " + options.kind};
    const std::string base = openai ? pick_base(options, env, "OPENAI_BASE_URL", "https://api.openai.com/v1")
                                    : pick_base(options, env, "ANTHROPIC_BASE_URL", "https://api.anthropic.com");
    if (!is_http_url(base)) return Failure{"usage", "the base URL must start with http:// or https://: " + base};
    const char* key_var = openai ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY";
    const std::string key = env_value(env, key_var);
    const bool public_api = base.find("://api.openai.com") != std::string::npos ||
                            base.find("://api.anthropic.com") != std::string::npos;
    if (key.empty() && public_api)
      return Failure{"usage", std::string(key_var) + " is not set (needed for " + base + ")"};
    auto protocol = openai ? make_openai_protocol(base, options.model, key, options)
                           : make_anthropic_protocol(base, options.model, key, options);
    return std::unique_ptr<Provider>(std::make_unique<HttpProvider>(std::move(protocol), options.model, key, options));
  }
  if (options.kind == "exec") {
    if (options.command.empty()) return Failure{"usage", "--command is required for --provider exec"};
    auto argv = split_command(options.command);
    if (!argv) return argv.failure();
    auto program = find_program(argv->front(), env_value(env, "PATH"));
    if (!program) return program.failure();
    argv->front() = *program;
    std::map<std::string, std::string> extra{{"KOPT_MAX_OUTPUT_TOKENS", std::to_string(options.max_output_tokens)}};
    if (!options.model.empty()) extra["KOPT_MODEL"] = options.model;
    if (options.temperature) extra["KOPT_TEMPERATURE"] = std::to_string(*options.temperature);
    return make_exec_provider(std::move(argv.value()), options.model, sandbox::scrubbed_environment(env, extra),
                              options.timeout, sandbox::secret_values(env));
  }
  if (options.kind == "files") {
    if (options.inbox.empty()) return Failure{"usage", "--provider files needs an inbox folder"};
    if (Status made = make_directories(options.inbox); !made) return made.failure();
    return make_files_provider(options, sandbox::secret_values(env));
  }
  return Failure{"usage", "unknown provider \"" + options.kind + "\" (expected openai, anthropic, exec or files)"};
}

}  // namespace kopt::providers
