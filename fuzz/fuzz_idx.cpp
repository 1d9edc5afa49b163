// IDX images and labels (MNIST, Fashion-MNIST), plain or gzip-compressed: the same bytes
// go to both readers, so header, dimension and label checks are all reached.
#include <ATen/ATen.h>

#include "ddkit/data/readers.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("input.idx", data, size);
  at::Tensor images, labels;
  if (ddkit_fuzz::read_or_refuse([&] { images = ddkit::data::read_idx_images(file); })) {
    ddkit_fuzz::check(images.dim() == 4 && images.size(1) == 1 && images.scalar_type() == at::kByte);
  }
  if (ddkit_fuzz::read_or_refuse([&] { labels = ddkit::data::read_idx_labels(file, 10); })) {
    ddkit_fuzz::check(labels.dim() == 1 && labels.scalar_type() == at::kLong);
    ddkit_fuzz::check(labels.numel() == 0 || (labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < 10));
  }
  return 0;
}
