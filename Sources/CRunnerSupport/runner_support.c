#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
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
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/// Steps of runner_spawn_confined, as reported in *failed_step.
enum { STEP_FORK = 2, STEP_DESCRIPTORS, STEP_CGROUP, STEP_RLIMIT, STEP_GROUPS, STEP_GID, STEP_UID,
    STEP_CHDIR, STEP_EXEC };

/// What the child of runner_spawn_confined needs, and where it reports the step that failed: it shares this
/// process's memory until its exec, and the parent reads the report once the child has executed or exited.
struct runner_confined_spawn {
    const char *path;
    char *const *argv;
    char *const *envp;
    const int *fds;
    int fd_count;
    int cgroup_tasks_fd;
    unsigned long long address_space_limit;
    int uid;
    int gid;
    const char *directory;
    int failed_step;
    int child_errno;
};

static int runner_confined_fail(struct runner_confined_spawn *spawn, int step) {
    spawn->child_errno = errno;
    spawn->failed_step = step;
    _exit(127);
}

/// The child: async-signal-safe calls only, on its own stack, in the parent's memory (which it must not change
/// beyond its report: the parent is suspended until the exec, and goes on with this memory afterwards).
static int runner_confined_child(void *opaque) {
    struct runner_confined_spawn *spawn = opaque;
    // Signals were blocked around the clone: default dispositions first, so that no handler of the parent's runs
    // in this child, then nothing blocked.
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (int number = 1; number < NSIG; number++) sigaction(number, &action, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setpgid(0, 0);
    // Every descriptor the child keeps goes above 64 first, so that no dup2 below overwrites a descriptor still to
    // be moved; then each goes to its place.
    int sources[RUNNER_SPAWN_MAX_FDS];
    for (int i = 0; i < spawn->fd_count; i++) {
        sources[i] = fcntl(spawn->fds[i], F_DUPFD_CLOEXEC, 64);
        if (sources[i] < 0) runner_confined_fail(spawn, STEP_DESCRIPTORS);
    }
    // Before the descriptors move: cgroup_tasks_fd may be one of their places. "0" moves the writer, this
    // single-threaded child, without the kernel's global threadgroup lock (and its RCU grace period).
    if (spawn->cgroup_tasks_fd >= 0 && write(spawn->cgroup_tasks_fd, "0", 1) != 1) {
        runner_confined_fail(spawn, STEP_CGROUP);
    }
    for (int i = 0; i < spawn->fd_count; i++) {
        if (dup2(sources[i], i) < 0) runner_confined_fail(spawn, STEP_DESCRIPTORS);
    }
    if (spawn->address_space_limit > 0) {
        struct rlimit limit = {spawn->address_space_limit, spawn->address_space_limit};
        if (setrlimit(RLIMIT_AS, &limit) != 0) runner_confined_fail(spawn, STEP_RLIMIT);
    }
    if (spawn->uid >= 0) {
        // Raw system calls: glibc's wrappers signal every thread of the process, and this child is not one.
        if (syscall(SYS_setgroups, 0, NULL) != 0) runner_confined_fail(spawn, STEP_GROUPS);
        if (syscall(SYS_setresgid, spawn->gid, spawn->gid, spawn->gid) != 0) runner_confined_fail(spawn, STEP_GID);
        if (syscall(SYS_setresuid, spawn->uid, spawn->uid, spawn->uid) != 0) runner_confined_fail(spawn, STEP_UID);
    }
    if (spawn->directory != NULL && chdir(spawn->directory) != 0) runner_confined_fail(spawn, STEP_CHDIR);
    // Everything but the descriptors given goes.
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned int)spawn->fd_count, ~0U, 0) != 0)
#endif
    {
        for (int fd = spawn->fd_count; fd < 65536; fd++) close(fd);
    }
    execve(spawn->path, spawn->argv, spawn->envp);
    runner_confined_fail(spawn, STEP_EXEC);
    return 127;
}

/// The child's stack: its few calls need little.
enum { RUNNER_CHILD_STACK = 64 * 1024 };

pid_t runner_spawn_confined(
    const char *path, char *const argv[], char *const envp[], const int fds[], int fd_count, int cgroup_tasks_fd,
    unsigned long long address_space_limit, int uid, int gid, const char *directory,
    int *failed_step, int *child_errno) {
    struct runner_confined_spawn spawn = {
        path, argv, envp, fds, fd_count, cgroup_tasks_fd, address_space_limit, uid, gid, directory, 0, 0};
    *failed_step = 0;
    *child_errno = 0;
    if (fd_count < 3 || fd_count > RUNNER_SPAWN_MAX_FDS) {
        *failed_step = STEP_DESCRIPTORS;
        *child_errno = EINVAL;
        return -1;
    }
    void *stack = mmap(NULL, RUNNER_CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        *failed_step = STEP_FORK;
        *child_errno = errno;
        return -1;
    }
    // As posix_spawn does: the child shares this memory and runs until its exec while this thread waits
    // (CLONE_VM | CLONE_VFORK), so nothing of this process's pages is copied, and no signal is delivered to it
    // before it has reset every handler.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pid_t pid = clone(runner_confined_child, (char *)stack + RUNNER_CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, RUNNER_CHILD_STACK);
    if (pid < 0) {
        *failed_step = STEP_FORK;
        *child_errno = clone_errno;
        return -1;
    }
    if (spawn.failed_step != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *failed_step = spawn.failed_step;
        *child_errno = spawn.child_errno;
        return -1;
    }
    return pid;
}
