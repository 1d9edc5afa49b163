// Tests of ddkit's own .pt reader (src/ddkit/data/pt_archive.*): archives written by
// libtorch read back, and crafted archives — each built here byte by byte: a zip of stored
// entries around a hand-written pickle — refused with one ddkit::Error.
#include "data_fixtures.h"
#include "ddkit/data/pt_archive.h"

namespace {

using namespace ddkit_test_data;

void le(std::string& out, uint64_t x, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(x >> (8 * i) & 0xFF);
}

// A zip of stored entries, as PyTorch writes them (CRC-32 included).
std::string zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, directory;
  for (const auto& [name, data] : entries) {
    const auto crc = crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    const auto offset = out.size();
    le(out, 0x04034b50, 4), le(out, 20, 2), le(out, 0, 2), le(out, 0, 2), le(out, 0, 4), le(out, crc, 4);
    le(out, data.size(), 4), le(out, data.size(), 4), le(out, name.size(), 2), le(out, 0, 2);
    out += name + data;
    le(directory, 0x02014b50, 4), le(directory, 20, 2), le(directory, 20, 2), le(directory, 0, 2);
    le(directory, 0, 2), le(directory, 0, 4), le(directory, crc, 4), le(directory, data.size(), 4);
    le(directory, data.size(), 4), le(directory, name.size(), 2), le(directory, 0, 6), le(directory, 0, 2);
    le(directory, 0, 4), le(directory, offset, 4);
    directory += name;
  }
  const auto cd_offset = out.size();
  out += directory;
  le(out, 0x06054b50, 4), le(out, 0, 4), le(out, entries.size(), 2), le(out, entries.size(), 2);
  le(out, directory.size(), 4), le(out, cd_offset, 4), le(out, 0, 2);
  return out;
}

// Pickle snippets (protocol 2, as torch.save writes).
std::string str(const std::string& s) {
  std::string out = "X";
  le(out, s.size(), 4);
  return out + s;
}
std::string integer(int64_t x) {
  std::string out = "J";
  le(out, static_cast<uint64_t>(x), 4);
  return out;
}
// _rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), offset, sizes, strides, False, OrderedDict())
std::string tensor(const std::string& key, int64_t numel, int64_t offset, std::vector<int64_t> sizes,
                   std::vector<int64_t> strides) {
  std::string out = "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") + "ctorch\nFloatStorage\n" + str(key) +
                    str("cpu") + integer(numel) + "tQ" + integer(offset) + "(";
  for (auto s : sizes) out += integer(s);
  out += "t(";
  for (auto s : strides) out += integer(s);
  return out + "t\x89" + "ccollections\nOrderedDict\n)Rt" + "R";
}
std::string floats(std::vector<float> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}
std::string archive(const std::string& pickle_body, const std::string& storage = floats({1, 2, 3, 4})) {
  return zip({{"archive/data.pkl", "\x80\x02" + pickle_body + "."}, {"archive/data/0", storage}});
}

PtArchive parse(const std::string& bytes) {
  return PtArchive::parse(std::vector<char>(bytes.begin(), bytes.end()), "x.pt");
}

TEST(PtArchive, ReadsAHandWrittenTensorAndItsViews) {
  // Two views of one storage: the reader copies the storage once and both share it, as
  // torch.load gives them.
  const auto a = parse(archive(tensor("0", 4, 0, {2, 2}, {2, 1}) + tensor("0", 4, 1, {2}, {2}) + "\x86"));
  ASSERT_EQ(a.root().kind, PtValue::Kind::tuple);
  PtTensorReader reader(a);
  const auto whole = reader.tensor(a.root().items[0]->tensor);
  const auto odd = reader.tensor(a.root().items[1]->tensor);
  EXPECT_TRUE(at::equal(whole, at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({2, 2})));
  EXPECT_TRUE(at::equal(odd, at::tensor({2.f, 4.f})));
  EXPECT_EQ(whole.storage().data(), odd.storage().data());
}

TEST(PtArchive, ReadsLibtorchModuleArchivesWithoutTheirCode) {
  TempDir tmp;
  save_tensor(tmp / "t.pt", at::arange(6, at::kFloat));
  const auto a = PtArchive::read(tmp / "t.pt");
  ASSERT_EQ(a.root().kind, PtValue::Kind::tensor);
  EXPECT_EQ(a.root().tensor.sizes, (std::vector<int64_t>{6}));
  // A module object: __torch__ class, NEWOBJ, BUILD from a dict of attributes.
  const auto m = parse(archive("c__torch__\nModule\n)\x81}(" + str("weight") + tensor("0", 4, 0, {4}, {1}) +
                               str("info") + str("{}") + "ub"));
  ASSERT_EQ(m.root().kind, PtValue::Kind::object);
  ASSERT_NE(m.root().find("weight"), nullptr);
  EXPECT_EQ(m.root().find("info")->text, "{}");
  EXPECT_EQ(m.root().find("absent"), nullptr);
}

