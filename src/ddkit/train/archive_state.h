// Restoring libtorch state from the object tree of a module archive (what
// torch::serialize::OutputArchive writes: Module::save, Optimizer::save), read by ddkit's
// own checked reader (data/pt_archive.h) instead of libtorch's archive loader, which would
// also compile the TorchScript sources inside the file. The files ddkit writes are
// unchanged, and Python's torch.jit.load still reads them.
#pragma once
#include <string>

namespace c10 {
struct Device;
}
namespace torch::nn {
class Module;
}
namespace torch::optim {
class Adam;
}
namespace ddkit::data {
struct PtValue;
class PtTensorReader;
}  // namespace ddkit::data

namespace ddkit::train {

// What Module::load does, checked: every parameter and buffer of `module` (and, by name,
// of its children) must be in `object` with the same shape; values are copied in place.
// Throws ddkit::Error(subject, what) naming the first missing or mismatched tensor.
void load_module_state(const data::PtValue& object, torch::nn::Module& module, data::PtTensorReader& tensors,
                       const std::string& subject);

// What Optimizer::load does for Adam: the per-parameter state (step, first and second
// moments) is matched to the optimizer's parameters by position in each group, through
// the keys the file recorded; the options stay the optimizer's own (as libtorch's load).
void load_adam_state(const data::PtValue& object, torch::optim::Adam& optimizer, data::PtTensorReader& tensors,
                     const c10::Device& device, const std::string& subject);

}  // namespace ddkit::train
