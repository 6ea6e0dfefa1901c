#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    // procfs gives a process's task directory 2 + its number of threads as link count: one stat, where reading
    // /proc/self/stat makes the kernel gather the whole status line (memory figures included).
    struct stat info;
    if (stat("/proc/self/task", &info) == 0 && info.st_nlink > 2) return (int)(info.st_nlink - 2);
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

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/// Steps of runner_spawn_confined, as reported in *failed_step.
enum { STEP_PIPE = 1, STEP_FORK, STEP_DESCRIPTORS, STEP_CGROUP, STEP_RLIMIT, STEP_GROUPS, STEP_GID, STEP_UID,
    STEP_CHDIR, STEP_EXEC };

static void runner_child_fail(int pipe_fd, int step) {
    int report[2] = {step, errno};
    ssize_t ignored = write(pipe_fd, report, sizeof report);
    (void)ignored;
    _exit(127);
}

pid_t runner_spawn_confined(
    const char *path, char *const argv[], char *const envp[], const int fds[3], int cgroup_tasks_fd,
    unsigned long long address_space_limit, int uid, int gid, const char *directory,
    int *failed_step, int *child_errno) {
    int report_pipe[2];
    *failed_step = 0;
    *child_errno = 0;
    if (pipe2(report_pipe, O_CLOEXEC) != 0) {
        *failed_step = STEP_PIPE;
        *child_errno = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *failed_step = STEP_FORK;
        *child_errno = errno;
        close(report_pipe[0]);
        close(report_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        // The child: async-signal-safe calls only (the parent has other threads).
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        for (int number = 1; number < NSIG; number++) sigaction(number, &action, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        // Every descriptor the child keeps goes above 64 first (the report pipe stays there), so that no dup2 below
        // overwrites a descriptor still to be moved; then each goes to its place.
        int count = 3;
        int writer = fcntl(report_pipe[1], F_DUPFD_CLOEXEC, 64);
        if (writer < 0) _exit(127);
        int sources[3];
        for (int i = 0; i < count; i++) {
            sources[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
            if (sources[i] < 0) runner_child_fail(writer, STEP_DESCRIPTORS);
        }
        // Before the descriptors move: cgroup_tasks_fd may be one of their places. "0" moves the writer, this
        // single-threaded child, without the kernel's global threadgroup lock (and its RCU grace period).
        if (cgroup_tasks_fd >= 0 && write(cgroup_tasks_fd, "0", 1) != 1) runner_child_fail(writer, STEP_CGROUP);
        for (int i = 0; i < count; i++) {
            if (dup2(sources[i], i) < 0) runner_child_fail(writer, STEP_DESCRIPTORS);
        }
        if (address_space_limit > 0) {
            struct rlimit limit = {address_space_limit, address_space_limit};
            if (setrlimit(RLIMIT_AS, &limit) != 0) runner_child_fail(writer, STEP_RLIMIT);
        }
        if (uid >= 0) {
            // Raw system calls: glibc's wrappers signal every thread of the process, of which the child has one.
            if (syscall(SYS_setgroups, 0, NULL) != 0) runner_child_fail(writer, STEP_GROUPS);
            if (syscall(SYS_setresgid, gid, gid, gid) != 0) runner_child_fail(writer, STEP_GID);
            if (syscall(SYS_setresuid, uid, uid, uid) != 0) runner_child_fail(writer, STEP_UID);
        }
        if (directory != NULL && chdir(directory) != 0) runner_child_fail(writer, STEP_CHDIR);
        // Everything but the kept descriptors and the report pipe (close-on-exec) goes.
        for (int fd = count; fd < writer; fd++) close(fd);
#ifdef SYS_close_range
        if (syscall(SYS_close_range, (unsigned int)writer + 1, ~0U, 0) != 0)
#endif
        {
            for (int fd = writer + 1; fd < 65536; fd++) close(fd);
        }
        execve(path, argv, envp);
        runner_child_fail(writer, STEP_EXEC);
    }
    close(report_pipe[1]);
    int report[2] = {0, 0};
    ssize_t count;
    do {
        count = read(report_pipe[0], report, sizeof report);
    } while (count < 0 && errno == EINTR);
    close(report_pipe[0]);
    if (count == (ssize_t)sizeof report) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *failed_step = report[0];
        *child_errno = report[1];
        return -1;
    }
    return pid;
}
