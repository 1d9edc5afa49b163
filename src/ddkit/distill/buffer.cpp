#include "ddkit/distill/buffer.h"

#include <chrono>
#include <tuple>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/optim/sgd.h>

#include "ddkit/data/tensor_io.h"
#include "ddkit/dist/context.h"
#include "ddkit/distill/matching_run.h"
#include "ddkit/models/convnet.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::distill {
namespace {

fs::path expert_file(const fs::path& dir, int64_t e) { return dir / fmt::format("expert_{}.pt", e); }

// Everything that shapes a trajectory (the number of experts aside: a resumed
// buffer may grow).
json settings_json(const data::Dataset& data, const BufferOptions& o) {
  return {{"dataset", data.spec},
          {"model", "convnet"},
          {"width", o.width},
          {"depth", o.depth},
          {"shape", {data.channels, data.height, data.width}},
          {"num_classes", data.num_classes},
          {"epochs", o.epochs},
          {"lr", o.lr},
          {"momentum", 0.0},
          {"weight_decay", 0.0},
          {"batch_size", o.batch_size},
          {"dsa", o.dsa},
          {"dsa_strategy", o.dsa ? o.dsa_options.strategy : ""},
          {"seed", o.seed}};
}

json read_json(const fs::path& file) {
  const auto bytes = read_file_bytes(file);
  auto parsed = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (parsed.is_discarded()) throw Error(file.string(), "is not valid JSON");
  return parsed;
}

// Rank 0 checks a resumed directory's settings (or clears the experts of an
// earlier buffer) and writes meta.json; returns the ConvNet's parameter count.
int64_t prepare_directory(const data::Dataset& data, const BufferOptions& o, const json& settings, int rank) {
  const fs::path& dir = o.out;
  std::error_code ec;
  if (rank == 0) fs::create_directories(dir);
  if (rank == 0 && o.resume && fs::exists(dir / "meta.json", ec)) {
    const auto old = read_json(dir / "meta.json");
    if (!old.is_object() || old.value("settings", json()) != settings) {
      throw Error((dir / "meta.json").string(), "was written with other settings; remove it or drop --resume");
    }
  } else if (rank == 0) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("expert_", 0) == 0) fs::remove(entry.path());
    }
  }
  const int64_t parameter_count =
      models::FunctionalConvNet{{data.channels, data.height, data.width}, data.num_classes, o.width, o.depth}
          .parameter_count();
  json meta = {{"settings", settings},
               {"experts", o.experts},
               {"parameter_count", parameter_count},
               {"format", "expert_<e>.pt: float32 [epochs + 1, parameter_count]; row k = ConvNet parameters "
                          "(in parameters() order, flattened) after k epochs"},
               {"ddkit_version", DDKIT_VERSION}};
  if (rank == 0) write_file_atomic(dir / "meta.json", meta.dump(2));
  return parameter_count;
}

// The experts still to train (at most stop_after): rank 0 decides, the others
// receive its list.
std::vector<int64_t> missing_experts(const BufferOptions& o, const std::shared_ptr<dist::Context>& world, int rank) {
  std::error_code ec;
  std::vector<int64_t> todo;
  for (int64_t e = 0; rank == 0 && e < o.experts; ++e) {
    if (!(o.resume && fs::exists(expert_file(o.out, e), ec))) todo.push_back(e);
  }
  if (o.stop_after > 0 && static_cast<int64_t>(todo.size()) > o.stop_after) todo.resize(o.stop_after);
  if (dist::size_of(world) > 1) {
    todo = json::parse(world->broadcast_string(json(todo).dump())).get<std::vector<int64_t>>();
  }
  return todo;
}

// The training data on the run's device (the test split only if logged).
struct ExpertData {
  const data::Dataset& data;
  at::Tensor images, labels, test_images, test_labels;
  bool test = false;
};

// One expert's trajectory: its parameters after each of o.epochs epochs (row
// 0 = the initialisation) and its log (expert_<e>.json).
std::pair<at::Tensor, std::string> train_expert(const ExpertData& d, const BufferOptions& o, int64_t e,
                                                Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  auto generator = train::seed_unit_of_work(iteration_seed(o.seed, e));
  models::ConvNetOptions net_options;
  net_options.shape = {d.data.channels, d.data.height, d.data.width};
  net_options.num_classes = d.data.num_classes;
  net_options.width = o.width;
  net_options.depth = o.depth;
  models::ConvNet net(net_options);
  net->to(d.images.device());
  net->train();
  // Plain SGD at a constant lr (buffer.py: momentum 0, l2 0, no --decay).
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(o.lr));
  std::vector<at::Tensor> rows{models::flatten_parameters(*net).to(at::kCPU)};
  json log = json::array();
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    const double train_loss = train::train_epoch(
        *net, d.images, d.labels, optimizer, o.batch_size, o.dsa ? &o.dsa_options : nullptr, generator,
        [&](int64_t batch) {
          progress.advance(batch, fmt::format("expert {}/{} epoch {}/{}", e + 1, o.experts, epoch + 1, o.epochs));
        });
    rows.push_back(models::flatten_parameters(*net).to(at::kCPU));
    json entry = {{"epoch", epoch + 1}, {"train_loss", train_loss}};
    if (d.test) entry["test_accuracy"] = train::test_accuracy(*net, d.test_images, d.test_labels);
    if (!o.quiet) {
      spdlog::info("expert {}/{} epoch {}/{}: loss {:.4f}{}", e + 1, o.experts, epoch + 1, o.epochs,
                   entry["train_loss"].get<double>(),
                   d.test ? fmt::format(", test accuracy {:.2f}%", entry["test_accuracy"].get<double>()) : "");
    }
    log.push_back(entry);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {at::stack(rows).contiguous(),
          json{{"expert", e}, {"seed", iteration_seed(o.seed, e)}, {"epochs", log}, {"wall_seconds", seconds}}.dump(2)};
}

}  // namespace

