#ifndef SIMULATION_SUPPORT_H
#define SIMULATION_SUPPORT_H

/// Receives a job the Swift runtime was about to hand to the global executor, on a thread that runs a simulation.
typedef void (*simulation_redirect_t)(void *context, void *job);

/// Installs, once per process, a hook on the Swift runtime's global-executor enqueue
/// (`swift_task_enqueueGlobal_hook`, the same hook swift-concurrency-extras' main serial executor uses).
/// The hook sends a job enqueued on a thread that has called `simulation_thread_enter` to that thread's
/// redirect, and every other job where it would have gone. Returns 0 when the runtime has no such hook.
int simulation_install_global_hook(void);

/// Marks the calling thread as a simulation's: jobs it enqueues on the global executor go to `redirect`.
void simulation_thread_enter(void *context, simulation_redirect_t redirect);

/// Ends `simulation_thread_enter` for the calling thread.
void simulation_thread_leave(void);

/// Runs `job` as the global executor runs one (`swift_job_run` on the generic executor): with no task executor,
/// so the task's hops to and from actors that are free run at once on this thread instead of being enqueued.
void simulation_run_job(void *job);

#endif
