//! `decide`: the whole Task lifecycle as a pure function of what was observed and the time.
//!
//! It never does I/O and never moves a Task out of a terminal phase: a terminal phase only ever
//! gets its bookkeeping completed (completionTime, message, cancelledBy, outputs, the
//! completion marker), its Job and pods cleaned up, and its TTL applied. Every status change it
//! asks for carries the phase it read, so the write is refused if someone changed it meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kelos_api::constants::{
    ANNOTATION_COMPLETION_RECORDED, CANCELLED_BY_USER, REASON_BRANCH_WITHOUT_WORKSPACE,
    REASON_DEPENDENCY_FAILED, REASON_OUTPUTS_CAPTURED, REASON_TASK_CANCELLED, REASON_TASK_EXPIRED,
    REASON_TASK_FAILED, REASON_TASK_RUNNING, REASON_TASK_SUCCEEDED,
};
use kelos_api::{TaskPhase, TaskStatus};
use kube::ResourceExt;
use serde_json::Value;

use super::branch::{self, Lock};
use super::deps::{self, Gate, go_quote};
use super::model::{JobView, Observed, PodView};
use super::outputs::{self, RETRY_INTERVAL_SECS, RETRY_WINDOW_SECS};

/// A status change, applied as a JSON patch that first tests the phase that was read.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    /// The phase read (`None`: no phase). The write fails if the phase differs now.
    pub expect_phase: Option<TaskPhase>,
    /// `status.<field>` (camelCase) to value.
    pub set: BTreeMap<&'static str, Value>,
}

impl StatusUpdate {
    /// The phase this update writes, if it writes one.
    pub fn phase(&self) -> Option<TaskPhase> {
        self.set
            .get("phase")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub enum JobAction {
    #[default]
    None,
    /// Build and create the Job with this (rendered) prompt, then set Pending.
    Create {
        prompt: String,
        /// Why templating fell back to the raw prompt, for the log.
        template_error: Option<String>,
    },
    /// Delete the Job with Background propagation.
    Delete,
}

/// Delete one pod of a cancelled Task with the grace period the canceller asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDeletion {
    pub name: String,
    pub uid: Option<String>,
    /// `None`: the pod's own `terminationGracePeriodSeconds`.
    pub grace_seconds: Option<i64>,
}

/// A Kubernetes event on the Task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

impl EventSpec {
    fn normal(reason: &'static str, note: impl Into<String>) -> Self {
        EventSpec {
            warning: false,
            reason,
            note: note.into(),
        }
    }
    fn warning(reason: &'static str, note: impl Into<String>) -> Self {
        EventSpec {
            warning: true,
            reason,
            note: note.into(),
        }
    }
}

/// Counting a terminal Task in `kelos_task_completed_total`: write the marker annotation,
/// and only if that write succeeded count it and publish `event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub phase: TaskPhase,
    pub event: Option<EventSpec>,
}

/// The in-memory side of the branch lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LockAction {
    #[default]
    None,
    /// This Task is about to create its Job under `key`.
    Acquire(String),
}

/// Everything the reconciler should do, in this order: Job, pods, status, completion,
/// events, expiry, requeue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transition {
    pub job: JobAction,
    pub delete_pods: Vec<PodDeletion>,
    pub status: Option<StatusUpdate>,
    /// Published after the status write (if any) succeeded.
    pub events: Vec<EventSpec>,
    pub record_completion: Option<Completion>,
    /// Results written by this transition (cost and token metrics are taken from them).
    pub captured_results: Option<BTreeMap<String, String>>,
    /// The TTL has passed: delete the Task.
    pub expire: bool,
    pub lock: LockAction,
    /// `None`: wait for a change.
    pub requeue: Option<Duration>,
}

impl Transition {
    fn requeue_within(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }
}

const MSG_SUCCEEDED: &str = "Task completed successfully";
const MSG_FAILED: &str = "Task failed";
/// Poll while waiting for a branch (wake-ups also come from the holder's changes).
const BRANCH_POLL: Duration = Duration::from_secs(10);
/// A Job being deleted by someone else: look again soon.
const JOB_DELETING_POLL: Duration = Duration::from_secs(2);

/// A status time: `metav1.Time` has second precision.
pub fn time_value(t: Timestamp) -> Value {
    let t = Timestamp::from_second(t.as_second()).unwrap_or(t);
    serde_json::to_value(Time(t)).unwrap_or(Value::Null)
}

