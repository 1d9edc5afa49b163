// The on-disk cache of things ddkit trains once and reuses: the reference
// accuracies beside every evaluation (pipeline/reference_accuracy) and the
// feature extractor of the generator's quality metrics
// (generative/quality). An entry's file name is a stable hash of a JSON key
// holding everything that changes it; the entry stores the key and is used
// only when the stored key is equal.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"

namespace ddkit::train {

// $DDKIT_CACHE_DIR, else $XDG_CACHE_HOME/ddkit/baselines, else ~/.cache/ddkit/baselines.
std::filesystem::path default_cache_dir();

// FNV-1a, 64 bit: a stable file name for a cache key (std::hash is not stable).
uint64_t stable_hash(const std::string& text);

// What identifies the data: its name and source, split sizes, and sums of
// its pixels and labels (so another copy of "fashion-mnist" with other
// contents does not hit the cache).
nlohmann::json data_fingerprint(const data::Dataset& data);

}  // namespace ddkit::train
