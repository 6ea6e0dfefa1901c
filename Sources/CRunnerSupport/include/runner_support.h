#ifndef RUNNER_SUPPORT_H
#define RUNNER_SUPPORT_H

#include <spawn.h>
#include <sys/types.h>

/// posix_spawn_file_actions_addchdir_np, which glibc declares only under _GNU_SOURCE.
int runner_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// The POSIX_SPAWN_SETSID flag, which glibc defines only under _GNU_SOURCE.
short runner_spawn_setsid_flag(void);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): close every descriptor from `low` up in the child.
int runner_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int low);

/// The number of threads in this process (from /proc/self/stat), or -1 when it cannot be read.
int runner_thread_count(void);

/// Closes every descriptor from `low` up (close_range, or one by one where the kernel lacks it).
void runner_close_from(int low);

/// The most descriptors runner_spawn_confined passes on.
#define RUNNER_SPAWN_MAX_FDS 8

/// Starts `path` in a child that, as posix_spawn's, shares this process's memory until its exec (clone with
/// CLONE_VM | CLONE_VFORK: no page of this process is copied), for what posix_spawn cannot do: join a cgroup v1 (by
/// writing "0" to `cgroup_tasks_fd`, a `tasks` file, when >= 0: the single-threaded child moves itself), cap the
/// address space (`address_space_limit` bytes, when > 0), and switch to `uid`/`gid` with no supplementary groups
/// (when `uid` >= 0). The child also gets `fds[i]` as its descriptor `i` for each `i` below `fd_count` (3 to
/// RUNNER_SPAWN_MAX_FDS: the standard three, then any others), every other descriptor closed, default signal
/// dispositions and mask, a new process group, and `directory` (when not NULL) as its working directory. Only
/// async-signal-safe calls run in the child.
/// Returns the child's PID, or -1 with `*failed_step` naming the step that failed and `*child_errno` its errno.
pid_t runner_spawn_confined(
    const char *path, char *const argv[], char *const envp[], const int fds[], int fd_count, int cgroup_tasks_fd,
    unsigned long long address_space_limit, int uid, int gid, const char *directory,
    int *failed_step, int *child_errno);

#endif
