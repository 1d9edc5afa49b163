#include "ddkit/data/image_set.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "ddkit/data/image_io.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::data {
namespace {

std::string png_name(int64_t label, int64_t index, int width) {
  return fmt::format("images/{}/{:0{}d}.png", label, index, width);
}

int index_width(int64_t n) { return std::max<int>(5, static_cast<int>(std::to_string(n).size())); }

json normalization_json(const Normalization& norm) { return {{"mean", norm.mean}, {"std", norm.std}}; }

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
  if (!out) throw Error(file.string(), "write failed (disk full?)");
}

void check_against_dataset(const ImageSet& set, const Dataset& data, const fs::path& where,
                           const fs::path& labels_where) {
  const auto& images = set.images;
  if (images.dim() != 4 || images.size(1) != data.channels || images.size(2) != data.height ||
      images.size(3) != data.width) {
    throw Error(where.string(), fmt::format("images are {}, expected N x {} x {} x {} for {}",
                                            fmt::join(images.sizes(), " x "), data.channels, data.height,
                                            data.width, data.spec));
  }
  if (set.labels.dim() != 1 || set.labels.size(0) != images.size(0)) {
    throw Error(labels_where.string(),
                fmt::format("has {} labels for {} images", set.labels.numel(), images.size(0)));
  }
  if (set.size() > 0) {
    const int64_t lo = set.labels.min().item<int64_t>(), hi = set.labels.max().item<int64_t>();
    if (lo < 0 || hi >= data.num_classes) {
      throw Error(labels_where.string(), fmt::format("label {} is out of range ({} classes)", lo < 0 ? lo : hi,
                                              data.num_classes));
    }
  }
}

// Map a class folder's name to a label: a number, or one of the dataset's class names.
int64_t folder_label(const fs::path& folder, const Dataset& data) {
  const std::string name = folder.filename().string();
  if (!name.empty() && name.size() < 10 && std::all_of(name.begin(), name.end(), ::isdigit)) {
    const int64_t label = std::stoll(name);
    if (label >= data.num_classes) {
      throw Error(folder.string(), fmt::format("label {} is out of range ({} classes)", label, data.num_classes));
    }
    return label;
  }
  auto it = std::find(data.class_names.begin(), data.class_names.end(), name);
  if (it == data.class_names.end()) {
    throw Error(folder.string(), "folder name is neither a label number nor a class of " + data.spec);
  }
  return it - data.class_names.begin();
}

ImageSet read_png_tree(const fs::path& dir, const Dataset& data) {
  std::error_code ec;
  const fs::path root = fs::is_directory(dir / "images", ec) ? dir / "images" : dir;
  std::vector<std::pair<int64_t, fs::path>> folders;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.is_directory()) folders.emplace_back(folder_label(entry.path(), data), entry.path());
  }
  std::sort(folders.begin(), folders.end());
  ImageSet set;
  std::vector<at::Tensor> images;
  std::vector<int64_t> labels;
  for (const auto& [label, folder] : folders) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      auto image = load_image(file, static_cast<int>(data.channels));
      if (image.size(1) != data.height || image.size(2) != data.width) {
        throw Error(file.string(), fmt::format("image is {}x{}, expected {}x{} for {}", image.size(2),
                                               image.size(1), data.width, data.height, data.spec));
      }
      images.push_back(image);
      labels.push_back(label);
      set.file_names.push_back(fs::relative(file, dir).generic_string());
    }
  }
  if (images.empty()) throw Error(dir.string(), "no images.pt and no PNG/JPEG class folders");
  set.images = normalize(at::stack(images).to(at::kFloat).div_(255.0), data.normalization);
  set.labels = at::tensor(labels, at::kLong);
  return set;
}

}  // namespace

std::vector<MetadataEntry> read_metadata(const fs::path& file) {
  std::vector<MetadataEntry> entries;
  std::ifstream in(file);
  if (!in) throw Error(file.string(), "cannot open for reading");
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json entry;
    try {
      entry = json::parse(line);
    } catch (const json::exception&) {
      throw Error(file.string(), "line " + std::to_string(line_number) + " is not valid JSON");
    }
    if (!entry.is_object() || !entry.contains("file_name") || !entry["file_name"].is_string()) {
      throw Error(file.string(), "line " + std::to_string(line_number) + " has no \"file_name\" string");
    }
    MetadataEntry parsed{entry["file_name"].get<std::string>(), -1, std::nan("")};
    if (entry.contains("label") && entry["label"].is_number_integer()) parsed.label = entry["label"].get<int64_t>();
    if (entry.contains("score") && entry["score"].is_number()) parsed.score = entry["score"].get<double>();
    entries.push_back(std::move(parsed));
  }
  return entries;
}

