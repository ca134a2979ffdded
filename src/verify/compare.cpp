#include "kopt/verify/compare.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace kopt::verify {

void merge_figures(ErrorFigures& g, const ErrorFigures& f) {
  if (f.norm_ratio >= g.norm_ratio) {
    g.norm_error = f.norm_error;
    g.norm_ref_error = f.norm_ref_error;
    g.norm_bound = f.norm_bound;
    g.norm_ratio = f.norm_ratio;
  }
  if (f.elem_ratio >= g.elem_ratio) {
    g.elem_ratio = f.elem_ratio;
    g.max_abs_error = f.max_abs_error;
    g.max_ref_abs_error = f.max_ref_abs_error;
  }
  g.elements_over += f.elements_over;
  g.elements_compared += f.elements_compared;
  g.ties += f.ties;
  g.fp32_fallback = g.fp32_fallback || f.fp32_fallback;
}

double unit_roundoff(const std::string& name) {
  if (name == "float64") return std::ldexp(1.0, -53);
  if (name == "float16" || name == "fp16" || name == "tf32") return std::ldexp(1.0, -11);
  if (name == "bfloat16" || name == "bf16") return std::ldexp(1.0, -8);
  return std::ldexp(1.0, -24);  // float32 / fp32
}

namespace {

at::ScalarType scalar_type(const std::string& dtype) {
  if (dtype == "float32") return at::kFloat;
  if (dtype == "float64") return at::kDouble;
  if (dtype == "float16") return at::kHalf;
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "int8") return at::kChar;
  if (dtype == "uint8") return at::kByte;
  if (dtype == "int16") return at::kShort;
  if (dtype == "int32") return at::kInt;
  if (dtype == "int64") return at::kLong;
  return at::kBool;
}

// A tensor's elements, flat: a view of its bytes in memory (no copy; read only), or,
// for a tensor streamed into a Spill, its place there (read a chunk at a time).
struct Flat {
  at::Tensor mem;
  const TensorData* file = nullptr;
  at::ScalarType type = at::kFloat;
  int64_t n = 0;
  Flat(at::Tensor t) : mem(std::move(t)), type(mem.scalar_type()), n(mem.numel()) {}  // NOLINT: implicit
  Flat(const TensorData* f, at::ScalarType st, int64_t numel) : file(f), type(st), n(numel) {}
  int64_t numel() const { return n; }
  at::ScalarType scalar_type() const { return type; }
};

Flat flat_view(const TensorData& t) {
  if (!t.in_memory()) {
    if (!t.spill) throw std::runtime_error("a tensor kept only as its digest cannot be compared");
    return Flat(&t, scalar_type(t.dtype), t.numel());
  }
  return Flat(at::from_blob(const_cast<char*>(t.bytes().data()), {t.numel()},
                            at::TensorOptions().dtype(scalar_type(t.dtype))));
}

// Outputs of hundreds of megabytes are compared a chunk at a time: each chunk of the
// three tensors is converted into buffers that are reused, and the figures are
// accumulated in plain loops. Whole-tensor temporaries cost a page fault per 4 KiB each
// time (glibc maps blocks over 32 MiB afresh): before this, page faults were most of a
// large workload's verification time (docs/benchmarks.md).
// The conversion is a plain loop too, not libtorch's copy_: copy_ hands every chunk of
// 64 Ki elements to the OpenMP pool, whose threads (one per core) must all wake for each
// one. On busy 64-core GPU hosts that made 10 trials of an 8 M-element output take
// 148-175 s; with plain loops they took 7.3 s on an H200 host (docs/benchmarks.md,
// "Verification on a busy host").
constexpr int64_t kChunk = int64_t{1} << 16;

template <typename T, typename S>
void convert(const void* from, int64_t begin, int64_t len, T* to) {
  const S* src = static_cast<const S*>(from) + begin;
  for (int64_t i = 0; i < len; ++i) to[i] = static_cast<T>(src[i]);
}

