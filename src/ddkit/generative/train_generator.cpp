#include "ddkit/generative/train_generator.h"

#include <chrono>
#include <deque>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ddkit/generative/generate_run.h"
#include "ddkit/generative/generator_checkpoint.h"
#include "ddkit/generative/generator_io.h"
#include "ddkit/generative/quality.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace fs = std::filesystem;

namespace ddkit::generative {
namespace {

// One generator per step, derived from (seed, step): a resumed run draws
// exactly what an uninterrupted one would, without saving generator state.
at::Generator step_generator(uint64_t seed, int64_t step) {
  return train::make_generator(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ULL + 1);
}

void copy_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto src = from.parameters(), dst = to.parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
}

void ema_update(torch::nn::Module& model, torch::nn::Module& ema, double decay) {
  torch::NoGradGuard no_grad;
  auto src = model.parameters(), dst = ema.parameters();
  for (size_t i = 0; i < src.size(); ++i) dst[i].mul_(decay).add_(src[i], 1.0 - decay);
}

}  // namespace

at::Tensor min_snr_weight(const NoiseSchedule& schedule, const at::Tensor& t, double gamma) {
  const auto abar = schedule.alphas_cumprod.index_select(0, t.to(torch::kCPU));
  if (gamma <= 0) return torch::ones_like(abar);
  const auto snr = abar / (1.0 - abar);
  const auto clipped = snr.clamp_max(gamma);
  return schedule.options.prediction == Prediction::eps ? clipped / snr : clipped / (snr + 1.0);
}

at::Tensor diffusion_loss(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& x0,
                          const at::Tensor& labels, const at::Tensor& t, const at::Tensor& noise,
                          double min_snr_gamma) {
  const auto x_t = schedule.add_noise(x0, t, noise);
  const auto per_sample = (model.forward(x_t, t, labels) - schedule.target(x0, t, noise)).pow(2).mean({1, 2, 3});
  const auto weight = min_snr_weight(schedule, t, min_snr_gamma).to(per_sample.device()).to(per_sample.scalar_type());
  return (weight * per_sample).mean();
}

namespace {

// The quality signal: FID of a fixed set of EMA samples (same noise at every
// checkpoint, so the curve compares like with like).
class QualitySignal {
 public:
  QualitySignal(const data::Dataset& data, const GenTrainOptions& o) : data_(data), options_(o) {
    QualityOptions q;
    q.extractor_epochs = o.fid_extractor_epochs;
    q.cas_epochs = 0;
    q.settings() = o.nested();
    meter_ = std::make_unique<QualityMeter>(data, q);
    // At most the smallest class of the training split (the real reference's subset).
    const int64_t smallest = torch::bincount(data.train.labels, {}, data.num_classes).min().item<int64_t>();
    per_class_ = std::max<int64_t>(1, std::min(o.fid_images / data.num_classes, smallest));
    real_fid_ = meter_->real_reference(per_class_).at("fid").get<double>();
  }
  double fid(UNetImpl& ema, const GeneratorInfo& info) const {
    GenerateOptions g;
    g.per_class = per_class_;
    g.sampler = options_.fid_sampler;
    g.settings() = options_.nested();
    g.quiet = true;
    return meter_->fid(generate_with(ema, info, data_, g).images);
  }
  double real_fid() const { return real_fid_; }
  int64_t images() const { return per_class_ * data_.num_classes; }

 private:
  const data::Dataset& data_;
  const GenTrainOptions& options_;
  std::unique_ptr<QualityMeter> meter_;
  int64_t per_class_ = 0;
  double real_fid_ = 0;
};

void check_options(const data::Dataset& data, const GenTrainOptions& o) {
  if (o.out.empty()) throw Error("--out", "gen-train needs an output directory");
  if (o.steps < 1 || o.batch < 1) throw Error("--steps", "steps and batch must be >= 1");
  if (data.train.size() == 0) throw Error(data.spec, "has no training images");
  // FID checks at checkpoints only, so a resumed run's curve is the uninterrupted one.
  if (o.fid_every > 0 && o.fid_every % o.checkpoint_every != 0) {
    throw Error("--fid-every", fmt::format("must be a multiple of --checkpoint-every ({})", o.checkpoint_every));
  }
}

GeneratorInfo generator_info(const data::Dataset& data, const GenTrainOptions& o) {
  GeneratorInfo info;
  info.unet = o.unet;
  info.unet.image_channels = data.channels;
  info.unet.num_classes = data.num_classes;
  info.schedule = o.schedule;
  info.dataset = data.spec;
  info.height = data.height;
  info.width = data.width;
  return info;
}

// The mean loss of the last 100 steps (the progress line and the curve).
class LossWindow {
 public:
  double add(double value) {
    recent_.push_back(value);
    sum_ += value;
    if (recent_.size() > 100) {
      sum_ -= recent_.front();
      recent_.pop_front();
    }
    return average();
  }
  double average() const { return recent_.empty() ? 0.0 : sum_ / recent_.size(); }
  // The window as it is, running sum included: a sum recomputed from the values would
  // round differently, and a resumed run would log other averages.
  nlohmann::json state() const { return {{"values", recent_}, {"sum", sum_}}; }
  void restore(const nlohmann::json& state) {
    recent_.clear();
    for (const auto& v : state.at("values")) recent_.push_back(v.get<double>());
    sum_ = state.at("sum").get<double>();
  }

