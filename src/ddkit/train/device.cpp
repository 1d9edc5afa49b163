#include "ddkit/train/device.h"

#include <ATen/Context.h>

#include "ddkit/util/error.h"

namespace ddkit::train {

c10::Device parse_device(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    throw Error("--device", "unknown device '" + name + "' (use cpu or cuda[:N])");
  }
  if (device.is_cuda() && !at::hasCUDA()) {
    throw Error("--device", "'" + name + "' requested but this libtorch has no CUDA support or no GPU is visible");
  }
  if (!device.is_cpu() && !device.is_cuda()) throw Error("--device", "unsupported device '" + name + "'");
  return device;
}

}  // namespace ddkit::train
