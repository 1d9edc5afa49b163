#include "ddkit/generative/train_generator.h"

#include <chrono>
#include <deque>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

#include "ddkit/generative/generator_io.h"
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

void save_checkpoint(const fs::path& file, UNetImpl& model, UNetImpl& ema, torch::optim::Adam& optimizer,
                     int64_t step) {
  torch::serialize::OutputArchive archive, model_archive, ema_archive, optimizer_archive;
  model.save(model_archive);
  ema.save(ema_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("ema", ema_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("step", torch::tensor(step, torch::kLong));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(file, bytes.str());
}

int64_t load_checkpoint(const fs::path& file, UNetImpl& model, UNetImpl& ema, torch::optim::Adam& optimizer,
                        const torch::Device& device) {
  const auto bytes = read_file_bytes(file);
  torch::serialize::InputArchive archive, model_archive, ema_archive, optimizer_archive;
  try {
    archive.load_from(bytes.data(), bytes.size(), device);
    archive.read("model", model_archive);
    archive.read("ema", ema_archive);
    archive.read("optimizer", optimizer_archive);
    model.load(model_archive);
    ema.load(ema_archive);
    optimizer.load(optimizer_archive);
    torch::Tensor step;
    archive.read("step", step);
    return step.item<int64_t>();
  } catch (const std::exception&) {
    throw Error(file.string(), "not a checkpoint of this generator (different --channels? corrupt?)");
  }
}

}  // namespace

at::Tensor diffusion_loss(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& x0,
                          const at::Tensor& labels, const at::Tensor& t, const at::Tensor& noise) {
  const auto x_t = schedule.add_noise(x0, t, noise);
  return torch::mse_loss(model.forward(x_t, t, labels), noise);
}

nlohmann::json train_generator(const data::Dataset& data, const GenTrainOptions& o) {
  if (o.out.empty()) throw Error("--out", "gen-train needs an output directory");
  if (o.steps < 1 || o.batch < 1) throw Error("--steps", "steps and batch must be >= 1");
  if (data.train.size() == 0) throw Error(data.spec, "has no training images");
  fs::create_directories(o.out);
  torch::AutoGradMode enable_grad(true);
  const auto device = train::parse_device(o.device);
  train::seed_unit_of_work(o.seed);  // parameter initialisation

  GeneratorInfo info;
  info.unet.image_channels = data.channels;
  info.unet.num_classes = data.num_classes;
  info.unet.channels = o.channels;
  info.unet.channel_mult = o.channel_mult;
  info.dataset = data.spec;
  info.height = data.height;
  info.width = data.width;
  const NoiseSchedule schedule(info.schedule);

  UNet model(info.unet), ema(info.unet);
  model->to(device);
  ema->to(device);
  copy_parameters(*model, *ema);
  for (auto& p : ema->parameters()) p.set_requires_grad(false);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.lr));
  int64_t parameters = 0;
  for (const auto& p : model->parameters()) parameters += p.numel();

  const auto checkpoint = o.out / "checkpoint.pt";
  int64_t start = 0;
  if (o.resume && fs::exists(checkpoint)) {
    start = load_checkpoint(checkpoint, *model, *ema, optimizer, device);
    spdlog::info("gen-train: resumed from {} at step {}", checkpoint.string(), start);
  }
  spdlog::info("gen-train: UNet {} parameters (width {}), {} steps of batch {} on {}", parameters, o.channels,
               o.steps, o.batch, data.spec);

  const auto images = to_model_space(data.train.images, data.normalization).to(device);
  const auto labels = data.train.labels.to(device);
  const int64_t n = data.train.size();
  auto write_model = [&](int64_t step, double loss, double seconds) {
    info.extra = {{"steps", step},   {"batch", o.batch},   {"lr", o.lr},         {"ema_decay", o.ema_decay},
                  {"seed", o.seed},  {"label_dropout", o.label_dropout}, {"loss", loss}, {"parameters", parameters},
                  {"train_seconds", seconds}};
    save_generator(o.out / "model.pt", *ema, info);
  };

  model->train();
  std::deque<double> recent;  // losses of the last 100 steps
  double recent_sum = 0;
  nlohmann::json curve = nlohmann::json::array();
  const auto wall_start = std::chrono::steady_clock::now();
  double previous_seconds = 0;
  if (start > 0) {
    std::error_code ec;
    if (fs::exists(o.out / "progress.json", ec)) {
      const auto bytes = read_file_bytes(o.out / "progress.json");
      const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
      previous_seconds = j.value("train_seconds", 0.0);
      curve = j.value("curve", nlohmann::json::array());
    }
  }
  auto seconds_so_far = [&] {
    return previous_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  };
  ProgressOptions progress_options;
  progress_options.quiet = o.quiet;
  progress_options.unit = "step";
  // After a resume the bar counts the remaining steps (its rate and ETA are this run's).
  Progress progress(start > 0 ? fmt::format("gen-train (from step {})", start) : std::string("gen-train"),
                    std::max<int64_t>(0, o.steps - start), progress_options);
  const auto long_options = torch::TensorOptions(torch::kLong);
  for (int64_t step = start; step < o.steps; ++step) {
    auto generator = step_generator(o.seed, step);
    const auto index = torch::randint(n, {o.batch}, generator, long_options).to(device);
    auto x0 = images.index_select(0, index);
    auto y = labels.index_select(0, index);
    const auto drop = torch::rand({o.batch}, generator) < o.label_dropout;
    y = torch::where(drop.to(device), torch::full_like(y, model->null_class()), y);
    const auto t = torch::randint(schedule.steps(), {o.batch}, generator, long_options).to(device);
    const auto noise = torch::randn(x0.sizes(), generator, torch::TensorOptions(torch::kFloat)).to(device);
    const double lr = o.lr * std::min(1.0, static_cast<double>(step + 1) / std::max<int64_t>(1, o.warmup));
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    optimizer.zero_grad();
    auto loss = diffusion_loss(*model, schedule, x0, y, t, noise);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip);
    optimizer.step();
    ema_update(*model, *ema, std::min(o.ema_decay, (1.0 + step) / (10.0 + step)));

    const double value = loss.item<double>();
    recent.push_back(value);
    recent_sum += value;
    if (recent.size() > 100) {
      recent_sum -= recent.front();
      recent.pop_front();
    }
    const double average = recent_sum / recent.size();
    if ((step + 1) % 100 == 0) curve.push_back({{"step", step + 1}, {"loss", average}});
    progress.advance(1, fmt::format("loss {:.4f}", average));
    if ((step + 1) % o.checkpoint_every == 0 || step + 1 == o.steps) {
      write_model(step + 1, average, seconds_so_far());
      save_checkpoint(checkpoint, *model, *ema, optimizer, step + 1);
      write_file_atomic(o.out / "progress.json",
                        nlohmann::json{{"step", step + 1}, {"train_seconds", seconds_so_far()}, {"curve", curve}}.dump());
    }
  }
  const double last = recent.empty() ? 0.0 : recent_sum / recent.size();
  progress.finish(fmt::format("loss {:.4f}", last));
  if (start >= o.steps) write_model(o.steps, last, seconds_so_far());
  nlohmann::json result = to_json(info);
  result["curve"] = curve;
  write_file_atomic(o.out / "train.json", result.dump(2));
  spdlog::info("gen-train: wrote {} ({} steps, {:.0f} s)", (o.out / "model.pt").string(), o.steps, seconds_so_far());
  return result;
}

}  // namespace ddkit::generative
