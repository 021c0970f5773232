//! The branch lock, derived from Task state so it survives a controller restart (reference §4,
//! with the namespace in the key and a release on every path to a terminal phase).
//!
//! A Task *holds* its key while its agent can push to the branch: while it is Pending or
//! Running, or has a Job; and, once Cancelled (or being deleted), until its Job is gone and
//! every pod is gone or past its deletion deadline (the grace period). Tasks without a Job
//! wait in FIFO order of `creationTimestamp`, then name.

use jiff::Timestamp;
use kelos_api::TaskPhase;

use super::model::{BranchView, Peer};

/// `<namespace>/<workspace>:<branch>`. The original's key had no namespace, so equal names
/// in two namespaces blocked each other.
pub fn lock_key(namespace: &str, workspace: Option<&str>, branch: &str) -> String {
    format!("{namespace}/{}:{branch}", workspace.unwrap_or(""))
}

/// Whether a Task with this state keeps the lock at `now`.
pub fn holds(peer: &Peer, now: Timestamp) -> bool {
    let pods_alive = peer.pods.iter().any(|p| p.alive(now));
    match peer.phase {
        // Finished by its Job: the agent has exited, nothing pushes any more.
        Some(TaskPhase::Succeeded | TaskPhase::Failed) => false,
        // The agent may still run until SIGKILL: its pods' deletion deadlines.
        Some(TaskPhase::Cancelled) => peer.has_job || pods_alive,
        _ if peer.deleting => peer.has_job || pods_alive,
        Some(TaskPhase::Pending | TaskPhase::Running) => true,
        // No phase or Waiting, but a Job: created just before a crash or a status write.
        None | Some(TaskPhase::Waiting) => peer.has_job,
    }
}

/// The earliest time a Cancelled or deleted holder's last pod passes its deletion deadline, if
/// that is what the lock waits for. Lets a waiter requeue exactly then.
pub fn release_at(peer: &Peer, now: Timestamp) -> Option<Timestamp> {
    if peer.has_job {
        return None;
    }
    peer.pods
        .iter()
        .filter(|p| p.alive(now))
        .map(|p| p.deletion)
        .collect::<Option<Vec<_>>>()
        .and_then(|deadlines| deadlines.into_iter().max())
}

/// Queued ahead: no Job yet, not finished, dependencies met, and earlier in FIFO order.
fn queued_ahead(peer: &Peer, me: (Option<Timestamp>, &str)) -> bool {
    let waiting = !peer.phase.is_some_and(TaskPhase::is_terminal)
        && !peer.deleting
        && !peer.has_job
        && peer.deps_ready;
    waiting && fifo_key(peer.created, &peer.name) < fifo_key(me.0, me.1)
}

/// Creation time, then name. A Task without a creationTimestamp (never the case on a real
/// apiserver) sorts last.
fn fifo_key(created: Option<Timestamp>, name: &str) -> (bool, Option<Timestamp>, &str) {
    (created.is_none(), created, name)
}

/// Outcome of a lock check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    /// This Task may start.
    Free,
    /// Another Task's agent may be pushing; `until` is when its pods' grace ends, if known.
    LockedBy {
        holder: String,
        until: Option<Timestamp>,
    },
    /// An earlier Task waits for the same branch.
    QueuedBehind(String),
}