template <typename T>
void convert(const Flat& flat, int64_t begin, int64_t len, T* to, std::vector<char>& staging) {
  const void* p = nullptr;
  if (flat.file) {
    // From the spill: this chunk's bytes into a staging buffer, converted from there.
    const size_t es = c10::elementSize(flat.type);
    staging.resize(static_cast<size_t>(len) * es);
    if (auto st = flat.file->read(static_cast<size_t>(begin) * es, staging.size(), staging.data()); !st)
      throw std::runtime_error(st.failure().message);
    p = staging.data();
    begin = 0;
  } else {
    p = flat.mem.data_ptr();
  }
  const at::Tensor& from = flat.mem;
  switch (flat.type) {
    case at::kFloat: return convert<T, float>(p, begin, len, to);
    case at::kDouble: return convert<T, double>(p, begin, len, to);
    case at::kHalf: return convert<T, c10::Half>(p, begin, len, to);
    case at::kBFloat16: return convert<T, c10::BFloat16>(p, begin, len, to);
    case at::kChar: return convert<T, int8_t>(p, begin, len, to);
    case at::kByte: return convert<T, uint8_t>(p, begin, len, to);
    case at::kShort: return convert<T, int16_t>(p, begin, len, to);
    case at::kInt: return convert<T, int32_t>(p, begin, len, to);
    case at::kLong: return convert<T, int64_t>(p, begin, len, to);
    case at::kBool: {  // read as bytes: a byte other than 0 or 1 (from an untrusted worker) is true
      const uint8_t* src = static_cast<const uint8_t*>(p) + begin;
      for (int64_t i = 0; i < len; ++i) to[i] = static_cast<T>(src[i] != 0);
      return;
    }
    default: {  // no dtype kopt decodes lands here; libtorch converts anything else
      if (!from.defined()) throw std::runtime_error("unsupported dtype in a spilled tensor");
      at::from_blob(to, {len}, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value))
          .copy_(from.narrow(0, begin, len));
    }
  }
}

template <typename T, size_t N>
class Chunks {
 public:
  explicit Chunks(std::array<Flat, N> flat) : m_flat(std::move(flat)) {
    const int64_t n = std::min(kChunk, std::max<int64_t>(m_flat[0].numel(), 1));
    for (auto& b : m_buf) b.resize(static_cast<size_t>(n));
  }
  int64_t size() const { return m_flat[0].numel(); }
  // Loads elements [begin, begin + len) of each tensor; len <= kChunk.
  void load(int64_t begin, int64_t len) {
    for (size_t k = 0; k < N; ++k) convert<T>(m_flat[k], begin, len, m_buf[k].data(), m_staging);
  }
  const T* data(size_t k) const { return m_buf[k].data(); }

 private:
  std::array<Flat, N> m_flat;
  std::array<std::vector<T>, N> m_buf;
  std::vector<char> m_staging;
};

