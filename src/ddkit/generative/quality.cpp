#include "ddkit/generative/quality.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ddkit/data/image_set.h"
#include "ddkit/generative/generate_run.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/cache.h"
#include "ddkit/train/device.h"
#include "ddkit/train/model_io.h"
#include "ddkit/train/observer.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::generative {

GaussianStats gaussian_stats(const at::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2) {
    throw Error("--images", "FID needs at least 2 images");
  }
  const auto x = features.to(torch::kCPU).to(torch::kDouble);
  const auto mean = x.mean(0);
  const auto centred = x - mean;
  return {mean, centred.t().matmul(centred) / static_cast<double>(x.size(0) - 1)};
}

at::Tensor symmetric_sqrt(const at::Tensor& matrix) {
  const auto symmetric = 0.5 * (matrix + matrix.t());  // rounding can break exact symmetry
  auto [values, vectors] = at::linalg_eigh(symmetric, "L");
  return (vectors * values.clamp_min(0).sqrt().unsqueeze(0)).matmul(vectors.t());
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  const auto root_a = symmetric_sqrt(a.covariance);
  const auto middle = root_a.matmul(b.covariance).matmul(root_a);
  const double cross = at::linalg_eigvalsh(0.5 * (middle + middle.t()), "L").clamp_min(0).sqrt().sum().item<double>();
  const double means = (a.mean - b.mean).pow(2).sum().item<double>();
  return means + a.covariance.trace().item<double>() + b.covariance.trace().item<double>() - 2.0 * cross;
}

namespace {

fs::path cache_dir_of(const QualityOptions& o) { return o.cache_dir.empty() ? train::default_cache_dir() : o.cache_dir; }

json extractor_key(const data::Dataset& data, const QualityOptions& o) {
  return {{"data", train::data_fingerprint(data)}, {"model", "convnet"}, {"epochs", o.extractor_epochs},
          {"seed", o.seed}, {"use", "generator quality features"}};
}

// The training both the extractor and CAS use: the protocol's optimiser and
// lr decay, no augmentation, exactly `epochs` passes.
train::TrainOptions plain_training(int64_t epochs) {
  train::TrainOptions t;
  t.epochs = epochs;
  t.extra_epoch = false;
  return t;
}

// Images of `split`, `per_class` of each class, drawn without replacement
// (a seeded permutation per class).
std::pair<at::Tensor, at::Tensor> balanced_subset(const data::Split& split, int64_t num_classes, int64_t per_class,
                                                  uint64_t seed) {
  auto generator = train::make_generator(seed * 0x9E3779B97F4A7C15ULL + 17);
  std::vector<at::Tensor> index;
  for (int64_t c = 0; c < num_classes; ++c) {
    const auto members = split.labels.eq(c).nonzero().squeeze(1);
    if (members.size(0) < per_class) {
      throw Error("--images", fmt::format("class {} has {} training images, fewer than the {} per class asked for", c,
                                          members.size(0), per_class));
    }
    index.push_back(members.index_select(0, torch::randperm(members.size(0), generator, torch::kLong).narrow(0, 0, per_class)));
  }
  const auto all = torch::cat(index);
  return {split.images.index_select(0, all), split.labels.index_select(0, all)};
}

}  // namespace

std::shared_ptr<models::ClassifierImpl> quality_extractor(const data::Dataset& data, const QualityOptions& o) {
  const auto key = extractor_key(data, o);
  const auto file = cache_dir_of(o) / fmt::format("extractor-convnet-{:016x}.pt", train::stable_hash(key.dump()));
  std::error_code ec;
  if (fs::exists(file, ec)) {
    try {
      auto loaded = train::load_model(file);
      if (loaded.info.extra.value("key", json()) == key) {
        spdlog::info("quality: feature extractor from {}", file.string());
        loaded.model->to(train::parse_device(o.device));
        return loaded.model;
      }
    } catch (const Error&) {
      // A damaged cache entry is retrained and replaced.
    }
  }
  spdlog::info("quality: training the feature extractor (ConvNet-3, {} epochs on the training split; cached in {})",
               o.extractor_epochs, file.parent_path().string());
  auto model = train::train_on_training_split(data, "convnet", plain_training(o.extractor_epochs), o.seed, o.device,
                                              o.quiet);
  train::ModelInfo info;
  info.model_name = "convnet";
  info.shape = {data.channels, data.height, data.width};
  info.num_classes = data.num_classes;
  info.dataset = data.spec;
  info.extra = {{"key", key}};
  fs::create_directories(file.parent_path(), ec);
  if (ec) throw Error(file.parent_path().string(), "cannot create the cache directory: " + ec.message());
  train::save_model(file, *model, info);
  return model;
}