 private:
  std::deque<double> recent_;
  double sum_ = 0;
};

// What progress.json keeps across a resume: the loss and FID curves and the
// training time so far.
struct TrainingLog {
  nlohmann::json curve = nlohmann::json::array(), fid_curve = nlohmann::json::array();
  double previous_seconds = 0;
};

TrainingLog read_training_log(const fs::path& out) {
  TrainingLog log;
  std::error_code ec;
  if (!fs::exists(out / "progress.json", ec)) return log;
  const auto bytes = read_file_bytes(out / "progress.json");
  const auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!j.is_object() || !j.value("train_seconds", nlohmann::json(0.0)).is_number() ||
      !j.value("curve", nlohmann::json::array()).is_array() || !j.value("fid_curve", nlohmann::json::array()).is_array()) {
    throw Error((out / "progress.json").string(), "is not a gen-train progress log; remove it or drop --resume");
  }
  log.previous_seconds = j.value("train_seconds", 0.0);
  log.curve = j.value("curve", nlohmann::json::array());
  log.fid_curve = j.value("fid_curve", nlohmann::json::array());
  return log;
}

// The training split in the model's space, on the run's device.
struct TrainingData {
  at::Tensor images, labels;
};

// One optimiser step of the ε/v/x₀ loss (docs/algorithms.md §11) on a batch
// drawn from step `step`'s own generator (so a resumed run draws as an
// uninterrupted one), then the EMA update; returns the loss.
double training_step(UNetImpl& model, UNetImpl& ema, torch::optim::Adam& optimizer, const NoiseSchedule& schedule,
                     const TrainingData& d, const GenTrainOptions& o, int64_t step) {
  const auto device = d.images.device();
  const auto long_options = torch::TensorOptions(torch::kLong);
  auto generator = step_generator(o.seed, step);
  const auto index = torch::randint(d.images.size(0), {o.batch}, generator, long_options).to(device);
  auto x0 = d.images.index_select(0, index);
  auto y = d.labels.index_select(0, index);
  const auto drop = torch::rand({o.batch}, generator) < o.label_dropout;
  y = torch::where(drop.to(device), torch::full_like(y, model.null_class()), y);
  const auto t = torch::randint(schedule.steps(), {o.batch}, generator, long_options).to(device);
  const auto noise = torch::randn(x0.sizes(), generator, torch::TensorOptions(torch::kFloat)).to(device);
  const double lr = o.lr * std::min(1.0, static_cast<double>(step + 1) / std::max<int64_t>(1, o.warmup));
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  optimizer.zero_grad();
  auto loss = diffusion_loss(model, schedule, x0, y, t, noise, o.min_snr_gamma);
  loss.backward();
  torch::nn::utils::clip_grad_norm_(model.parameters(), o.grad_clip);
  optimizer.step();
  ema_update(model, ema, std::min(o.ema_decay, (1.0 + step) / (10.0 + step)));
  return loss.item<double>();
}

}  // namespace

