// Model and generator files (`ddkit train`, `ddkit gen-train`) through load_model and
// load_generator: the archive, the ddkit information inside it, the network it describes
// and the weights matched to that network; and `gen-train` checkpoints through
// load_generator_checkpoint, into the seed generator's network and a fresh Adam. A file
// either is refused with one ddkit::Error or gives something that runs: a loaded network's
// forward pass on zeros gives the shape it promises, a loaded checkpoint's Adam takes a step.
// The information is bounded (models/factory.cpp, generative/unet.h), so a crafted file
// cannot make the target allocate past libFuzzer's memory limits.
#include <torch/torch.h>

#include "ddkit/generative/generator_checkpoint.h"
#include "fuzz_input.h"
#include "model_seeds.h"

namespace {
// One forward pass of a UNet on a zero image of the given shape, at step 1 and class 0.
at::Tensor unet_on_zeros(ddkit::generative::UNetImpl& unet, int64_t channels, int64_t height, int64_t width) {
  return unet.forward(torch::zeros({1, channels, height, width}), torch::full({1}, 1, torch::kLong),
                      torch::zeros({1}, torch::kLong));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("input.pt", data, size);
  {
    torch::NoGradGuard no_grad;
    ddkit::train::LoadedModel model;
    if (ddkit_fuzz::read_or_refuse([&] { model = ddkit::train::load_model(file); })) {
      const auto& [c, h, w] = model.info.shape;
      model.model->eval();
      const auto logits = model.model->forward(torch::zeros({1, c, h, w}));
      ddkit_fuzz::check(logits.dim() == 2 && logits.size(0) == 1 && logits.size(1) == model.info.num_classes);
    }
    ddkit::generative::LoadedGenerator generator;
    if (ddkit_fuzz::read_or_refuse([&] { generator = ddkit::generative::load_generator(file); })) {
      const auto& info = generator.info;
      const auto out = unet_on_zeros(*generator.model, info.unet.image_channels, info.height, info.width);
      ddkit_fuzz::check(out.sizes().vec() == std::vector<int64_t>{1, info.unet.image_channels, info.height, info.width});
    }
  }
  const auto seed = ddkit_fuzz::seed_generator_info();
  ddkit::generative::UNet unet(seed.unet), ema(seed.unet);
  torch::optim::Adam optimizer(unet->parameters(), torch::optim::AdamOptions(1e-3));
  nlohmann::json progress;
  int64_t step = -1;
  if (ddkit_fuzz::read_or_refuse([&] {
        step = ddkit::generative::load_generator_checkpoint(file, *unet, *ema, optimizer, torch::kCPU, progress);
      })) {
    ddkit_fuzz::check(step >= 0);
    unet_on_zeros(*unet, seed.unet.image_channels, seed.height, seed.width).sum().backward();
    optimizer.step();  // Adam's loaded state must fit the parameters
  }
  return 0;
}
