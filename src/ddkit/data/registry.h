// Dataset specs on the command line (docs/design.md "CLI contract"): "fashion-mnist"
// (the default, from Debian's dataset-fashion-mnist or --data-dir),
// "mnist:PATH", "cifar10:PATH", "cifar100:PATH", "folder:PATH".
#pragma once
#include <string>
#include <vector>

#include "ddkit/data/dataset.h"

namespace ddkit::data {

struct DataOptions {
  // Folder holding the packaged datasets (Debian: /usr/share/datasets, with
  // fashion-mnist/ below it); a folder with the four IDX files also works.
  std::string data_dir = DDKIT_DEFAULT_DATA_DIR;
  bool load_test = true;
};

// Load and normalize a dataset. Throws ddkit::Error for an unknown name, a
// missing path or a malformed file.
Dataset load_dataset(const std::string& spec, const DataOptions& options = {});

// Per-dataset normalization (docs/algorithms.md §1); empty for folder data.
Normalization published_normalization(const std::string& name);

struct DatasetStatus {
  std::string name;
  std::string usage;    // e.g. "cifar10:PATH"
  std::string where;    // where it was found, or what is missing
  bool found = false;
};
std::vector<DatasetStatus> list_datasets(const DataOptions& options = {});

}  // namespace ddkit::data