void build_buffer(const data::Dataset& data, const BufferOptions& requested) {
  auto options = requested;
  if (options.experts < 1 || options.epochs < 1) throw Error("--experts", "experts and epochs must be positive");
  if (data.name == "mnist") options.dsa_options.strategy = augment::strategy_without_flip(options.dsa_options.strategy);
  const auto device = train::parse_device(options.device);
  const fs::path& dir = options.out;
  // Distributed: rank 0 alone reads and writes the directory (the others wait
  // for its list of missing experts); experts go round by round.
  const auto& world = options.world;
  const int rank = dist::rank_of(world), ranks = dist::size_of(world);
  const int64_t parameter_count = prepare_directory(data, options, settings_json(data, options), rank);
  const auto todo = missing_experts(options, world, rank);
  if (todo.empty()) {
    spdlog::info("buffer {}: all {} experts are there", dir.string(), options.experts);
    return;
  }

  ExpertData d{data, data.train.images.to(device), data.train.labels.to(device), {}, {}, false};
  d.test = options.test_every_epoch && data.test.size() > 0;
  if (d.test) {
    d.test_images = data.test.images.to(device);
    d.test_labels = data.test.labels.to(device);
  }
  ProgressOptions progress_options;
  progress_options.quiet = options.quiet;
  progress_options.unit = "img";
  // Expert todo[i] is trained on rank i % ranks; after each round of `ranks`
  // experts every trajectory goes to rank 0 (broadcast from its owner), which writes it.
  const int64_t mine = (static_cast<int64_t>(todo.size()) - rank + ranks - 1) / ranks;
  Progress progress("buffer", mine * options.epochs * d.images.size(0), progress_options);
  at::Tensor own_rows;
  std::string own_log;
  auto end_of_round = [&](size_t i) {
    if ((i + 1) % static_cast<size_t>(ranks) != 0 && i + 1 != todo.size()) return;
    for (size_t k = i - i % static_cast<size_t>(ranks); k <= i; ++k) {
      const int owner = static_cast<int>(k % static_cast<size_t>(ranks));
      at::Tensor rows = owner == rank ? own_rows : at::empty({options.epochs + 1, parameter_count}, at::kFloat);
      std::string log_text = own_log;
      if (ranks > 1) {
        world->broadcast(rows, owner);
        log_text = world->broadcast_string(own_log, owner);
      }
      if (rank != 0) continue;
      write_file_atomic(dir / fmt::format("expert_{}.json", todo[k]), log_text);
      data::save_tensor(expert_file(dir, todo[k]), rows);  // last: marks the expert finished
    }
  };
  for (size_t i = 0; i < todo.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(ranks)) == rank) {
      std::tie(own_rows, own_log) = train_expert(d, options, todo[i], progress);
    }
    end_of_round(i);
  }
  progress.finish();
}

at::Tensor ExpertBuffer::trajectory(int64_t expert) const {
  const auto file = expert_file(dir, expert);
  auto t = data::load_tensor(file);
  if (t.dim() != 2 || t.size(0) != epochs + 1 || t.size(1) != net.parameter_count()) {
    throw Error(file.string(), fmt::format("is not a [{}, {}] trajectory", epochs + 1, net.parameter_count()));
  }
  return t.to(at::kFloat);
}

ExpertBuffer open_buffer(const fs::path& dir, const data::Dataset& data) {
  std::error_code ec;
  if (!fs::exists(dir / "meta.json", ec)) throw Error(dir.string(), "is not an expert buffer (no meta.json); run ddkit buffer");
  ExpertBuffer buffer;
  buffer.dir = dir;
  buffer.meta = read_json(dir / "meta.json");
  try {
    // value() throws too when meta.json is not an object: inside the try.
    const json s = buffer.meta.value("settings", json::object());
    const auto shape = s.at("shape").get<std::vector<int64_t>>();
    if (shape != std::vector<int64_t>{data.channels, data.height, data.width} ||
        s.at("num_classes").get<int64_t>() != data.num_classes) {
      throw Error(dir.string(), fmt::format("holds experts for {} images, not {}", s.at("dataset").get<std::string>(),
                                            data.spec));
    }
    buffer.epochs = s.at("epochs").get<int64_t>();
    buffer.net = {{data.channels, data.height, data.width}, data.num_classes, s.at("width").get<int64_t>(),
                  s.at("depth").get<int64_t>()};
  } catch (const json::exception&) {
    throw Error((dir / "meta.json").string(), "lacks the buffer settings");
  }
  while (fs::exists(expert_file(dir, buffer.experts), ec)) ++buffer.experts;
  if (buffer.experts == 0) throw Error(dir.string(), "holds no finished expert yet");
  return buffer;
}

}  // namespace ddkit::distill
