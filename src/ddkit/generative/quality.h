// Generator quality (docs/algorithms.md §11 "Generator quality" [ddkit]), the two
// measures of the field for class-conditional generators:
//  - FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted
//    to features of generated and of real test images. Features: the 2048-d
//    embedding (before the classifier) of a ConvNet-3 trained on the real
//    training split — the Inception network of the usual FID sees natural
//    images, not 28x28 grey ones. The extractor is trained once per data set,
//    epochs and seed, and cached beside the reference accuracies.
//  - CAS, classification accuracy score (Ravuri & Vinyals 2019): a fresh
//    ConvNet-3 trained on generated images only, tested on the real test
//    split.
// Both are printed beside their real-data reference: a class-balanced subset
// of the training split of the same size, vs the same test split (FID is
// biased by the number of images, so the reference uses the same number).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/generative/sampler.h"
#include "ddkit/models/classifier.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::generative {

// Mean (D) and unbiased covariance (D x D, divided by N - 1 as numpy.cov)
// of N x D features, in float64.
struct GaussianStats {
  at::Tensor mean, covariance;
};
GaussianStats gaussian_stats(const at::Tensor& features);

// The square root of a symmetric positive semi-definite matrix through its
// eigen-decomposition (eigenvalues below 0 from rounding are taken as 0).
at::Tensor symmetric_sqrt(const at::Tensor& matrix);

// ||m_a - m_b||^2 + tr(C_a) + tr(C_b) - 2 tr((C_a^1/2 C_b C_a^1/2)^1/2).
// tr((C_a C_b)^1/2) is computed on the symmetric matrix C_a^1/2 C_b C_a^1/2,
// whose eigenvalues are those of C_a C_b, so no non-symmetric square root
// (scipy.linalg.sqrtm's route in pytorch-fid) is needed.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

struct QualityOptions : RunSettings {
  int64_t images = 10000;        // generated images, balanced over the classes
  int64_t extractor_epochs = 3;  // [ddkit] the feature ConvNet-3's training on the real split
  int64_t cas_epochs = 10;       // [ddkit] CAS training epochs (exactly; no augmentation); 0 = no CAS
  std::filesystem::path cache_dir;  // empty: train::default_cache_dir()
};

// The feature extractor: from the cache when there, else trained (protocol
// optimiser, exactly extractor_epochs epochs, no augmentation) and cached.
std::shared_ptr<models::ClassifierImpl> quality_extractor(const data::Dataset& data, const QualityOptions& options);

// Holds the extractor and the test split's feature statistics.
class QualityMeter {
 public:
  QualityMeter(const data::Dataset& data, const QualityOptions& options);
  // FID of normalized images against the test split.
  double fid(const at::Tensor& images) const;
  // CAS in percent: a ConvNet-3 trained on (images, labels) for cas_epochs.
  double cas(const at::Tensor& images, const at::Tensor& labels) const;
  // The real-data reference at `per_class` images per class: {"fid", "cas"}
  // (cas omitted when cas_epochs is 0), cached.
  nlohmann::json real_reference(int64_t per_class) const;

 private:
  const data::Dataset& data_;
  QualityOptions options_;
  std::shared_ptr<models::ClassifierImpl> extractor_;
  GaussianStats test_;
};

// `ddkit gen-eval`: FID and CAS of a generator's images (generated as
// `ddkit distill --method diffusion` would, images / classes per class, with
// `sampler` and the seed) or of an existing image set, beside the real reference.
struct GenEvalOptions {
  std::filesystem::path generator_file;  // DIR/model.pt of `ddkit gen-train`, or
  std::filesystem::path set_dir;         // an image set (e.g. a pool)
  SamplerOptions sampler;
  int64_t batch = 250;
  QualityOptions quality;
  std::filesystem::path out;             // quality.json (atomic); empty: not written
};
nlohmann::json evaluate_generator(const data::Dataset& data, const GenEvalOptions& options);

}  // namespace ddkit::generative
