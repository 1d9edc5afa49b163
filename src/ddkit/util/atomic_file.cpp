#include "ddkit/util/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>

#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit {
namespace {

std::string unique_suffix() {
  // pid + a process-wide counter: unique among concurrent writers (several
  // ranks of a distributed run may write siblings in the same directory).
  static std::atomic<unsigned> counter{0};
  return ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

template <typename Bytes>
void write_atomic_impl(const fs::path& path, const Bytes& bytes) {
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error(path.parent_path().string(), "cannot create directory: " + ec.message());
  }
  fs::path tmp = path;
  tmp += unique_suffix();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path.string(), "cannot open for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      fs::remove(tmp);
      throw Error(path.string(), "write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp);
    throw Error(path.string(), "cannot rename into place: " + ec.message());
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  write_atomic_impl(path, bytes);
}
void write_file_atomic(const fs::path& path, const std::vector<char>& bytes) {
  write_atomic_impl(path, bytes);
}

std::vector<char> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string(), "no such file");
  if (fs::is_directory(path, ec)) throw Error(path.string(), "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "cannot open for reading");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<char> bytes(size);
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) throw Error(path.string(), "read failed");
  return bytes;
}

StagedDirectory::StagedDirectory(fs::path final_path) : final_(std::move(final_path)) {
  if (final_.filename().empty()) final_ = final_.parent_path();  // "out/" -> "out"
  staging_ = final_;
  staging_ += unique_suffix();
  std::error_code ec;
  fs::create_directories(staging_, ec);
  if (ec) throw Error(final_.string(), "cannot create output directory: " + ec.message());
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagedDirectory::commit() {
  std::error_code ec;
  if (fs::exists(final_, ec)) {
    fs::path old = final_;
    old += unique_suffix() + ".old";
    fs::rename(final_, old, ec);
    if (ec) throw Error(final_.string(), "cannot replace existing output: " + ec.message());
    fs::rename(staging_, final_, ec);
    if (ec) {
      fs::rename(old, final_);
      throw Error(final_.string(), "cannot move output into place: " + ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(staging_, final_, ec);
    if (ec) throw Error(final_.string(), "cannot move output into place: " + ec.message());
  }
  committed_ = true;
}

}  // namespace ddkit
