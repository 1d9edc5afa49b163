#include "ddkit/data/image_io.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <ATen/ATen.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::data {

bool is_image_file(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

int image_file_channels(const std::filesystem::path& file) {
  const auto bytes = read_file_bytes(file);
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                             static_cast<int>(bytes.size()), &w, &h, &c)) {
    throw Error(file.string(), std::string("not a readable PNG/JPEG image (") + stbi_failure_reason() + ")");
  }
  return c <= 2 ? 1 : 3;
}

at::Tensor load_image(const std::filesystem::path& file, int channels) {
  const auto bytes = read_file_bytes(file);
  int w = 0, h = 0, file_channels = 0;
  if (channels == 0) {
    if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                               static_cast<int>(bytes.size()), &w, &h, &file_channels)) {
      throw Error(file.string(), std::string("not a readable PNG/JPEG image (") + stbi_failure_reason() + ")");
    }
    channels = file_channels <= 2 ? 1 : 3;
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                            &w, &h, &file_channels, channels),
      stbi_image_free);
  if (!pixels) {
    throw Error(file.string(), std::string("not a readable PNG/JPEG image (") + stbi_failure_reason() + ")");
  }
  // stb gives H x W x C interleaved; ddkit works in C x H x W.
  // clone, not contiguous(): for 1 channel the permuted view is already
  // contiguous and would alias stb's buffer, which is freed on return.
  return at::from_blob(pixels.get(), {h, w, channels}, at::kByte).permute({2, 0, 1}).clone(at::MemoryFormat::Contiguous);
}

std::string encode_png(const at::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == at::kByte, "encode_png wants uint8 C x H x W");
  const auto hwc = image.permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)),
            c = static_cast<int>(hwc.size(2));
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &out, w, h, c, hwc.data_ptr<uint8_t>(), w * c)) {
    throw Error("png", "encoding failed");
  }
  return out;
}

}  // namespace ddkit::data
