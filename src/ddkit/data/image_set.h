// Image sets on disk (docs/design.md "File formats"): a pool, a distilled set or a
// sampled set is a directory with images.pt, labels.pt, metadata.jsonl,
// images/<label>/<index>.png and meta.json. A directory of PNG/JPEG class
// folders alone is readable too.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"

namespace ddkit::data {

struct ImageSet {
  at::Tensor images;  // float32 N x C x H x W, normalized
  at::Tensor labels;  // int64 N
  at::Tensor scores;  // float64 N, NaN = unknown; undefined = no scores at all
  std::vector<std::string> file_names;  // "images/<label>/<index>.png" (set by write/read)
  nlohmann::json meta = nlohmann::json::object();

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// Write `set` as a directory, atomically (built under a temporary name and
// renamed into place). `meta` gets "normalization" and "num_images" added.
// `extra_files` (name -> contents, e.g. sampling.json) are written inside it.
void write_image_set(const std::filesystem::path& dir, const ImageSet& set, const Dataset& data,
                     const std::map<std::string, std::string>& extra_files = {});

// Read an image set and check it against the dataset (image shape, label range).
ImageSet read_image_set(const std::filesystem::path& dir, const Dataset& data);

// One line of metadata.jsonl.
struct MetadataEntry {
  std::string file_name;
  int64_t label = -1;  // -1 when the line has none
  double score;        // NaN when the line has none
};
std::vector<MetadataEntry> read_metadata(const std::filesystem::path& file);
// metadata.jsonl text for parallel lists (scores may be undefined; NaN = no score).
std::string metadata_jsonl(const std::vector<std::string>& file_names, const at::Tensor& labels,
                           const at::Tensor& scores);

// Indices of `labels` equal to each class, in order.
std::vector<std::vector<int64_t>> indices_by_class(const at::Tensor& labels, int64_t num_classes);

}  // namespace ddkit::data