// Calls fn(p_0, ..., p_{N-1}, len) for each chunk, p_k pointing at tensor k's elements.
template <typename T, size_t N, typename Fn>
void for_chunks(Chunks<T, N>& chunks, Fn&& fn) {
  for (int64_t begin = 0; begin < chunks.size(); begin += kChunk) {
    const int64_t len = std::min(kChunk, chunks.size() - begin);
    chunks.load(begin, len);
    std::array<const T*, N> data;
    for (size_t k = 0; k < N; ++k) data[k] = chunks.data(k);
    std::apply([&](auto... p) { fn(p..., len); }, data);
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + "]";
}

std::string fmt_g(double x) {
  std::ostringstream os;
  os.precision(3);
  os << x;
  return os.str();
}

struct Walker {
  const CompareOptions& opt;
  Comparison result;
  std::string path;

  void fail(const std::string& check, const std::string& detail) {
    if (!result.ok) return;
    result.ok = false;
    result.check = check;
    result.detail = (path.empty() ? std::string("output") : "output" + path) + ": " + detail;
  }

  void merge(const ErrorFigures& f) { merge_figures(result.figures, f); }

  // Masks, per element: which elements are compared, and which break the rules on
  // non-finite values. The fp64 reference stands in where the fp32 one overflowed.
  struct Element {
    bool compared = false;
    double r32m = 0;  // the fp32 reference, or the fp64 one where fp32 overflowed
  };

  struct FiniteCounts {
    int64_t stress_bad = 0, bad_finite = 0, bad_nan = 0, bad_inf = 0;
  };

  Element classify(double c, double r32, double r64, FiniteCounts* counts) const {
    const bool fin32 = std::isfinite(r32), fin64 = std::isfinite(r64), finc = std::isfinite(c);
    Element e;
    if (opt.stress) {
      if (counts && fin32 && fin64 && !finc) ++counts->stress_bad;
      e.compared = fin32 && fin64 && finc;
    } else {
      const bool inf32 = std::isinf(r32);
      const bool overflow_ok = inf32 && fin64 && finc;
      if (counts) {
        if (fin32 && !finc) ++counts->bad_finite;
        if (std::isnan(r32) && !std::isnan(c)) ++counts->bad_nan;
        if (inf32 && !(c == r32) && !overflow_ok) ++counts->bad_inf;
      }
      e.compared = (fin32 || overflow_ok) && fin64 && finc;
    }
    e.r32m = fin32 ? r32 : r64;
    return e;
  }

  // c, r32, r64: flat tensors of any floating dtype, the same length.
  void floating(const Flat& c, const Flat& r32, const Flat& r64_in, double u_out) {
    const Flat r64 = opt.fp32_only ? r32 : r64_in;
    Chunks<double, 3> chunks({c, r32, r64});
    // Pass 1: the rules on non-finite values, and the sums and maxima of the figures.
    FiniteCounts counts;
    ErrorFigures f;
    double d2 = 0, e2 = 0, ref2 = 0, max_r = 0;
    for_chunks(chunks, [&](const double* cp, const double* ap, const double* bp, int64_t len) {
      double cd2 = 0, ce2 = 0, cref2 = 0;
      for (int64_t i = 0; i < len; ++i) {
        const auto el = classify(cp[i], ap[i], bp[i], &counts);
        if (!el.compared) continue;
        ++f.elements_compared;
        const double d = std::fabs(cp[i] - bp[i]), e = std::fabs(el.r32m - bp[i]);
        cd2 += d * d;
        ce2 += e * e;
        cref2 += bp[i] * bp[i];
        f.max_abs_error = std::max(f.max_abs_error, d);
        f.max_ref_abs_error = std::max(f.max_ref_abs_error, e);
        max_r = std::max(max_r, std::fabs(bp[i]));
      }
      d2 += cd2;
      e2 += ce2;
      ref2 += cref2;
    });
    const int64_t n = chunks.size();
    if (opt.stress && counts.stress_bad > 0)
      return fail("finite", std::to_string(counts.stress_bad) + " non-finite elements where both references are finite");
    if (counts.bad_finite > 0)
      return fail("finite", std::to_string(counts.bad_finite) + " of " + std::to_string(n) +
                                " elements are NaN or Inf where the reference is finite");
    if (counts.bad_nan > 0)
      return fail("finite", std::to_string(counts.bad_nan) + " elements are not NaN where the reference is NaN");
    if (counts.bad_inf > 0)
      return fail("finite", std::to_string(counts.bad_inf) + " elements differ where the reference is infinite");
    if (f.elements_compared == 0) return merge(f);
    const double u_p = std::max(u_out, unit_roundoff(opt.precision));
    const double scale = u_p / u_out;
    f.norm_error = std::sqrt(d2);
    f.norm_ref_error = std::sqrt(e2);
    const double ref_norm = std::sqrt(ref2);
    // The elementwise limit of an element is a + b * |r64|.
    double a = 0, b = 0;
    if (f.max_ref_abs_error == 0.0 || opt.fp32_only) {
      // No measured reference error (the fp64 run did not differ, or is not comparable):
      // an explicit tolerance in units of the output's roundoff.
      f.fp32_fallback = true;
      f.norm_bound = 1024.0 * u_p * ref_norm;
      a = 256.0 * u_p * max_r;
      b = 256.0 * u_p;
    } else {
      // Calibrated on the honest corpus (docs/benchmarks.md, "Tolerance margins"): torch's
      // float32 sum is far more accurate than an honest BLAS reordering of the same sum,
      // whose worst element measured up to 1.17x a 16x elementwise limit; hence 64x
      // elementwise. Stress trials (all-positive shifted sums) widen the normwise gap too.
      // One wrong element and bf16/fp16 compute still measure 8x-400x beyond these.
      const double k_norm = opt.stress ? 64.0 : 16.0;
      const double k_elem = 64.0;
      f.norm_bound = std::max(k_norm * scale * f.norm_ref_error, 64.0 * u_p * ref_norm);
      a = k_elem * scale * f.max_ref_abs_error;
      b = k_elem * u_p;
    }
    // Pass 2: each element against its limit. Exact zeros on both sides give 0 <= 0:
    // the ratio's divisor is kept above zero. A NaN ratio (inf / inf) is the worst.
    bool nan_ratio = false;
    for_chunks(chunks, [&](const double* cp, const double* ap, const double* bp, int64_t len) {
      for (int64_t i = 0; i < len; ++i) {
        if (!classify(cp[i], ap[i], bp[i], nullptr).compared) continue;
        const double d = std::fabs(cp[i] - bp[i]);
        const double limit = a + b * std::fabs(bp[i]);
        const double ratio = d / std::max(limit, std::numeric_limits<double>::min());
        if (std::isnan(ratio)) nan_ratio = true;
        else f.elem_ratio = std::max(f.elem_ratio, ratio);
        if (d > limit) ++f.elements_over;
      }
    });
    if (nan_ratio) f.elem_ratio = std::numeric_limits<double>::quiet_NaN();
    f.norm_ratio = f.norm_bound > 0 ? f.norm_error / f.norm_bound : (f.norm_error > 0 ? INFINITY : 0.0);
    merge(f);
    if (f.norm_ratio > 1.0)
      return fail("normwise", "normwise error " + fmt_g(f.norm_error) + " exceeds the limit " +
                                  fmt_g(f.norm_bound) + " (" + fmt_g(f.norm_ratio) + "x; fp32 reference error " +
                                  fmt_g(f.norm_ref_error) + ")");
    if (f.elements_over > 0)
      return fail("elementwise", std::to_string(f.elements_over) + " of " + std::to_string(f.elements_compared) +
                                     " elements beyond the elementwise limit (worst " + fmt_g(f.elem_ratio) +
                                     "x the limit, max abs error " + fmt_g(f.max_abs_error) + ")");
  }

  // In int64, not double: int64 values above 2^53 that differ by one must not compare equal.
  void exact(const Flat& c, const Flat& r32, const Flat& r64) {
    ErrorFigures f;
    Chunks<int64_t, 3> chunks({c, r32, opt.fp32_only ? r32 : r64});
    f.elements_compared = chunks.size();
    int64_t wrong = 0;
    for_chunks(chunks, [&](const int64_t* cp, const int64_t* ap, const int64_t* bp, int64_t len) {
      for (int64_t i = 0; i < len; ++i) {
        if (cp[i] == ap[i]) continue;
        if (ap[i] != bp[i]) ++f.ties;  // the references disagree: a tie
        else ++wrong;
      }
    });
    f.elements_over = wrong;
    merge(f);
    if (wrong > 0) return fail("exact", std::to_string(wrong) + " of " + std::to_string(c.numel()) + " integer elements differ");
    if (f.ties > 0 && !opt.allow_ties)
      return fail("tie", std::to_string(f.ties) + " integer elements differ at ties (where the fp32 and fp64 references disagree); --allow-ties accepts them");
  }

  void tensor(const TensorData& c, const TensorData& r32, const TensorData& r64) {
    if (c.dtype != r32.dtype) return fail("dtype", "dtype " + c.dtype + ", expected " + r32.dtype);
    if (c.shape != r32.shape) return fail("shape", "shape " + shape_text(c.shape) + ", expected " + shape_text(r32.shape));
    if (c.device != r32.device) return fail("device", "device " + c.device + ", expected " + r32.device);
    if (r64.shape != r32.shape) return fail("structure", "reference runs disagree on the shape");
    if (is_floating(c.dtype)) {
      floating(flat_view(c), flat_view(r32), flat_view(r64), unit_roundoff(c.dtype));
    } else {
      exact(flat_view(c), flat_view(r32), flat_view(r64));
    }
  }

  void value(const Value& c, const Value& r32, const Value& r64) {
    if (!result.ok) return;
    using K = Value::Kind;
    if (c.kind != r32.kind) return fail("structure", describe(c) + ", expected " + describe(r32));
    switch (c.kind) {
      case K::none: return;
      case K::boolean:
        if (c.b != r32.b) fail("exact", "bool differs");
        return;
      case K::integer:
        if (c.i != r32.i) fail("exact", "int " + std::to_string(c.i) + ", expected " + std::to_string(r32.i));
        return;
      case K::string:
        if (c.s != r32.s) fail("exact", "string differs");
        return;
      case K::floating: {
        const double r64f = r64.kind == K::floating ? r64.f : r32.f;
        floating(at::full({1}, c.f, at::kDouble), at::full({1}, r32.f, at::kDouble),
                 at::full({1}, r64f, at::kDouble), unit_roundoff("float32"));
        return;
      }
      case K::list:
      case K::tuple:
      case K::dict: {
        if (c.items.size() != r32.items.size())
          return fail("structure", std::to_string(c.items.size()) + " items, expected " + std::to_string(r32.items.size()));
        for (size_t k = 0; k < c.keys.size(); ++k)
          if (!identical(c.keys[k], r32.keys[k])) return fail("structure", "dict keys differ");
        const bool r64_ok = r64.kind == c.kind && r64.items.size() == c.items.size();
        const std::string saved = path;
        for (size_t k = 0; k < c.items.size() && result.ok; ++k) {
          path = saved + "[" + std::to_string(k) + "]";
          value(c.items[k], r32.items[k], r64_ok ? r64.items[k] : r32.items[k]);
        }
        path = saved;
        return;
      }
      case K::tensor:
        return tensor(c.tensor, r32.tensor, r64.kind == K::tensor ? r64.tensor : r32.tensor);
    }
  }
};

}  // namespace