QualityMeter::QualityMeter(const data::Dataset& data, const QualityOptions& options)
    : data_(data), options_(options), extractor_(quality_extractor(data, options)) {
  if (data.test.size() < 2) throw Error(data.spec, "FID needs the test split");
  const auto device = train::parse_device(options_.device);
  test_ = gaussian_stats(train::embed_all(*extractor_, data.test.images.to(device)));
}

double QualityMeter::fid(const at::Tensor& images) const {
  const auto device = train::parse_device(options_.device);
  return frechet_distance(gaussian_stats(train::embed_all(*extractor_, images.to(device))), test_);
}

double QualityMeter::cas(const at::Tensor& images, const at::Tensor& labels) const {
  const auto device = train::parse_device(options_.device);
  auto generator = train::seed_unit_of_work(options_.seed + 1);
  auto model = models::make_model("convnet", {data_.channels, data_.height, data_.width}, data_.num_classes);
  train::train_classifier(*model, images.to(device), labels.to(device), plain_training(options_.cas_epochs), generator);
  return train::test_accuracy(*model, data_.test.images.to(device), data_.test.labels.to(device));
}

json QualityMeter::real_reference(int64_t per_class) const {
  const json key = {{"extractor", extractor_key(data_, options_)},
                    {"per_class", per_class},
                    {"cas_epochs", options_.cas_epochs},
                    {"subset", "balanced training subset, seed-drawn"}};
  const auto file = cache_dir_of(options_) / fmt::format("quality-real-{:016x}.json", train::stable_hash(key.dump()));
  std::error_code ec;
  if (fs::exists(file, ec)) {
    const auto bytes = read_file_bytes(file);
    const auto saved = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (saved.is_object() && saved.value("key", json()) == key && saved.contains("reference")) return saved.at("reference");
  }
  const auto [images, labels] = balanced_subset(data_.train, data_.num_classes, per_class, options_.seed);
  json reference = {{"fid", fid(images)}};
  if (options_.cas_epochs > 0) reference["cas"] = cas(images, labels);
  write_file_atomic(file, json{{"key", key}, {"reference", reference}}.dump(2) + "\n");
  return reference;
}

json evaluate_generator(const data::Dataset& data, const GenEvalOptions& o) {
  if (o.generator_file.empty() == o.set_dir.empty()) throw Error("--generator", "give a generator or --set, not both");
  // The images first: a bad generator or set fails before the extractor is trained.
  data::ImageSet set;
  json source;
  if (!o.generator_file.empty()) {
    if (o.quality.images < data.num_classes) {
      throw Error("--images", fmt::format("must be at least one per class ({})", data.num_classes));
    }
    GenerateOptions generate;
    generate.generator_file = o.generator_file;
    generate.per_class = o.quality.images / data.num_classes;
    generate.sampler = o.sampler;
    generate.batch = o.batch;
    generate.settings() = o.quality.nested();
    set = generate_set(data, generate);
    source = {{"generator", o.generator_file.string()}, {"solver", to_string(o.sampler.solver)},
              {"sampling_steps", o.sampler.steps}, {"guidance", o.sampler.guidance},
              {"generate_seconds", set.meta.at("generate_seconds")},
              {"images_per_second", set.meta.at("images_per_second")}};
  } else {
    set = data::read_image_set(o.set_dir, data);
    source = {{"set", o.set_dir.string()}};
  }
  const auto counts = torch::bincount(set.labels, {}, data.num_classes);
  const int64_t per_class = counts.min().item<int64_t>();
  if (per_class < 1 || !counts.eq(per_class).all().item<bool>()) {
    throw Error(o.set_dir.empty() ? o.generator_file.string() : o.set_dir.string(),
                "quality needs the same number of images in every class");
  }
  const QualityMeter meter(data, o.quality);
  json result = {{"images", set.size()}, {"per_class", per_class}, {"source", source},
                 {"extractor_epochs", o.quality.extractor_epochs}, {"seed", o.quality.seed}};
  result["fid"] = meter.fid(set.images);
  if (o.quality.cas_epochs > 0) {
    result["cas"] = meter.cas(set.images, set.labels);
    result["cas_epochs"] = o.quality.cas_epochs;
  }
  result["real"] = meter.real_reference(per_class);
  if (!o.out.empty()) write_file_atomic(o.out, result.dump(2) + "\n");
  return result;
}

}  // namespace ddkit::generative
