// Tests of the data layer (src/ddkit/data): the readers' errors: truncated, wrong magic, out-of-range labels, counts (docs/design.md "Errors").
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

TEST(DataErrors, TruncatedGzip) {
  TempDir tmp;
  std::vector<uint8_t> pixels(3 * 28 * 28);
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>((k * 7919 + k / 13) % 251);
  write_gz(tmp / "full.gz", idx_images(3, 28, 28, pixels));
  const std::string gz = read_text(tmp / "full.gz");
  ASSERT_GT(gz.size(), 100u);
  const fs::path cut = tmp / "train-images-idx3-ubyte.gz";
  write_bytes(cut, gz.substr(0, gz.size() / 2));
  EXPECT_DDKIT_ERROR(cut.string(), "truncated", read_idx_images(cut));
}

TEST(DataErrors, TruncatedUncompressedIdx) {
  TempDir tmp;
  const fs::path file = tmp / "train-images-idx3-ubyte";
  std::vector<uint8_t> pixels(50, 7);  // the header says 3 x 4 x 5 = 60
  write_bytes(file, idx_images(3, 4, 5, pixels));
  EXPECT_DDKIT_ERROR(file.string(), "truncated", read_idx_images(file));
  EXPECT_DDKIT_ERROR(file.string(), "50 of 60 bytes", read_idx_images(file));
  // A label file shorter than its count.
  const fs::path labels = tmp / "labels";
  std::string bytes = idx_labels({1, 2, 3, 4});
  write_bytes(labels, bytes.substr(0, bytes.size() - 2));
  EXPECT_DDKIT_ERROR(labels.string(), "truncated", read_idx_labels(labels, 10));
}

TEST(DataErrors, WrongIdxMagic) {
  TempDir tmp;
  const fs::path labels = tmp / "train-labels-idx1-ubyte";
  const fs::path images = tmp / "train-images-idx3-ubyte";
  write_bytes(labels, idx_labels({1, 2, 3}));
  write_bytes(images, idx_images(kIdxN, kIdxH, kIdxW, idx_fixture_pixels()));
  EXPECT_DDKIT_ERROR(labels.string(), "wrong IDX magic 0x00000801", read_idx_images(labels));
  EXPECT_DDKIT_ERROR(images.string(), "wrong IDX magic 0x00000803", read_idx_labels(images, 10));
  const fs::path garbage = tmp / "garbage";
  write_bytes(garbage, "GARBAGE, not an IDX file at all");
  EXPECT_DDKIT_ERROR(garbage.string(), "wrong IDX magic 0x47415242", read_idx_images(garbage));
  EXPECT_DDKIT_ERROR(garbage.string(), "wrong IDX magic", read_idx_labels(garbage, 10));
  // A file too short for a header is truncated, not a crash.
  const fs::path tiny = tmp / "tiny";
  write_bytes(tiny, std::string("\x00\x00", 2));
  EXPECT_DDKIT_ERROR(tiny.string(), "truncated", read_idx_images(tiny));
  // A missing file.
  EXPECT_DDKIT_ERROR((tmp / "absent.gz").string(), "no such file", read_idx_images(tmp / "absent.gz"));
}

TEST(DataErrors, IdxLabelOutOfRange) {
  TempDir tmp;
  const fs::path file = tmp / "labels.gz";
  write_gz(file, idx_labels({1, 10, 2}));
  EXPECT_DDKIT_ERROR(file.string(), "label 10 at index 1 is out of range (10 classes)", read_idx_labels(file, 10));
  // Through the registry too: the train label file is named.
  write_idx_dataset(tmp / "mnist");
  write_gz(tmp / "mnist" / "train-labels-idx1-ubyte.gz", idx_labels({1, 10, 2}));
  EXPECT_DDKIT_ERROR((tmp / "mnist" / "train-labels-idx1-ubyte.gz").string(), "out of range",
                     load_dataset("mnist:" + (tmp / "mnist").string()));
}

// An IDX label file with a zero count must be a ddkit::Error like any other
// malformed file.
// Regression: an empty label file must be a ddkit::Error, not a c10::Error from max().
TEST(DataErrors, IdxEmptyLabelFile) {
  TempDir tmp;
  const fs::path file = tmp / "labels";
  write_bytes(file, idx_labels({}));
  EXPECT_DDKIT_ERROR(file.string(), "", read_idx_labels(file, 10));
}

