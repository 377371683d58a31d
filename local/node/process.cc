#include "local/node/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KFAAS_SPAWN_WITH_FORK 1
#else
#define KFAAS_SPAWN_WITH_FORK 0
#endif

namespace kfaas::node {
namespace {

// Everything the child needs, prepared by the parent: the child only makes system calls.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* work_dir;  // nullptr: inherit
  int log_fd;
  int null_fd;
  int err_fd;  // write end of a CLOEXEC pipe: receives {stage, errno} when something fails
  pid_t parent;
};

enum Stage : int { kStageChdir = 1, kStageDup = 2, kStageExec = 3, kStageParent = 4 };

[[noreturn]] void ChildFail(const ChildArgs* a, int stage, int err) {
  int msg[2] = {stage, err};
  ssize_t ignored = write(a->err_fd, msg, sizeof msg);
  (void)ignored;
  _exit(127);
}

// Runs in the child between clone/fork and exec: async-signal-safe calls only, no allocation.
int ChildMain(void* arg) {
  const ChildArgs* a = static_cast<const ChildArgs*>(arg);
  // Reset every handled or ignored signal (SIGPIPE is commonly ignored by servers) to default.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s == SIGKILL || s == SIGSTOP) continue;
    sigaction(s, &dfl, nullptr);  // EINVAL for the C library's reserved signals: ignored
  }
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl took effect: then nobody would kill us later.
  if (getppid() != a->parent) ChildFail(a, kStageParent, ESRCH);
  if (a->work_dir && chdir(a->work_dir) != 0) ChildFail(a, kStageChdir, errno);
  if (dup2(a->null_fd, 0) < 0 || dup2(a->log_fd, 1) < 0 || dup2(a->log_fd, 2) < 0) {
    ChildFail(a, kStageDup, errno);
  }
  // Close every other descriptor (sockets of kfaas-local not opened with CLOEXEC included),
  // except the error pipe, which is CLOEXEC and tells the parent the exec succeeded.
  if (a->err_fd > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(a->err_fd - 1), 0u);
  syscall(SYS_close_range, static_cast<unsigned>(a->err_fd + 1), ~0u, 0u);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(a->path, a->argv, a->envp);
  ChildFail(a, kStageExec, errno);
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// A descriptor >= 3 with CLOEXEC, so the child's dup2 onto 0-2 never clobbers another.
int HighFd(int fd) {
  if (fd < 0 || fd >= 3) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return high;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::FailedPreconditionError(msg);
  }
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

absl::StatusOr<SpawnedProcess> Spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  Fd log, null, err_r, err_w;
  if (spec.log_path.empty()) {
    log.fd = HighFd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  } else {
    log.fd = HighFd(open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  }
  if (log.fd < 0) return ErrnoStatus(errno, "cannot open log file " + spec.log_path);
  null.fd = HighFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null.fd < 0) return ErrnoStatus(errno, "cannot open /dev/null");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  err_r.fd = HighFd(pipefd[0]);
  err_w.fd = HighFd(pipefd[1]);

  std::vector<char*> argv = CStrings(spec.argv);
  std::vector<char*> envp = CStrings(spec.env);
  ChildArgs args{
      .path = spec.path.c_str(),
      .argv = argv.data(),
      .envp = envp.data(),
      .work_dir = spec.work_dir.empty() ? nullptr : spec.work_dir.c_str(),
      .log_fd = log.fd,
      .null_fd = null.fd,
      .err_fd = err_w.fd,
      .parent = getpid(),
  };

  // No signal handler may run in the child before it resets them (with CLONE_VM it would run
  // on shared memory).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  SpawnedProcess p;
#if KFAAS_SPAWN_WITH_FORK
  p.pid = fork();
  if (p.pid == 0) ChildMain(&args);
  int clone_errno = errno;
  if (p.pid > 0) p.pidfd = static_cast<int>(syscall(SYS_pidfd_open, p.pid, 0));
#else
  constexpr size_t kStackSize = 64 * 1024;
  std::unique_ptr<char[]> stack(new char[kStackSize]);
  char* top = stack.get() + kStackSize;
  top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(top) & ~uintptr_t{15});
  p.pid = clone(ChildMain, top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &p.pidfd);
  int clone_errno = errno;
