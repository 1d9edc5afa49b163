// `ddkit launch -n N -- <subcommand ...>`: N local workers of this same binary
// on a free loopback port (RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1,
// MASTER_PORT, LOCAL_RANK, LOCAL_WORLD_SIZE set as torchrun does), their
// output forwarded line by line as "[rank r] ...", and fail-fast: when one
// worker fails, the others are stopped and launch exits non-zero.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/util/error.h"

namespace ddkit::cli {
namespace {

volatile sig_atomic_t g_stop_signal = 0;  // set by SIGINT/SIGTERM: stop the workers
void on_stop_signal(int signal) { g_stop_signal = signal; }

// A TCP port that was free on 127.0.0.1 a moment ago (the kernel's choice).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("launch", std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error("launch", std::string("no free loopback port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string self_executable() {
  std::vector<char> buffer(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (n <= 0) throw Error("/proc/self/exe", "cannot find the ddkit binary to start workers");
  return std::string(buffer.data(), static_cast<size_t>(n));
}

struct Stream {
  int fd = -1;
  FILE* sink = nullptr;
  std::string pending;  // an incomplete last line
};

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = true;
  int status = 0;
  Stream out, err;
};

void write_line(FILE* sink, int rank, const std::string& line) {
  std::fprintf(sink, "[rank %d] %s\n", rank, line.c_str());
  std::fflush(sink);
}

// Reads what is available; forwards complete lines. Returns false at EOF.
bool pump(Stream& stream, int rank) {
  char buffer[8192];
  const ssize_t n = ::read(stream.fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) {
    if (!stream.pending.empty()) write_line(stream.sink, rank, stream.pending);
    stream.pending.clear();
    ::close(stream.fd);
    stream.fd = -1;
    return false;
  }
  stream.pending.append(buffer, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t nl; (nl = stream.pending.find_first_of("\n\r", start)) != std::string::npos; start = nl + 1) {
    if (nl > start) write_line(stream.sink, rank, stream.pending.substr(start, nl - start));
  }
  stream.pending.erase(0, start);
  return true;
}

pid_t start_worker(const std::string& exe, const std::vector<std::string>& args, int rank, int world, int port,
                   int out_fd, int err_fd) {
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("launch", std::string("fork: ") + std::strerror(errno));
  if (pid > 0) return pid;
  // Child: die with launch; become rank `rank`.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(exe.c_str(), argv.data());
  std::fprintf(stderr, "ddkit: error: %s: exec failed: %s\n", exe.c_str(), std::strerror(errno));
  ::_exit(127);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

// Stops every running worker: SIGTERM, then SIGKILL after `grace`.
void stop_all(std::vector<Worker>& workers, std::chrono::milliseconds grace) {
  for (auto& w : workers)
    if (w.running) ::kill(w.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto& w : workers) {
    while (w.running) {
      const pid_t done = ::waitpid(w.pid, &w.status, WNOHANG);
      if (done == w.pid) {
        w.running = false;
      } else if (std::chrono::steady_clock::now() > deadline) {
        ::kill(w.pid, SIGKILL);
        ::waitpid(w.pid, &w.status, 0);
        w.running = false;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

int run_launch(int n, int port, const std::vector<std::string>& args) {
  if (n < 1) throw Error("-n", "needs at least 1 worker");
  if (args.empty()) throw Error("launch", "give the subcommand to run after --, e.g. ddkit launch -n 2 -- eval ...");
  if (args[0] == "launch") throw Error("launch", "workers cannot be launchers");
  const std::string exe = self_executable();
  if (port <= 0) port = free_loopback_port();
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::vector<Worker> workers(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
      stop_all(workers, std::chrono::milliseconds(2000));
      throw Error("launch", std::string("pipe: ") + std::strerror(errno));
    }
    auto& w = workers[static_cast<size_t>(r)];
    w.rank = r;
    w.pid = start_worker(exe, args, r, n, port, out_pipe[1], err_pipe[1]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    w.out = {out_pipe[0], stdout, ""};
    w.err = {err_pipe[0], stderr, ""};
    std::fprintf(stderr, "[launch] rank %d: pid %d\n", r, static_cast<int>(w.pid));
  }
  std::fflush(stderr);

  int exit_code = 0;
  while (true) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Stream*, int>> streams;
    for (auto& w : workers) {
      for (Stream* s : {&w.out, &w.err}) {
        if (s->fd < 0) continue;
        fds.push_back({s->fd, POLLIN, 0});
        streams.push_back({s, w.rank});
      }
    }
    bool any_running = false;
    for (auto& w : workers) any_running = any_running || w.running;
    if (fds.empty() && !any_running) break;
    if (!fds.empty()) {
      ::poll(fds.data(), fds.size(), 100);
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents != 0) pump(*streams[i].first, streams[i].second);
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& w : workers) {
      if (!w.running || ::waitpid(w.pid, &w.status, WNOHANG) != w.pid) continue;
      w.running = false;
      const bool failed = !WIFEXITED(w.status) || WEXITSTATUS(w.status) != 0;
      if (failed && exit_code == 0) {
        exit_code = WIFEXITED(w.status) ? WEXITSTATUS(w.status) : 1;
        std::fprintf(stderr, "[launch] rank %d (pid %d) %s; stopping the other workers\n", w.rank,
                     static_cast<int>(w.pid), describe(w.status).c_str());
        stop_all(workers, std::chrono::milliseconds(2000));
      }
    }
    if (g_stop_signal != 0 && exit_code == 0) {
      std::fprintf(stderr, "[launch] %s: stopping the workers\n", strsignal(g_stop_signal));
      stop_all(workers, std::chrono::milliseconds(2000));
      exit_code = 128 + g_stop_signal;
    }
  }
  return exit_code;
}

}  // namespace

void register_launch(CLI::App& app) {
  struct Options {
    int workers = 2;
    int port = 0;
    std::vector<std::string> args;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand(
      "launch", "Run a subcommand in N local worker processes (a distributed run on this host)");
  command->add_option("-n,--nproc", options->workers, "Number of worker processes")->capture_default_str();
  command->add_option("--port", options->port, "Rendezvous port on 127.0.0.1 (default: a free one)");
  command->add_option("command", options->args, "The worker command after --: <subcommand> [flags...]")
      ->take_all();
  command->footer("Usage: ddkit launch -n N -- <subcommand> [flags...]");
  command->callback([options] {
    const int code = run_launch(options->workers, options->port, options->args);
    if (code != 0) {
      std::fflush(stdout);
      std::fflush(stderr);
      std::exit(code);
    }
  });
}

}  // namespace ddkit::cli