TEST(DataErrors, CifarLabelOutOfRangeAndBadSize) {
  TempDir tmp;
  const fs::path bad_label = tmp / "data_batch_1.bin";
  write_bytes(bad_label, cifar10_file({3, 10, 4}, 0));
  EXPECT_DDKIT_ERROR(bad_label.string(), "label 10 at record 1 is out of range (10 classes)",
                     read_cifar10_files({bad_label}));

  const fs::path bad_size = tmp / "test_batch.bin";
  const std::string two = cifar10_file({1, 2}, 0);
  write_bytes(bad_size, two.substr(0, two.size() - 5));
  EXPECT_DDKIT_ERROR(bad_size.string(), "not a whole number of 3073-byte CIFAR records",
                     read_cifar10_files({bad_size}));
  const fs::path empty = tmp / "empty.bin";
  write_bytes(empty, "");
  EXPECT_DDKIT_ERROR(empty.string(), "3073-byte", read_cifar10_files({empty}));
  // CIFAR-100 records are 3074 bytes; a CIFAR-10 file is not a whole number of them.
  EXPECT_DDKIT_ERROR(bad_label.string(), "3074-byte", read_cifar100_file(bad_label));
  // A missing batch file is named.
  EXPECT_DDKIT_ERROR((tmp / "absent.bin").string(), "no such file", read_cifar10_files({tmp / "absent.bin"}));
}

TEST(DataErrors, FolderImageOfDifferentSize) {
  TempDir tmp;
  auto grey = [](int64_t h, int64_t w) { return make_image(1, h, w, [](int64_t, int64_t y, int64_t x) { return 10 * y + x; }); };
  write_png(tmp / "train" / "cat" / "a.png", grey(6, 6));
  write_png(tmp / "train" / "dog" / "b.png", grey(6, 5));
  write_png(tmp / "test" / "cat" / "c.png", grey(6, 6));
  EXPECT_DDKIT_ERROR((tmp / "train" / "dog" / "b.png").string(), "expected 6x6",
                     load_dataset("folder:" + tmp.path().string()));
  // Same in the test split: the training split fixes the size.
  fs::remove(tmp / "train" / "dog" / "b.png");
  write_png(tmp / "test" / "dog" / "d.png", grey(7, 6));
  EXPECT_DDKIT_ERROR((tmp / "test" / "dog" / "d.png").string(), "image is 6x7, expected 6x6",
                     load_dataset("folder:" + tmp.path().string()));
  // A file with a PNG name that is not an image.
  fs::remove(tmp / "test" / "dog" / "d.png");
  write_bytes(tmp / "train" / "dog" / "e.png", "not a png");
  EXPECT_DDKIT_ERROR((tmp / "train" / "dog" / "e.png").string(), "not a PNG or JPEG image",
                     load_dataset("folder:" + tmp.path().string()));
}

// Big-endian 32-bit, as PNG chunks store lengths and sizes.
std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// Found by fuzz/fuzz_idx.cpp: a header claiming billions of labels made the reader
// allocate them all before reading (out of memory). Now the buffer follows the data.
TEST(DataErrors, IdxCountsBeyondTheDataAreTruncatedNotAllocated) {
  TempDir tmp;
  write_bytes(tmp / "labels", std::string("\x00\x00\x08\x01\xf6\xff\xff\x02\x00\x09\x04", 11));
  EXPECT_DDKIT_ERROR((tmp / "labels").string(), "truncated: ended while reading labels (3 of 4143972098 bytes)",
                     ddkit::data::read_idx_labels(tmp / "labels", 10));
  // 80 million 28 x 28 images (63 GB) claimed, 16 pixels present.
  write_bytes(tmp / "images", std::string("\x00\x00\x08\x03", 4) + be32(80000000) + be32(28) + be32(28) +
                                  std::string(16, '\x07'));
  EXPECT_DDKIT_ERROR((tmp / "images").string(), "truncated: ended while reading pixels (16 of 62720000000 bytes)",
                     ddkit::data::read_idx_images(tmp / "images"));
}

