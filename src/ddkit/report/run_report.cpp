#include "ddkit/report/run_report.h"

#include <cmath>
#include <set>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/image_io.h"
#include "ddkit/data/image_set.h"
#include "ddkit/report/histogram_svg.h"
#include "ddkit/report/image_grid.h"
#include "ddkit/report/line_chart_svg.h"
#include "ddkit/report/markup.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::report {
namespace {

json read_json(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json();
  const auto bytes = read_file_bytes(file);
  auto parsed = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (parsed.is_discarded()) throw Error(file.string(), "is not valid JSON");
  return parsed;
}

std::string cell(const json& value) {
  if (value.is_string()) return escape_xml(value.get<std::string>());
  if (value.is_number_float()) return fmt::format("{:.6g}", value.get<double>());
  return escape_xml(value.dump());
}

std::string png_img(const at::Tensor& grid, const std::string& alt) {
  return fmt::format("<img alt=\"{}\" src=\"data:image/png;base64,{}\">", escape_xml(alt),
                     base64(data::encode_png(grid)));
}

// Scores per class from a metadata.jsonl (entries without a score skipped).
std::vector<std::vector<double>> scores_by_class(const fs::path& file, int64_t num_classes) {
  std::vector<std::vector<double>> out(static_cast<size_t>(num_classes));
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  for (const auto& e : data::read_metadata(file)) {
    if (e.label >= 0 && e.label < num_classes && !std::isnan(e.score)) out[static_cast<size_t>(e.label)].push_back(e.score);
  }
  return out;
}

bool any_values(const std::vector<std::vector<double>>& by_class) {
  for (const auto& v : by_class)
    if (!v.empty()) return true;
  return false;
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.note{color:#777}img{image-rendering:pixelated;max-width:100%}.grid{display:flex;gap:32px;flex-wrap:wrap})";

}  // namespace

std::string run_report_html(const fs::path& run_dir, const data::Dataset& data) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error(run_dir.string(), "is not a directory");
  const json results = read_json(run_dir / "results.json");
  if (results.is_null()) throw Error((run_dir / "results.json").string(), "is missing (not a pipeline run?)");
  const auto pool_dir = run_dir / "pool", dgs_dir = run_dir / "dgs", plain_dir = run_dir / "plain";
  const json pool_meta = read_json(pool_dir / "meta.json"), plain_meta = read_json(plain_dir / "meta.json");
  const json sampling = read_json(dgs_dir / "sampling.json");
  const int64_t classes = data.num_classes;

  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += fmt::format("<title>ddkit report: {}</title><style>{}</style></head><body>\n",
                      escape_xml(run_dir.filename().string()), kStyle);
  html += fmt::format("<h1>ddkit run: {} on {}, IPC {}, pool factor {}, DGS target {}</h1>\n",
                      cell(results.value("method", json("?"))), cell(results.value("dataset", json("?"))),
                      cell(results.value("ipc", json("?"))), cell(results.value("pool_factor", json("?"))),
                      cell(results.value("target", json("?"))));

  // Accuracy: one row per evaluated set and model.
  html += "<h2 id=\"accuracy\">Accuracy</h2>\n<table id=\"accuracy-table\"><tr><th>set</th><th>model</th>"
          "<th>accuracy (%)</th><th>runs</th><th>protocol</th>";
  const bool has_baselines = results.contains("baselines");
  if (has_baselines) html += "<th>improvement over random</th><th>gap to whole data</th>";
  html += "</tr>\n";
  const json sets = results.value("sets", json::object());  // (named: items() must not outlive it)
  for (const auto& [name, set] : sets.items()) {
    const auto& protocol = set.value("protocol", json::object());
    const std::string protocol_text = fmt::format("{} epochs{}", protocol.value("epochs", 0),
                                                  protocol.value("dsa", false) ? ", DSA" : "");
    const json models = set.value("models", json::object());
    for (const auto& [model, m] : models.items()) {
      html += fmt::format("<tr class=\"result\"><td>{}</td><td>{}</td><td>{:.2f} ± {:.2f}</td><td>{}</td><td>{}</td>",
                          escape_xml(name), escape_xml(model), m.value("mean", 0.0), m.value("std", 0.0),
                          m.value("accuracies", json::array()).size(), escape_xml(protocol_text));
      if (has_baselines) {
        const auto& b = results["baselines"].value(model, json::object());
        const auto diff = [&](const char* key, double sign) {
          return b.contains(key) ? fmt::format("{:+.2f}", sign * (m.value("mean", 0.0) - b[key].get<double>())) : "—";
        };
        html += fmt::format("<td>{}</td><td>{}</td>", diff("random", 1), diff("whole", -1));
      }
      html += "</tr>\n";
    }
  }
  html += "</table>\n";

  // Configuration: the run's own keys and the pool's distillation settings.
  html += "<h2 id=\"configuration\">Configuration</h2>\n<table>";
  for (const char* key : {"dataset", "method", "ipc", "pool_factor", "target", "seed"}) {
    if (results.contains(key)) html += fmt::format("<tr><th>{}</th><td>{}</td></tr>", key, cell(results[key]));
  }
  const json pool_settings = pool_meta.is_object() ? pool_meta : json::object();
  for (const auto& [key, value] : pool_settings.items()) {
    if (value.is_primitive()) html += fmt::format("<tr><th>pool: {}</th><td>{}</td></tr>", escape_xml(key), cell(value));
  }
  html += "</table>\n";

  // Image grids: the final (DGS) set, and the pool with the selected images framed.
  html += "<h2 id=\"images\">Images</h2>\n<div class=\"grid\">";
  std::vector<int64_t> selected_pool_indices;
  if (fs::exists(dgs_dir / "meta.json", ec)) {
    const auto set = data::read_image_set(dgs_dir, data);
    html += "<figure>" + png_img(image_grid(data::denormalize(set.images, data.normalization), set.labels, classes),
                                 "final set") +
            "<figcaption>final set (DGS), one row per class</figcaption></figure>";
    if (set.meta.contains("pool_indices")) selected_pool_indices = set.meta["pool_indices"].get<std::vector<int64_t>>();
  }
  std::vector<std::vector<double>> pool_scores(static_cast<size_t>(classes)), selected_scores(static_cast<size_t>(classes));
  if (fs::exists(pool_dir / "meta.json", ec)) {
    const auto pool = data::read_image_set(pool_dir, data);
    std::vector<bool> marked(static_cast<size_t>(pool.size()), false);
    for (int64_t i : selected_pool_indices)
      if (i >= 0 && i < pool.size()) marked[static_cast<size_t>(i)] = true;
    ImageGridOptions grid;
    grid.max_per_class = std::min<int64_t>(30, pool.size() / std::max<int64_t>(1, classes));
    html += "<figure>" + png_img(image_grid(data::denormalize(pool.images, data.normalization), pool.labels, classes,
                                            marked, grid),
                                 "pool") +
            fmt::format("<figcaption>pool (first {} per class), selected images framed</figcaption></figure>",
                        grid.max_per_class);
    if (pool.scores.defined()) {
      const auto scores = pool.scores.to(at::kDouble).contiguous();
      const auto labels = pool.labels.contiguous();
      for (int64_t i = 0; i < pool.size(); ++i) {
        const double s = scores.data_ptr<double>()[i];
        if (std::isnan(s)) continue;
        const auto c = static_cast<size_t>(labels.data_ptr<int64_t>()[i]);
        pool_scores[c].push_back(s);
        if (marked[static_cast<size_t>(i)]) selected_scores[c].push_back(s);
      }
    }
  }
  html += "</div>\n";

  // Difficulty: raw prob scores per class and overall; DGS's transformed space.
  html += "<h2 id=\"difficulty\">Difficulty</h2>\n";
  const auto original = scores_by_class(run_dir / "original-scores" / "metadata.jsonl", classes);
  if (!any_values(selected_scores)) selected_scores = scores_by_class(dgs_dir / "metadata.jsonl", classes);
  if (any_values(original) || any_values(pool_scores) || any_values(selected_scores)) {
    std::vector<HistogramPanel> panels;
    HistogramPanel overall{"all classes", {{"original", {}}, {"pool", {}}, {"selected", {}}}};
    for (int64_t c = 0; c < classes; ++c) {
      const auto k = static_cast<size_t>(c);
      panels.push_back({fmt::format("{} {}", c, c < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k] : ""),
                        {{"original", original[k]}, {"pool", pool_scores[k]}, {"selected", selected_scores[k]}}});
      for (size_t s = 0; s < 3; ++s) {
        const auto& v = panels.back().series[s].values;
        overall.series[s].values.insert(overall.series[s].values.end(), v.begin(), v.end());
      }
    }
    panels.insert(panels.begin(), overall);
    HistogramOptions options;
    options.x_label = "prob difficulty 1 - p(true class)";
    html += "<p>Fractions per bin of the prob difficulty of the training split (original), the pool and the "
            "selected images.</p>\n" + histogram_svg(panels, options);
  } else {
    html += "<p class=\"note\">no difficulty scores found</p>\n";
  }
  if (sampling.is_object() && sampling.contains("classes")) {
    // Target vs drawn per DGS bin (the 10 bins of the transformed space, easy -> hard).
    std::vector<HistogramPanel> panels;
    auto as_values = [](const json& counts) {
      std::vector<double> values;
      for (size_t k = 0; k < counts.size(); ++k)
        for (int64_t n = 0; n < counts[k].get<int64_t>(); ++n) values.push_back((static_cast<double>(k) + 0.5) / counts.size());
      return values;
    };
    int64_t c = 0;
    for (const auto& entry : sampling["classes"]) {
      panels.push_back({fmt::format("class {}", c++),
                        {{"pool", as_values(entry.value("pool_bins", json::array()))},
                         {"target", as_values(entry.value("target", json::array()))},
                         {"drawn", as_values(entry.value("drawn", json::array()))}}});
    }
    HistogramOptions options;
    options.bins = 10;
    options.x_label = "DGS bin of the transformed difficulty";
    html += "<p>DGS per class: the pool, the target and the drawn images over the 10 bins of the "
            "log-transformed difficulty (ALGORITHMS §10).</p>\n" + histogram_svg(panels, options);
  }
  if (fs::exists(dgs_dir / "difficulty.svg", ec)) {
    const auto svg = read_file_bytes(dgs_dir / "difficulty.svg");
    html += "<p>In DGS's transformed space: original T(O), pool T(P) and the selected images.</p>\n" +
            std::string(svg.begin(), svg.end());
  }

