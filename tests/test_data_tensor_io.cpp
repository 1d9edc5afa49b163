// Tests of the data layer (src/ddkit/data): .pt tensor files and Python torch interop.
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

TEST(TensorIo, RoundTripFloatAndInt64) {
  TempDir tmp;
  at::manual_seed(3);
  const auto f = at::randn({2, 3, 4});
  save_tensor(tmp / "f.pt", f);
  const auto f_back = load_tensor(tmp / "f.pt");
  EXPECT_EQ(f_back.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(f_back, f));

  const auto i = at::arange(10, at::kLong) * (int64_t{1} << 40) - 7;
  save_tensor(tmp / "i.pt", i);
  const auto i_back = load_tensor(tmp / "i.pt");
  EXPECT_EQ(i_back.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(i_back, i));

  // A non-contiguous view is saved as its values.
  const auto t = f.transpose(0, 2);
  save_tensor(tmp / "t.pt", t);
  EXPECT_TRUE(at::equal(load_tensor(tmp / "t.pt"), t));
  EXPECT_EQ(entries_of(tmp.path()), (std::vector<std::string>{"f.pt", "i.pt", "t.pt"}));
}

TEST(TensorIo, GarbageAndNonTensorFilesAreErrors) {
  TempDir tmp;
  write_bytes(tmp / "garbage.pt", "this is not a torch.save archive");
  EXPECT_DDKIT_ERROR((tmp / "garbage.pt").string(), "not a tensor file", load_tensor(tmp / "garbage.pt"));
  write_bytes(tmp / "empty.pt", "");
  EXPECT_DDKIT_ERROR((tmp / "empty.pt").string(), "not a tensor file", load_tensor(tmp / "empty.pt"));
  // A truncated tensor file.
  save_tensor(tmp / "full.pt", at::randn({64}));
  const std::string full = read_text(tmp / "full.pt");
  write_bytes(tmp / "cut.pt", full.substr(0, full.size() / 2));
  EXPECT_DDKIT_ERROR((tmp / "cut.pt").string(), "not a tensor file", load_tensor(tmp / "cut.pt"));
  // A valid pickle that holds something other than a tensor.
  const auto bytes = torch::pickle_save(c10::IValue(int64_t{42}));
  write_bytes(tmp / "int.pt", std::string(bytes.begin(), bytes.end()));
  EXPECT_DDKIT_ERROR((tmp / "int.pt").string(), "expected a tensor", load_tensor(tmp / "int.pt"));
  EXPECT_DDKIT_ERROR((tmp / "absent.pt").string(), "no such file", load_tensor(tmp / "absent.pt"));
}

std::string run_and_capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  status = ::pclose(pipe);
  return out;
}

TEST(TensorIo, PythonTorchInterop) {
  if (std::system("/usr/bin/python3 -c \"import torch\" > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  }
  TempDir tmp;
  save_tensor(tmp / "from_cpp.pt", at::arange(12, at::kFloat).reshape({3, 4}) * 0.5);
  save_tensor(tmp / "labels_cpp.pt", at::tensor(std::vector<int64_t>{3, 1, 4, 1, 5}, at::kLong));
  const std::string script = tmp.path().string() + "/interop.py";
  write_bytes(script,
              "import sys, torch\n"
              "d = sys.argv[1]\n"
              "t = torch.load(d + '/from_cpp.pt')\n"
              "print(t.dtype, list(t.shape), float(t.sum()))\n"
              "l = torch.load(d + '/labels_cpp.pt')\n"
              "print(l.dtype, l.tolist())\n"
              "torch.save(torch.arange(6, dtype=torch.float64).reshape(2, 3) / 3, d + '/from_python.pt')\n"
              "base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25\n"
              "torch.save(base[:, 1::2], d + '/strided.pt')\n"
              "torch.save(torch.tensor([7, -2, 2**40], dtype=torch.int64), d + '/ints.pt')\n");
  int status = 0;
  const std::string out = run_and_capture("/usr/bin/python3 " + script + " " + tmp.path().string() + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, "torch.float32 [3, 4] 33.0\ntorch.int64 [3, 1, 4, 1, 5]\n");

  const auto from_python = load_tensor(tmp / "from_python.pt");
  EXPECT_EQ(from_python.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(from_python, at::arange(6, at::kDouble).reshape({2, 3}) / 3));
  const auto strided = load_tensor(tmp / "strided.pt");
  const auto base = at::arange(24, at::kFloat).reshape({4, 6}) * 0.25;
  EXPECT_TRUE(at::equal(strided, base.slice(1, 1, 6, 2)));
  const auto ints = load_tensor(tmp / "ints.pt");
  EXPECT_EQ(ints.scalar_type(), at::kLong);
  EXPECT_EQ(to_vector(ints), (std::vector<int64_t>{7, -2, int64_t{1} << 40}));
}

TEST(TensorIo, PythonReadsImageSet) {
  if (std::system("/usr/bin/python3 -c \"import torch\" > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  }
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet set = image_set_fixture();
  set.images = at::arange(5 * 60, at::kFloat).reshape({5, 3, 4, 5}) / 64;
  write_image_set(tmp / "set", set, data);
  int status = 0;
  const std::string out = run_and_capture(
      "/usr/bin/python3 -c \"import sys, torch; d = sys.argv[1]; i = torch.load(d + '/images.pt'); "
      "l = torch.load(d + '/labels.pt'); print(i.dtype, list(i.shape), float(i.sum()), l.dtype, l.tolist())\" " +
          (tmp / "set").string() + " 2>&1",
      status);
  ASSERT_EQ(status, 0) << out;
  // sum of 0..299 / 64 = 44850 / 64 = 700.78125 (exact in float32 sums of this size)
  EXPECT_EQ(out, "torch.float32 [5, 3, 4, 5] 700.78125 torch.int64 [2, 0, 1, 0, 2]\n");
}

}  // namespace
