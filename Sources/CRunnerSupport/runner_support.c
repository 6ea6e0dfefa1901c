#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
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

int runner_thread_count(void) {
    FILE *file = fopen("/proc/self/stat", "re");
    if (file == NULL) return -1;
    char buffer[1024];
    size_t length = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    buffer[length] = 0;
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    char *cursor = strrchr(buffer, ')');
    if (cursor == NULL) return -1;
    // Field 3 (state) follows; num_threads is field 20, 17 fields on.
    int field = 2;
    for (; *cursor != 0; cursor++) {
        if (*cursor == ' ') {
            field++;
            if (field == 20) return atoi(cursor + 1);
        }
    }
    return -1;
}

void runner_close_from(int low) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)low, ~0U, 0) == 0) return;
#endif
    long highest = sysconf(_SC_OPEN_MAX);
    if (highest < 0 || highest > 65536) highest = 65536;
    for (int fd = low; fd < highest; fd++) close(fd);
}