/// Whether the Task named `me` (created at `created`) may start on `view.key`.
pub fn check(view: &BranchView, me: &str, created: Option<Timestamp>, now: Timestamp) -> Lock {
    let others = || view.peers.iter().filter(|p| p.name != me);
    if let Some(holder) = others().find(|p| holds(p, now)) {
        return Lock::LockedBy {
            holder: holder.name.clone(),
            until: release_at(holder, now),
        };
    }
    // A Job this process just created may not be in the cache yet: trust memory until the
    // cache shows that Task finished.
    if let Some(name) = &view.memory_holder {
        let finished = others()
            .find(|p| &p.name == name)
            .is_none_or(|p| p.phase.is_some_and(TaskPhase::is_terminal) || p.deleting);
        if name != me && !finished {
            return Lock::LockedBy {
                holder: name.clone(),
                until: None,
            };
        }
    }
    others()
        .filter(|p| queued_ahead(p, (created, me)))
        .min_by(|a, b| fifo_key(a.created, &a.name).cmp(&fifo_key(b.created, &b.name)))
        .map_or(Lock::Free, |first| Lock::QueuedBehind(first.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::model::PodView;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn peer(name: &str, created: i64, phase: Option<TaskPhase>) -> Peer {
        Peer {
            name: name.into(),
            created: Some(ts(created)),
            phase,
            deleting: false,
            has_job: false,
            pods: vec![],
            deps_ready: true,
        }
    }

    fn view(peers: Vec<Peer>) -> BranchView {
        BranchView {
            key: "ns/ws:main".into(),
            branch: "main".into(),
            without_workspace: false,
            peers,
            memory_holder: None,
        }
    }

    fn pod(deletion: Option<i64>) -> PodView {
        PodView {
            name: "p".into(),
            uid: None,
            created: Some(ts(0)),
            deletion: deletion.map(ts),
        }
    }

    #[test]
    fn key_includes_namespace() {
        assert_eq!(lock_key("a", Some("ws"), "main"), "a/ws:main");
        assert_eq!(lock_key("a", None, "main"), "a/:main");
        assert_ne!(
            lock_key("a", Some("ws"), "b"),
            lock_key("c", Some("ws"), "b")
        );
    }

    #[test]
    fn running_and_pending_hold() {
        for phase in [TaskPhase::Pending, TaskPhase::Running] {
            let v = view(vec![peer("a", 0, Some(phase)), peer("b", 1, None)]);
            assert_eq!(
                check(&v, "b", Some(ts(1)), ts(10)),
                Lock::LockedBy {
                    holder: "a".into(),
                    until: None
                }
            );
        }
    }

    #[test]
    fn finished_tasks_release() {
        for phase in [
            TaskPhase::Succeeded,
            TaskPhase::Failed,
            TaskPhase::Cancelled,
        ] {
            let v = view(vec![peer("a", 0, Some(phase)), peer("b", 1, None)]);
            assert_eq!(check(&v, "b", Some(ts(1)), ts(10)), Lock::Free);
        }
    }

    #[test]
    fn cancelled_holds_until_pods_gone_or_grace_passed() {
        let now = ts(100);
        let mut a = peer("a", 0, Some(TaskPhase::Cancelled));
        a.pods = vec![pod(None)];
        let locked = |a: &Peer| check(&view(vec![a.clone()]), "b", Some(ts(1)), now);
        assert!(matches!(locked(&a), Lock::LockedBy { until: None, .. }));
        // Deleted with a grace period ending at 130: locked until then.
        a.pods = vec![pod(Some(130))];
        assert_eq!(
            locked(&a),
            Lock::LockedBy {
                holder: "a".into(),
                until: Some(ts(130))
            }
        );
        // Grace passed: free even though the pod object is still there (no kubelet to confirm).
        a.pods = vec![pod(Some(100))];
        assert_eq!(locked(&a), Lock::Free);
        // Pods gone: free.
        a.pods = vec![];
        assert_eq!(locked(&a), Lock::Free);
        // Job not deleted yet: it could still start pods.
        a.has_job = true;
        assert!(matches!(locked(&a), Lock::LockedBy { .. }));
    }

    #[test]
    fn fifo_by_creation_then_name() {
        let v = view(vec![
            peer("c", 5, Some(TaskPhase::Waiting)),
            peer("b", 5, Some(TaskPhase::Waiting)),
            peer("a", 9, None),
        ]);
        assert_eq!(check(&v, "b", Some(ts(5)), ts(10)), Lock::Free);
        assert_eq!(
            check(&v, "c", Some(ts(5)), ts(10)),
            Lock::QueuedBehind("b".into())
        );
        assert_eq!(
            check(&v, "a", Some(ts(9)), ts(10)),
            Lock::QueuedBehind("b".into())
        );
    }

    #[test]
    fn waiting_for_a_dependency_does_not_queue() {
        let mut a = peer("a", 0, Some(TaskPhase::Waiting));
        a.deps_ready = false;
        assert_eq!(check(&view(vec![a]), "b", Some(ts(1)), ts(10)), Lock::Free);
    }

    #[test]
    fn memory_holder_covers_cache_lag() {
        let mut v = view(vec![peer("a", 0, None), peer("b", 1, None)]);
        v.memory_holder = Some("b".into());
        // "a" is earlier, but "b" was just started by this process.
        assert!(matches!(
            check(&v, "a", Some(ts(0)), ts(10)),
            Lock::LockedBy { holder, .. } if holder == "b"
        ));
        v.peers[1].phase = Some(TaskPhase::Succeeded);
        assert_eq!(check(&v, "a", Some(ts(0)), ts(10)), Lock::Free);
    }

    #[test]
    fn phase_less_task_with_job_holds() {
        let mut a = peer("a", 5, None);
        a.has_job = true;
        assert!(holds(&a, ts(10)));
    }
}