nlohmann::json train_generator(const data::Dataset& data, const GenTrainOptions& o) {
  check_options(data, o);
  torch::AutoGradMode enable_grad(true);
  const auto device = train::parse_device(o.device);
  train::seed_unit_of_work(o.seed);  // parameter initialisation
  GeneratorInfo info = generator_info(data, o);
  const NoiseSchedule schedule(info.schedule);

  check_unet_image(info.unet, info.height, info.width);  // what load_generator will ask of the file
  UNet model(info.unet), ema(info.unet);  // a bad architecture fails before anything is written
  fs::create_directories(o.out);
  model->to(device);
  ema->to(device);
  copy_parameters(*model, *ema);
  for (auto& p : ema->parameters()) p.set_requires_grad(false);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.lr));
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();

  const auto checkpoint = o.out / "checkpoint.pt";
  int64_t start = 0;
  nlohmann::json saved_progress;
  if (o.resume && fs::exists(checkpoint)) {
    start = load_generator_checkpoint(checkpoint, *model, *ema, optimizer, device, saved_progress);
    spdlog::info("gen-train: resumed from {} at step {}", checkpoint.string(), start);
  }
  spdlog::info("gen-train: UNet {} parameters (width {}), {} schedule, {}-prediction, {} steps of batch {} on {}",
               parameters, o.unet.channels, to_string(o.schedule.kind), to_string(o.schedule.prediction), o.steps,
               o.batch, data.spec);
  std::unique_ptr<QualitySignal> quality;
  if (o.fid_every > 0) {
    quality = std::make_unique<QualitySignal>(data, o);
    spdlog::info("gen-train: FID of {} EMA samples every {} steps (real vs real at that size: {:.2f})",
                 quality->images(), o.fid_every, quality->real_fid());
  }

  const TrainingData training{to_model_space(data.train.images, data.normalization).to(device),
                              data.train.labels.to(device)};
  // model.pt holds no wall time, so the same seed and threads give the same bytes whether
  // or not the run was interrupted; train.json adds the training time.
  auto write_model = [&](int64_t step, double loss) {
    info.extra = {{"steps", step},   {"batch", o.batch},   {"lr", o.lr},         {"ema_decay", o.ema_decay},
                  {"seed", o.seed},  {"label_dropout", o.label_dropout}, {"min_snr_gamma", o.min_snr_gamma},
                  {"warmup", o.warmup}, {"grad_clip", o.grad_clip}, {"loss", loss}, {"parameters", parameters}};
    save_generator(o.out / "model.pt", *ema, info);
  };

  model->train();
  LossWindow window;
  TrainingLog log = start > 0 ? read_training_log(o.out) : TrainingLog{};
  if (start > 0 && saved_progress.is_object()) {  // the checkpoint's own curves and window
    try {
      log.curve = saved_progress.at("curve");
      log.fid_curve = saved_progress.at("fid_curve");
      window.restore(saved_progress.at("window"));
    } catch (const nlohmann::json::exception&) {
      throw Error(checkpoint.string(), "holds no readable training progress (corrupt?)");
    }
  }
  double excluded_seconds = 0;  // spent on the quality signal
  const auto wall_start = std::chrono::steady_clock::now();
  auto seconds_so_far = [&] {
    return log.previous_seconds - excluded_seconds +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  };
  ProgressOptions progress_options;
  progress_options.quiet = o.quiet;
  progress_options.unit = "step";
  // After a resume the bar counts the remaining steps (its rate and ETA are this run's).
  Progress progress(start > 0 ? fmt::format("gen-train (from step {})", start) : std::string("gen-train"),
                    std::max<int64_t>(0, o.steps - start), progress_options);
  for (int64_t step = start; step < o.steps; ++step) {
    const double average = window.add(training_step(*model, *ema, optimizer, schedule, training, o, step));
    if ((step + 1) % 100 == 0) log.curve.push_back({{"step", step + 1}, {"loss", average}});
    if (quality && ((step + 1) % o.fid_every == 0 || step + 1 == o.steps)) {
      // Timed apart from training: train_seconds counts the optimiser's steps only.
      const auto before = std::chrono::steady_clock::now();
      const double fid = quality->fid(*ema, info);
      excluded_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
      log.fid_curve.push_back({{"step", step + 1}, {"fid", fid}, {"images", quality->images()}});
      spdlog::info("gen-train: step {}: FID {:.2f} on {} EMA samples (real vs real {:.2f})", step + 1, fid,
                   quality->images(), quality->real_fid());
    }
    progress.advance(1, fmt::format("loss {:.4f}", average));
    if ((step + 1) % o.checkpoint_every == 0 || step + 1 == o.steps) {
      write_model(step + 1, average);
      save_generator_checkpoint(checkpoint, *model, *ema, optimizer, step + 1,
                      {{"curve", log.curve}, {"fid_curve", log.fid_curve}, {"window", window.state()}});
      write_file_atomic(o.out / "progress.json",
                        nlohmann::json{{"step", step + 1},
                                       {"train_seconds", seconds_so_far()},
                                       {"curve", log.curve},
                                       {"fid_curve", log.fid_curve}}
                            .dump());
    }
  }
  const double last = window.average();
  progress.finish(fmt::format("loss {:.4f}", last));
  if (start >= o.steps) write_model(o.steps, last);
  nlohmann::json result = to_json(info);
  result["extra"]["train_seconds"] = seconds_so_far();
  result["curve"] = log.curve;
  result["fid_curve"] = log.fid_curve;
  result["min_snr_gamma"] = o.min_snr_gamma;
  write_file_atomic(o.out / "train.json", result.dump(2));
  spdlog::info("gen-train: wrote {} ({} steps, {:.0f} s)", (o.out / "model.pt").string(), o.steps, seconds_so_far());
  return result;
}

}  // namespace ddkit::generative
