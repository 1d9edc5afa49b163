// Writes fuzz_model's seed corpus, fuzz/corpus/model/: a model file and a generator file as
// `ddkit train` and `ddkit gen-train` write them (libtorch's module archive, ddkit's
// information inside), for networks small enough to be seeds (a few kB). Each entry's
// CRC-32 in the central directory is set to 0, which the reader takes as "not recorded":
// otherwise nearly every mutation of the pickle would stop at the CRC check. Deterministic.
//   build-fuzz/fuzz/make_model_corpus fuzz/corpus/model
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "ddkit/generative/generator_io.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/model_io.h"

namespace {

// Zeroes the CRC-32 of every central directory record (signature PK\1\2, CRC at +16).
void drop_crcs(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string central("PK\x01\x02", 4);
  for (size_t p = bytes.find(central); p != std::string::npos; p = bytes.find(central, p + 4)) {
    if (p + 20 <= bytes.size()) std::memset(&bytes[p + 16], 0, 4);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_model_corpus OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  torch::manual_seed(0);

  // ConvNet of depth 1 on 1x2x2 images, 2 classes: the ConvNet family's layout at ~1.5 k
  // parameters (conv, instance norm, pooling, linear head).
  ddkit::train::ModelInfo model_info;
  model_info.model_name = "convnet-d1";
  model_info.shape = {1, 2, 2};
  model_info.num_classes = 2;
  model_info.dataset = "fuzz";
  auto model = ddkit::models::make_model(model_info.model_name, model_info.shape, model_info.num_classes);
  ddkit::train::save_model(out / "convnet.pt", *model, model_info);
  drop_crcs(out / "convnet.pt");

  // A one-level UNet of width 4 on 1x4x4 images, 2 classes, attention in the middle.
  ddkit::generative::GeneratorInfo generator_info;
  generator_info.unet.image_channels = 1;
  generator_info.unet.num_classes = 2;
  generator_info.unet.channels = 4;
  generator_info.unet.channel_mult = {1};
  generator_info.unet.res_blocks = {1};
  generator_info.unet.groups = 2;
  generator_info.unet.attention_heads = 1;
  generator_info.height = 4;
  generator_info.width = 4;
  generator_info.dataset = "fuzz";
  ddkit::generative::UNet unet(generator_info.unet);
  ddkit::generative::save_generator(out / "generator.pt", *unet, generator_info);
  drop_crcs(out / "generator.pt");

  // Seeds the loaders refuse would leave the fuzzer to rediscover the format.
  const auto loaded_model = ddkit::train::load_model(out / "convnet.pt");
  const auto loaded_generator = ddkit::generative::load_generator(out / "generator.pt");
  std::cout << "convnet.pt: " << ddkit::models::count_parameters(*loaded_model.model) << " parameters; generator.pt: "
            << ddkit::models::count_parameters(*loaded_generator.model) << " parameters\n";
  return 0;
}