  // Loss curves of the distillation runs (meta.json: loss every 10 iterations).
  html += "<h2 id=\"loss\">Distillation loss</h2>\n";
  std::vector<LineSeries> curves;
  for (const auto& [name, meta] : {std::pair<const char*, const json&>{"pool", pool_meta}, {"plain IPC", plain_meta}}) {
    if (!meta.is_object() || !meta.contains("loss_every_10")) continue;
    LineSeries s{name, {}};
    for (const auto& point : meta["loss_every_10"]) s.points.emplace_back(point[0].get<double>(), point[1].get<double>());
    curves.push_back(std::move(s));
  }
  if (curves.empty()) {
    html += "<p class=\"note\">no loss log (the method selects real images)</p>\n";
  } else {
    LineChartOptions options;
    options.title = "matching loss";
    html += line_chart_svg(curves, options);
  }

  // Wall times per stage.
  html += "<h2 id=\"times\">Wall times</h2>\n<table><tr><th>stage</th><th>seconds</th></tr>";
  double total = 0;
  const json stages = results.value("stages", json::object());
  for (const auto& [name, stage] : stages.items()) {
    if (stage.contains("seconds")) {
      total += stage["seconds"].get<double>();
      html += fmt::format("<tr><td>{}</td><td>{:.1f}</td></tr>", escape_xml(name), stage["seconds"].get<double>());
    } else {
      html += fmt::format("<tr><td>{}</td><td>reused</td></tr>", escape_xml(name));
    }
  }
  html += fmt::format("<tr><th>total</th><th>{:.1f}</th></tr></table>\n", total);
  html += fmt::format("<p class=\"note\">written by ddkit {}</p>\n</body></html>\n", DDKIT_VERSION);
  return html;
}

fs::path write_run_report(const fs::path& run_dir, const data::Dataset& data) {
  const auto file = run_dir / "report.html";
  write_file_atomic(file, run_report_html(run_dir, data));
  return file;
}

}  // namespace ddkit::report
