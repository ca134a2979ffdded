// The source text of builtin candidates: the workload embedded, ModelNew subclassing its
// Model (so parameter names match), one engine (how forward runs) and modifiers (layout,
// library flags). Each is valid for any workload; measurement decides which helps.
#include <algorithm>
#include <map>
#include <sstream>

#include "kopt/core/generator.hpp"

namespace kopt::core {

namespace {

struct Engine {
  const char* name;
  const char* description;
  bool cuda_only;
  bool needs_compile;
  const char* run;  // body of _kopt_run(self, args), 8-space indented lines
};

// torch.compile engines compile a bound method running the workload's own forward.
#define KOPT_COMPILE_RUN(OPTS)                                                       \
  "        fn = self._kopt_state.get(\"compiled\")\n"                                 \
  "        if fn is None:\n"                                                          \
  "            fn = torch.compile(self._kopt_eager, " OPTS ")\n"                      \
  "            self._kopt_state[\"compiled\"] = fn\n"                                 \
  "        return fn(*args)\n"

// With CUDA graphs (max-autotune, reduce-overhead) every replay writes into the same output
// buffers, so a call's result changes under the caller at the next call: kopt's verifier
// rejects that (measured on the H200, sixteenth session). These engines return a copy.
#define KOPT_COMPILE_RUN_CLONED(OPTS)                                                \
  "        fn = self._kopt_state.get(\"compiled\")\n"                                 \
  "        if fn is None:\n"                                                          \
  "            fn = torch.compile(self._kopt_eager, " OPTS ")\n"                      \
  "            self._kopt_state[\"compiled\"] = fn\n"                                 \
  "        return _kopt_clone(fn(*args))\n"

const Engine kEngines[] = {
    {"compile-default", "torch.compile, default mode", false, true, KOPT_COMPILE_RUN("")},
    // Offered on CUDA at fp32 precision for workloads with matmuls (builtin_strategy_names);
    // on a CPU it runs too (plain fp32 products of the split parts), so it is tested there.
    {"split-tf32", "the eager forward with its fp32 matmuls as 3xTF32 tensor-core products (fp32 accuracy)", false, false,
     "        with _KoptSplitTF32():\n"
     "            return self._kopt_eager(*args)\n"},
    // Autotuned kernels without CUDA graphs first: with them the copy of every output costs
    // more than the graph saves on large outputs (H200: softmax_rows 1.96 ms against
    // compile:default's 0.74, elementwise_chain 1.27 against 0.38).
    {"compile-max-autotune-no-cudagraphs", "torch.compile, mode max-autotune-no-cudagraphs", false, true,
     KOPT_COMPILE_RUN("mode=\"max-autotune-no-cudagraphs\"")},
    {"compile-max-autotune", "torch.compile, mode max-autotune (autotuned kernels, CUDA graphs; outputs copied)", false,
     true, KOPT_COMPILE_RUN_CLONED("mode=\"max-autotune\"")},
    {"compile-fullgraph", "torch.compile with fullgraph=True (one graph, no Python fallbacks)", false, true,
     KOPT_COMPILE_RUN("fullgraph=True")},
    {"compile-static", "torch.compile with dynamic=False (shapes specialised)", false, true,
     KOPT_COMPILE_RUN("dynamic=False")},
    {"cuda-graph", "the eager forward captured into a CUDA graph with static input buffers", true, false,
     "        if _kopt_unsupported(args):\n"
     "            return self._kopt_eager(*args)\n"
     "        key = _kopt_signature(args)\n"
     "        entry = self._kopt_state.get(key)\n"
     "        if entry is None:\n"
     "            entry = self._kopt_capture(args)\n"
     "            self._kopt_state[key] = entry\n"
     "        graph, static, out = entry\n"
     "        for s, a in zip(static, args):\n"
     "            if isinstance(s, torch.Tensor):\n"
     "                s.copy_(a)\n"
     "        graph.replay()\n"
     "        return _kopt_clone(out)\n"},
    {"jit-trace", "torch.jit.trace of the forward, per input signature", false, false,
     "        if _kopt_unsupported(args):\n"
     "            return self._kopt_eager(*args)\n"
     "        key = (\"trace\",) + _kopt_signature(args)\n"
     "        traced = self._kopt_state.get(key)\n"
     "        if traced is None:\n"
     "            # Tracing runs the forward once: BatchNorm statistics and the RNG are\n"
     "            # restored afterwards, so the call that traces behaves like any other.\n"
     "            saved = {k: v.clone() for k, v in self.state_dict().items()}\n"
     "            rng = torch.get_rng_state()\n"
     "            cuda_rng = torch.cuda.get_rng_state() if torch.cuda.is_available() else None\n"
     "            self._kopt_state[\"tracing\"] = True\n"
     "            try:\n"
     "                traced = torch.jit.trace(self, tuple(args), check_trace=False)\n"
     "            finally:\n"
     "                self._kopt_state[\"tracing\"] = False\n"
     "            with torch.no_grad():\n"
     "                for k, v in self.state_dict().items():\n"
     "                    v.copy_(saved[k])\n"
     "            torch.set_rng_state(rng)\n"
     "            if cuda_rng is not None:\n"
     "                torch.cuda.set_rng_state(cuda_rng)\n"
     "            self._kopt_state[key] = traced\n"
     "        return traced(*args)\n"},
    {"compile-reduce-overhead", "torch.compile, mode reduce-overhead (CUDA graphs; outputs copied)", true, true,
     KOPT_COMPILE_RUN_CLONED("mode=\"reduce-overhead\"")},
    {"eager", "the workload's own forward", false, false, "        return self._kopt_eager(*args)\n"},
};

struct Modifier {
  const char* name;
  const char* description;
  const char* setup;  // module-level lines
};

const Modifier kModifiers[] = {
    {"cudnn-benchmark", "cuDNN autotuning (torch.backends.cudnn.benchmark)", "torch.backends.cudnn.benchmark = True\n"},
    {"channels-last", "channels_last memory format for 4-d parameters and inputs", ""},
    {"tf32", "TF32 matmuls and convolutions (allowed by --precision)",
     "torch.backends.cuda.matmul.allow_tf32 = True\ntorch.backends.cudnn.allow_tf32 = True\n"},
};

const Engine* find_engine(const std::string& name) {
  for (const auto& e : kEngines)
    if (name == e.name) return &e;
  return nullptr;
}

const Modifier* find_modifier(const std::string& name) {
  for (const auto& m : kModifiers)
    if (name == m.name) return &m;
  return nullptr;
}

// The workload text as a Python string literal (non-raw triple quotes, escaped).
std::string python_literal(const std::string& text) {
  std::string out = "\"\"\"";
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\r') out += "\\r";
    else if (c == '\0') out += "\\x00";
    else out += c;
  }
  return out + "\"\"\"";
}

std::string python_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

const char* kHelpers = R"PY(

def _kopt_unsupported(args):
    return any(not isinstance(a, (torch.Tensor, int, float, bool, type(None))) for a in args)


def _kopt_signature(args):
    return tuple((tuple(a.shape), a.dtype, str(a.device), a.stride()) if isinstance(a, torch.Tensor)
                 else ("value", repr(a)) for a in args)


def _kopt_clone(out):
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (list, tuple)):
        return type(out)(_kopt_clone(o) for o in out)
    if isinstance(out, dict):
        return {k: _kopt_clone(v) for k, v in out.items()}
    return out
)PY";