fn positive(d: SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

/// The Task's next step.
pub fn decide(o: &Observed, now: Timestamp) -> Transition {
    let status = o.task.status.clone().unwrap_or_default();
    let mut t = Transition::default();
    match status.phase {
        Some(phase) if phase.is_terminal() => terminal(o, phase, &status, now, &mut t),
        _ => match &o.job {
            Some(job) if job.deleting => t.requeue = Some(JOB_DELETING_POLL),
            Some(job) => with_job(o, job, &status, now, &mut t),
            None => without_job(o, &status, now, &mut t),
        },
    }
    t
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(str::is_empty)
}

/// Bookkeeping of a finished Task. Never changes the phase, never creates a Job.
fn terminal(
    o: &Observed,
    phase: TaskPhase,
    status: &TaskStatus,
    now: Timestamp,
    t: &mut Transition,
) {
    let mut set = BTreeMap::new();
    let completion = status.completion_time.as_ref().map(|c| c.0);
    if completion.is_none() {
        // Also for Tasks that failed before they had a Job, so their TTL applies.
        set.insert("completionTime", time_value(now));
    }
    let mut completion_event = None;
    if phase == TaskPhase::Cancelled {
        let by = if blank(&status.cancelled_by) {
            set.insert("cancelledBy", Value::from(CANCELLED_BY_USER));
            CANCELLED_BY_USER.to_owned()
        } else {
            status.cancelled_by.clone().unwrap_or_default()
        };
        let message = if blank(&status.message) {
            let m = format!("Cancelled by {by}");
            set.insert("message", Value::from(m.clone()));
            m
        } else {
            status.message.clone().unwrap_or_default()
        };
        completion_event = Some(EventSpec::normal(REASON_TASK_CANCELLED, message));
        if o.job.as_ref().is_some_and(|j| !j.deleting) {
            t.job = JobAction::Delete;
        }
        t.delete_pods = pods_to_delete(&o.pods, status.cancellation_grace_period_seconds, now);
    } else if let Some(job) = &o.job {
        track_pod_name(&o.pods, status, &mut set);
        // Outputs not captured at completion: the agent may still be flushing its log.
        let window_open =
            completion.is_some_and(|c| now.duration_since(c).as_secs() < RETRY_WINDOW_SECS);
        if window_open
            && no_outputs(status)
            && (job.succeeded > 0 || job.failed)
            && !capture(o, &mut set, t)
        {
            t.requeue_within(Duration::from_secs(RETRY_INTERVAL_SECS as u64));
        }
    }
    if !set.is_empty() {
        t.status = Some(StatusUpdate {
            expect_phase: Some(phase),
            set,
        });
    }
    if !o
        .task
        .annotations()
        .contains_key(ANNOTATION_COMPLETION_RECORDED)
    {
        t.record_completion = Some(Completion {
            phase,
            event: completion_event,
        });
    }
    if let Some(ttl) = o.task.spec.ttl_seconds_after_finished {
        let expire_at =
            completion.unwrap_or(now) + SignedDuration::from_secs(i64::from(ttl.max(0)));
        if now >= expire_at {
            t.expire = true;
            t.events.push(EventSpec::normal(
                REASON_TASK_EXPIRED,
                "Deleting Task due to TTL expiration",
            ));
        } else {
            t.requeue_within(positive(expire_at.duration_since(now)));
        }
    }
}

/// The pods of a cancelled Task that still need a delete call: not yet deleted, or deleted
/// (e.g. by the garbage collector) with a longer grace period than asked for, which a new
/// delete shortens. A delete can never lengthen a grace period.
fn pods_to_delete(pods: &[PodView], grace: Option<i64>, now: Timestamp) -> Vec<PodDeletion> {
    pods.iter()
        .filter(|p| match (p.deletion, grace) {
            (None, _) => true,
            (Some(deadline), Some(g)) => deadline > now + SignedDuration::from_secs(g.max(0) + 1),
            (Some(_), None) => false,
        })
        .map(|p| PodDeletion {
            name: p.name.clone(),
            uid: p.uid.clone(),
            grace_seconds: grace.map(|g| g.max(0)),
        })
        .collect()
}

fn no_outputs(status: &TaskStatus) -> bool {
    status.outputs.as_ref().is_none_or(Vec::is_empty)
        && status.results.as_ref().is_none_or(BTreeMap::is_empty)
}

/// Puts the outputs read from the log into `set`; false when there were none.
fn capture(o: &Observed, set: &mut BTreeMap<&'static str, Value>, t: &mut Transition) -> bool {
    let Some(lines) = o.log_outputs.as_ref().filter(|l| !l.is_empty()) else {
        return false;
    };
    let results = outputs::results_from_outputs(lines);
    set.insert("outputs", serde_json::json!(lines));
    if let Some(r) = &results {
        set.insert("results", serde_json::json!(r));
    }
    t.events.push(EventSpec::normal(
        REASON_OUTPUTS_CAPTURED,
        format!(
            "Captured {} outputs and {} results from agent",
            lines.len(),
            results.as_ref().map_or(0, BTreeMap::len)
        ),
    ));
    t.captured_results = results;
    true
}

/// Newest pod by creationTimestamp, ties to the greatest name; "" when none is left.
fn newest_pod(pods: &[PodView]) -> Option<&PodView> {
    pods.iter()
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
}

fn track_pod_name(pods: &[PodView], status: &TaskStatus, set: &mut BTreeMap<&'static str, Value>) {
    let newest = newest_pod(pods).map(|p| p.name.clone());
    match (newest, &status.pod_name) {
        (Some(n), current) if current.as_deref() != Some(n.as_str()) => {
            set.insert("podName", Value::from(n));
        }
        (None, Some(current)) if !current.is_empty() => {
            set.insert("podName", Value::from(""));
        }
        _ => {}
    }
}

/// The Job exists: its status decides the phase (reference `updateStatus`).
fn with_job(o: &Observed, job: &JobView, status: &TaskStatus, now: Timestamp, t: &mut Transition) {
    let mut set = BTreeMap::new();
    let name = o.task.name_any();
    if status.job_name.as_deref() != Some(name.as_str()) {
        set.insert("jobName", Value::from(name));
    }
    track_pod_name(&o.pods, status, &mut set);
    let phase = status.phase;
    let finished = if job.active > 0 {
        if phase != Some(TaskPhase::Running) {
            set.insert("phase", Value::from(TaskPhase::Running.as_str()));
            if status.start_time.is_none() {
                set.insert("startTime", time_value(now));
            }
            set.insert("message", Value::from(""));
            t.events.push(EventSpec::normal(
                REASON_TASK_RUNNING,
                "Task started running",
            ));
        }
        None
    } else if job.succeeded > 0 {
        t.events
            .push(EventSpec::normal(REASON_TASK_SUCCEEDED, MSG_SUCCEEDED));
        Some((TaskPhase::Succeeded, MSG_SUCCEEDED))
    } else if job.failed {
        t.events
            .push(EventSpec::warning(REASON_TASK_FAILED, MSG_FAILED));
        Some((TaskPhase::Failed, MSG_FAILED))
    } else {
        if !matches!(phase, Some(TaskPhase::Pending | TaskPhase::Running)) {
            // A Job without a phase: created just before a restart or a lost status write.
            set.insert("phase", Value::from(TaskPhase::Pending.as_str()));
        }
        None
    };
    if let Some((done, message)) = finished {
        set.insert("phase", Value::from(done.as_str()));
        set.insert("completionTime", time_value(now));
        set.insert("message", Value::from(message));
        if !capture(o, &mut set, t) {
            t.requeue_within(Duration::from_secs(RETRY_INTERVAL_SECS as u64));
        }
        if !o
            .task
            .annotations()
            .contains_key(ANNOTATION_COMPLETION_RECORDED)
        {
            t.record_completion = Some(Completion {
                phase: done,
                event: None,
            });
        }
    }
    if !set.is_empty() {
        t.status = Some(StatusUpdate {
            expect_phase: phase,
            set,
        });
    }
}

/// No Job yet: dependencies, then the branch lock, then create it.
fn without_job(o: &Observed, status: &TaskStatus, now: Timestamp, t: &mut Transition) {
    if !o.deps.is_empty() {
        if let Some(name) = &o.cycle {
            fail(
                status,
                format!(
                    "Circular dependency detected: cycle involves {}",
                    go_quote(name)
                ),
                EventSpec::warning(REASON_DEPENDENCY_FAILED, "Circular dependency detected"),
                now,
                t,
            );
            return;
        }
        match deps::gate(&o.deps) {
            Gate::Ready => {}
            Gate::Wait { message, poll_secs } => {
                wait(status, message, Duration::from_secs(poll_secs), t);
                return;
            }
            Gate::Fail { message } => {
                let event = EventSpec::warning(REASON_DEPENDENCY_FAILED, message.clone());
                fail(status, message, event, now, t);
                return;
            }
        }
    }
    if let Some(view) = &o.branch {
        let created = o.task.metadata.creation_timestamp.as_ref().map(|c| c.0);
        let name = o.task.name_any();
        match branch::check(view, &name, created, now) {
            Lock::Free => {}
            Lock::LockedBy { holder, until } => {
                let poll = until.map_or(BRANCH_POLL, |u| {
                    // Just past the holder's last pod deadline.
                    positive(u.duration_since(now)) + Duration::from_secs(1)
                });
                let message = format!(
                    "Waiting for branch {} (locked by {holder})",
                    go_quote(&view.branch)
                );
                wait(status, message, poll.min(BRANCH_POLL), t);
                return;
            }
            Lock::QueuedBehind(first) => {
                let message = format!(
                    "Waiting for branch {} (queued behind {first})",
                    go_quote(&view.branch)
                );
                wait(status, message, BRANCH_POLL, t);
                return;
            }
        }
        if view.without_workspace {
            t.events.push(EventSpec::warning(
                REASON_BRANCH_WITHOUT_WORKSPACE,
                format!(
                    "Task has branch {} but no workspaceRef",
                    go_quote(&view.branch)
                ),
            ));
        }
        t.lock = LockAction::Acquire(view.key.clone());
    }
    let (prompt, template_error) = deps::render_prompt(&o.task.spec.prompt, &o.deps);
    t.job = JobAction::Create {
        prompt,
        template_error,
    };
}

fn wait(status: &TaskStatus, message: String, poll: Duration, t: &mut Transition) {
    if status.phase != Some(TaskPhase::Waiting)
        || status.message.as_deref() != Some(message.as_str())
    {
        t.status = Some(StatusUpdate {
            expect_phase: status.phase,
            set: BTreeMap::from([
                ("phase", Value::from(TaskPhase::Waiting.as_str())),
                ("message", Value::from(message)),
            ]),
        });
    }
    t.requeue_within(poll);
}

/// Failed before a Job existed: completionTime too, so the TTL applies.
pub(crate) fn fail(
    status: &TaskStatus,
    message: String,
    event: EventSpec,
    now: Timestamp,
    t: &mut Transition,
) {
    t.status = Some(failed_update(status.phase, message, now));
    t.events.push(event);
    t.record_completion = Some(Completion {
        phase: TaskPhase::Failed,
        event: None,
    });
}

/// The status update that fails a Task that had `expect_phase`.
pub fn failed_update(
    expect_phase: Option<TaskPhase>,
    message: String,
    now: Timestamp,
) -> StatusUpdate {
    StatusUpdate {
        expect_phase,
        set: BTreeMap::from([
            ("phase", Value::from(TaskPhase::Failed.as_str())),
            ("message", Value::from(message)),
            ("completionTime", time_value(now)),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::model::{BranchView, DepState, DepView, Peer};
    use kelos_api::{Task, TaskSpec};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn task(phase: Option<TaskPhase>) -> Task {
        let mut t: Task = serde_json::from_value(serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1",
            "kind": "Task",
            "metadata": {"name": "t", "namespace": "ns", "uid": "u1",
                         "creationTimestamp": "2023-11-14T22:13:20Z"},
            "spec": {"type": "claude-code", "prompt": "do it",
                     "credentials": {"type": "api-key", "secretRef": {"name": "s"}}}
        }))
        .unwrap();
        t.status = Some(TaskStatus {
            phase,
            ..Default::default()
        });
        t
    }

    fn spec(t: &mut Task) -> &mut TaskSpec {
        &mut t.spec
    }

    fn observed(task: &Task) -> Observed<'_> {
        Observed {
            task,
            job: None,
            pods: vec![],
            deps: vec![],
            cycle: None,
            branch: None,
            log_outputs: None,
        }
    }

    fn job(active: i32, succeeded: i32, failed: bool) -> Option<JobView> {
        Some(JobView {
            active,
            succeeded,
            failed,
            deleting: false,
        })
    }

    fn pod(name: &str, created: i64, deletion: Option<i64>) -> PodView {
        PodView {
            name: name.into(),
            uid: Some(format!("uid-{name}")),
            created: Some(ts(created)),
            deletion: deletion.map(ts),
        }
    }

    fn set_phase(t: &Transition) -> Option<TaskPhase> {
        t.status.as_ref().and_then(StatusUpdate::phase)
    }

    fn field<'a>(t: &'a Transition, k: &str) -> Option<&'a Value> {
        t.status.as_ref().and_then(|s| s.set.get(k))
    }

    fn completed(phase: TaskPhase, at: i64) -> Task {
        let mut t = task(Some(phase));
        t.status.as_mut().unwrap().completion_time = Some(Time(ts(at)));
        t
    }

    #[test]
    fn new_task_creates_its_job() {
        let t = task(None);
        let tr = decide(&observed(&t), ts(0));
        assert_eq!(
            tr.job,
            JobAction::Create {
                prompt: "do it".into(),
                template_error: None
            }
        );
        assert_eq!(tr.status, None, "Pending is written after the Job exists");
        assert_eq!(tr.record_completion, None);
    }

    #[test]
    fn job_active_means_running_with_start_time() {
        let t = task(Some(TaskPhase::Pending));
        let mut o = observed(&t);
        o.job = job(1, 0, false);
        o.pods = vec![pod("p1", 1, None), pod("p2", 2, None)];
        let tr = decide(&o, ts(5));
        let st = tr.status.as_ref().unwrap();
        assert_eq!(st.expect_phase, Some(TaskPhase::Pending));
        assert_eq!(set_phase(&tr), Some(TaskPhase::Running));
        assert_eq!(st.set["startTime"], time_value(ts(5)));
        assert_eq!(st.set["message"], "");
        assert_eq!(st.set["podName"], "p2");
        assert_eq!(st.set["jobName"], "t");
        assert_eq!(tr.events[0].reason, REASON_TASK_RUNNING);
        assert_eq!(tr.job, JobAction::None);
    }

    #[test]
    fn job_success_and_failure_are_terminal_with_completion() {
        for (j, phase, msg, reason) in [
            (
                job(0, 1, false),
                TaskPhase::Succeeded,
                MSG_SUCCEEDED,
                REASON_TASK_SUCCEEDED,
            ),
            (
                job(0, 0, true),
                TaskPhase::Failed,
                MSG_FAILED,
                REASON_TASK_FAILED,
            ),
        ] {
            let t = task(Some(TaskPhase::Running));
            let mut o = observed(&t);
            o.job = j;
            o.log_outputs = Some(vec!["branch: b".into(), "cost-usd: 1.5".into()]);
            let tr = decide(&o, ts(9));
            assert_eq!(set_phase(&tr), Some(phase));
            assert_eq!(field(&tr, "message").unwrap(), msg);
            assert_eq!(field(&tr, "completionTime").unwrap(), &time_value(ts(9)));
            assert_eq!(field(&tr, "results").unwrap()["branch"], "b");
            assert_eq!(tr.events[0].reason, reason);
            assert_eq!(tr.events[1].reason, REASON_OUTPUTS_CAPTURED);
            assert_eq!(
                tr.events[1].note,
                "Captured 2 outputs and 2 results from agent"
            );
            assert_eq!(tr.record_completion.as_ref().unwrap().phase, phase);
            assert_eq!(tr.captured_results.as_ref().unwrap()["cost-usd"], "1.5");
        }
    }

    #[test]
    fn missing_outputs_are_retried_within_the_window() {
        let t = task(Some(TaskPhase::Running));
        let mut o = observed(&t);
        o.job = job(0, 1, false);
        let tr = decide(&o, ts(0));
        assert_eq!(tr.requeue, Some(Duration::from_secs(5)));
        assert!(field(&tr, "outputs").is_none());

        // Already Succeeded, 10 s later, log now has them.
        let mut t = completed(TaskPhase::Succeeded, 0);
        t.metadata.annotations = Some(
            [(
                ANNOTATION_COMPLETION_RECORDED.to_string(),
                "Succeeded".to_string(),
            )]
            .into(),
        );
        let mut o = observed(&t);
        o.job = job(0, 1, false);
        assert_eq!(decide(&o, ts(10)).requeue, Some(Duration::from_secs(5)));
        o.log_outputs = Some(vec!["pr: 7".into()]);
        let tr = decide(&o, ts(10));
        assert_eq!(
            tr.status.as_ref().unwrap().expect_phase,
            Some(TaskPhase::Succeeded)
        );
        assert_eq!(field(&tr, "outputs").unwrap()[0], "pr: 7");
        assert_eq!(tr.record_completion, None, "already counted");
        // Past the window: give up quietly.
        o.log_outputs = None;
        let tr = decide(&o, ts(31));
        assert_eq!((tr.status, tr.requeue), (None, None));
    }

    #[test]
    fn terminal_task_never_gets_a_job_again() {
        for phase in [
            TaskPhase::Succeeded,
            TaskPhase::Failed,
            TaskPhase::Cancelled,
        ] {
            let t = completed(phase, 0);
            let tr = decide(&observed(&t), ts(100));
            assert_eq!(tr.job, JobAction::None, "{phase}");
            assert!(
                tr.status.as_ref().is_none_or(|s| s.phase().is_none()),
                "{phase}"
            );
        }
    }

    #[test]
    fn terminal_task_is_counted_once_via_the_marker() {
        let mut t = completed(TaskPhase::Succeeded, 0);
        assert_eq!(
            decide(&observed(&t), ts(100)).record_completion,
            Some(Completion {
                phase: TaskPhase::Succeeded,
                event: None
            })
        );
        t.metadata.annotations = Some(
            [(
                ANNOTATION_COMPLETION_RECORDED.to_string(),
                "Succeeded".to_string(),
            )]
            .into(),
        );
        assert_eq!(decide(&observed(&t), ts(100)).record_completion, None);
    }

    #[test]
    fn cancelled_task_is_finished_off() {
        let mut t = task(Some(TaskPhase::Cancelled));
        t.status.as_mut().unwrap().start_time = Some(Time(ts(1)));
        t.status.as_mut().unwrap().job_name = Some("t".into());
        let mut o = observed(&t);
        o.job = job(1, 0, false);
        o.pods = vec![pod("p", 1, None)];
        let tr = decide(&o, ts(50));
        assert_eq!(tr.job, JobAction::Delete);
        assert_eq!(
            tr.delete_pods,
            vec![PodDeletion {
                name: "p".into(),
                uid: Some("uid-p".into()),
                grace_seconds: None
            }]
        );
        let st = tr.status.as_ref().unwrap();
        assert_eq!(st.expect_phase, Some(TaskPhase::Cancelled));
        assert_eq!(st.set["cancelledBy"], "user");
        assert_eq!(st.set["message"], "Cancelled by user");
        assert_eq!(st.set["completionTime"], time_value(ts(50)));
        assert!(!st.set.contains_key("startTime") && !st.set.contains_key("jobName"));
        assert!(st.phase().is_none(), "the phase is never written");
        let c = tr.record_completion.unwrap();
        assert_eq!(c.phase, TaskPhase::Cancelled);
        assert_eq!(c.event.unwrap().reason, REASON_TASK_CANCELLED);
    }

    #[test]
    fn cancelled_keeps_what_the_canceller_wrote() {
        let mut t = completed(TaskPhase::Cancelled, 3);
        let s = t.status.as_mut().unwrap();
        s.cancelled_by = Some("spawner:s".into());
        s.message = Some("pull request #7 was closed".into());
        let tr = decide(&observed(&t), ts(50));
        assert_eq!(tr.status, None);
        assert_eq!(
            tr.record_completion.unwrap().event.unwrap().note,
            "pull request #7 was closed"
        );
        // A spawner that left the message empty: say who.
        t.status.as_mut().unwrap().message = None;
        let tr = decide(&observed(&t), ts(50));
        assert_eq!(field(&tr, "message").unwrap(), "Cancelled by spawner:s");
    }

    #[test]
    fn cancelled_pods_get_the_requested_grace() {
        let mut t = completed(TaskPhase::Cancelled, 0);
        t.status.as_mut().unwrap().cancellation_grace_period_seconds = Some(20);
        let mut o = observed(&t);
        // p1 untouched; p2 deleted by the GC with 30 s left (we shorten to 20);
        // p3 already on our deadline.
        o.pods = vec![
            pod("p1", 0, None),
            pod("p2", 0, Some(40)),
            pod("p3", 0, Some(30)),
        ];
        let tr = decide(&o, ts(10));
        let names: Vec<_> = tr
            .delete_pods
            .iter()
            .map(|d| (d.name.as_str(), d.grace_seconds))
            .collect();
        assert_eq!(names, vec![("p1", Some(20)), ("p2", Some(20))]);
        assert_eq!(tr.job, JobAction::None, "no Job left to delete");
    }

    #[test]
    fn ttl_applies_to_every_terminal_phase() {
        for phase in [
            TaskPhase::Succeeded,
            TaskPhase::Failed,
            TaskPhase::Cancelled,
        ] {
            let mut t = completed(phase, 0);
            spec(&mut t).ttl_seconds_after_finished = Some(60);
            let tr = decide(&observed(&t), ts(20));
            assert!(!tr.expire);
            assert_eq!(tr.requeue, Some(Duration::from_secs(40)));
            let tr = decide(&observed(&t), ts(60));
            assert!(tr.expire, "{phase}");
            assert!(tr.events.iter().any(|e| e.reason == REASON_TASK_EXPIRED));
        }
        // Failed before a Job existed and without completionTime: set now, TTL counts from it.
        let mut t = task(Some(TaskPhase::Failed));
        spec(&mut t).ttl_seconds_after_finished = Some(0);
        let tr = decide(&observed(&t), ts(5));
        assert_eq!(field(&tr, "completionTime").unwrap(), &time_value(ts(5)));
        assert!(tr.expire);
    }

    fn dep(name: &str, phase: TaskPhase) -> DepView {
        DepView {
            name: name.into(),
            state: Some(DepState {
                phase: Some(phase),
                outputs: vec![],
                results: [("branch".to_string(), "feat".to_string())].into(),
            }),
        }
    }

    #[test]
    fn dependencies_wait_then_start_with_rendered_prompt() {
        let mut t = task(None);
        spec(&mut t).prompt = r#"on {{index .Deps "a" "Results" "branch"}}"#.into();
        spec(&mut t).depends_on = Some(vec!["a".into()]);
        let mut o = observed(&t);
        o.deps = vec![dep("a", TaskPhase::Running)];
        let tr = decide(&o, ts(0));
        assert_eq!(set_phase(&tr), Some(TaskPhase::Waiting));
        assert_eq!(
            field(&tr, "message").unwrap(),
            "Waiting for dependency \"a\""
        );
        assert_eq!(tr.requeue, Some(Duration::from_secs(10)));
        assert_eq!(tr.job, JobAction::None);

        o.deps = vec![dep("a", TaskPhase::Succeeded)];
        let tr = decide(&o, ts(1));
        assert_eq!(
            tr.job,
            JobAction::Create {
                prompt: "on feat".into(),
                template_error: None
            }
        );
    }

    #[test]
    fn waiting_is_not_rewritten() {
        let mut t = task(Some(TaskPhase::Waiting));
        t.status.as_mut().unwrap().message =
            Some("Waiting for dependency \"a\" to be created".into());
        spec(&mut t).depends_on = Some(vec!["a".into()]);
        let mut o = observed(&t);
        o.deps = vec![DepView {
            name: "a".into(),
            state: None,
        }];
        let tr = decide(&o, ts(0));
        assert_eq!(tr.status, None);
        assert_eq!(tr.requeue, Some(Duration::from_secs(5)));
    }

    #[test]
    fn failed_or_cancelled_dependency_fails_the_task() {
        for (phase, message) in [
            (TaskPhase::Failed, "Dependency \"a\" failed"),
            (TaskPhase::Cancelled, "Dependency \"a\" was cancelled"),
        ] {
            let mut t = task(Some(TaskPhase::Waiting));
            spec(&mut t).depends_on = Some(vec!["a".into()]);
            let mut o = observed(&t);
            o.deps = vec![dep("a", phase)];
            let tr = decide(&o, ts(7));
            assert_eq!(set_phase(&tr), Some(TaskPhase::Failed));
            assert_eq!(
                tr.status.as_ref().unwrap().expect_phase,
                Some(TaskPhase::Waiting)
            );
            assert_eq!(field(&tr, "message").unwrap(), message);
            assert_eq!(field(&tr, "completionTime").unwrap(), &time_value(ts(7)));
            assert_eq!(tr.events[0].reason, REASON_DEPENDENCY_FAILED);
            assert_eq!(
                tr.record_completion.as_ref().unwrap().phase,
                TaskPhase::Failed
            );
        }
    }

    #[test]
    fn cycle_fails_with_the_reference_message() {
        let mut t = task(None);
        spec(&mut t).depends_on = Some(vec!["b".into()]);
        let mut o = observed(&t);
        o.deps = vec![dep("b", TaskPhase::Waiting)];
        o.cycle = Some("t".into());
        let tr = decide(&o, ts(0));
        assert_eq!(set_phase(&tr), Some(TaskPhase::Failed));
        assert_eq!(
            field(&tr, "message").unwrap(),
            "Circular dependency detected: cycle involves \"t\""
        );
        assert_eq!(tr.events[0].note, "Circular dependency detected");
    }

    fn branch_view(peers: Vec<Peer>) -> Option<BranchView> {
        Some(BranchView {
            key: "ns/ws:main".into(),
            branch: "main".into(),
            without_workspace: false,
            peers,
            memory_holder: None,
        })
    }

    fn peer(name: &str, phase: Option<TaskPhase>) -> Peer {
        Peer {
            name: name.into(),
            created: Some(ts(-100)),
            phase,
            deleting: false,
            has_job: false,
            pods: vec![],
            deps_ready: true,
        }
    }

    #[test]
    fn branch_holder_makes_the_task_wait() {
        let t = task(None);
        let mut o = observed(&t);
        o.branch = branch_view(vec![peer("a", Some(TaskPhase::Running))]);
        let tr = decide(&o, ts(0));
        assert_eq!(set_phase(&tr), Some(TaskPhase::Waiting));
        assert_eq!(
            field(&tr, "message").unwrap(),
            "Waiting for branch \"main\" (locked by a)"
        );
        assert_eq!(tr.job, JobAction::None);

        o.branch = branch_view(vec![peer("a", Some(TaskPhase::Waiting))]);
        let tr = decide(&o, ts(0));
        assert_eq!(
            field(&tr, "message").unwrap(),
            "Waiting for branch \"main\" (queued behind a)"
        );

        o.branch = branch_view(vec![peer("a", Some(TaskPhase::Succeeded))]);
        let tr = decide(&o, ts(0));
        assert!(matches!(tr.job, JobAction::Create { .. }));
        assert_eq!(tr.lock, LockAction::Acquire("ns/ws:main".into()));
    }

    #[test]
    fn branch_waiter_requeues_when_the_cancelled_holders_grace_ends() {
        let t = task(Some(TaskPhase::Waiting));
        let mut o = observed(&t);
        let mut a = peer("a", Some(TaskPhase::Cancelled));
        a.pods = vec![pod("p", 0, Some(25))];
        o.branch = branch_view(vec![a.clone()]);
        let tr = decide(&o, ts(20));
        assert_eq!(tr.job, JobAction::None);
        assert_eq!(tr.requeue, Some(Duration::from_secs(6)));
        let tr = decide(&o, ts(25));
        assert!(matches!(tr.job, JobAction::Create { .. }));
    }

    #[test]
    fn job_being_deleted_is_waited_for() {
        let t = task(Some(TaskPhase::Running));
        let mut o = observed(&t);
        o.job = Some(JobView {
            deleting: true,
            ..Default::default()
        });
        let tr = decide(&o, ts(0));
        assert_eq!(tr.job, JobAction::None);
        assert_eq!(tr.status, None);
    }

    #[test]
    fn phase_less_task_with_job_becomes_pending() {
        let t = task(None);
        let mut o = observed(&t);
        o.job = job(0, 0, false);
        let tr = decide(&o, ts(0));
        assert_eq!(set_phase(&tr), Some(TaskPhase::Pending));
        assert_eq!(tr.status.unwrap().expect_phase, None);
    }

    #[test]
    fn pod_name_is_cleared_when_pods_are_gone() {
        let mut t = task(Some(TaskPhase::Running));
        t.status.as_mut().unwrap().pod_name = Some("old".into());
        t.status.as_mut().unwrap().job_name = Some("t".into());
        let mut o = observed(&t);
        o.job = job(1, 0, false);
        let tr = decide(&o, ts(0));
        assert_eq!(field(&tr, "podName").unwrap(), "");
    }

    #[test]
    fn job_success_seen_after_a_cancellation_changes_nothing() {
        let t = task(Some(TaskPhase::Cancelled));
        let mut o = observed(&t);
        o.job = job(0, 1, false);
        o.log_outputs = Some(vec!["branch: b".into()]);
        let tr = decide(&o, ts(3));
        assert_eq!(tr.job, JobAction::Delete);
        assert!(tr.status.as_ref().is_none_or(|s| s.phase().is_none()));
        assert!(field(&tr, "outputs").is_none());
        assert_eq!(tr.record_completion.unwrap().phase, TaskPhase::Cancelled);
        assert!(!tr.events.iter().any(|e| e.reason == REASON_TASK_SUCCEEDED));
    }

    /// Terminal means terminal, over every combination of what could be observed.
    #[test]
    fn no_observation_moves_a_terminal_task() {
        let jobs = [
            None,
            job(0, 0, false),
            job(1, 0, false),
            job(0, 1, false),
            job(0, 0, true),
            Some(JobView {
                deleting: true,
                ..Default::default()
            }),
        ];
        let dep_sets = [
            vec![],
            vec![DepView {
                name: "d".into(),
                state: None,
            }],
            vec![dep("d", TaskPhase::Failed)],
            vec![dep("d", TaskPhase::Succeeded)],
        ];
        let branches = [
            None,
            branch_view(vec![]),
            branch_view(vec![peer("a", Some(TaskPhase::Running))]),
        ];
        for phase in TaskPhase::ALL.into_iter().filter(|p| p.is_terminal()) {
            for ttl in [None, Some(0), Some(100)] {
                for j in &jobs {
                    for deps in &dep_sets {
                        for br in &branches {
                            for cycle in [None, Some("t".to_string())] {
                                let mut t = task(Some(phase));
                                t.spec.ttl_seconds_after_finished = ttl;
                                let mut o = observed(&t);
                                o.job = j.clone();
                                o.deps = deps.clone();
                                o.branch = br.clone();
                                o.cycle = cycle;
                                o.pods = vec![pod("p", 0, None)];
                                o.log_outputs = Some(vec!["k: v".into()]);
                                let tr = decide(&o, ts(10));
                                let ctx = format!("{phase} {j:?} {deps:?} {br:?}");
                                assert!(!matches!(tr.job, JobAction::Create { .. }), "{ctx}");
                                assert_eq!(tr.lock, LockAction::None, "{ctx}");
                                if let Some(st) = &tr.status {
                                    assert_eq!(st.expect_phase, Some(phase), "{ctx}");
                                    assert!(st.phase().is_none(), "{ctx}");
                                }
                                if let Some(c) = &tr.record_completion {
                                    assert_eq!(c.phase, phase, "{ctx}");
                                }
                                // Only a cancelled Task's pods are deleted, and only it deletes its Job.
                                if phase != TaskPhase::Cancelled {
                                    assert!(tr.delete_pods.is_empty(), "{ctx}");
                                    assert_ne!(tr.job, JobAction::Delete, "{ctx}");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
