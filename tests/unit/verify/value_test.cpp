#include "kopt/verify/value.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>

namespace {

using kopt::verify::decode_value;
using kopt::verify::describe;
using kopt::verify::encode_value;
using kopt::verify::identical;
using kopt::verify::TensorData;
using kopt::verify::Value;
using K = Value::Kind;
using json = nlohmann::json;
using kopt::Result;

Value scalar_int(int64_t i) {
  Value v;
  v.kind = K::integer;
  v.i = i;
  return v;
}

Value scalar_float(double f) {
  Value v;
  v.kind = K::floating;
  v.f = f;
  return v;
}

Value text(const std::string& s) {
  Value v;
  v.kind = K::string;
  v.s = s;
  return v;
}

Value flag(bool b) {
  Value v;
  v.kind = K::boolean;
  v.b = b;
  return v;
}

Value seq(K kind, std::vector<Value> items) {
  Value v;
  v.kind = kind;
  v.items = std::move(items);
  return v;
}

Value dict(std::vector<Value> keys, std::vector<Value> items) {
  Value v;
  v.kind = K::dict;
  v.keys = std::move(keys);
  v.items = std::move(items);
  return v;
}

template <typename T>
Value tensor(const std::string& dtype, std::vector<int64_t> shape, const std::vector<T>& data) {
  Value v;
  v.kind = K::tensor;
  v.tensor.dtype = dtype;
  v.tensor.shape = std::move(shape);
  v.tensor.device = "cpu";
  v.tensor.set_bytes(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(T)));
  return v;
}

Value nested() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return seq(K::tuple,
             {tensor<float>("float32", {2, 3}, {1, 2, 3, 4, nan, -0.0f}),
              dict({text("logits"), text("extra")},
                   {tensor<int64_t>("int64", {4}, {7, -1, 0, 1ll << 40}),
                    seq(K::list, {scalar_int(3), scalar_float(std::nan("")),
                                  scalar_float(-std::numeric_limits<double>::infinity()), Value{}, flag(true)})}),
              text("hi"), scalar_float(0.25), tensor<double>("float64", {}, {2.5})});
}

Result<Value> round_trip(const Value& v, std::string* payload_out = nullptr) {
  std::string payload;
  const json j = encode_value(v, payload);
  // Through text, as over the wire.
  const json parsed = json::parse(j.dump());
  size_t offset = 0;
  auto decoded = decode_value(parsed, payload, offset);
  EXPECT_EQ(offset, payload.size());
  if (payload_out) *payload_out = payload;
  return decoded;
}

json tensor_json(const std::string& dtype, std::vector<int64_t> shape, uint64_t nbytes) {
  return {{"t", "tensor"}, {"dtype", dtype}, {"shape", shape}, {"nbytes", nbytes}};
}

TEST(value, nested_values_survive_an_encode_decode_round_trip) {
  const Value original = nested();
  std::string payload;
  auto decoded = round_trip(original, &payload);
  ASSERT_TRUE(decoded.ok()) << decoded.failure().message;
  EXPECT_TRUE(identical(*decoded, original));
  EXPECT_EQ(payload.size(), 6 * 4 + 4 * 8 + 8u);
  EXPECT_EQ(describe(*decoded), describe(original));
  EXPECT_EQ(decoded->items[1].keys[0].s, "logits");
  EXPECT_TRUE(std::isnan(decoded->items[1].items[1].items[1].f));
  EXPECT_EQ(decoded->items[1].items[1].items[2].f, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(decoded->items[4].tensor.numel(), 1);
}

TEST(value, tensors_take_their_bytes_from_the_payload_in_order) {
  const std::string payload = "AAAABBBBBBBBCC";
  const json j = {{"t", "list"},
                  {"items", {tensor_json("float32", {1}, 4), tensor_json("int64", {1}, 8), tensor_json("int16", {1}, 2)}}};
  size_t offset = 0;
  auto v = decode_value(j, payload, offset);
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(v->items[0].tensor.bytes(), "AAAA");
  EXPECT_EQ(v->items[1].tensor.bytes(), "BBBBBBBB");
  EXPECT_EQ(v->items[2].tensor.bytes(), "CC");
  EXPECT_EQ(v->items[0].tensor.device, "cpu");  // the default
  EXPECT_EQ(offset, payload.size());
}

TEST(value, a_shared_payload_is_sliced_where_aligned_and_copied_where_not) {
  // 8 bytes at 0 (shared), 2 at 8 (shared: 8 is aligned), 4 at 10 (copied: unaligned).
  auto payload = std::make_shared<const std::string>("AAAAAAAABBCCCC");
  const json j = {{"t", "list"},
                  {"items", {tensor_json("float64", {1}, 8), tensor_json("int16", {1}, 2), tensor_json("float32", {1}, 4)}}};
  size_t offset = 0;
  auto v = decode_value(j, payload, offset);
  ASSERT_TRUE(v.ok()) << v.failure().message;
  EXPECT_EQ(offset, payload->size());
  EXPECT_EQ(v->items[0].tensor.storage, payload);
  EXPECT_EQ(v->items[1].tensor.storage, payload);
  EXPECT_NE(v->items[2].tensor.storage, payload);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v->items[2].tensor.bytes().data()) % 8, 0u);
  payload.reset();  // the values keep what they share alive
  EXPECT_EQ(v->items[0].tensor.bytes(), "AAAAAAAA");
  EXPECT_EQ(v->items[1].tensor.bytes(), "BB");
  EXPECT_EQ(v->items[2].tensor.bytes(), "CCCC");
  // Shared or copied, the same payload decodes to identical values.
  std::string plain = "AAAAAAAABBCCCC";
  size_t at = 0;
  auto copied = decode_value(j, plain, at);
  ASSERT_TRUE(copied.ok());
  EXPECT_TRUE(identical(*copied, *v));
}