// 3xTF32 (prompts/ideas.json, split-tf32; benchmarks/quality/split_tf32_error.py): each
// fp32 operand split into its TF32-truncated part and the remainder; hi@hi + (hi@lo + lo@hi)
// on the tensor cores keeps fp32 accuracy. Through a TorchFunctionMode, so nn.Linear,
// matmul, @, mm, bmm and addmm of any workload are caught without rewriting it.
const char* kSplitTF32 = R"PY(

def _kopt_split(x):
    # The high part truncated to TF32 (two passes over x, where rounding would take three):
    # the error stays at the fp32 product's own (split_tf32_error.py). An infinite input
    # gives inf - inf = NaN in the remainder: kopt's checks reject that on such a workload.
    hi = x.view(torch.int32).bitwise_and(-8192).view(torch.float32)
    return hi, x - hi


def _kopt_split_ok(*tensors):
    return all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in tensors)


def _kopt_3x(op, a, b):
    ah, al = _kopt_split(a)
    bh, bl = _kopt_split(b)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        out = op(ah, bl)
        out += op(al, bh)
        out += op(ah, bh)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return out


class _KoptSplitTF32(torch.overrides.TorchFunctionMode):
    calls = 0  # how many products went through the split (tests read it)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
                    torch.bmm, torch.Tensor.bmm) and len(args) == 2 and not kwargs and _kopt_split_ok(*args):
            _KoptSplitTF32.calls += 1
            return _kopt_3x(torch.matmul, args[0], args[1])
        if func is torch.Tensor.__rmatmul__ and len(args) == 2 and not kwargs and _kopt_split_ok(*args):
            _KoptSplitTF32.calls += 1
            return _kopt_3x(torch.matmul, args[1], args[0])
        if func is torch.nn.functional.linear:
            x, w = args[0], args[1] if len(args) > 1 else kwargs.get("weight")
            b = args[2] if len(args) > 2 else kwargs.get("bias")
            if _kopt_split_ok(x, w) and (b is None or _kopt_split_ok(b)):
                _KoptSplitTF32.calls += 1
                out = _kopt_3x(torch.matmul, x, w.t())
                return out if b is None else out.add_(b)
        if func in (torch.addmm, torch.Tensor.addmm) and len(args) == 3 and _kopt_split_ok(*args) and \
                set(kwargs) <= {"beta", "alpha"}:
            _KoptSplitTF32.calls += 1
            beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
            out = _kopt_3x(torch.mm, args[1], args[2])
            if alpha != 1:
                out.mul_(alpha)
            return out.add_(args[0], alpha=beta) if beta != 0 else out
        return func(*args, **kwargs)
)PY";

