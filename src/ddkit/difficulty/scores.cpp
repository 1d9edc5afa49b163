#include "ddkit/difficulty/scores.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/loss.h>

#include "ddkit/models/convnet.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"
#include "ddkit/util/torch_compat.h"

namespace ddkit::difficulty {
namespace {

at::Tensor onehot(const at::Tensor& labels, int64_t classes) {
  return at::one_hot(labels, classes).to(at::kFloat);
}

// Per-sample squared gradient norms of the default ConvNet, batched: the
// gradients w.r.t. every layer's output are per sample (instance norm couples no
// samples), and each parameter's per-sample gradient follows from them:
//   conv weight: G_i (Cout x P) @ unfold(a_i)^T (P x K); conv bias: sum_p G_i
//   GroupNorm weight/bias: sum_hw dn_i * x_hat_i, sum_hw dn_i (per channel)
//   linear: ||g_i||^2 (||h_i||^2 + 1)  (outer product g_i h_i^T, plus bias)
at::Tensor convnet_grad_sq_norms(models::ConvNetImpl& net, const at::Tensor& images, const at::Tensor& labels) {
  const auto& options = net.options();
  std::vector<at::Tensor> conv_inputs, conv_outputs, norm_outputs;
  at::Tensor h = images;
  for (size_t d = 0; d < net.convs().size(); ++d) {
    auto conv = net.convs()[d];  // holders are shared handles; a copy is cheap
    auto norm = net.instance_norms()[d];
    conv_inputs.push_back(h.detach());
    auto z = conv->forward(h);
    auto n = at::group_norm(z, z.size(1), norm->weight, norm->bias, norm->options.eps());
    conv_outputs.push_back(z);
    norm_outputs.push_back(n);
    h = at::relu(n);
    if (options.pooling == "avg") h = at::avg_pool2d(h, {2, 2}, {2, 2});
    if (options.pooling == "max") h = at::max_pool2d(h, {2, 2}, {2, 2});
  }
  const auto features = h.flatten(1);
  auto classifier = net.classifier();
  const auto logits = classifier->forward(features);
  const auto loss = torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  std::vector<at::Tensor> wrt = conv_outputs;
  wrt.insert(wrt.end(), norm_outputs.begin(), norm_outputs.end());
  wrt.push_back(logits);
  const auto grads = torch::autograd::grad({loss}, wrt);
  const int64_t depth = static_cast<int64_t>(conv_outputs.size());
  const int64_t n = images.size(0);
  at::NoGradGuard no_grad;
  auto total = at::zeros({n}, images.options());
  for (int64_t d = 0; d < depth; ++d) {
    const auto padding = compat::conv2d_padding(net.convs()[static_cast<size_t>(d)]->options);
    const auto g = grads[static_cast<size_t>(d)].flatten(2);  // N x Cout x P
    const auto cols = at::im2col(conv_inputs[static_cast<size_t>(d)], {3, 3}, {1, 1}, {padding[0], padding[1]},
                                 {1, 1});  // N x K x P
    total += at::bmm(g, cols.transpose(1, 2)).pow(2).sum({1, 2});
    total += g.sum(2).pow(2).sum(1);
    const auto z = conv_outputs[static_cast<size_t>(d)].detach();
    const auto x_hat = at::group_norm(z, z.size(1), {}, {}, net.instance_norms()[static_cast<size_t>(d)]->options.eps());
    const auto dn = grads[static_cast<size_t>(depth + d)];
    total += (dn * x_hat).sum({2, 3}).pow(2).sum(1);
    total += dn.sum({2, 3}).pow(2).sum(1);
  }
  const auto g_logits = grads.back();
  total += g_logits.pow(2).sum(1) * (features.detach().pow(2).sum(1) + 1.0);
  return total;
}

// Toneva et al. 2019: a forgetting event is a correct -> incorrect change of a
// sample's prediction between two epochs; never-learnt samples get the most,
// the number of passes [ddkit: predictions are checked after every epoch].
at::Tensor forgetting_counts(const data::Dataset& data, const at::Tensor& x, const at::Tensor& y,
                             const train::ObserverOptions& observer) {
  auto generator = train::seed_unit_of_work(observer.seed);
  auto model = models::make_model(observer.model, {data.channels, data.height, data.width}, data.num_classes);
  model->to(x.device());
  auto previous = at::zeros({x.size(0)}, at::kBool);
  auto ever = at::zeros({x.size(0)}, at::kBool);
  auto events = at::zeros({x.size(0)}, at::kDouble);
  train::TrainOptions training;
  training.epochs = observer.epochs;
  training.extra_epoch = false;  // as every observer: --observer-epochs E is E passes
  ProgressOptions progress_options;
  progress_options.quiet = observer.quiet;
  progress_options.unit = "epoch";
  Progress progress("forgetting observer", train::passes(training), progress_options);
  train::train_classifier(*model, x, y, training, generator, [&](int64_t, double loss) {
    const auto correct = train::predict(*model, x).eq(y).to(at::kCPU);
    events += (previous & ~correct).to(at::kDouble);
    ever |= correct;
    previous = correct;
    progress.advance(1, fmt::format("loss {:.4f}", loss));
  });
  progress.finish();
  return events.masked_fill_(~ever, static_cast<double>(train::passes(training)));
}

}  // namespace

Scorer parse_scorer(const std::string& name) {
  if (name == "prob") return Scorer::kProb;
  if (name == "el2n") return Scorer::kEl2n;
  if (name == "grand") return Scorer::kGrand;
  if (name == "grand-last") return Scorer::kGrandLast;
  if (name == "forgetting") return Scorer::kForgetting;
  throw Error("--scorer", "unknown scorer '" + name + "' (known: prob, el2n, grand, grand-last, forgetting)");
}

std::string scorer_name(Scorer scorer) {
  switch (scorer) {
    case Scorer::kProb: return "prob";
    case Scorer::kEl2n: return "el2n";
    case Scorer::kGrand: return "grand";
    case Scorer::kGrandLast: return "grand-last";
    case Scorer::kForgetting: return "forgetting";
  }
  return "?";
}

at::Tensor per_sample_grad_sq_norms(models::ClassifierImpl& model, const at::Tensor& images,
                                    const at::Tensor& labels) {
  auto* convnet = dynamic_cast<models::ConvNetImpl*>(&model);
  if (convnet != nullptr && convnet->options().norm == "instance") {
    return convnet_grad_sq_norms(*convnet, images, labels);
  }
  // Any other model (BatchNorm in eval mode is per sample too): one backward per image.
  const auto parameters = model.parameters();
  auto out = at::empty({images.size(0)}, images.options());
  for (int64_t i = 0; i < images.size(0); ++i) {
    const auto loss =
        torch::nn::functional::cross_entropy(model.forward(images.narrow(0, i, 1)), labels.narrow(0, i, 1));
    const auto grads = torch::autograd::grad({loss}, parameters, {}, false, false, true);
    double sq = 0.0;
    for (const auto& g : grads)
      if (g.defined()) sq += g.pow(2).sum().item<double>();
    out[i] = sq;
  }
  return out;
}

at::Tensor model_scores(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                        Scorer scorer, int64_t batch_size) {
  if (scorer == Scorer::kForgetting) throw Error("--scorer", "forgetting scores come from the training run");
  model.eval();
  std::vector<at::Tensor> parts;
  const int64_t n = images.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    const auto x = images.narrow(0, start, len);
    const auto y = labels.narrow(0, start, len);
    if (scorer == Scorer::kGrand) {
      parts.push_back(per_sample_grad_sq_norms(model, x, y).sqrt().detach());
      continue;
    }
    at::NoGradGuard no_grad;
    if (scorer == Scorer::kGrandLast) {
      // Last linear layer in closed form: the CE gradient w.r.t. the logits is
      // p - onehot(y); the layer's weight gradient is its outer product with the
      // features h, so ||grad||^2 = ||p - y||^2 (||h||^2 + 1) (bias included).
      const auto features = model.embed(x);
      const auto p = model.classify(features).softmax(1);
      const auto g = p - onehot(y, p.size(1));
      parts.push_back((g.pow(2).sum(1) * (features.pow(2).sum(1) + 1.0)).sqrt());
      continue;
    }
    const auto p = model.forward(x).softmax(1);
    if (scorer == Scorer::kProb) {
      parts.push_back(1.0 - p.gather(1, y.unsqueeze(1)).squeeze(1));
    } else {
      parts.push_back((p - onehot(y, p.size(1))).norm(2, {1}));
    }
  }
  model.train();
  return at::cat(parts).to(at::kCPU, at::kDouble);
}