Comparison compare_outputs(const Value& candidate, const Value& ref32, const Value& ref64,
                           const CompareOptions& options) {
  Walker walker{options, {}, {}};
  try {
    walker.value(candidate, ref32, ref64);
  } catch (const std::exception& e) {
    walker.fail("structure", std::string("cannot compare: ") + e.what());
  }
  return walker.result;
}

void output_sanity(const Value& v, bool& all_zero, bool& constant) {
  std::vector<const TensorData*> tensors;
  collect_tensors(v, tensors);
  bool any_float = false;
  all_zero = true;
  constant = true;
  for (const auto* t : tensors) {
    if (t->numel() == 0) continue;
    Chunks<double, 1> chunks({flat_view(*t)});
    int64_t finite = 0;
    double lo = INFINITY, hi = -INFINITY, max_abs = 0;
    for_chunks(chunks, [&](const double* x, int64_t len) {
      for (int64_t i = 0; i < len; ++i) {
        if (!std::isfinite(x[i])) continue;
        ++finite;
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        max_abs = std::max(max_abs, std::fabs(x[i]));
      }
    });
    if (finite == 0) continue;
    any_float = true;
    if (max_abs != 0.0) all_zero = false;
    if (hi - lo > 1e-6 * std::max(max_abs, 1e-30) && finite > 1) constant = false;
  }
  if (!any_float) {
    all_zero = false;
    constant = false;
  }
}

}  // namespace kopt::verify
