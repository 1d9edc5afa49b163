#include "ddkit/train/cache.h"

#include <cstdlib>

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ddkit::train {

std::filesystem::path default_cache_dir() {
  if (const char* dir = std::getenv("DDKIT_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "ddkit" / "baselines";
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".cache" / "ddkit" / "baselines";
  }
  return std::filesystem::temp_directory_path() / "ddkit-baselines";
}

uint64_t stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

nlohmann::json data_fingerprint(const data::Dataset& data) {
  return {{"name", data.name},
          {"path", data.path},
          {"train", data.train.size()},
          {"test", data.test.size()},
          {"pixel_sum", fmt::format("{:.6e}", data.train.images.sum(at::kDouble).item<double>())},
          {"label_sum", data.train.labels.sum().item<int64_t>()}};
}

}  // namespace ddkit::train
