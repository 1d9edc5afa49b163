// PNG/JPEG decoding and PNG encoding (stb).
#pragma once
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>

namespace ddkit::data {

// Decode a PNG/JPEG file to uint8 C x H x W. `channels` 0 keeps the file's own
// (grey -> 1, grey+alpha -> 1, RGB/RGBA -> 3); 1 or 3 converts.
at::Tensor load_image(const std::filesystem::path& file, int channels = 0);
// The channel count load_image(file, 0) would give, from the header only.
int image_file_channels(const std::filesystem::path& file);

// Encode uint8 C x H x W (C = 1 or 3) as PNG bytes.
std::string encode_png(const at::Tensor& image);

bool is_image_file(const std::filesystem::path& file);

}  // namespace ddkit::data
