// Per-sample difficulty scores from trained observers (docs/algorithms.md §8).
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ddkit/data/dataset.h"
#include "ddkit/models/classifier.h"
#include "ddkit/train/observer.h"

namespace ddkit::difficulty {

// prob: 1 - softmax(f(x))[y] (the seeds' definition, used by DGS).
// el2n: ||softmax(f(x)) - onehot(y)||_2 (Paul et al. 2021).
// grand: ||grad_theta CE(f(x), y)||_2 over all parameters (exact, per sample).
// grand-last: the same restricted to the last linear layer, in closed form.
// forgetting: correct -> incorrect transitions over the observer's epochs.
enum class Scorer { kProb, kEl2n, kGrand, kGrandLast, kForgetting };
Scorer parse_scorer(const std::string& name);  // throws ddkit::Error("--scorer", ...)
std::string scorer_name(Scorer scorer);

// Scores of `images` (N x C x H x W, normalized) with labels from one trained
// model; N doubles on the CPU. Not for kForgetting (it needs the training run).
at::Tensor model_scores(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                        Scorer scorer, int64_t batch_size = 500);

// GraNd's exact path: per-sample squared gradient norms over all parameters.
// Batched for the default ConvNet (instance norm); one sample at a time otherwise.
at::Tensor per_sample_grad_sq_norms(models::ClassifierImpl& model, const at::Tensor& images,
                                    const at::Tensor& labels);

struct ScoreOptions {
  Scorer scorer = Scorer::kProb;
  int64_t observers = 1;  // K: scores are averaged over K observers (seeds seed + k)
  train::ObserverOptions observer;  // model file, or what to train
};

// Scores of `images`; observers are trained on `data`'s training split (or loaded).
// kForgetting scores the training split itself and requires images == train split.
at::Tensor score_images(const data::Dataset& data, const at::Tensor& images, const at::Tensor& labels,
                        const ScoreOptions& options);

}  // namespace ddkit::difficulty
