// Tests of the data layer (src/ddkit/data): image sets on disk: round trip, PNG-only trees, atomic writes, read errors (docs/design.md "File formats").
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

TEST(ImageSet, RoundTripImagesLabelsScoresPngsAndMeta) {
  TempDir tmp;
  at::manual_seed(7);
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  const fs::path dir = tmp / "set";
  write_image_set(dir, set, data);
  ASSERT_TRUE(fs::is_directory(dir));
  for (const char* file : {"images.pt", "labels.pt", "metadata.jsonl", "meta.json"})
    EXPECT_TRUE(fs::is_regular_file(dir / file)) << file;

  const ImageSet back = read_image_set(dir, data);
  ASSERT_EQ(back.images.scalar_type(), at::kFloat);
  ASSERT_EQ(back.images.sizes(), set.images.sizes());
  EXPECT_TRUE(at::equal(back.images, set.images)) << "images.pt must be exact";
  EXPECT_EQ(back.labels.scalar_type(), at::kLong);
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{2, 0, 1, 0, 2}));
  ASSERT_TRUE(back.scores.defined());
  ASSERT_EQ(back.scores.numel(), 5);
  EXPECT_EQ(back.scores[0].item<double>(), 0.5);
  EXPECT_TRUE(std::isnan(back.scores[1].item<double>()));
  EXPECT_EQ(back.scores[2].item<double>(), 1.25);
  EXPECT_EQ(back.scores[3].item<double>(), -3.0);
  EXPECT_EQ(back.scores[4].item<double>(), 0.0);

  // metadata.jsonl: one line per image, in order, file names images/<label>/<index>.png.
  const auto lines = read_jsonl(dir / "metadata.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  ASSERT_EQ(back.file_names.size(), 5u);
  const auto labels = to_vector(set.labels);
  const auto norm = data.normalization;
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("image " + std::to_string(i));
    const json& line = lines[i];
    ASSERT_TRUE(line.contains("file_name"));
    const std::string name = line["file_name"].get<std::string>();
    EXPECT_EQ(name, back.file_names[i]);
    EXPECT_EQ(line["label"].get<int64_t>(), labels[i]);
    const std::string prefix = "images/" + std::to_string(labels[i]) + "/";
    ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
    const std::string stem = fs::path(name).stem().string();
    EXPECT_EQ(std::stoll(stem), static_cast<long long>(i)) << name;
    EXPECT_EQ(fs::path(name).extension(), ".png");
    if (i == 1) {
      EXPECT_FALSE(line.contains("score")) << "a NaN score must be absent: " << line.dump();
    } else {
      ASSERT_TRUE(line.contains("score")) << line.dump();
      EXPECT_EQ(line["score"].get<double>(), set.scores[static_cast<int64_t>(i)].item<double>());
    }
    ASSERT_TRUE(fs::is_regular_file(dir / name)) << name;
    const auto png = load_image(dir / name, 0);
    ASSERT_EQ(png.sizes(), (std::vector<int64_t>{3, 4, 5}));
    const auto expected = expected_png_pixels(set.images[static_cast<int64_t>(i)], norm);
    EXPECT_TRUE(at::equal(png, expected)) << "max diff "
                                          << (png.to(at::kInt) - expected.to(at::kInt)).abs().max().item<int>();
  }
  // The forced extremes clamp.
  EXPECT_EQ(load_image(dir / back.file_names[0], 0)[0][0][0].item<uint8_t>(), 255);
  EXPECT_EQ(load_image(dir / back.file_names[0], 0)[1][0][1].item<uint8_t>(), 0);

  // meta.json: the caller's meta plus dataset, normalization, num_images.
  const json meta = json::parse(read_text(dir / "meta.json"));
  EXPECT_EQ(meta["dataset"], data.spec);
  EXPECT_EQ(meta["normalization"]["mean"].get<std::vector<double>>(), norm.mean);
  EXPECT_EQ(meta["normalization"]["std"].get<std::vector<double>>(), norm.std);
  EXPECT_EQ(meta["num_images"].get<int64_t>(), 5);
  EXPECT_EQ(meta["method"], "unit-test");
  EXPECT_EQ(meta["ipc"], 2);
  EXPECT_EQ(back.meta, meta);

  // images.pt and labels.pt are plain tensor files.
  EXPECT_TRUE(at::equal(load_tensor(dir / "images.pt"), set.images));
  EXPECT_EQ(to_vector(load_tensor(dir / "labels.pt")), labels);
  // No temporary files or siblings left behind.
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"set"});
  for (const auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(ImageSet, SetWithoutScoresReadsWithoutScores) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet set = image_set_fixture();
  set.scores = at::Tensor();
  write_image_set(tmp / "set", set, data);
  for (const auto& line : read_jsonl(tmp / "set" / "metadata.jsonl")) EXPECT_FALSE(line.contains("score"));
  const ImageSet back = read_image_set(tmp / "set", data);
  EXPECT_FALSE(back.scores.defined());
  EXPECT_TRUE(at::equal(back.images, set.images));
}

