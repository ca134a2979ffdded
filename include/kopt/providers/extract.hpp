#pragma once
// Finding the candidate in a model's reply: fenced code blocks (any language tag or
// none, several, prose around them); the one that defines `class ModelNew` wins.
#include <string>
#include <string_view>

#include "kopt/util/result.hpp"

namespace kopt::providers {

// The candidate source from `reply`: the last fenced block that defines class ModelNew;
// without fences, the reply from its first line of code on, if it defines ModelNew.
// An unterminated last fence (a truncated reply) counts up to the end of the text.
// Failure kind "no_candidate" with what was found instead ("2 code blocks, none defines
// class ModelNew", "no code in the reply").
Result<std::string> extract_candidate(std::string_view reply);

}  // namespace kopt::providers
