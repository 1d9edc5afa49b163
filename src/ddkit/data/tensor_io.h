// Tensors as .pt files that Python's torch.load reads (and that ddkit reads
// back from Python's torch.save): the pickle-in-zip format of torch.save.
#pragma once
#include <filesystem>

#include <ATen/core/Tensor.h>

namespace ddkit::data {

void save_tensor(const std::filesystem::path& file, const at::Tensor& tensor);  // atomic
at::Tensor load_tensor(const std::filesystem::path& file);

}  // namespace ddkit::data