TEST(ImageSet, PngOnlyTreesAreReadable) {
  TempDir tmp;
  at::manual_seed(11);
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  write_image_set(tmp / "set", set, data);
  const auto lines = read_jsonl(tmp / "set" / "metadata.jsonl");
  std::map<std::string, int64_t> index_of;  // file name -> image index
  for (size_t i = 0; i < lines.size(); ++i) index_of[lines[i]["file_name"].get<std::string>()] = static_cast<int64_t>(i);
  const auto expected = clamped(set.images, data.normalization);
  const auto labels = to_vector(set.labels);

  // Only images/ copied: no images.pt, no metadata, no scores.
  fs::create_directories(tmp / "pngs");
  fs::copy(tmp / "set" / "images", tmp / "pngs" / "images", fs::copy_options::recursive);
  const ImageSet pngs = read_image_set(tmp / "pngs", data);
  ASSERT_EQ(pngs.size(), 5);
  ASSERT_EQ(pngs.images.sizes(), set.images.sizes());
  EXPECT_FALSE(pngs.scores.defined());
  ASSERT_EQ(pngs.file_names.size(), 5u);
  std::vector<int64_t> order;
  for (size_t j = 0; j < pngs.file_names.size(); ++j) {
    ASSERT_TRUE(index_of.count(pngs.file_names[j])) << pngs.file_names[j];
    const int64_t i = index_of[pngs.file_names[j]];
    order.push_back(i);
    EXPECT_EQ(pngs.labels[static_cast<int64_t>(j)].item<int64_t>(), labels[static_cast<size_t>(i)]);
  }
  const auto reordered = expected.index_select(0, at::tensor(order, at::kLong));
  EXPECT_LE(max_steps(pngs.images, reordered, data.normalization), 1.0 + 1e-4);
  // Compared with the unclamped originals, only the clamped pixels differ by more.
  const auto originals = set.images.index_select(0, at::tensor(order, at::kLong));
  const auto close = ((pngs.images - originals).abs() <= 1.0 / 255.0 / 0.2 + 1e-4);
  EXPECT_GT(close.to(at::kFloat).mean().item<double>(), 0.5);

  // images/ plus metadata.jsonl: scores come back by file name.
  fs::copy(tmp / "set" / "metadata.jsonl", tmp / "pngs" / "metadata.jsonl");
  const ImageSet with_scores = read_image_set(tmp / "pngs", data);
  ASSERT_TRUE(with_scores.scores.defined());
  for (size_t j = 0; j < order.size(); ++j) {
    const double want = set.scores[order[j]].item<double>();
    const double got = with_scores.scores[static_cast<int64_t>(j)].item<double>();
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << j;
    } else {
      EXPECT_EQ(got, want) << j;
    }
  }

  // Class folders named by class name, at the top level.
  const std::vector<std::string> names = {"apple", "bear", "cloud"};
  for (const auto& [file, i] : index_of) {
    const fs::path src = tmp / "set" / file;
    const fs::path dst = tmp / "named" / names[static_cast<size_t>(labels[static_cast<size_t>(i)])] / src.filename();
    fs::create_directories(dst.parent_path());
    fs::copy_file(src, dst);
  }
  const ImageSet named = read_image_set(tmp / "named", data);
  ASSERT_EQ(named.size(), 5);
  EXPECT_EQ(to_vector(named.labels), (std::vector<int64_t>{0, 0, 1, 2, 2}));
  EXPECT_TRUE(at::allclose(named.images, pngs.images)) << "same PNGs, same order (by label, then file)";

  // A folder name that is neither a label nor a class name.
  fs::rename(tmp / "named" / "bear", tmp / "named" / "zebra");
  EXPECT_DDKIT_ERROR((tmp / "named" / "zebra").string(), "neither a label number nor a class",
                     read_image_set(tmp / "named", data));
  // A numbered folder out of range.
  fs::rename(tmp / "named" / "zebra", tmp / "named" / "3");
  EXPECT_DDKIT_ERROR((tmp / "named" / "3").string(), "label 3 is out of range (3 classes)",
                     read_image_set(tmp / "named", data));
}

