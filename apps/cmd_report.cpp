#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/data/image_io.h"
#include "ddkit/data/image_set.h"
#include "ddkit/report/image_grid.h"
#include "ddkit/report/run_report.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace ddkit::cli {

void register_report(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string run;
    std::string set;       // --grid mode: an image set
    std::string grid_out;  // its grid PNG
    int64_t per_class = 10;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "report", "Write DIR/report.html (self-contained HTML) for a pipeline run, an eval output or an image set, or a PNG grid of an image set");
  add_common_flags(*command, options->common);
  auto* run = command->add_option("--run", options->run, "Directory written by `ddkit pipeline`, `ddkit eval` or a set-writing subcommand");
  auto* set = command->add_option("--set", options->set, "Image set to draw as a grid (one row per class)");
  auto* grid = command->add_option("--grid-out", options->grid_out, "PNG file for --set's grid");
  command->add_option("--per-class", options->per_class, "Grid columns (images per class)")->capture_default_str();
  set->needs(grid);
  grid->needs(set);
  run->excludes(set);
  command->callback([options] {
    if (options->run.empty() && options->set.empty()) throw Error("--run", "give --run DIR or --set DIR --grid-out FILE");
    start_run(options->common);
    const auto data = load_data(options->common, /*load_test=*/false);
    if (!options->set.empty()) {
      const auto images = data::read_image_set(options->set, data);
      report::ImageGridOptions grid_options;
      grid_options.max_per_class = options->per_class;
      const auto unit = data::denormalize(images.images, data.normalization).clamp(0, 1);
      write_file_atomic(options->grid_out,
                        data::encode_png(report::image_grid(unit, images.labels, data.num_classes, {}, grid_options)));
      spdlog::info("wrote {}", options->grid_out);
      return;
    }
    spdlog::info("wrote {}", report::write_run_report(options->run, data).string());
  });
}

}  // namespace ddkit::cli