TEST(DataErrors, OnlyPngAndJpegReachTheDecoder) {
  TempDir tmp;
  // A valid 1 x 1 24-bit BMP: stb_image decodes BMP, ddkit refuses it by signature.
  std::string bmp = "BM" + std::string(52, '\0') + std::string("\x10\x20\x30\x00", 4);
  auto le32 = [&](size_t at, uint32_t v) { for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<char>(v >> (8 * i)); };
  le32(2, 58); le32(10, 54); le32(14, 40); le32(18, 1); le32(22, 1);
  bmp[26] = 1; bmp[28] = 24;
  write_bytes(tmp / "a.png", bmp);
  EXPECT_DDKIT_ERROR((tmp / "a.png").string(), "no PNG or JPEG signature", ddkit::data::load_image(tmp / "a.png"));
  // A PNG whose header claims 10000 x 10000 pixels: refused before decoding allocates.
  const std::string ihdr = "IHDR" + be32(10000) + be32(10000) + std::string("\x08\x00\x00\x00\x00", 5);
  // stb's header probe reads on to the first IDAT chunk (a tRNS chunk before it would
  // change the channel count), so one empty IDAT follows; the CRCs are not checked.
  write_bytes(tmp / "huge.png",
              std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(0) + be32(0) + "IDAT" + be32(0));
  EXPECT_DDKIT_ERROR((tmp / "huge.png").string(), "claims 10000 x 10000 pixels",
                     ddkit::data::load_image(tmp / "huge.png"));
  EXPECT_DDKIT_ERROR((tmp / "huge.png").string(), "claims 10000 x 10000 pixels",
                     ddkit::data::image_file_channels(tmp / "huge.png"));
  // Found by fuzz/fuzz_image.cpp: a 90-byte PNG whose IDAT chunk claims 0x7a000022 bytes;
  // stb allocated 2 GB for it.
  const char long_chunk[] =
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00\x05"
      "\x08\x00\x00\x00\x00\x47\xc6\x12\x07\x7a\x00\x00\x22\x49\x44\x41\x54\x78\x9c\x63\x10\xbf\x22\xec"
      "\xca\x14\x2f\xc0\x1f\xce\x74\xeb\xa8\xd6\x1e\x86\xad\x7f\xb8\x45\x59\x76\x71\xf2\x5d\x03\x00\x5e"
      "\x84\x08\x1e\x12\x86\xf6\x46\x00\x00\x00\x00\x49\x45\x4e\x44\xae\xdc\x60\x82";
  write_bytes(tmp / "long_chunk.png", std::string(long_chunk, 91));
  EXPECT_DDKIT_ERROR((tmp / "long_chunk.png").string(), "runs past the end of the file",
                     ddkit::data::load_image(tmp / "long_chunk.png"));
}

TEST(DataErrors, SpecErrors) {
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_mnist", "no such directory",
                     load_dataset("mnist:/nonexistent/ddkit_test_mnist"));
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_cifar", "no such directory",
                     load_dataset("cifar10:/nonexistent/ddkit_test_cifar"));
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_folder", "no such directory",
                     load_dataset("folder:/nonexistent/ddkit_test_folder"));
  EXPECT_DDKIT_ERROR("imagenet", "unknown dataset 'imagenet'", load_dataset("imagenet"));
  EXPECT_DDKIT_ERROR("imagenet:/data", "unknown dataset 'imagenet'", load_dataset("imagenet:/data"));
  EXPECT_DDKIT_ERROR("mnist", "needs a path", load_dataset("mnist"));
  EXPECT_DDKIT_ERROR("mnist:", "needs a path", load_dataset("mnist:"));
  EXPECT_DDKIT_ERROR("cifar100", "needs a path", load_dataset("cifar100"));
  EXPECT_DDKIT_ERROR("folder", "needs a path", load_dataset("folder"));
}

TEST(DataErrors, MissingIdxFileInDirectory) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  fs::remove(tmp / "t10k-labels-idx1-ubyte");
  EXPECT_DDKIT_ERROR((tmp / "t10k-labels-idx1-ubyte").string() + "[.gz]", "no such file",
                     load_dataset("mnist:" + tmp.path().string()));
  DataOptions no_test;
  no_test.load_test = false;
  EXPECT_NO_THROW(load_dataset("mnist:" + tmp.path().string(), no_test));
  // A path that is a file, not a directory.
  EXPECT_DDKIT_ERROR((tmp / "t10k-images-idx3-ubyte").string(), "is not a directory",
                     load_dataset("mnist:" + (tmp / "t10k-images-idx3-ubyte").string()));
}

TEST(DataErrors, ImageCountDiffersFromLabelCountUncompressed) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  fs::remove(tmp / "t10k-labels-idx1-ubyte");
  write_bytes(tmp / "t10k-labels-idx1-ubyte", idx_labels({1, 2, 3}));  // 3 labels, 2 images
  EXPECT_DDKIT_ERROR((tmp / "t10k-labels-idx1-ubyte").string(), "has 3 labels for 2 images",
                     load_dataset("mnist:" + tmp.path().string()));
}

// Regression: the count check must name the file actually read (the .gz one).
TEST(DataErrors, ImageCountDiffersFromLabelCountGz) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  write_gz(tmp / "train-labels-idx1-ubyte.gz", idx_labels({1, 2}));  // 2 labels, 3 images
  EXPECT_DDKIT_ERROR((tmp / "train-labels-idx1-ubyte.gz").string(), "has 2 labels for 3 images",
                     load_dataset("mnist:" + tmp.path().string()));
}

}  // namespace