const char* kCapture = R"PY(
    def _kopt_capture(self, args):
        # Warm-up runs advance BatchNorm statistics and the RNG: both are restored, so the
        # captured graph starts from the state a plain call would see.
        static = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        saved = {k: v.clone() for k, v in self.state_dict().items()}
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._kopt_eager(*static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self._kopt_eager(*static)
        torch.cuda.synchronize()
        with torch.no_grad():
            for k, v in self.state_dict().items():
                v.copy_(saved[k])
        torch.set_rng_state(rng)
        torch.cuda.set_rng_state(cuda_rng)
        return graph, static, out
)PY";

}  // namespace

std::vector<std::string> builtin_strategy_names(const std::string& device, bool has_conv, const std::string& precision,
                                                bool compile_available, bool has_matmul) {
  const bool cuda = device == "cuda";
  std::vector<std::string> engines, mods;
  for (const auto& e : kEngines) {
    if (std::string(e.name) == "eager") continue;
    // fp32 matmuls on tensor cores: only where there are matmuls, TF32 is off (fp32
    // precision; --precision tf32 has the tf32 modifier) and tensor cores exist.
    if (std::string(e.name) == "split-tf32" && !(cuda && has_matmul && precision == "fp32")) continue;
    if (e.cuda_only && !cuda) continue;
    if (e.needs_compile && !compile_available) continue;
    engines.push_back(e.name);
  }
  if (cuda && has_conv) mods.push_back("cudnn-benchmark");
  if (has_conv) mods.push_back("channels-last");
  if (cuda && precision != "fp32") mods.push_back("tf32");
  // First every engine alone and every modifier over eager, then each engine with each
  // modifier, then with all modifiers together.
  // On the CPU torch.compile is often missing (torch 1.13) or slow to build: try the
  // engines that run everywhere first.
  if (!cuda) std::stable_partition(engines.begin(), engines.end(), [](const std::string& e) { return e == "jit-trace"; });
  std::vector<std::string> names = engines;
  for (const auto& m : mods) names.push_back("eager+" + m);
  for (const auto& e : engines)
    for (const auto& m : mods) names.push_back(e + "+" + m);
  if (mods.size() > 1) {
    for (const auto& e : engines) {
      std::string all = e;
      for (const auto& m : mods) all += "+" + m;
      names.push_back(all);
    }
  }
  return names;
}

