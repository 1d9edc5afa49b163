#include "ddkit/train/device.h"

#include <ATen/Context.h>

#include <cstdlib>
#include <string>

#include "ddkit/util/error.h"

namespace ddkit::train {
namespace {

// A bare "cuda" under `ddkit launch` means this worker's GPU, cuda:(LOCAL_RANK mod GPUs),
// as torchrun users write torch.cuda.set_device(local_rank): otherwise every rank of a
// host would share GPU 0, which NCCL refuses.
c10::DeviceIndex local_rank_gpu(int gpus) {
  const char* text = std::getenv("LOCAL_RANK");
  if (text == nullptr || *text == '\0' || gpus < 1) return 0;
  char* end = nullptr;
  const long rank = std::strtol(text, &end, 10);
  if (*end != '\0' || rank < 0) throw Error("LOCAL_RANK", std::string("'") + text + "' is not a rank");
  return static_cast<c10::DeviceIndex>(rank % gpus);
}

}  // namespace

c10::Device parse_device(const std::string& name) {
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    throw Error("--device", "unknown device '" + name + "' (use cpu or cuda[:N])");
  }
  if (!device.is_cpu() && !device.is_cuda()) throw Error("--device", "unsupported device '" + name + "'");
  if (!device.is_cuda()) return device;
  if (!at::hasCUDA()) {
    throw Error("--device", "'" + name + "' requested but this libtorch has no CUDA support or no GPU is visible");
  }
  const int gpus = static_cast<int>(at::getNumGPUs());
  if (!device.has_index()) return c10::Device(c10::kCUDA, local_rank_gpu(gpus));
  if (device.index() >= gpus) {
    throw Error("--device", "'" + name + "' requested but only " + std::to_string(gpus) + " GPU(s) are visible");
  }
  return device;
}

}  // namespace ddkit::train
