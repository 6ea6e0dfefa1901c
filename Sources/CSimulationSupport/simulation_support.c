#include "simulation_support.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

// The runtime's types (swift/Runtime/Concurrency.h): both the hook and the original are Swift-calling-convention
// functions of a Job pointer.
typedef void(__attribute__((swiftcall)) * global_original_t)(void *job);
typedef void(__attribute__((swiftcall)) * global_hook_t)(void *job, global_original_t original);

static global_hook_t previous_hook;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static __thread void *thread_context;
static __thread simulation_redirect_t thread_redirect;

static __attribute__((swiftcall)) void simulation_global_hook(void *job, global_original_t original) {
    if (thread_redirect != NULL) {
        thread_redirect(thread_context, job);
    } else if (previous_hook != NULL) {
        previous_hook(job, original);
    } else {
        original(job);
    }
}

// Linked in when the runtime is linked statically (`-static-stdlib`), where `dlsym` cannot see it.
extern global_hook_t swift_task_enqueueGlobal_hook __attribute__((weak));

static void install(void) {
    global_hook_t *hook = (global_hook_t *)dlsym(RTLD_DEFAULT, "swift_task_enqueueGlobal_hook");
    if (hook == NULL) hook = &swift_task_enqueueGlobal_hook;
    if (hook == NULL) return;
    previous_hook = *hook;
    *hook = simulation_global_hook;
    installed = 1;
}

int simulation_install_global_hook(void) {
    pthread_once(&install_once, install);
    return installed;
}

void simulation_thread_enter(void *context, simulation_redirect_t redirect) {
    thread_context = context;
    thread_redirect = redirect;
}

void simulation_thread_leave(void) {
    thread_context = NULL;
    thread_redirect = NULL;
}

// `void swift_job_run(Job *job, SerialExecutorRef executor)`: the executor reference is two words (identity and
// implementation), passed in registers; both zero is the generic executor.
extern __attribute__((swiftcall)) void swift_job_run(void *job, void *identity, uintptr_t implementation);

void simulation_run_job(void *job) {
    swift_job_run(job, NULL, 0);
}
