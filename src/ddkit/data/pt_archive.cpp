#include "ddkit/data/pt_archive.h"

#include <zlib.h>

#include <cstring>
#include <limits>
#include <set>
#include <unordered_map>

#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::data {
namespace {

constexpr int kMaxDepth = 64;       // module archives nest a few levels; a pickle of nested tuples could nest 10^6
constexpr size_t kMaxDims = 16;     // torch's own limit is 64; no ddkit tensor has more than 5
constexpr size_t kMaxGlobal = 256;  // "module\nname\n" of a GLOBAL opcode

uint16_t u16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8);
}
uint32_t u32(const char* p) { return u16(p) | static_cast<uint32_t>(u16(p + 2)) << 16; }

const std::map<std::string, PtDtype>& storage_types() {
  static const std::map<std::string, PtDtype> types = {
      {"torch FloatStorage", PtDtype::float32}, {"torch DoubleStorage", PtDtype::float64},
      {"torch HalfStorage", PtDtype::float16},  {"torch BFloat16Storage", PtDtype::bfloat16},
      {"torch LongStorage", PtDtype::int64},    {"torch IntStorage", PtDtype::int32},
      {"torch ShortStorage", PtDtype::int16},   {"torch CharStorage", PtDtype::int8},
      {"torch ByteStorage", PtDtype::uint8},    {"torch BoolStorage", PtDtype::boolean}};
  return types;
}

constexpr const char* kRebuildTensor = "torch._utils _rebuild_tensor_v2";
constexpr const char* kOrderedDict = "collections OrderedDict";

bool is_module_class(const std::string& global) { return global.rfind("__torch__", 0) == 0; }

// a * b + c without overflow, or -1.
int64_t mul_add(int64_t a, int64_t b, int64_t c) {
  int64_t product = 0, sum = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum)) return -1;
  return sum;
}

}  // namespace

int64_t element_size(PtDtype dtype) {
  switch (dtype) {
    case PtDtype::float64:
    case PtDtype::int64: return 8;
    case PtDtype::float32:
    case PtDtype::int32: return 4;
    case PtDtype::float16:
    case PtDtype::bfloat16:
    case PtDtype::int16: return 2;
    default: return 1;
  }
}

std::string PtValue::kind_name(Kind kind) {
  static const char* names[] = {"None", "bool", "int",   "float", "string", "global",
                                "storage", "tensor", "tuple", "list", "dict",   "object"};
  return names[static_cast<int>(kind)];
}

const PtValue* PtValue::find(std::string_view key) const {
  if (kind != Kind::dict && kind != Kind::object) return nullptr;
  for (const auto& [k, v] : entries) {
    if (k->kind == Kind::string && k->text == key) return v.get();
  }
  return nullptr;
}

// The pickle virtual machine, restricted to what tensors, state dicts and libtorch module
// archives are made of (pickle protocol 2, and 4's framing and short strings).
class PtArchive::Unpickler {
 public:
  Unpickler(PtArchive& archive, const char* data, size_t size) : archive_(archive), p_(data), end_(data + size) {}

  std::shared_ptr<PtValue> run() {
    while (true) {
      const auto op = static_cast<uint8_t>(take(1)[0]);
      if (op == '.') break;  // STOP
      step(op);
    }
    if (!marks_.empty() || stack_.size() != 1) fail("ends with an unbalanced stack");
    return stack_.back();
  }