// Regression: grey images once aliased stb's freed buffer (a contiguous() view).
TEST(ImageSet, GreyPngOnlyTreeIsReadable) {
  TempDir tmp;
  at::manual_seed(13);
  Dataset data = image_set_dataset();
  data.channels = 1;
  data.normalization = {{0.2861}, {0.3530}};
  ImageSet set;
  set.images = at::randn({4, 1, 4, 5});
  set.labels = at::tensor(std::vector<int64_t>{1, 0, 2, 1}, at::kLong);
  write_image_set(tmp / "set", set, data);
  const auto png = load_image(tmp / "set" / "images" / "0" / "00001.png", 0);
  ASSERT_EQ(png.sizes(), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_TRUE(at::equal(png, expected_png_pixels(set.images[1], data.normalization)));
  fs::create_directories(tmp / "pngs");
  fs::copy(tmp / "set" / "images", tmp / "pngs" / "images", fs::copy_options::recursive);
  const ImageSet back = read_image_set(tmp / "pngs", data);
  ASSERT_EQ(back.size(), 4);
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{0, 1, 1, 2}));
  const auto order = at::tensor(std::vector<int64_t>{1, 0, 3, 2}, at::kLong);
  EXPECT_LE(max_steps(back.images, clamped(set.images, data.normalization).index_select(0, order),
                      data.normalization),
            1.0 + 1e-4);
}

TEST(ImageSet, OverwriteReplacesAndLeavesNoTemporaries) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const ImageSet first = image_set_fixture();
  const fs::path dir = tmp / "out";
  write_image_set(dir, first, data);
  ASSERT_TRUE(fs::exists(dir / "images" / "2" / "00004.png")) << "expected 5-digit indices; see metadata.jsonl:\n"
                                                              << read_text(dir / "metadata.jsonl");
  write_bytes(dir / "stray.txt", "left over from the old set");

  ImageSet second;
  second.images = at::zeros({2, 3, 4, 5}, at::kFloat);
  second.labels = at::tensor(std::vector<int64_t>{1, 1}, at::kLong);
  write_image_set(dir, second, data);
  const ImageSet back = read_image_set(dir, data);
  EXPECT_EQ(back.size(), 2);
  EXPECT_TRUE(at::equal(back.images, second.images));
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(back.scores.defined());
  EXPECT_FALSE(fs::exists(dir / "stray.txt")) << "the old directory must be replaced, not merged";
  EXPECT_FALSE(fs::exists(dir / "images" / "2")) << "old PNGs must be gone";
  EXPECT_EQ(json::parse(read_text(dir / "meta.json"))["num_images"], 2);
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});

  // A trailing slash names the same directory.
  write_image_set(dir.string() + "/", first, data);
  EXPECT_EQ(read_image_set(dir, data).size(), 5);
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});
}

TEST(ImageSet, FailedWriteLeavesNothing) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet bad = image_set_fixture();
  bad.labels = at::tensor(std::vector<int64_t>{0, 1, 3, 0, 2}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "label 3 is out of range (3 classes)",
                     write_image_set(tmp / "out", bad, data));
  EXPECT_FALSE(fs::exists(tmp / "out"));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  bad.labels = at::tensor(std::vector<int64_t>{0, 1, -1, 0, 2}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "label -1 is out of range", write_image_set(tmp / "out", bad, data));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  ImageSet wrong_shape = image_set_fixture();
  wrong_shape.images = at::zeros({5, 3, 5, 4});
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "expected N x 3 x 4 x 5", write_image_set(tmp / "out", wrong_shape, data));
  ImageSet wrong_count = image_set_fixture();
  wrong_count.labels = at::zeros({4}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "has 4 labels for 5 images", write_image_set(tmp / "out", wrong_count, data));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  // A failure after the staging directory exists (here: a score vector shorter
  // than the set, found while writing metadata) also leaves nothing, and a
  // failing write over an existing set leaves the old set intact.
  const ImageSet good = image_set_fixture();
  write_image_set(tmp / "out", good, data);
  ImageSet short_scores = image_set_fixture();
  short_scores.scores = at::zeros({2}, at::kDouble);
  EXPECT_ANY_THROW(write_image_set(tmp / "out", short_scores, data));
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});
  const ImageSet still = read_image_set(tmp / "out", data);
  EXPECT_TRUE(at::equal(still.images, good.images));
}

