// ddkit's own reader of .pt files (docs/reliability.md "The .pt reader"): the zip container
// that torch.save and libtorch's archives write (stored entries, as PyTorch writes them),
// and the pickle subset that tensors, state dicts and libtorch's module archives use.
//
// Why not libtorch's unpickler: it allocates from lengths the file claims and its archive
// loader compiles the TorchScript sources inside a module file. Here every length, count,
// storage size and tensor extent is checked against the file before it is used, the only
// globals accepted are tensor rebuilding, typed storages, OrderedDict and libtorch's
// module classes, and the archive's code/ entries are never read. A crafted or damaged
// file gets a ddkit::Error, never a crash, a large allocation or code outside tensor data.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ddkit::data {

enum class PtDtype { float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, boolean };
int64_t element_size(PtDtype dtype);

// A storage the pickle refers to: the zip entry <archive>/data/<key>, `numel` elements.
struct PtStorage {
  PtDtype dtype = PtDtype::float32;
  std::string key;
  int64_t numel = 0;
};

// torch._utils._rebuild_tensor_v2(storage, offset, sizes, strides, ...): a strided view.
struct PtTensor {
  PtStorage storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

// One value of the pickle. Containers share their elements (the pickle's memo).
struct PtValue {
  enum class Kind { none, boolean, integer, real, string, global, storage, tensor, tuple, list, dict, object };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;  // a string; a global's "module name"; an object's class
  PtTensor tensor;   // a tensor, or a storage (tensor.storage)
  std::vector<std::shared_ptr<PtValue>> items;                                        // tuple, list
  std::vector<std::pair<std::shared_ptr<PtValue>, std::shared_ptr<PtValue>>> entries;  // dict, object
  int depth = 0;        // nesting below this value (bounded: deep nests are refused)
  bool sealed = false;  // inside another value: no longer mutable, so no cycles

  // The value under a string key of a dict or an object (a module archive's attribute),
  // or nullptr.
  const PtValue* find(std::string_view key) const;
  static std::string kind_name(Kind kind);
};

class PtArchive {
 public:
  // Reads and checks the whole file; throws ddkit::Error(file, what) on anything wrong.
  static PtArchive read(const std::filesystem::path& file);
  // The same for bytes in memory; `subject` names them in errors.
  static PtArchive parse(std::vector<char> bytes, const std::string& subject);

  const PtValue& root() const { return *root_; }
  // The file (or what parse() was told) that errors about this archive name.
  const std::string& subject() const { return subject_; }
  // The bytes of a storage the pickle referred to (size and CRC were checked on parse).
  const char* storage_data(const PtStorage& storage) const;

 private:
  struct Entry {
    size_t offset = 0, size = 0;
    uint32_t crc = 0;
    bool stored = true;  // not compressed: the only entries ddkit reads
  };
  const Entry& entry(const std::string& name) const;
  class Unpickler;

  std::string subject_;
  std::vector<char> bytes_;
  std::map<std::string, Entry> entries_;
  std::string prefix_;  // "<archive>/"
  std::shared_ptr<PtValue> root_;
};

}  // namespace ddkit::data
