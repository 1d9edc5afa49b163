#include "ddkit/data/tensor_io.h"

#include <torch/serialize.h>

#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::data {

void save_tensor(const std::filesystem::path& file, const at::Tensor& tensor) {
  // pickle_save writes the same zip archive as Python's torch.save(tensor).
  write_file_atomic(file, torch::pickle_save(tensor.detach().cpu().contiguous()));
}

at::Tensor load_tensor(const std::filesystem::path& file) {
  const auto bytes = read_file_bytes(file);
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception&) {
    throw Error(file.string(), "not a tensor file written by torch.save (corrupt or truncated?)");
  }
  if (!value.isTensor()) throw Error(file.string(), "holds a " + value.tagKind() + ", expected a tensor");
  return value.toTensor();
}

}  // namespace ddkit::data
