#include "ddkit/data/tensor_io.h"

#include <cstring>

#include <torch/serialize.h>

#include "ddkit/data/pt_archive.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::data {
namespace {

at::ScalarType scalar_type(PtDtype dtype) {
  switch (dtype) {
    case PtDtype::float32: return at::kFloat;
    case PtDtype::float64: return at::kDouble;
    case PtDtype::float16: return at::kHalf;
    case PtDtype::bfloat16: return at::kBFloat16;
    case PtDtype::int64: return at::kLong;
    case PtDtype::int32: return at::kInt;
    case PtDtype::int16: return at::kShort;
    case PtDtype::int8: return at::kChar;
    case PtDtype::uint8: return at::kByte;
    case PtDtype::boolean: return at::kBool;
  }
  return at::kFloat;
}

}  // namespace

void save_tensor(const std::filesystem::path& file, const at::Tensor& tensor) {
  // pickle_save writes the same zip archive as Python's torch.save(tensor).
  write_file_atomic(file, torch::pickle_save(tensor.detach().cpu().contiguous()));
}

at::Tensor PtTensorReader::tensor(const PtTensor& t) {
  auto& storage = storages_[t.storage.key];
  if (!storage.defined()) {
    // The reader checked numel against the entry's size, so this copy stays inside the file.
    storage = at::empty({t.storage.numel}, at::TensorOptions().dtype(scalar_type(t.storage.dtype)));
    std::memcpy(storage.data_ptr(), archive_.storage_data(t.storage),
                static_cast<size_t>(t.storage.numel * element_size(t.storage.dtype)));
  } else if (storage.scalar_type() != scalar_type(t.storage.dtype) || storage.numel() != t.storage.numel) {
    throw Error(archive_.subject(), "refers to storage '" + t.storage.key + "' with two different types or sizes");
  }
  return storage.as_strided(t.sizes, t.strides, t.offset);
}

at::Tensor load_tensor(const std::filesystem::path& file) {
  const auto archive = PtArchive::read(file);
  const auto& root = archive.root();
  if (root.kind != PtValue::Kind::tensor) {
    throw Error(file.string(), "holds a " + PtValue::kind_name(root.kind) + ", expected a tensor");
  }
  PtTensorReader reader(archive);
  return reader.tensor(root.tensor);
}

}  // namespace ddkit::data