TEST(value, an_own_copy_holds_only_its_tensors_bytes) {
  auto payload = std::make_shared<const std::string>("AAAAAAAABBBBBBBB");
  const json j = {{"t", "list"}, {"items", {tensor_json("float64", {1}, 8), tensor_json("int64", {1}, 8)}}};
  size_t offset = 0;
  auto v = decode_value(j, payload, offset);
  ASSERT_TRUE(v.ok()) << v.failure().message;
  const Value kept = kopt::verify::own_copy(v->items[1]);
  EXPECT_NE(kept.tensor.storage, payload);
  EXPECT_EQ(kept.tensor.storage->size(), 8u);
  EXPECT_EQ(kept.tensor.bytes(), "BBBBBBBB");
  EXPECT_TRUE(identical(kept, v->items[1]));
  EXPECT_EQ(payload.use_count(), 3);  // `payload` and the two decoded tensors, not the copy
}

TEST(value, a_shared_payload_too_short_for_its_tensors_is_a_failure) {
  auto payload = std::make_shared<const std::string>("AAAA");
  size_t offset = 0;
  EXPECT_FALSE(decode_value(tensor_json("float64", {1}, 8), payload, offset).ok());
  offset = 0;
  EXPECT_FALSE(decode_value(tensor_json("float32", {1}, 4), std::shared_ptr<const std::string>(), offset).ok());
}

TEST(value, a_byte_count_that_does_not_match_dtype_and_shape_is_a_failure) {
  const std::string payload(64, '\0');
  for (const json& j : {tensor_json("float32", {2, 3}, 20), tensor_json("float32", {2, 3}, 28),
                        tensor_json("float64", {4}, 16), tensor_json("bool", {0}, 1)}) {
    size_t offset = 0;
    auto v = decode_value(j, payload, offset);
    ASSERT_FALSE(v.ok()) << j.dump();
    EXPECT_EQ(v.failure().kind, "protocol");
  }
}

TEST(value, a_byte_count_that_wraps_around_is_a_failure) {
  // 2^61 float64 elements are 2^64 bytes, which wraps to 0 in 64 bits.
  size_t offset = 0;
  auto v = decode_value(tensor_json("float64", {int64_t{1} << 61}, 0), "", offset);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.failure().kind, "protocol");
}

TEST(value, tensor_bytes_beyond_the_payload_are_a_failure) {
  const std::string payload(10, 'x');
  size_t offset = 0;
  auto v = decode_value(tensor_json("float32", {3}, 12), payload, offset);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.failure().kind, "protocol");
  EXPECT_NE(v.failure().message.find("beyond the payload"), std::string::npos);

  // The second tensor overruns what the first left.
  const json j = {{"t", "tuple"}, {"items", {tensor_json("int32", {2}, 8), tensor_json("int32", {1}, 4)}}};
  offset = 0;
  auto second = decode_value(j, payload, offset);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.failure().kind, "protocol");

  // A huge nbytes must not wrap around the offset.
  offset = 8;
  auto huge = decode_value(tensor_json("float64", {(int64_t{1} << 61) - 1}, std::numeric_limits<uint64_t>::max() - 7), payload, offset);
  ASSERT_FALSE(huge.ok());
}

TEST(value, malformed_values_are_protocol_failures) {
  const std::string payload(16, '\0');
  for (const json& j : {json(3), json::object(), json{{"t", 5}}, json{{"t", "complex"}},
                        json{{"t", "int"}, {"v", "3"}}, json{{"t", "int"}}, json{{"t", "bool"}, {"v", 1}},
                        json{{"t", "float"}, {"v", "NaN!"}}, json{{"t", "list"}, {"items", 3}},
                        json{{"t", "dict"}, {"keys", json::array({{{"t", "str"}, {"v", "a"}}})}, {"items", json::array()}},
                        json{{"t", "tensor"}, {"dtype", "float8"}, {"shape", {1}}, {"nbytes", 1}},
                        json{{"t", "tensor"}, {"dtype", "float32"}, {"shape", {-1}}, {"nbytes", 4}},
                        json{{"t", "tensor"}, {"dtype", "float32"}, {"nbytes", 4}},
                        json{{"t", "list"}, {"items", {{{"t", "none"}}, {{"t", "what"}}}}}}) {
    size_t offset = 0;
    auto v = decode_value(j, payload, offset);
    ASSERT_FALSE(v.ok()) << j.dump();
    EXPECT_EQ(v.failure().kind, "protocol") << j.dump();
  }
}

