// .pt files through ddkit's own reader (src/ddkit/data/pt_archive.*): torch.save's tensors
// as images.pt, labels.pt and scores.pt of an image set are read, and libtorch's module
// archives (model, generator and checkpoint files). Every tensor the pickle builds is
// materialised, so a claimed size that the reader failed to check shows as a crash or an
// out-of-memory.
#include <ATen/ATen.h>

#include <unordered_set>

#include "ddkit/data/pt_archive.h"
#include "ddkit/data/tensor_io.h"
#include "fuzz_input.h"

namespace {

// Each value once: the memo lets a pickle share values, so a tree walk could be exponential.
void visit(const ddkit::data::PtValue& value, ddkit::data::PtTensorReader& tensors,
           std::unordered_set<const void*>& seen) {
  using Kind = ddkit::data::PtValue::Kind;
  if (!seen.insert(&value).second) return;
  if (value.kind == Kind::tensor) {
    ddkit_fuzz::check(tensors.tensor(value.tensor).sum().defined());
  }
  for (const auto& item : value.items) visit(*item, tensors, seen);
  for (const auto& [key, item] : value.entries) {
    visit(*key, tensors, seen);
    visit(*item, tensors, seen);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("input.pt", data, size);
  ddkit_fuzz::read_or_refuse([&] {
    const auto archive = ddkit::data::PtArchive::read(file);
    ddkit::data::PtTensorReader tensors(archive);
    std::unordered_set<const void*> seen;
    visit(archive.root(), tensors, seen);
  });
  at::Tensor tensor;
  if (ddkit_fuzz::read_or_refuse([&] { tensor = ddkit::data::load_tensor(file); })) {
    ddkit_fuzz::check(tensor.defined());
  }
  return 0;
}
