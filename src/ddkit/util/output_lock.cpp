#include "ddkit/util/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit {

fs::path output_lock_file(const fs::path& out) {
  fs::path plain = out.lexically_normal();
  if (plain.has_filename() == false) plain = plain.parent_path();  // "runs/x/" names runs/x
  const fs::path parent = plain.has_parent_path() ? plain.parent_path() : fs::path(".");
  return parent / ("." + plain.filename().string() + ".lock");
}

OutputLock::OutputLock(const fs::path& out) : file_(output_lock_file(out)) {
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  if (ec) throw Error(out.string(), "cannot create its parent folder: " + ec.message());
  // A holder removes the file before releasing it, so a lock won on a file that is no
  // longer at the path is stale: take the path's current file again.
  for (;;) {
    fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(out.string(), fmt::format("cannot create the lock file {}: {}", file_.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) {
        throw Error(out.string(), "another ddkit run is writing this output now; wait for it to end, or give another --out");
      }
      throw Error(out.string(), fmt::format("cannot lock {}: {}", file_.string(), std::strerror(err)));
    }
    struct stat held {}, named {};
    if (::fstat(fd_, &held) == 0 && ::stat(file_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(file_.c_str());
  ::close(fd_);
}

}  // namespace ddkit
