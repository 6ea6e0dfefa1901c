#define _GNU_SOURCE
#include <spawn.h>
#include "runner_support.h"

int runner_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

short runner_spawn_setsid_flag(void) {
    return POSIX_SPAWN_SETSID;
}

int runner_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}
