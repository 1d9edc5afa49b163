// Tensors as .pt files that Python's torch.load reads (and that ddkit reads
// back from Python's torch.save): the pickle-in-zip format of torch.save. Reading goes
// through ddkit's own checked reader (pt_archive.h), never libtorch's unpickler.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace ddkit::data {

class PtArchive;
struct PtTensor;

void save_tensor(const std::filesystem::path& file, const at::Tensor& tensor);  // atomic
at::Tensor load_tensor(const std::filesystem::path& file);

// The tensors of one archive as CPU tensors. Each storage is copied out of the file once
// and tensors are views of it, as torch.load makes them (so views that share a storage
// cost its size once, whatever their number).
class PtTensorReader {
 public:
  explicit PtTensorReader(const PtArchive& archive) : archive_(archive) {}
  at::Tensor tensor(const PtTensor& tensor);

 private:
  const PtArchive& archive_;
  std::map<std::string, at::Tensor> storages_;
};

}  // namespace ddkit::data