#endif
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (p.pid < 0) return ErrnoStatus(clone_errno, "cannot start a process (clone)");

  close(err_w.fd);
  err_w.fd = -1;
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = read(err_r.fd, msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    int status;
    while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (p.pidfd >= 0) close(p.pidfd);
    switch (msg[0]) {
      case kStageChdir:
        return ErrnoStatus(msg[1], "cannot change to working directory " + spec.work_dir);
      case kStageExec:
        return ErrnoStatus(msg[1], "cannot execute " + spec.path);
      case kStageParent:
        return absl::AbortedError("spawning thread exited while starting " + spec.path);
      default:
        return ErrnoStatus(msg[1], "cannot set up the standard streams of " + spec.path);
    }
  }
  if (p.pidfd < 0) {
    // Not expected on Linux >= 5.3; without it the exit cannot be watched: kill and fail.
    kill(p.pid, SIGKILL);
    int status;
    waitpid(p.pid, &status, 0);
    return absl::InternalError("pidfd unavailable for " + spec.path);
  }
  return p;
}

void SignalGroup(pid_t pid, int sig) {
  if (pid <= 0) return;
  if (kill(-pid, sig) != 0) kill(pid, sig);  // before setpgid ran, the group did not exist yet
}

ExitInfo TryReap(const SpawnedProcess& p) {
  ExitInfo info;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(p.pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return info;  // still running
  info.exited = true;
  if (r < 0) {  // ECHILD: someone else reaped it (SIGCHLD ignored); the code is unknown
    info.exit_code = 255;
    return info;
  }
  if (WIFEXITED(status)) {
    info.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    info.signal = WTERMSIG(status);
    info.exit_code = 128 + info.signal;
  }
  return info;
}

absl::StatusOr<std::string> ResolveCommand(const std::string& command,
                                           const std::vector<std::string>& bin_dirs,
                                           const std::string& path_env,
                                           const std::string& work_dir) {
  if (command.empty()) return absl::InvalidArgumentError("empty command");
  if (command.find('/') != std::string::npos) {
    std::string path = command;
    if (command[0] != '/') {
      std::string base = work_dir;
      if (base.empty()) {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd)) base = cwd;
      }
      path = base + "/" + command;
    }
    if (IsExecutableFile(path)) return path;
    return absl::NotFoundError("command \"" + command + "\" (" + path +
                               ") is not an executable file");
  }
  std::vector<std::string> dirs = bin_dirs;
  size_t pos = 0;
  while (pos <= path_env.size()) {
    size_t colon = path_env.find(':', pos);
    if (colon == std::string::npos) colon = path_env.size();
    std::string dir = path_env.substr(pos, colon - pos);
    dirs.push_back(dir.empty() ? "." : dir);
    pos = colon + 1;
  }
  for (const auto& dir : dirs) {
    if (dir.empty()) continue;
    std::string path = dir + "/" + command;
    if (IsExecutableFile(path)) return path;
  }
  std::string where;
  for (const auto& d : bin_dirs) where += (where.empty() ? "" : ", ") + d;
  if (where.empty()) where = "(no bin dirs)";
  return absl::NotFoundError(
      "command \"" + command + "\" not found in the node's bin dirs [" + where +
      "] nor in PATH; build it and put it (or a symlink) in a bin dir (kfaas-local --bin-dir), "
      "or use an absolute path in spec.command");
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    cur = path.substr(0, slash);
    pos = slash + 1;
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError("cannot create directory " + cur + ": " +
                                           strerror(errno));
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(path + " is not a directory");
  }
  return absl::OkStatus();
}

}  // namespace kfaas::node
