#include "core/eval/stream.hpp"

#include "kopt/util/json.hpp"

namespace kopt::core {

using verify::TensorData;
using verify::Value;

namespace {

void mutable_tensors(Value& v, std::vector<TensorData*>& out) {
  if (v.kind == Value::Kind::tensor) out.push_back(&v.tensor);
  for (auto& item : v.items) mutable_tensors(item, out);
}

// One tensor's bytes from the chunk frames that carry them.
Status receive_tensor(sandbox::Worker& worker, TensorData& t, Keep keep, const std::shared_ptr<verify::Spill>& spill,
                      std::chrono::steady_clock::time_point deadline) {
  verify::Digest digest(verify::digest_key());
  // In memory while the trial's budget lasts, else in the spill file.
  std::string bytes;
  const bool in_memory = keep == Keep::spill && spill && spill->claim(t.size);
  if (in_memory) {
    bytes.reserve(t.size);
  } else if (keep == Keep::spill) {
    if (!spill) return Failure{"io", "no spill file"};
    t.spill = spill;
    t.file_offset = spill->reserve(t.size);
  }
  size_t got = 0;
  while (got < t.size) {
    auto frame = worker.receive(deadline);
    if (!frame) return frame.failure();
    const auto& h = frame->header;
    const auto chunk = h.find("chunk");
    if (chunk == h.end() || !chunk->is_boolean() || !chunk->get<bool>())
      return Failure{"protocol", "expected a chunk of tensor bytes, got another frame"};
    const size_t n = frame->payload.size();
    if (n == 0 || n > t.size - got || n > kChunkBytes)
      return Failure{"protocol", "a chunk of " + std::to_string(n) + " bytes where " + std::to_string(t.size - got) +
                                     " were due (chunks hold at most " + std::to_string(kChunkBytes) + ")"};
    digest.update(frame->payload.data(), n);
    if (in_memory)
      bytes.append(frame->payload.data(), n);
    else if (keep == Keep::spill)
      if (auto st = spill->write(t.file_offset + got, frame->payload.data(), n); !st) return st;
    got += n;
  }
  t.digest = digest.finish();
  if (in_memory) t.set_bytes(std::move(bytes));
  return Status{};
}

}  // namespace

Result<std::map<std::string, Value>> receive_values(sandbox::Worker& worker, const nlohmann::json& header,
                                                    const std::vector<std::pair<std::string, Keep>>& fields,
                                                    const std::shared_ptr<verify::Spill>& spill,
                                                    std::chrono::steady_clock::time_point deadline) {
  std::map<std::string, Value> out;
  if (!header.is_object()) return Failure{"protocol", "reply header is not an object"};
  // Every tree first, as the sender wrote them; then the bytes, in the same order.
  std::vector<std::pair<TensorData*, Keep>> order;
  for (const auto& [name, keep] : fields) {
    if (!header.contains(name)) continue;
    auto v = verify::decode_spec(util::json_field(header, name.c_str()));
    if (!v) return v.failure();
    out[name] = std::move(v.value());
  }
  for (const auto& [name, keep] : fields) {
    auto it = out.find(name);
    if (it == out.end()) continue;
    std::vector<TensorData*> tensors;
    mutable_tensors(it->second, tensors);
    for (auto* t : tensors) order.emplace_back(t, keep);
  }
  for (auto& [t, keep] : order)
    if (auto st = receive_tensor(worker, *t, keep, spill, deadline); !st) return st.failure();
  return out;
}

Status send_values(sandbox::Worker& worker, nlohmann::json header,
                   const std::vector<std::pair<std::string, const Value*>>& values,
                   std::chrono::steady_clock::time_point deadline) {
  std::vector<const TensorData*> tensors;
  for (const auto& [name, v] : values) header[name] = verify::encode_spec(*v, tensors);
  header["stream"] = true;
  if (auto st = worker.send(sandbox::Message{std::move(header), {}}, deadline); !st) return st;
  sandbox::Message chunk{{{"chunk", true}}, {}};
  for (const auto* t : tensors) {
    for (size_t from = 0; from < t->size; from += kChunkBytes) {
      chunk.payload.resize(std::min(kChunkBytes, t->size - from));
      if (auto st = t->read(from, chunk.payload.size(), chunk.payload.data()); !st) return st;
      if (auto st = worker.send(chunk, deadline); !st) return st;
    }
  }
  return Status{};
}

}  // namespace kopt::core