TEST(ImageSet, ReadErrorsNameTheFile) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  const fs::path dir = tmp / "set";

  // images of the wrong size for the dataset (images.pt).
  Dataset wider = data;
  wider.width = 6;
  ImageSet wide = image_set_fixture();
  wide.images = at::zeros({5, 3, 4, 6});
  write_image_set(dir, wide, wider);
  EXPECT_DDKIT_ERROR((dir / "images.pt").string(), "expected N x 3 x 4 x 5", read_image_set(dir, data));

  // images of the wrong size (PNG tree): the PNG is named.
  fs::remove(dir / "images.pt");
  fs::remove(dir / "labels.pt");
  ASSERT_TRUE(fs::exists(dir / "images" / "0" / "00001.png"));
  EXPECT_DDKIT_ERROR((dir / "images" / "0" / "00001.png").string(), "image is 6x4, expected 5x4",
                     read_image_set(dir, data));

  // A missing labels.pt.
  write_image_set(dir, set, data);
  fs::remove(dir / "labels.pt");
  EXPECT_DDKIT_ERROR((dir / "labels.pt").string(), "no such file", read_image_set(dir, data));

  // Garbage images.pt.
  write_image_set(dir, set, data);
  write_bytes(dir / "images.pt", "definitely not a zip archive");
  EXPECT_DDKIT_ERROR((dir / "images.pt").string(), "not a tensor file", read_image_set(dir, data));

  // Label count differs from the image count.
  write_image_set(dir, set, data);
  save_tensor(dir / "labels.pt", at::zeros({4}, at::kLong));
  try {
    read_image_set(dir, data);
    ADD_FAILURE() << "expected ddkit::Error";
  } catch (const ddkit::Error& e) {
    EXPECT_NE(e.problem().find("has 4 labels for 5 images"), std::string::npos) << e.what();
  }

  // A missing directory, and a file where a directory is expected.
  EXPECT_DDKIT_ERROR((tmp / "absent").string(), "no such directory", read_image_set(tmp / "absent", data));
  EXPECT_DDKIT_ERROR((dir / "meta.json").string(), "is not a directory", read_image_set(dir / "meta.json", data));
  // An empty directory.
  fs::create_directories(tmp / "empty");
  EXPECT_DDKIT_ERROR((tmp / "empty").string(), "no images.pt and no PNG/JPEG class folders",
                     read_image_set(tmp / "empty", data));
}

// Regression: label problems are reported against labels.pt, not images.pt.
TEST(ImageSet, LabelsOutOfRangeNameLabelsFile) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);  // labels up to 2
  Dataset two = data;
  two.num_classes = 2;
  two.class_names = {"apple", "bear"};
  EXPECT_DDKIT_ERROR((dir / "labels.pt").string(), "label 2 is out of range (2 classes)", read_image_set(dir, two));
}

TEST(ImageSet, LabelsOutOfRangeInPngTree) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);
  fs::remove(dir / "images.pt");
  fs::remove(dir / "labels.pt");
  Dataset two = data;
  two.num_classes = 2;
  two.class_names = {"apple", "bear"};
  EXPECT_DDKIT_ERROR((dir / "images" / "2").string(), "label 2 is out of range (2 classes)", read_image_set(dir, two));
}

TEST(ImageSet, InvalidMetadataLineNamesFileAndLine) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);
  const auto lines = read_jsonl(dir / "metadata.jsonl");
  // line 1 valid, line 2 blank, line 3 broken.
  write_bytes(dir / "metadata.jsonl", lines[0].dump() + "\n\n{\"file_name\": \"images/0/00001.png\", \n" +
                                          lines[2].dump() + "\n");
  EXPECT_DDKIT_ERROR((dir / "metadata.jsonl").string(), "line 3 is not valid JSON", read_image_set(dir, data));
  write_bytes(dir / "metadata.jsonl", lines[0].dump() + "\n{\"label\": 0, \"score\": 1}\n");
  EXPECT_DDKIT_ERROR((dir / "metadata.jsonl").string(), "line 2 has no \"file_name\" string",
                     read_image_set(dir, data));
  write_bytes(dir / "meta.json", "{ nope");
  fs::remove(dir / "metadata.jsonl");
  EXPECT_DDKIT_ERROR((dir / "meta.json").string(), "is not valid JSON", read_image_set(dir, data));
}

}  // namespace