 private:
  using Value = std::shared_ptr<PtValue>;
  using Kind = PtValue::Kind;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(archive_.subject_, "not a tensor file ddkit reads: the pickle " + what);
  }
  const char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("is truncated");
    const char* at = p_;
    p_ += n;
    return at;
  }
  static Value make(Kind kind) {
    auto v = std::make_shared<PtValue>();
    v->kind = kind;
    return v;
  }
  Value pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pops an empty stack");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("reads an empty stack");
    return stack_.back();
  }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) fail("has no mark to pop to");
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  // `child` goes inside `parent`: sealed from now on, and the nesting stays bounded.
  void adopt(PtValue& parent, const Value& child) {
    if (child.get() == &parent) fail("puts a value inside itself");
    child->sealed = true;
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > kMaxDepth) fail("nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  Value tuple(std::vector<Value> items) {
    auto t = make(Kind::tuple);
    for (const auto& item : items) adopt(*t, item);
    t->items = std::move(items);
    return t;
  }
  Value& mutable_top(Kind kind) {
    auto& target = top();
    if (target->kind != kind) fail("adds items to a " + PtValue::kind_name(target->kind));
    if (target->sealed) fail("changes a value after using it");
    return target;
  }
  void set_items(const std::vector<Value>& kv) {
    if (kv.size() % 2 != 0) fail("sets a key without a value");
    auto& dict = mutable_top(Kind::dict);
    for (size_t i = 0; i < kv.size(); i += 2) {
      if (kv[i]->kind != Kind::string && kv[i]->kind != Kind::integer) fail("has a dict key that is not a string");
      adopt(*dict, kv[i]);
      adopt(*dict, kv[i + 1]);
      dict->entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void append(const std::vector<Value>& items) {
    auto& list = mutable_top(Kind::list);
    for (const auto& item : items) {
      adopt(*list, item);
      list->items.push_back(item);
    }
  }
  int64_t integer(const Value& v, const char* what) const {
    if (v->kind != Kind::integer) fail(std::string("has a ") + what + " that is not an int");
    return v->integer;
  }
  std::vector<int64_t> int_tuple(const Value& v, const char* what) const {
    if (v->kind != Kind::tuple) fail(std::string("has ") + what + " that are not a tuple");
    if (v->items.size() > kMaxDims) fail("has a tensor of more than " + std::to_string(kMaxDims) + " dimensions");
    std::vector<int64_t> out;
    for (const auto& item : v->items) {
      const auto x = integer(item, what);
      if (x < 0) fail(std::string("has negative ") + what);
      out.push_back(x);
    }
    return out;
  }

  void global() {
    std::string text;
    for (int newlines = 0; newlines < 2;) {
      const char c = take(1)[0];
      if (text.size() >= kMaxGlobal) fail("names an overlong global");
      if (c == '\n') {
        if (++newlines == 1) text += ' ';
      } else {
        text += c;
      }
    }
    if (text != kRebuildTensor && text != kOrderedDict && !storage_types().count(text) && !is_module_class(text)) {
      fail("refers to '" + text + "', which no tensor archive does");
    }
    auto g = make(Kind::global);
    g->text = std::move(text);
    stack_.push_back(g);
  }
  // ('storage', torch.<T>Storage, key, location, numel): the zip entry data/<key>.
  void persistent_id() {
    const auto pid = pop();
    if (pid->kind != Kind::tuple || pid->items.size() != 5) fail("has a persistent id that is not a storage");
    const auto& it = pid->items;
    if (it[0]->kind != Kind::string || it[0]->text != "storage" || it[1]->kind != Kind::global ||
        !storage_types().count(it[1]->text) || it[2]->kind != Kind::string || it[3]->kind != Kind::string) {
      fail("has a persistent id that is not a storage");
    }
    auto s = make(Kind::storage);
    s->tensor.storage.dtype = storage_types().at(it[1]->text);
    s->tensor.storage.key = it[2]->text;
    s->tensor.storage.numel = integer(it[4], "storage size");
    const auto& e = archive_.entry(archive_.prefix_ + "data/" + s->tensor.storage.key);
    const auto numel = s->tensor.storage.numel;
    if (numel < 0 || static_cast<uint64_t>(numel) > e.size / static_cast<uint64_t>(element_size(s->tensor.storage.dtype))) {
      fail("claims " + std::to_string(numel) + " elements for storage '" + s->tensor.storage.key + "' of " +
           std::to_string(e.size) + " bytes");
    }
    stack_.push_back(s);
  }
  Value rebuild_tensor(const Value& args) {
    if (args->kind != Kind::tuple || args->items.size() < 4 || args->items.size() > 7 ||
        args->items[0]->kind != Kind::storage) {
      fail("rebuilds a tensor from arguments that are not (storage, offset, sizes, strides, ...)");
    }
    auto t = make(Kind::tensor);
    auto& tensor = t->tensor;
    tensor.storage = args->items[0]->tensor.storage;
    tensor.offset = integer(args->items[1], "tensor offset");
    tensor.sizes = int_tuple(args->items[2], "sizes");
    tensor.strides = int_tuple(args->items[3], "strides");
    if (tensor.offset < 0 || tensor.sizes.size() != tensor.strides.size()) fail("has a tensor of mismatched sizes and strides");
    // The last element the view reaches must lie inside the storage.
    int64_t numel = 1, last = tensor.offset;
    for (size_t d = 0; d < tensor.sizes.size(); ++d) {
      numel = mul_add(numel, tensor.sizes[d], 0);
      if (numel < 0) fail("has a tensor whose element count overflows");
      if (tensor.sizes[d] > 0) last = mul_add(tensor.sizes[d] - 1, tensor.strides[d], last);
      if (last < 0) fail("has a tensor whose extent overflows");
    }
    if (numel > 0 ? last >= tensor.storage.numel : tensor.offset > tensor.storage.numel) {
      fail("has a tensor that reaches past its storage '" + tensor.storage.key + "'");
    }
    return t;
  }
  void reduce() {
    auto args = pop();
    auto callable = pop();
    if (callable->kind != Kind::global) fail("calls something that is not a global");
    if (callable->text == kRebuildTensor) {
      stack_.push_back(rebuild_tensor(args));
    } else if (callable->text == kOrderedDict && args->kind == Kind::tuple && args->items.empty()) {
      stack_.push_back(make(Kind::dict));
    } else {
      fail("calls '" + callable->text + "' in a way no tensor archive does");
    }
  }
  void new_object() {
    auto args = pop();
    auto cls = pop();
    if (cls->kind != Kind::global || !is_module_class(cls->text) || args->kind != Kind::tuple || !args->items.empty()) {
      fail("creates an object that is not a libtorch module");
    }
    auto object = make(Kind::object);
    object->text = cls->text;
    stack_.push_back(object);
  }
  void build() {
    auto state = pop();
    auto& object = mutable_top(Kind::object);
    if (state->kind != Kind::dict || !object->entries.empty()) fail("sets an object's state twice or not from a dict");
    adopt(*object, state);
    object->entries = state->entries;
  }
  void put(uint32_t index) { memo_[index] = top(); }
  void get(uint32_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("reads an unset memo entry");
    stack_.push_back(it->second);
  }
  void string(size_t n) {
    auto s = make(Kind::string);
    const char* at = take(n);
    s->text.assign(at, n);
    stack_.push_back(s);
  }
  void integer_value(int64_t x) {
    auto v = make(Kind::integer);
    v->integer = x;
    stack_.push_back(v);
  }
  void long1() {
    const auto n = static_cast<uint8_t>(take(1)[0]);
    if (n > 8) fail("has an integer wider than 64 bits");
    const char* at = take(n);
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; --i) x = x << 8 | static_cast<uint8_t>(at[i]);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(at[n - 1]) & 0x80)) x |= ~uint64_t{0} << (8 * n);  // sign-extend
    integer_value(static_cast<int64_t>(x));
  }
  void binfloat() {
    const char* at = take(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | static_cast<uint8_t>(at[i]);  // big-endian
    auto v = make(Kind::real);
    std::memcpy(&v->real, &bits, sizeof bits);
    stack_.push_back(v);
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: take(1); break;  // PROTO
      case 0x95: take(8); break;  // FRAME: a length hint only
      case '(': marks_.push_back(stack_.size()); break;
      case ')': stack_.push_back(tuple({})); break;
      case 't': stack_.push_back(tuple(pop_mark())); break;
      case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
        std::vector<Value> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        stack_.push_back(tuple(std::move(items)));
        break;
      }
      case ']': stack_.push_back(make(Kind::list)); break;
      case 'a': { auto v = pop(); append({v}); break; }
      case 'e': { auto items = pop_mark(); append(items); break; }
      case '}': stack_.push_back(make(Kind::dict)); break;
      case 's': { auto v = pop(); auto k = pop(); set_items({k, v}); break; }
      case 'u': { auto kv = pop_mark(); set_items(kv); break; }
      case 'N': stack_.push_back(make(Kind::none)); break;
      case 0x88: case 0x89: { auto b = make(Kind::boolean); b->boolean = op == 0x88; stack_.push_back(b); break; }
      case 'J': integer_value(static_cast<int32_t>(u32(take(4)))); break;
      case 'K': integer_value(static_cast<uint8_t>(take(1)[0])); break;
      case 'M': integer_value(u16(take(2))); break;
      case 0x8a: long1(); break;
      case 'G': binfloat(); break;
      case 'X': string(u32(take(4))); break;
      case 0x8c: string(static_cast<uint8_t>(take(1)[0])); break;
      case 'c': global(); break;
      case 'Q': persistent_id(); break;
      case 'R': reduce(); break;
      case 0x81: new_object(); break;
      case 'b': build(); break;
      case 'q': put(static_cast<uint8_t>(take(1)[0])); break;
      case 'r': put(u32(take(4))); break;
      case 0x94: put(static_cast<uint32_t>(memo_.size())); break;  // MEMOIZE
      case 'h': get(static_cast<uint8_t>(take(1)[0])); break;
      case 'j': get(u32(take(4))); break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("has opcode ") + hex + ", which no tensor archive uses");
      }
    }
  }

  PtArchive& archive_;
  const char* p_;
  const char* end_;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Value> memo_;
};

