// CIFAR-10 and CIFAR-100 binary records: the same bytes go to both readers.
#include <ATen/ATen.h>

#include "ddkit/data/readers.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("data_batch_1.bin", data, size);
  ddkit::data::RawSplit split;
  auto well_formed = [](const ddkit::data::RawSplit& s, int64_t classes) {
    return s.images.dim() == 4 && s.images.size(0) == s.labels.size(0) && s.images.size(1) == 3 &&
           (s.labels.numel() == 0 || (s.labels.min().item<int64_t>() >= 0 && s.labels.max().item<int64_t>() < classes));
  };
  if (ddkit_fuzz::read_or_refuse([&] { split = ddkit::data::read_cifar10_files({file}); })) {
    ddkit_fuzz::check(well_formed(split, 10));
  }
  if (ddkit_fuzz::read_or_refuse([&] { split = ddkit::data::read_cifar100_file(file); })) {
    ddkit_fuzz::check(well_formed(split, 100));
  }
  return 0;
}
