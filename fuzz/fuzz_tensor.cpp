// .pt tensor files (torch.save's pickle-in-zip), as images.pt, labels.pt and scores.pt of
// an image set are read.
#include <ATen/ATen.h>

#include "ddkit/data/tensor_io.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("input.pt", data, size);
  at::Tensor tensor;
  if (ddkit_fuzz::read_or_refuse([&] { tensor = ddkit::data::load_tensor(file); })) {
    ddkit_fuzz::check(tensor.defined());
  }
  return 0;
}
