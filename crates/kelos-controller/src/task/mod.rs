//! The Task reconciler: observe (Task, Job, pods, dependencies, branch-lock peers, now) →
//! [`decide::decide`] (pure) → apply (Job and pod deletes, conditioned status writes, events,
//! metrics).
//!
//! # Writes
//!
//! Every status write is a JSON patch that first `test`s the phase it read (or the
//! resourceVersion while there is no phase), so a write based on a stale read is refused
//! instead of overwriting, e.g., a concurrent cancellation. Together with the CRD's rule that
//! a terminal phase never changes, a Job succeeding at the same instant as a cancellation
//! yields exactly one terminal phase. `decide` never writes a phase once one is terminal, and
//! never creates a Job for a terminal Task, so a Job deleted under a finished Task stays gone.
//!
//! # Completion counting
//!
//! A terminal Task is counted in `kelos_task_completed_total` (and its duration observed)
//! only after the annotation `kelos.dev/completion-recorded` was added with a resourceVersion
//! precondition: whoever adds it counts, nobody counts twice, and a restarted controller sees
//! the marker. Every terminal phase is counted once, including failures before a Job existed.
//!
//! # Cancellation
//!
//! A canceller (the spawner, or a person) patches the Task's status subresource with
//! `phase: Cancelled`, optionally `cancelledBy`, `message` and
//! `cancellationGracePeriodSeconds` — the grace period travels with the cancellation, in the
//! same conditioned write, so it cannot be separated from it. The controller then:
//! deletes the Job (Background propagation); deletes the Job's pods with
//! `gracePeriodSeconds = cancellationGracePeriodSeconds` (unset: a plain delete, i.e. the pod's
//! own `terminationGracePeriodSeconds`; a pod already terminating with a later deadline is
//! deleted again, which shortens it); sets `completionTime` once, `cancelledBy: user` and a
//! message when missing; records `TaskCancelled` when it counts the completion; fails
//! dependents with `Dependency "<name>" was cancelled`; applies the TTL from
//! `completionTime`.
//!
//! The branch lock of a cancelled Task is held while its Job exists or any of its pods is
//! alive — not deleted, or deleted with a `deletionTimestamp` (deletion time + grace) still in
//! the future — so a waiter starts only once the cancelled agent can no longer push. Waiters
//! requeue for the moment the last deadline passes and are woken by the pods' deletion.
//!
//! Caveat: the garbage collector deletes a Background-deleted Job's pods with their default
//! grace period. A requested grace period longer than the pod's
//! `terminationGracePeriodSeconds` (30 s unless the pod sets it) can therefore be cut to it;
//! shorter ones are honoured.

pub mod apply;
pub mod branch;
pub mod context;
pub mod controller;
pub mod decide;
pub mod deps;
pub mod github;
pub mod model;
pub mod observe;
pub mod outputs;

pub use context::TaskConfig;
pub use controller::{RunConfig, run};