std::string metadata_jsonl(const std::vector<std::string>& file_names, const at::Tensor& labels,
                           const at::Tensor& scores) {
  const auto label_cpu = labels.to(at::kCPU, at::kLong).contiguous();
  const auto score_cpu = scores.defined() ? scores.to(at::kCPU, at::kDouble).contiguous() : at::Tensor();
  std::string text;
  for (size_t i = 0; i < file_names.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    json line = {{"file_name", file_names[i]}, {"label", label_cpu.data_ptr<int64_t>()[row]}};
    if (score_cpu.defined() && !std::isnan(score_cpu.data_ptr<double>()[row])) {
      line["score"] = score_cpu.data_ptr<double>()[row];
    }
    text += line.dump() + "\n";
  }
  return text;
}

std::vector<std::vector<int64_t>> indices_by_class(const at::Tensor& labels, int64_t num_classes) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(num_classes));
  const auto cpu = labels.to(at::kCPU).to(at::kLong).contiguous();
  const auto* p = cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < cpu.numel(); ++i) out.at(static_cast<size_t>(p[i])).push_back(i);
  return out;
}

void write_image_set(const fs::path& dir, const ImageSet& set, const Dataset& data,
                     const std::map<std::string, std::string>& extra_files) {
  check_against_dataset(set, data, dir, dir);
  if (set.scores.defined() && set.scores.numel() != set.size()) {
    throw Error(dir.string(), fmt::format("{} scores for {} images", set.scores.numel(), set.size()));
  }
  StagedDirectory staged(dir);
  const fs::path& root = staged.path();
  const auto images = set.images.detach().to(at::kCPU, at::kFloat).contiguous();
  const auto labels = set.labels.to(at::kCPU, at::kLong).contiguous();
  save_tensor(root / "images.pt", images);
  save_tensor(root / "labels.pt", labels);

  const int64_t n = set.size();
  const int width = index_width(n);
  const auto pixels =
      denormalize(images, data.normalization).clamp(0.0, 1.0).mul(255.0).round().to(at::kByte).contiguous();
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) {
    names.push_back(png_name(labels.data_ptr<int64_t>()[i], i, width));
    fs::create_directories((root / names.back()).parent_path());
    write_text(root / names.back(), encode_png(pixels[i]));
  }
  const std::string metadata = metadata_jsonl(names, labels, set.scores);
  write_text(root / "metadata.jsonl", metadata);

  json meta = set.meta;
  meta["dataset"] = data.spec;
  meta["normalization"] = normalization_json(data.normalization);
  meta["num_images"] = n;
  meta["image_shape"] = {data.channels, data.height, data.width};
  if (!meta.contains("ddkit_version")) meta["ddkit_version"] = DDKIT_VERSION;
  write_text(root / "meta.json", meta.dump(2) + "\n");
  for (const auto& [name, contents] : extra_files) write_text(root / name, contents);
  staged.commit();
}

ImageSet read_image_set(const fs::path& dir, const Dataset& data) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir.string(), "no such directory");
  if (!fs::is_directory(dir, ec)) throw Error(dir.string(), "is not a directory (expected an image set)");
  ImageSet set;
  if (fs::exists(dir / "images.pt", ec)) {
    set.images = load_tensor(dir / "images.pt").to(at::kFloat);
    if (!fs::exists(dir / "labels.pt", ec)) throw Error((dir / "labels.pt").string(), "no such file");
    set.labels = load_tensor(dir / "labels.pt").to(at::kLong);
    check_against_dataset(set, data, dir / "images.pt", dir / "labels.pt");
    const int width = index_width(set.size());
    for (int64_t i = 0; i < set.size(); ++i) set.file_names.push_back(png_name(set.labels[i].item<int64_t>(), i, width));
  } else {
    set = read_png_tree(dir, data);
    check_against_dataset(set, data, dir, dir);
  }
  if (fs::exists(dir / "metadata.jsonl", ec)) {
    std::map<std::string, double> by_name;
    for (const auto& entry : read_metadata(dir / "metadata.jsonl")) by_name[entry.file_name] = entry.score;
    set.scores = at::full({set.size()}, std::nan(""), at::kDouble);
    bool any = false;
    for (int64_t i = 0; i < set.size(); ++i) {
      auto it = by_name.find(set.file_names[static_cast<size_t>(i)]);
      if (it != by_name.end() && !std::isnan(it->second)) {
        set.scores[i] = it->second;
        any = true;
      }
    }
    if (!any) set.scores = at::Tensor();
  }
  if (fs::exists(dir / "meta.json", ec)) {
    const auto bytes = read_file_bytes(dir / "meta.json");
    try {
      set.meta = json::parse(bytes.begin(), bytes.end());
    } catch (const json::exception&) {
      throw Error((dir / "meta.json").string(), "is not valid JSON");
    }
  }
  return set;
}

}  // namespace ddkit::data