Result<std::string> builtin_candidate_source(const std::string& strategy, const std::string& workload_name,
                                             const std::string& workload_source) {
  std::vector<std::string> parts;
  std::stringstream split(strategy);
  for (std::string part; std::getline(split, part, '+');) parts.push_back(part);
  if (parts.empty()) return Failure{"usage", "empty builtin strategy"};
  const Engine* engine = find_engine(parts[0]);
  if (!engine) return Failure{"usage", "unknown builtin engine " + parts[0]};
  std::vector<const Modifier*> mods;
  for (size_t i = 1; i < parts.size(); ++i) {
    const Modifier* m = find_modifier(parts[i]);
    if (!m) return Failure{"usage", "unknown builtin modifier " + parts[i]};
    mods.push_back(m);
  }
  bool channels_last = false;
  for (const auto* m : mods) channels_last = channels_last || std::string(m->name) == "channels-last";

  const std::string file = "<kopt workload " + workload_name + ">";
  std::ostringstream py;
  py << "# kopt builtin candidate: " << strategy << "\n";
  py << "# " << engine->description << "\n";
  for (const auto* m : mods) py << "# + " << m->description << "\n";
  py << "# Self-contained: the workload's source is embedded and executed into its own module;\n"
        "# ModelNew subclasses the workload's Model, so constructor and parameter names match.\n"
        "import linecache as _linecache\nimport sys as _sys\nimport types as _types\n\nimport torch\n\n";
  if (engine->needs_compile)
    py << "if not hasattr(torch, \"compile\"):\n"
          "    raise ImportError(\"torch.compile is not available in torch \" + torch.__version__)\n\n";
  if (engine->cuda_only)
    py << "if not torch.cuda.is_available():\n    raise ImportError(\"" << engine->name << " needs CUDA\")\n\n";
  py << "_KOPT_WORKLOAD_FILE = " << python_string(file) << "\n";
  py << "_KOPT_WORKLOAD_SOURCE = " << python_literal(workload_source) << "\n";
  py << "_linecache.cache[_KOPT_WORKLOAD_FILE] = (len(_KOPT_WORKLOAD_SOURCE), None,\n"
        "                                        _KOPT_WORKLOAD_SOURCE.splitlines(True), _KOPT_WORKLOAD_FILE)\n"
        "workload = _types.ModuleType(\"kopt_embedded_workload\")\n"
        "workload.__file__ = _KOPT_WORKLOAD_FILE\n"
        "_sys.modules[\"kopt_embedded_workload\"] = workload\n"
        "exec(compile(_KOPT_WORKLOAD_SOURCE, _KOPT_WORKLOAD_FILE, \"exec\"), workload.__dict__)\n"
        "Model = workload.Model\nget_inputs = workload.get_inputs\nget_init_inputs = workload.get_init_inputs\n\n";
  for (const auto* m : mods) py << m->setup;
  py << kHelpers << "\n\nclass ModelNew(Model):\n"
     << "    def __init__(self, *args, **kwargs):\n"
     << "        super().__init__(*args, **kwargs)\n"
     << "        self._kopt_state = {}  # a plain dict: not registered, not in the state_dict\n\n"
     << "    def _kopt_eager(self, *args):\n"
     << "        return Model.forward(self, *args)\n\n"
     << "    def forward(self, *args):\n"
     << "        if self._kopt_state.get(\"tracing\"):\n"
     << "            return Model.forward(self, *args)\n";
  if (channels_last) {
    py << "        if not self._kopt_state.get(\"channels_last\"):\n"
          "            self.to(memory_format=torch.channels_last)\n"
          "            self._kopt_state[\"channels_last\"] = True\n"
          "        args = tuple(a.contiguous(memory_format=torch.channels_last)\n"
          "                     if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)\n";
  }
  py << "        return self._kopt_run(args)\n\n"
     << "    def _kopt_run(self, args):\n"
     << engine->run;
  if (std::string(engine->name) == "cuda-graph") py << kCapture;
  if (std::string(engine->name) == "split-tf32") py << kSplitTF32;
  return py.str();
}

}  // namespace kopt::core
