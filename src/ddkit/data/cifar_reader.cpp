// CIFAR-10/100 "binary version" files: fixed-size records of label byte(s)
// followed by 3072 bytes (1024 R, 1024 G, 1024 B, each 32x32 row-major).
#include <ATen/ATen.h>

#include "ddkit/data/readers.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

RawSplit read_records(const std::filesystem::path& file, int64_t label_bytes, int64_t label_offset,
                      int64_t num_classes) {
  const auto bytes = read_file_bytes(file);
  const int64_t record = label_bytes + kPixels;
  if (bytes.empty() || static_cast<int64_t>(bytes.size()) % record != 0) {
    throw Error(file.string(), "size " + std::to_string(bytes.size()) + " is not a whole number of " +
                                   std::to_string(record) + "-byte CIFAR records (truncated?)");
  }
  const int64_t n = static_cast<int64_t>(bytes.size()) / record;
  auto all = at::from_blob(const_cast<char*>(bytes.data()), {n, record}, at::kByte).clone();
  auto labels = all.select(1, label_offset).to(at::kLong);
  const int64_t max_label = labels.max().item<int64_t>();
  if (max_label >= num_classes) {
    throw Error(file.string(), "label " + std::to_string(max_label) + " at record " +
                                   std::to_string(labels.argmax().item<int64_t>()) + " is out of range (" +
                                   std::to_string(num_classes) + " classes)");
  }
  auto images = all.narrow(1, label_bytes, kPixels).reshape({n, 3, 32, 32}).contiguous();
  return {images, labels};
}

}  // namespace

RawSplit read_cifar10_files(const std::vector<std::filesystem::path>& files) {
  std::vector<at::Tensor> images, labels;
  for (const auto& file : files) {
    auto part = read_records(file, 1, 0, 10);
    images.push_back(part.images);
    labels.push_back(part.labels);
  }
  return {at::cat(images), at::cat(labels)};
}

RawSplit read_cifar100_file(const std::filesystem::path& file) {
  return read_records(file, 2, 1, 100);  // byte 0 coarse, byte 1 fine label
}

}  // namespace ddkit::data
