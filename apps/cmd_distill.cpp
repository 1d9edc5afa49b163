#include "common.h"
#include "ddkit/distill/distill_run.h"

namespace ddkit::cli {

void add_distill_flags(CLI::App& command, distill::DistillOptions& options) {
  command
      .add_option_function<std::string>(
          "--method", [&options](const std::string& name) { options.method = distill::parse_method(name); },
          "random | herding | dc | dsa | dm | mtt | diffusion")
      ->check(CLI::IsMember({"random", "herding", "dc", "dsa", "dm", "mtt", "diffusion"}))
      ->default_str(distill::method_name(options.method));
  command.add_option("--ipc", options.ipc, "Images per class")->capture_default_str()
      ->check(at_least(1));
  command.add_option("--pool-factor", options.pool_factor, "Distill pool-factor x ipc images per class (a DGS pool)")
      ->capture_default_str()
      ->check(at_least(1));
  command
      .add_option_function<std::string>(
          "--pool-mode", [&options](const std::string& name) { options.pool_mode = distill::parse_pool_mode(name); },
          "Matching methods' pools: runs (pool-factor independent runs at plain IPC) | joint (one run of pool-factor x ipc)")
      ->check(CLI::IsMember({"runs", "joint"}))
      ->default_str(distill::pool_mode_name(options.pool_mode));
  add_observer_flags(command, options.observer);  // herding's embedding, --init dgs and DAG scores
  // Matching methods (docs/algorithms.md §5, §6, §9); defaults are the published ones.
  auto& m = options.matching;
  command.add_option("--iterations", m.iterations, "Iterations (published: DM 20000, DC/DSA 1000, MTT 5000)")
      ->check(at_least(0));
  command
      .add_option_function<std::string>(
          "--init", [&m](const std::string& name) { m.init = distill::parse_init(name); },
          "Initial images of a matching method (and --method random's images): real (random real images) | noise | "
          "dgs (real images picked by DGS with --init-target)")
      ->check(CLI::IsMember({"real", "noise", "dgs"}))
      ->default_str(distill::init_name(m.init));
  command.add_option("--init-target", m.init_target, "--init dgs: the DGS target (original | ground | hill | slope | cliff | random | FILE.json)")
      ->capture_default_str();
  command.add_option("--init-scores", m.init_scores_file,
                     "--init dgs: metadata.jsonl of `ddkit score --split train` (default: scored with the observer)");
  command.add_option("--lr-img", m.dm.lr_images, "DM: learning rate of the images")->capture_default_str()
      ->check(greater_than(0));
  command.add_option_function<int64_t>(
      "--batch-real", [&m](int64_t n) { m.dm.batch_real = m.dc.batch_real = n; },
      "Real images per class and step (default 256)")
      ->check(at_least(1));
  command.add_option("--outer-loop", m.dc.outer_loop, "DC/DSA: outer loop (default: published for the IPC)")
      ->check(at_least(1));
  command.add_option("--inner-loop", m.dc.inner_loop, "DC/DSA: inner loop (default: published for the IPC)")
      ->check(at_least(1));
  command.add_option("--lr-img-dc", m.dc.lr_images, "DC/DSA: learning rate of the images")->capture_default_str()
      ->check(greater_than(0));
  // MTT (docs/algorithms.md §7): defaults are the reference's CIFAR-10 row for the IPC.
  command.add_option("--buffer", m.mtt.buffer, "MTT: expert trajectories (a ddkit buffer directory)");
  command.add_option("--syn-steps", m.mtt.syn_steps, "MTT: unrolled student steps (IPC 1/10/50: 50/30/30)")
      ->check(at_least(1));
  command.add_option("--expert-epochs", m.mtt.expert_epochs, "MTT: expert epochs M to match (2)")
      ->check(at_least(1));
  command.add_option("--max-start-epoch", m.mtt.max_start_epoch, "MTT: start epochs t < this (IPC 1/10/50: 2/20/40)")
      ->check(at_least(1));
  command.add_option("--lr-img-mtt", m.mtt.lr_images, "MTT: learning rate of the images (1000/100000/1000)")
      ->check(greater_than(0));
  command.add_option("--lr-lr", m.mtt.lr_lr, "MTT: learning rate of the learnable lr (1e-7/1e-5/1e-5)")
      ->check(at_least(0));
  command.add_option("--lr-teacher", m.mtt.lr_teacher, "MTT: initial student lr")->capture_default_str()
      ->check(greater_than(0));
  command.add_option("--batch-syn", m.mtt.batch_syn, "MTT: synthetic images per student step (default all)")
      ->check(at_least(1));
  command.add_flag("--mtt-full-graph", m.mtt.full_graph,
                   "MTT: keep the graph of all steps as the reference (default: step-wise exact reverse sweep)");
  command.add_option("--sdc-lambda", m.sdc_lambda,
                     "SDC weight λ of the gradient-norm term (0 = off; default: ddkit's swept value for method and IPC)")
      ->check(at_least(0));
  // Diffusion (docs/algorithms.md §11): a `ddkit gen-train` generator, its sampler, CFG, DAG.
  auto& g = options.generation;
  command.add_option("--generator", g.generator_file, "Diffusion: generator model.pt of `ddkit gen-train`");
  add_sampler_flags(command, g.sampler, "", "Diffusion");
  command.add_option("--sample-batch", g.batch, "Diffusion: images per network call")->capture_default_str()
      ->check(at_least(1));
  command.add_option("--dag-scale", g.dag_scale, "Diffusion: DAG guidance scale s (0 = off)")->capture_default_str();
  command.add_option("--dag-stop", g.dag_stop, "Diffusion: DAG guides steps t >= this (0..999)")->capture_default_str()
      ->check(at_least(0));
  command.add_option("--dag-start", g.dag_start, "Diffusion: DAG guides steps t <= this too (default all)")
      ->capture_default_str()
      ->check(at_least(0));
  command.add_option("--dag-target", g.dag_target, "Diffusion: DAG's DGS target distribution (original | ground | ...)")
      ->capture_default_str();
  command.add_option("--dag-original-scores", g.original_scores_file,
                     "Diffusion: metadata.jsonl of `ddkit score --split train` (default: scored with the observer)");
  command.add_option("--checkpoint-every", m.checkpoint_every, "Iterations between checkpoints")->capture_default_str()
      ->check(at_least(1));
  command.add_option("--stop-after", m.stop_after, "Run at most N iterations now, checkpoint and stop")
      ->check(at_least(0));
  command.add_option("--snapshots", m.snapshots,
                     "Matching methods: also write the set after these iterations (N,M,...) to <out>.snapshots/it<N>/")
      ->delimiter(',');
}

void register_distill(CLI::App& app) {
  struct Options {
    CommonOptions common;
    distill::DistillOptions distill;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("distill", "Build a small image set (distilled, or a DGS pool)");
  add_common_flags(*command, options->common);
  add_distill_flags(*command, options->distill);
  command->add_flag("--resume", options->distill.resume, "Continue from <out>.checkpoint/");
  command->add_option("--out", options->distill.out, "Image set directory to write")->required();
  command->callback([options] {
    // DM by classes; DC/DSA by classes with all-reduced image gradients; MTT by
    // the rows of each student batch with all-reduced gradients.
    options->common.splits_work = distill::is_matching(options->distill.method);
    const auto world = start_run(options->common);
    lock_output(options->distill.out, world);
    const auto data = load_data(options->common, /*load_test=*/false);
    auto run = options->distill;
    run.matching.world = world;
    apply_common(run, options->common);
    distill::distill_set(data, run);
  });
}

}  // namespace ddkit::cli