void expect_refused(const std::string& bytes, const std::string& problem) {
  SCOPED_TRACE(problem);
  check_error([&] { parse(bytes); }, "x.pt", problem);
}

TEST(PtArchive, CraftedPicklesAreRefused) {
  // Lengths the file claims beyond itself: a storage, a tensor's extent, a string.
  expect_refused(archive(tensor("0", 1000000000, 0, {4}, {1})), "claims 1000000000 elements");
  expect_refused(archive(tensor("0", 4, 1, {4}, {1})), "reaches past its storage");
  expect_refused(archive(tensor("0", 4, 0, {2, 3}, {3, 1})), "reaches past its storage");
  expect_refused(archive(tensor("0", 4, 0, {int64_t{1} << 30, 2}, {1, 0})), "reaches past");
  expect_refused(archive(tensor("1", 4, 0, {4}, {1})), "no entry 'archive/data/1'");
  expect_refused(archive("X\xff\xff\xff\x7f" "abc"), "is truncated");
  // Code paths outside tensor data: any other global, any other call.
  expect_refused(archive("cos\nsystem\n" + str("echo hi") + "\x85R"), "refers to 'os system'");
  expect_refused(archive("c__torch__\nModule\n" + str("x") + "\x85\x81"), "creates an object");
  expect_refused(archive("ccollections\nOrderedDict\n" + str("x") + "\x85R"), "calls 'collections OrderedDict'");
  // Structure: cycles, deep nests, unknown opcodes, stray memo reads, an unbalanced stack.
  expect_refused(archive(std::string("]q\0h\0a", 6)), "inside itself");
  expect_refused(archive(std::string("]q\0]h\0aq\1h\0h\1a", 14)), "changes a value after using it");
  expect_refused(archive(std::string(100, ']') + std::string(99, 'a')), "nests deeper than 64");
  expect_refused(archive("N0"), "opcode 0x30");
  expect_refused(archive("h\x05"), "unset memo");
  expect_refused(archive("NN"), "unbalanced");
  expect_refused(archive("(((t"), "unbalanced");
  expect_refused(archive("a"), "empty stack");
}

TEST(PtArchive, DamagedZipsAreRefused) {
  const auto good = archive(tensor("0", 4, 0, {4}, {1}));
  EXPECT_NO_THROW(parse(good));
  // A flipped bit in the tensor's bytes: the CRC names the entry.
  auto flipped = good;
  flipped[flipped.find(floats({1, 2, 3, 4}))] ^= 0x10;
  expect_refused(flipped, "entry 'archive/data/0' fails its CRC check");
  // Every cut of the file is refused (and none crashes).
  for (size_t n = 0; n < good.size(); n += 7) expect_refused(good.substr(0, n), "not a tensor file");
  // Entries that are compressed, point outside the file or appear twice.
  auto compressed = good;
  compressed[8] = 8;  // the first local header's method: deflate ...
  compressed[good.find("PK\x01\x02") + 10] = 8;  // ... and the directory's
  expect_refused(compressed, "entry 'archive/data.pkl' is compressed");
  expect_refused(zip({{"archive/data.pkl", "\x80\x02N."}, {"archive/data.pkl", "N."}}), "appears twice");
  expect_refused(zip({{"archive/other", "N."}}), "no data.pkl");
  auto outside = good;
  outside[good.find("PK\x01\x02") + 42] = '\x7f';  // the first entry's local header offset
  expect_refused(outside, "local header");
}

TEST(PtArchive, TheTensorFilesOfLoadTensorAreChecked) {
  TempDir tmp;
  write_bytes(tmp / "os.pt", archive("cos\nsystem\n" + str("echo hi") + "\x85R"));
  EXPECT_DDKIT_ERROR((tmp / "os.pt").string(), "refers to 'os system'", load_tensor(tmp / "os.pt"));
  write_bytes(tmp / "tuple.pt", archive(tensor("0", 4, 0, {4}, {1}) + "\x85"));
  EXPECT_DDKIT_ERROR((tmp / "tuple.pt").string(), "holds a tuple, expected a tensor", load_tensor(tmp / "tuple.pt"));
}

}  // namespace