at::Tensor score_images(const data::Dataset& data, const at::Tensor& images, const at::Tensor& labels,
                        const ScoreOptions& options) {
  if (options.observers < 1) throw Error("--observers", "needs at least 1 observer");
  const auto device = train::parse_device(options.observer.device);
  const auto x = images.to(device);
  const auto y = labels.to(device);
  auto sum = at::zeros({images.size(0)}, at::kDouble);
  for (int64_t k = 0; k < options.observers; ++k) {
    auto observer_options = options.observer;
    observer_options.seed = options.observer.seed + static_cast<uint64_t>(k);
    if (options.scorer == Scorer::kForgetting) {
      if (!options.observer.model_file.empty()) {
        throw Error("--observer", "forgetting scores need observers trained here (drop --observer)");
      }
      if (!images.is_same(data.train.images)) {
        throw Error("--scorer", "forgetting scores exist only for the training split (use --split train)");
      }
      sum += forgetting_counts(data, x, y, observer_options);
      continue;
    }
    auto observer = train::obtain_observer(data, observer_options);
    sum += model_scores(*observer, x, y, options.scorer);
    if (!options.observer.model_file.empty()) return sum;  // one given observer: K = 1
  }
  return sum / static_cast<double>(options.observers);
}

}  // namespace ddkit::difficulty
