// Running pods' containers as child processes of kfaas-local.
//
// Spawn() starts one process with a fixed argv and environment, stdout and stderr appended to a
// log file, stdin from /dev/null, in its own process group, with PR_SET_PDEATHSIG(SIGKILL) so it
// dies with the thread that spawned it (even when kfaas-local is SIGKILLed), all signal
// dispositions reset and no inherited file descriptors. It uses clone(CLONE_VM|CLONE_VFORK) like
// posix_spawn (tens of microseconds, independent of kfaas-local's size); sanitizer builds use
// fork(). Only async-signal-safe system calls run between the clone and the exec.
//
// PR_SET_PDEATHSIG fires when the spawning *thread* exits: spawn from a thread that lives as long
// as its children (the node agent's loop thread).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kfaas::node {

struct SpawnSpec {
  std::string path;               // the executable, already resolved (see ResolveCommand)
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value", the complete environment
  std::string work_dir;           // "" = kfaas-local's working directory
  std::string log_path;           // stdout+stderr are appended here; "" = /dev/null
};

struct SpawnedProcess {
  pid_t pid = -1;  // also the process group id
  int pidfd = -1;  // becomes readable when the process exits; the caller closes it
};

// Errors: NotFound / PermissionDenied / FailedPrecondition naming the path and errno text when
// the exec fails (the child has then already been reaped), Internal for clone failures.
absl::StatusOr<SpawnedProcess> Spawn(const SpawnSpec& spec);

// Signals the whole process group of a spawned process (its pid). Only valid before the
// process is reaped (the group id cannot be reused while the leader is an unreaped zombie).
void SignalGroup(pid_t pid, int sig);

struct ExitInfo {
  bool exited = false;  // false: still running
  int exit_code = 0;    // exit status, or 128 + signal number when killed (as a shell reports)
  int signal = 0;       // the terminating signal, 0 when it exited normally
};
// Non-blocking reap of a spawned process (after its pidfd became readable).
ExitInfo TryReap(const SpawnedProcess& p);

// Where a container's command[0] is found:
//   - an absolute path is used as is;
//   - a relative path containing '/' is relative to `work_dir` (the container's workingDir, or
//     the node's working directory);
//   - a bare name is looked up in `bin_dirs` (in order), then in `path_env` (PATH syntax).
// The result must be an executable regular file. Errors name every place searched and the fix.
absl::StatusOr<std::string> ResolveCommand(const std::string& command,
                                           const std::vector<std::string>& bin_dirs,
                                           const std::string& path_env,
                                           const std::string& work_dir);

// Creates a directory and its parents (mode 0755); OK when it exists.
absl::Status MakeDirs(const std::string& path);

}  // namespace kfaas::node
