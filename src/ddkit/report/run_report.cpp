#include "ddkit/report/run_report.h"

#include <cmath>

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

bool has_set(const fs::path& dir) {
  std::error_code ec;
  return !dir.empty() && fs::exists(dir / "meta.json", ec);
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

// meta.json's "pool_indices", integers only: nlohmann's get<int64_t> casts a real such as
// 1e300 to an integer, which is undefined behaviour.
std::vector<int64_t> pool_indices(const json& list, const fs::path& set_dir) {
  if (!list.is_array()) throw Error((set_dir / "meta.json").string(), "\"pool_indices\" is not a list");
  std::vector<int64_t> out;
  for (const auto& i : list) {
    if (!i.is_number_integer()) throw Error((set_dir / "meta.json").string(), "\"pool_indices\" holds a non-integer");
    out.push_back(i.get<int64_t>());
  }
  return out;
}

using ByClass = std::vector<std::vector<double>>;

// Scores per class from a metadata.jsonl (entries without a score skipped).
ByClass scores_by_class(const fs::path& file, int64_t num_classes) {
  ByClass out(static_cast<size_t>(num_classes));
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  for (const auto& e : data::read_metadata(file)) {
    if (e.label >= 0 && e.label < num_classes && !std::isnan(e.score)) out[static_cast<size_t>(e.label)].push_back(e.score);
  }
  return out;
}

bool any_values(const ByClass& by_class) {
  for (const auto& v : by_class)
    if (!v.empty()) return true;
  return false;
}

const char* kStyle = R"(body{font-family:sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.note{color:#777}img{image-rendering:pixelated;max-width:100%}.grid{display:flex;gap:32px;flex-wrap:wrap})";

// The three kinds of directory a report can be made of, told apart by their
// files (docs/design.md "File formats"): a pipeline run (results.json with
// "sets"), an eval output (results.json with "models"; its "set" names the
// evaluated set) and an image set (meta.json) from distill or sample.
enum class RunKind { pipeline, eval, set };

// What the report draws from: every part is optional except the kind's own file.
struct RunFiles {
  RunKind kind = RunKind::set;
  json results;                   // results.json (pipeline, eval)
  fs::path final_set;             // drawn as "the set": pipeline dgs/, the evaluated set, or the directory
  fs::path pool;                  // pipeline: pool/
  json final_meta, pool_meta, plain_meta, sampling;
  fs::path original_scores;       // pipeline: the training split's scores
};

RunFiles inspect_run(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error(run_dir.string(), "is not a directory");
  RunFiles run;
  run.results = read_json(run_dir / "results.json");
  if (run.results.is_object() && run.results.contains("sets")) {
    run.kind = RunKind::pipeline;
    run.final_set = run_dir / "dgs";
    run.pool = run_dir / "pool";
    run.pool_meta = read_json(run.pool / "meta.json");
    run.plain_meta = read_json(run_dir / "plain" / "meta.json");
    run.sampling = read_json(run.final_set / "sampling.json");
    run.original_scores = run_dir / "original-scores" / "metadata.jsonl";
  } else if (run.results.is_object() && run.results.contains("models")) {
    run.kind = RunKind::eval;
    run.final_set = run.results.value("set", "");  // as given to `ddkit eval --set`
    if (!has_set(run.final_set)) run.final_set.clear();  // moved or deleted: accuracies only
  } else if (!run.results.is_null()) {
    throw Error((run_dir / "results.json").string(), "has neither \"sets\" (pipeline) nor \"models\" (eval)");
  } else if (has_set(run_dir)) {
    run.kind = RunKind::set;
    run.final_set = run_dir;
  } else {
    throw Error(run_dir.string(),
                "holds no results.json (pipeline or eval output) and no meta.json (image set): nothing to report");
  }
  if (!run.final_set.empty()) {
    run.final_meta = read_json(run.final_set / "meta.json");
    if (run.sampling.is_null()) run.sampling = read_json(run.final_set / "sampling.json");
  }
  return run;
}

std::string title(const RunFiles& run) {
  const json& source = run.kind == RunKind::pipeline ? run.results : run.final_meta;
  const auto field = [&](const char* key) { return cell(source.is_object() ? source.value(key, json("?")) : json("?")); };
  switch (run.kind) {
    case RunKind::pipeline:
      return fmt::format("ddkit run: {} on {}, IPC {}, pool factor {}, DGS target {}", field("method"),
                         field("dataset"), field("ipc"), field("pool_factor"), field("target"));
    case RunKind::eval:
      return run.final_meta.is_object()
                 ? fmt::format("ddkit eval: {} on {}, IPC {} ({})", field("method"), field("dataset"), field("ipc"),
                               cell(run.results.value("set", json(""))))
                 : fmt::format("ddkit eval: {}", cell(run.results.value("set", json("?"))));
    case RunKind::set:
      break;
  }
  return fmt::format("ddkit set: {} on {}, IPC {}", field("method"), field("dataset"), field("ipc"));
}

// One row per evaluated set and model. A pipeline's results.json holds its
// sets' eval results under "sets"; an eval output is one such result.
std::string accuracy_section(const RunFiles& run) {
  std::string html = "<h2 id=\"accuracy\">Accuracy</h2>\n";
  if (run.kind == RunKind::set) {
    return html + "<p class=\"note\">not evaluated here: <code>ddkit eval --set DIR --out EVAL</code> writes "
                  "EVAL/results.json, and <code>ddkit report --run EVAL</code> shows it</p>\n";
  }
  const json sets = run.kind == RunKind::pipeline ? run.results.value("sets", json::object())
                                                  : json{{run.results.value("set", "set"), run.results}};
  const json baselines = run.results.value("baselines", json());
  html += "<table id=\"accuracy-table\"><tr><th>set</th><th>model</th><th>accuracy (%)</th><th>runs</th>"
          "<th>protocol</th>";
  if (baselines.is_object()) html += "<th>improvement over random</th><th>gap to whole data</th>";
  html += "</tr>\n";
  for (const auto& [name, set] : sets.items()) {
    const json protocol = set.value("protocol", json::object());
    // The epochs as written (cell escapes them): value<int> would cast a real such as
    // 1e300 (undefined behaviour).
    const std::string protocol_html =
        fmt::format("{} epochs{}", cell(protocol.value("epochs", json(0))), protocol.value("dsa", false) ? ", DSA" : "");
    const json models = set.value("models", json::object());
    for (const auto& [model, m] : models.items()) {
      html += fmt::format("<tr class=\"result\"><td>{}</td><td>{}</td><td>{:.2f} ± {:.2f}</td><td>{}</td><td>{}</td>",
                          escape_xml(name), escape_xml(model), m.value("mean", 0.0), m.value("std", 0.0),
                          m.value("accuracies", json::array()).size(), protocol_html);
      if (baselines.is_object()) {
        const json b = baselines.value(model, json::object());
        const double mean = m.value("mean", 0.0);  // a structured binding: not captured (C++17)
        const auto diff = [&](const char* key, double sign) {
          return b.contains(key) ? fmt::format("{:+.2f}", sign * (mean - b[key].get<double>())) : "—";
        };
        html += fmt::format("<td>{}</td><td>{}</td>", diff("random", 1), diff("whole", -1));
      }
      html += "</tr>\n";
    }
  }
  return html + "</table>\n";
}

// The run's own keys, then the distillation settings of the set that made it.
std::string configuration_section(const RunFiles& run) {
  std::string html = "<h2 id=\"configuration\">Configuration</h2>\n<table>";
  if (run.kind == RunKind::pipeline) {
    for (const char* key : {"dataset", "method", "ipc", "pool_factor", "target", "seed"}) {
      if (run.results.contains(key)) html += fmt::format("<tr><th>{}</th><td>{}</td></tr>", key, cell(run.results[key]));
    }
  } else if (run.kind == RunKind::eval) {
    for (const char* key : {"set", "runs", "seed", "device"}) {
      if (run.results.contains(key)) html += fmt::format("<tr><th>{}</th><td>{}</td></tr>", key, cell(run.results[key]));
    }
    const json protocol = run.results.value("protocol", json::object());  // named: items() must not outlive it
    for (const auto& [key, value] : protocol.items()) {
      if (value.is_primitive()) html += fmt::format("<tr><th>protocol: {}</th><td>{}</td></tr>", escape_xml(key), cell(value));
    }
  }
  const bool pipeline = run.kind == RunKind::pipeline;
  const json& settings = pipeline ? run.pool_meta : run.final_meta;
  if (settings.is_object()) {
    for (const auto& [key, value] : settings.items()) {
      if (value.is_primitive())
        html += fmt::format("<tr><th>{}{}</th><td>{}</td></tr>", pipeline ? "pool: " : "set: ", escape_xml(key), cell(value));
    }
  }
  return html + "</table>\n";
}

// The difficulty scores the histograms draw, per class: the training split's,
// the pool's and the final set's.
struct Scores {
  ByClass original, pool, selected;
};

// Grids of the final set and of the pool (selected images framed); collects
// the pool's scores on the way, since the pool is read here anyway.
std::string images_section(const RunFiles& run, const data::Dataset& data, Scores& scores) {
  const int64_t classes = data.num_classes;
  std::string html = "<h2 id=\"images\">Images</h2>\n<div class=\"grid\">";
  std::vector<int64_t> selected_pool_indices;
  if (has_set(run.final_set)) {
    const auto set = data::read_image_set(run.final_set, data);
    const char* caption = run.kind == RunKind::pipeline ? "final set (DGS)" : "the set";
    html += "<figure>" + png_img(image_grid(data::denormalize(set.images, data.normalization), set.labels, classes),
                                 caption) +
            fmt::format("<figcaption>{}, one row per class</figcaption></figure>", caption);
    if (set.meta.contains("pool_indices")) selected_pool_indices = pool_indices(set.meta["pool_indices"], run.final_set);
  } else {
    html += "<p class=\"note\">the set's images are not here</p>";
  }
  if (has_set(run.pool)) {
    const auto pool = data::read_image_set(run.pool, data);
    std::vector<bool> marked(static_cast<size_t>(pool.size()), false);
    for (int64_t i : selected_pool_indices)
      if (i >= 0 && i < pool.size()) marked[static_cast<size_t>(i)] = true;
    ImageGridOptions grid;
    grid.max_per_class = std::min<int64_t>(30, pool.size() / std::max<int64_t>(1, classes));
    html += "<figure>" +
            png_img(image_grid(data::denormalize(pool.images, data.normalization), pool.labels, classes, marked, grid),
                    "pool") +
            fmt::format("<figcaption>pool (first {} per class), selected images framed</figcaption></figure>",
                        grid.max_per_class);
    if (pool.scores.defined()) {
      const auto values = pool.scores.to(at::kDouble).contiguous();
      const auto labels = pool.labels.contiguous();
      for (int64_t i = 0; i < pool.size(); ++i) {
        const double s = values.data_ptr<double>()[i];
        if (std::isnan(s)) continue;
        const auto c = static_cast<size_t>(labels.data_ptr<int64_t>()[i]);
        scores.pool[c].push_back(s);
        if (marked[static_cast<size_t>(i)]) scores.selected[c].push_back(s);
      }
    }
  }
  return html + "</div>\n";
}

std::string score_histograms(const Scores& scores, const data::Dataset& data) {
  std::vector<HistogramPanel> panels;
  HistogramPanel overall{"all classes", {{"original", {}}, {"pool", {}}, {"selected", {}}}};
  for (int64_t c = 0; c < data.num_classes; ++c) {
    const auto k = static_cast<size_t>(c);
    const std::string name = c < static_cast<int64_t>(data.class_names.size()) ? data.class_names[k] : "";
    panels.push_back(
        {fmt::format("{} {}", c, name), {{"original", scores.original[k]}, {"pool", scores.pool[k]}, {"selected", scores.selected[k]}}});
    for (size_t s = 0; s < 3; ++s) {
      const auto& v = panels.back().series[s].values;
      overall.series[s].values.insert(overall.series[s].values.end(), v.begin(), v.end());
    }
  }
  panels.insert(panels.begin(), overall);
  HistogramOptions options;
  options.x_label = "prob difficulty 1 - p(true class)";
  return "<p>Fractions per bin of the prob difficulty of the training split (original), the pool and the "
         "selected images.</p>\n" +
         histogram_svg(panels, options);
}

// DGS's target vs drawn counts per bin of the transformed space (docs/algorithms.md §10).
// A count becomes that many values, so counts are bounded: a sampling.json claiming
// 10^18 images in a bin would otherwise fill the memory.
std::string dgs_bins(const json& sampling, const fs::path& file) {
  constexpr int64_t kMaxCount = 1'000'000;
  std::vector<HistogramPanel> panels;
  auto as_values = [&](const json& counts) {
    if (!counts.is_array()) throw Error(file.string(), "a class's bin counts are not a list");
    std::vector<double> values;
    for (size_t k = 0; k < counts.size(); ++k) {
      if (!counts[k].is_number_integer() || counts[k].get<int64_t>() < 0 || counts[k].get<int64_t>() > kMaxCount)
        throw Error(file.string(), fmt::format("a bin count is not an integer in [0, {}]", kMaxCount));
      for (int64_t n = 0; n < counts[k].get<int64_t>(); ++n) values.push_back((static_cast<double>(k) + 0.5) / counts.size());
    }
    return values;
  };
  const json& classes = sampling["classes"];  // {"<label>": selection} (sampling/dgs.h)
  if (!classes.is_object()) throw Error(file.string(), "\"classes\" is not an object of classes");
  for (const auto& [label, entry] : classes.items()) {
    panels.push_back({"class " + label,
                      {{"pool", as_values(entry.value("pool_bins", json::array()))},
                       {"target", as_values(entry.value("target", json::array()))},
                       {"drawn", as_values(entry.value("drawn", json::array()))}}});
  }
  HistogramOptions options;
  options.bins = 10;
  options.x_label = "DGS bin of the transformed difficulty";
  return "<p>DGS per class: the pool, the target and the drawn images over the 10 bins of the "
         "log-transformed difficulty (docs/algorithms.md §10).</p>\n" +
         histogram_svg(panels, options);
}

std::string difficulty_section(const RunFiles& run, const data::Dataset& data, Scores& scores) {
  std::string html = "<h2 id=\"difficulty\">Difficulty</h2>\n";
  if (!run.original_scores.empty()) scores.original = scores_by_class(run.original_scores, data.num_classes);
  if (!any_values(scores.selected) && !run.final_set.empty())
    scores.selected = scores_by_class(run.final_set / "metadata.jsonl", data.num_classes);
  if (any_values(scores.original) || any_values(scores.pool) || any_values(scores.selected)) {
    html += score_histograms(scores, data);
  } else {
    html += "<p class=\"note\">no difficulty scores found</p>\n";
  }
  if (run.sampling.is_object() && run.sampling.contains("classes")) html += dgs_bins(run.sampling, run.final_set / "sampling.json");
  std::error_code ec;
  if (!run.final_set.empty() && fs::exists(run.final_set / "difficulty.svg", ec)) {
    const auto svg = read_file_bytes(run.final_set / "difficulty.svg");
    html += "<p>In DGS's transformed space: original T(O), pool T(P) and the selected images.</p>\n" +
            std::string(svg.begin(), svg.end());
  }
  return html;
}

// Loss curves of the distillation runs (meta.json: loss every 10 iterations).
std::string loss_section(const RunFiles& run) {
  std::string html = "<h2 id=\"loss\">Distillation loss</h2>\n";
  std::vector<std::pair<const char*, const json*>> sources;
  if (run.kind == RunKind::pipeline) {
    sources = {{"pool", &run.pool_meta}, {"plain IPC", &run.plain_meta}};
  } else {
    sources = {{"set", &run.final_meta}};
  }
  std::vector<LineSeries> curves;
  for (const auto& [name, meta] : sources) {
    if (!meta->is_object() || !meta->contains("loss_every_10")) continue;
    LineSeries s{name, {}};
    // at(): a point of fewer than two values throws (one error line); const operator[] would read past it.
    for (const auto& point : (*meta)["loss_every_10"]) s.points.emplace_back(point.at(0).get<double>(), point.at(1).get<double>());
    curves.push_back(std::move(s));
  }
  if (curves.empty()) return html + "<p class=\"note\">no loss log (the method selects or generates images)</p>\n";
  LineChartOptions options;
  options.title = "matching loss";
  return html + line_chart_svg(curves, options);
}

// Wall times: a pipeline's per stage; otherwise what the eval and the set recorded.
std::string times_section(const RunFiles& run) {
  std::vector<std::pair<std::string, json>> rows;
  if (run.kind == RunKind::pipeline) {
    const json stages = run.results.value("stages", json::object());  // named: items() must not outlive it
    for (const auto& [name, stage] : stages.items())
      rows.emplace_back(name, stage.value("seconds", json()));
  } else {
    if (run.final_meta.is_object() && run.final_meta.contains("wall_seconds"))
      rows.emplace_back("set (distill, sample or generate)", run.final_meta["wall_seconds"]);
    if (run.kind == RunKind::eval) rows.emplace_back("eval", run.results.value("wall_seconds", json()));
  }
  std::string html = "<h2 id=\"times\">Wall times</h2>\n<table><tr><th>stage</th><th>seconds</th></tr>";
  double total = 0;
  for (const auto& [name, seconds] : rows) {
    if (seconds.is_number()) {
      total += seconds.get<double>();
      html += fmt::format("<tr><td>{}</td><td>{:.1f}</td></tr>", escape_xml(name), seconds.get<double>());
    } else {
      html += fmt::format("<tr><td>{}</td><td>reused</td></tr>", escape_xml(name));
    }
  }
  return html + fmt::format("<tr><th>total</th><th>{:.1f}</th></tr></table>\n", total);
}

std::string report_html(const fs::path& run_dir, const data::Dataset& data) {
  const RunFiles run = inspect_run(run_dir);
  Scores scores{ByClass(static_cast<size_t>(data.num_classes)), ByClass(static_cast<size_t>(data.num_classes)),
                ByClass(static_cast<size_t>(data.num_classes))};
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += fmt::format("<title>ddkit report: {}</title><style>{}</style></head><body>\n",
                      escape_xml(run_dir.filename().string()), kStyle);
  html += "<h1>" + title(run) + "</h1>\n";
  html += accuracy_section(run);
  html += configuration_section(run);
  html += images_section(run, data, scores);  // before the histograms: it collects the pool's scores
  html += difficulty_section(run, data, scores);
  html += loss_section(run);
  html += times_section(run);
  html += fmt::format("<p class=\"note\">written by ddkit {}</p>\n</body></html>\n", DDKIT_VERSION);
  return html;
}

}  // namespace

std::string run_report_html(const fs::path& run_dir, const data::Dataset& data) {
  // The sections read the run's JSON files field by field; a field of another type than
  // ddkit writes (a number where a list belongs) is the files' fault, not an internal error.
  try {
    return report_html(run_dir, data);
  } catch (const json::exception& e) {
    throw Error(run_dir.string(), fmt::format("a JSON file of the run has a field ddkit cannot read ({})", e.what()));
  }
}

fs::path write_run_report(const fs::path& run_dir, const data::Dataset& data) {
  const auto file = run_dir / "report.html";
  write_file_atomic(file, run_report_html(run_dir, data));
  return file;
}

}  // namespace ddkit::report
