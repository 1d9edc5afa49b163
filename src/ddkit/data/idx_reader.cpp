// IDX format (LeCun's MNIST files; Fashion-MNIST uses the same): big-endian
// magic 0x00000803 (images, dims N,H,W) or 0x00000801 (labels, dim N), then bytes.
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "ddkit/data/readers.h"
#include "ddkit/util/error.h"

namespace ddkit::data {
namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// gzread reads plain files transparently, so one reader serves .gz and raw IDX.
class GzFile {
 public:
  explicit GzFile(const std::filesystem::path& path) : path_(path.string()) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path_, "no such file");
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) throw Error(path_, "cannot open for reading");
  }
  ~GzFile() {
    if (file_) gzclose(file_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads `size` bytes into a new uint8 tensor of `shape`. The header's count is not
  // trusted for the allocation: the buffer grows with the data actually read (doubling,
  // from 64 MiB), so a header claiming more than the file holds costs no more memory than
  // the file itself before it is refused as truncated (found by fuzz/fuzz_idx.cpp).
  at::Tensor read_payload(at::IntArrayRef shape, const char* what) {
    const size_t size = static_cast<size_t>(c10::multiply_integers(shape));
    std::vector<uint8_t> buffer;
    size_t done = 0;
    while (done < size) {
      const size_t next = std::min(size, std::max<size_t>(size_t{64} << 20, 2 * done));
      buffer.resize(next);
      read_exact(buffer.data() + done, next - done, what, done, size);
      done = next;
    }
    return at::from_blob(buffer.data(), shape, at::kByte).clone();
  }

  void read_exact(void* dest, size_t size, const char* what) { read_exact(dest, size, what, 0, size); }

 private:
  // `offset` and `total` place this read in a larger one, for the truncation message.
  void read_exact(void* dest, size_t size, const char* what, size_t offset, size_t total) {
    auto* out = static_cast<char*>(dest);
    size_t done = 0;
    while (done < size) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw Error(path_, std::string("corrupt or truncated gzip data (") + message + ")");
      }
      if (got == 0) {
        throw Error(path_, "truncated: ended while reading " + std::string(what) + " (" +
                               std::to_string(offset + done) + " of " + std::to_string(total) + " bytes)");
      }
      done += static_cast<size_t>(got);
    }
  }

 public:
  uint32_t read_u32_be(const char* what) {
    unsigned char b[4];
    read_exact(b, 4, what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
};

std::string hex(uint32_t value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", value);
  return buf;
}

}  // namespace

at::Tensor read_idx_images(const std::filesystem::path& file) {
  GzFile in(file);
  const uint32_t magic = in.read_u32_be("the header");
  if (magic != kIdxImagesMagic) {
    throw Error(in.path(), "wrong IDX magic " + hex(magic) + " (expected " + hex(kIdxImagesMagic) +
                               " for an image file)");
  }
  const int64_t n = in.read_u32_be("the header"), h = in.read_u32_be("the header"),
                w = in.read_u32_be("the header");
  // Bound the allocation by what a real file can hold before reading pixels.
  if (n <= 0 || h <= 0 || w <= 0 || h > 4096 || w > 4096 || n * h * w > (int64_t{1} << 36)) {
    throw Error(in.path(), "implausible IDX image dimensions " + std::to_string(n) + "x" +
                               std::to_string(h) + "x" + std::to_string(w));
  }
  return in.read_payload({n, 1, h, w}, "pixels");
}

at::Tensor read_idx_labels(const std::filesystem::path& file, int64_t num_classes) {
  GzFile in(file);
  const uint32_t magic = in.read_u32_be("the header");
  if (magic != kIdxLabelsMagic) {
    throw Error(in.path(), "wrong IDX magic " + hex(magic) + " (expected " + hex(kIdxLabelsMagic) +
                               " for a label file)");
  }
  const int64_t n = in.read_u32_be("the header");
  if (n <= 0) throw Error(in.path(), "has no labels (count " + std::to_string(n) + " in the header)");
  const auto bytes = in.read_payload({n}, "labels");
  const int64_t max_label = bytes.max().item<int64_t>();
  if (max_label >= num_classes) {
    const int64_t index = bytes.argmax().item<int64_t>();
    throw Error(in.path(), "label " + std::to_string(max_label) + " at index " + std::to_string(index) +
                               " is out of range (" + std::to_string(num_classes) + " classes)");
  }
  return bytes.to(at::kLong);
}

}  // namespace ddkit::data
