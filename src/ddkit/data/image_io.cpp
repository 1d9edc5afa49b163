#include "ddkit/data/image_io.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <memory>
#include <vector>

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

namespace {

// Debian's libstb is built with every stb_image decoder (BMP, GIF, PSD, PIC, PNM, HDR, TGA
// as well); ddkit reads PNG and JPEG only, so the rest are refused by signature before stb
// sees them — less decoder code reachable from outside files (docs/reliability.md).
bool png_or_jpeg(const std::vector<char>& bytes) {
  static constexpr unsigned char kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static constexpr unsigned char kJpeg[] = {0xff, 0xd8, 0xff};
  auto starts_with = [&](const unsigned char* sig, size_t n) {
    return bytes.size() >= n && std::equal(sig, sig + n, reinterpret_cast<const unsigned char*>(bytes.data()));
  };
  return starts_with(kPng, sizeof kPng) || starts_with(kJpeg, sizeof kJpeg);
}

// stb allocates a PNG chunk's buffer from the length the chunk claims (up to 2^30, doubled
// by its growth rule) before it finds the data short: fuzz/fuzz_image.cpp found a 90-byte
// file asking for 2 GB. So every chunk must lie inside the file before stb sees it.
bool png_chunks_inside(const std::vector<char>& bytes) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t at = 8;  // after the signature
  while (at + 12 <= bytes.size()) {
    const uint64_t length = (uint64_t{b[at]} << 24) | (uint64_t{b[at + 1]} << 16) | (uint64_t{b[at + 2]} << 8) | b[at + 3];
    const bool end = std::equal(b + at + 4, b + at + 8, "IEND");
    if (length > bytes.size() - at - 12) return false;  // data and CRC must fit
    at += 12 + length;
    if (end) return true;
  }
  return at == bytes.size();  // no IEND: stb reads what is there and may still refuse it
}

// A header may claim any size; the decoder would allocate for it before finding the data
// short. 2^26 pixels (8192 x 8192) is far beyond any data set ddkit reads.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

struct ImageHeader {
  int width = 0, height = 0, channels = 0;
};

ImageHeader read_header(const std::filesystem::path& file, const std::vector<char>& bytes) {
  if (!png_or_jpeg(bytes)) throw Error(file.string(), "not a PNG or JPEG image (no PNG or JPEG signature)");
  if (bytes[0] != '\xff' && !png_chunks_inside(bytes)) {
    throw Error(file.string(), "corrupt PNG: a chunk's length runs past the end of the file");
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw Error(file.string(), "image file too large (over 2 GiB)");
  }
  ImageHeader header;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                             &header.width, &header.height, &header.channels)) {
    throw Error(file.string(), std::string("not a readable PNG/JPEG image (") + stbi_failure_reason() + ")");
  }
  if (header.width <= 0 || header.height <= 0 || int64_t{header.width} * header.height > kMaxImagePixels) {
    throw Error(file.string(), "image header claims " + std::to_string(header.width) + " x " +
                                   std::to_string(header.height) + " pixels (at most 2^26 are read)");
  }
  return header;
}

}  // namespace

int image_file_channels(const std::filesystem::path& file) {
  return read_header(file, read_file_bytes(file)).channels <= 2 ? 1 : 3;
}

at::Tensor load_image(const std::filesystem::path& file, int channels) {
  const auto bytes = read_file_bytes(file);
  const auto header = read_header(file, bytes);
  if (channels == 0) channels = header.channels <= 2 ? 1 : 3;
  int w = 0, h = 0, file_channels = 0;
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
