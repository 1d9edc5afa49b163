// PNG and JPEG through data/image_io.cpp (stb_image): the header probe and decoding to the
// file's own channels, to grey and to RGB.
#include <ATen/ATen.h>

#include "ddkit/data/image_io.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("input.png", data, size);
  int channels = 0;
  if (!ddkit_fuzz::read_or_refuse([&] { channels = ddkit::data::image_file_channels(file); })) return 0;
  ddkit_fuzz::check(channels == 1 || channels == 3);
  for (int want : {0, 1, 3}) {
    at::Tensor image;
    if (ddkit_fuzz::read_or_refuse([&] { image = ddkit::data::load_image(file, want); })) {
      ddkit_fuzz::check(image.dim() == 3 && image.size(0) == (want == 0 ? channels : want));
    }
  }
  return 0;
}
