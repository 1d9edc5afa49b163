#include <algorithm>

#include <ATen/ATen.h>

#include "ddkit/data/image_io.h"
#include "ddkit/data/readers.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit::data {

RawSplit read_image_folder_split(const fs::path& dir, const std::vector<std::string>& class_names,
                                 int64_t& channels, int64_t& height, int64_t& width) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir.string(), "no such directory");
  std::vector<at::Tensor> images;
  std::vector<int64_t> labels;
  for (size_t label = 0; label < class_names.size(); ++label) {
    const fs::path class_dir = dir / class_names[label];
    if (!fs::is_directory(class_dir, ec)) continue;  // a class may be absent from one split
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(class_dir)) {
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // a fixed order makes seeds reproducible
    for (const auto& file : files) {
      if (height == 0) {
        channels = image_file_channels(file);
      }
      auto image = load_image(file, static_cast<int>(channels));
      if (height == 0) {
        height = image.size(1);
        width = image.size(2);
      } else if (image.size(1) != height || image.size(2) != width) {
        throw Error(file.string(), "image is " + std::to_string(image.size(2)) + "x" +
                                       std::to_string(image.size(1)) + ", expected " + std::to_string(width) +
                                       "x" + std::to_string(height) + " like the rest of the dataset");
      }
      images.push_back(image);
      labels.push_back(static_cast<int64_t>(label));
    }
  }
  if (images.empty()) throw Error(dir.string(), "no PNG/JPEG images in its class folders");
  return {at::stack(images), at::tensor(labels, at::kLong)};
}

}  // namespace ddkit::data