const PtArchive::Entry& PtArchive::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(subject_, "not a tensor file ddkit reads: no entry '" + name + "'");
  if (!it->second.stored) throw Error(subject_, "not a tensor file ddkit reads: entry '" + name + "' is compressed");
  return it->second;
}

const char* PtArchive::storage_data(const PtStorage& storage) const {
  return bytes_.data() + entry(prefix_ + "data/" + storage.key).offset;
}

PtArchive PtArchive::read(const std::filesystem::path& file) {
  return parse(read_file_bytes(file), file.string());
}

PtArchive PtArchive::parse(std::vector<char> bytes, const std::string& subject) {
  PtArchive a;
  a.subject_ = subject;
  a.bytes_ = std::move(bytes);
  const char* data = a.bytes_.data();
  const size_t size = a.bytes_.size();
  auto fail = [&](const std::string& what) -> void {
    throw Error(subject, "not a tensor file ddkit reads (torch.save's zip format): " + what);
  };
  // End of central directory: the last 22 bytes plus up to 64 KiB of comment.
  size_t eocd = std::string::npos;
  for (size_t back = 22; back <= size && back <= 22 + 0xFFFF; ++back) {
    if (u32(data + size - back) == 0x06054b50u) {
      eocd = size - back;
      break;
    }
  }
  if (eocd == std::string::npos) fail("no zip directory (truncated?)");
  const uint32_t count = u16(data + eocd + 10), cd_size = u32(data + eocd + 12), cd_offset = u32(data + eocd + 16);
  if (count == 0xFFFF || cd_offset == 0xFFFFFFFFu) fail("a zip64 archive (over 4 GiB or 65,535 entries), which ddkit does not read");
  if (static_cast<uint64_t>(cd_offset) + cd_size > eocd) fail("the zip directory lies outside the file");
  size_t p = cd_offset;
  for (uint32_t i = 0; i < count; ++i) {
    if (p + 46 > static_cast<size_t>(cd_offset) + cd_size || u32(data + p) != 0x02014b50u) fail("a damaged zip directory");
    const uint16_t flags = u16(data + p + 8), method = u16(data + p + 10);
    const uint32_t crc = u32(data + p + 16), csize = u32(data + p + 20), usize = u32(data + p + 24);
    const uint16_t nlen = u16(data + p + 28), elen = u16(data + p + 30), clen = u16(data + p + 32);
    const uint32_t local = u32(data + p + 42);
    if (p + 46 + nlen + elen + clen > static_cast<size_t>(cd_offset) + cd_size) fail("a damaged zip directory");
    std::string name(data + p + 46, nlen);
    p += 46 + nlen + elen + clen;
    // libtorch deflates the code/ entries of a module archive; ddkit never reads those.
    const bool stored = method == 0 && csize == usize;
    if ((flags & 1) != 0) fail("entry '" + name + "' is encrypted");
    if (static_cast<uint64_t>(local) + 30 > cd_offset || u32(data + local) != 0x04034b50u || u16(data + local + 26) != nlen) {
      fail("entry '" + name + "' has no valid local header");
    }
    const uint64_t start = static_cast<uint64_t>(local) + 30 + nlen + u16(data + local + 28);
    if (start > cd_offset || start + csize > cd_offset || std::string(data + local + 30, nlen) != name) {
      fail("entry '" + name + "' lies outside the file");
    }
    if (!a.entries_.emplace(name, Entry{static_cast<size_t>(start), csize, crc, stored}).second) fail("entry '" + name + "' appears twice");
  }
  // The pickle is <archive>/data.pkl; torch.save names the archive after the file, libtorch "archive".
  for (const auto& [name, e] : a.entries_) {
    const auto slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash) == "/data.pkl") {
      if (!a.prefix_.empty()) fail("two pickles");
      a.prefix_ = name.substr(0, slash + 1);
    }
  }
  if (a.prefix_.empty()) fail("no data.pkl");
  // Integrity (a flipped bit or a cut file): each entry's CRC-32. A CRC of 0 is not checked:
  // PyTorch can be told to skip computing it.
  for (const auto& [name, e] : a.entries_) {
    if (e.stored && e.crc != 0 && crc32(0L, reinterpret_cast<const Bytef*>(data + e.offset), static_cast<uInt>(e.size)) != e.crc) {
      fail("entry '" + name + "' fails its CRC check (corrupt?)");
    }
  }
  const auto order = a.entries_.find(a.prefix_ + "byteorder");
  if (order != a.entries_.end() && (!order->second.stored ||
                                    std::string(data + order->second.offset, order->second.size) != "little")) {
    fail("big-endian tensors, which ddkit does not read");
  }
  const auto& pickle = a.entry(a.prefix_ + "data.pkl");
  a.root_ = Unpickler(a, data + pickle.offset, pickle.size).run();
  return a;
}

}  // namespace ddkit::data
