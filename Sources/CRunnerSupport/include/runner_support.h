#ifndef RUNNER_SUPPORT_H
#define RUNNER_SUPPORT_H

#include <spawn.h>

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

#endif