TEST(value, special_floats_travel_as_strings) {
  std::string payload;
  EXPECT_EQ(encode_value(scalar_float(std::nan("")), payload)["v"], "nan");
  EXPECT_EQ(encode_value(scalar_float(INFINITY), payload)["v"], "inf");
  EXPECT_EQ(encode_value(scalar_float(-INFINITY), payload)["v"], "-inf");
  EXPECT_EQ(encode_value(scalar_float(1.5), payload)["v"], 1.5);
  EXPECT_TRUE(payload.empty());
}

TEST(value, identical_compares_structure_and_bytes) {
  EXPECT_TRUE(identical(nested(), nested()));
  EXPECT_TRUE(identical(scalar_float(std::nan("")), scalar_float(std::nan(""))));
  EXPECT_FALSE(identical(scalar_float(0.0), scalar_float(1e-300)));
  EXPECT_FALSE(identical(scalar_int(1), scalar_float(1.0)));
  EXPECT_FALSE(identical(seq(K::list, {scalar_int(1)}), seq(K::tuple, {scalar_int(1)})));
  EXPECT_FALSE(identical(seq(K::list, {scalar_int(1)}), seq(K::list, {scalar_int(1), scalar_int(2)})));
  EXPECT_FALSE(identical(dict({text("a")}, {scalar_int(1)}), dict({text("b")}, {scalar_int(1)})));
  EXPECT_FALSE(identical(text("a"), text("b")));
  EXPECT_FALSE(identical(flag(true), flag(false)));

  const Value a = tensor<float>("float32", {2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(identical(a, tensor<float>("float32", {2, 2}, {1, 2, 3, 4})));
  EXPECT_FALSE(identical(a, tensor<float>("float32", {4}, {1, 2, 3, 4})));
  EXPECT_FALSE(identical(a, tensor<int32_t>("int32", {2, 2}, {1, 2, 3, 4})));
  EXPECT_FALSE(identical(a, tensor<float>("float32", {2, 2}, {1, 2, 3, 4.0000005f})));
  // -0.0 == 0.0 as numbers, but not as bytes.
  EXPECT_FALSE(identical(tensor<float>("float32", {1}, {0.0f}), tensor<float>("float32", {1}, {-0.0f})));
  // A NaN with another payload is another value.
  float other_nan;
  const uint32_t bits = 0x7fc00001u;
  std::memcpy(&other_nan, &bits, 4);
  EXPECT_FALSE(identical(tensor<float>("float32", {1}, {std::nanf("")}), tensor<float>("float32", {1}, {other_nan})));
}

TEST(value, describe_gives_a_short_shape_of_the_value) {
  EXPECT_EQ(describe(seq(K::tuple, {tensor<float>("float32", {4, 8}, std::vector<float>(32)), scalar_int(1)})),
            "tuple(tensor float32 [4, 8], int)");
  EXPECT_EQ(describe(Value{}), "None");
  EXPECT_EQ(describe(dict({text("a")}, {scalar_float(1)})), "dict(float)");
  EXPECT_EQ(describe(seq(K::list, {flag(true), text("s"), Value{}, scalar_int(1), scalar_int(2), scalar_int(3)})),
            "list(bool, str, None, int, ... 6 items)");
  EXPECT_EQ(describe(tensor<double>("float64", {}, {1.0})), "tensor float64 []");
}

TEST(value, tensor_helpers_walk_depth_first) {
  const Value v = nested();
  EXPECT_EQ(kopt::verify::tensor_bytes(v), 6 * 4 + 4 * 8 + 8u);
  std::vector<const TensorData*> tensors;
  kopt::verify::collect_tensors(v, tensors);
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors[0]->dtype, "float32");
  EXPECT_EQ(tensors[1]->dtype, "int64");
  EXPECT_EQ(tensors[2]->dtype, "float64");
}

TEST(value, element_sizes_of_supported_dtypes) {
  EXPECT_EQ(kopt::verify::element_size("float32"), 4u);
  EXPECT_EQ(kopt::verify::element_size("bfloat16"), 2u);
  EXPECT_EQ(kopt::verify::element_size("int64"), 8u);
  EXPECT_EQ(kopt::verify::element_size("bool"), 1u);
  EXPECT_EQ(kopt::verify::element_size("float8_e4m3"), 0u);
  EXPECT_TRUE(kopt::verify::is_floating("float16"));
  EXPECT_FALSE(kopt::verify::is_floating("int32"));
}

}  // namespace
