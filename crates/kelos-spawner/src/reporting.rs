//! Reporting back to GitHub: one status comment per Task on its issue or pull request, edited
//! as the Task moves (accepted → succeeded / failed / cancelled). Which comment and which phase
//! it shows live in the Task's annotations, so a restarted spawner edits the same comment.
//!
//! Every body carries the GitHub source's `REPORT_MARKER`, which discovery skips, so a status
//! comment can never trigger, pause or retrigger the Task it reports on.

use kelos_api::constants::{
    ANNOTATION_GITHUB_COMMENT_ID, ANNOTATION_GITHUB_REPORT_PHASE, ANNOTATION_GITHUB_REPORTING,
    ANNOTATION_SOURCE_NUMBER,
};
use kelos_api::{Task, TaskPhase};

use crate::github::REPORT_MARKER;

/// The phase a comment reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportPhase {
    Accepted,
    Succeeded,
    Failed,
    Cancelled,
}

impl ReportPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportPhase::Accepted => "accepted",
            ReportPhase::Succeeded => "succeeded",
            ReportPhase::Failed => "failed",
            ReportPhase::Cancelled => "cancelled",
        }
    }

    pub fn of(phase: TaskPhase) -> ReportPhase {
        match phase {
            TaskPhase::Pending | TaskPhase::Running | TaskPhase::Waiting => ReportPhase::Accepted,
            TaskPhase::Succeeded => ReportPhase::Succeeded,
            TaskPhase::Failed => ReportPhase::Failed,
            TaskPhase::Cancelled => ReportPhase::Cancelled,
        }
    }
}

/// One comment to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub task: String,
    /// Issue or pull request number.
    pub number: u64,
    /// `Some`: edit this comment; `None`: create one.
    pub comment_id: Option<u64>,
    pub phase: ReportPhase,
    pub body: String,
}

/// The comment body; the original's texts plus the marker and a Cancelled text.
pub fn comment_body(task: &Task, phase: ReportPhase) -> String {
    let name = task.metadata.name.as_deref().unwrap_or_default();
    let text = match phase {
        ReportPhase::Accepted => {
            format!("Task `{name}` has been **accepted** and is being processed.")
        }
        ReportPhase::Succeeded => format!("Task `{name}` has **succeeded**. ✅"),
        ReportPhase::Failed => format!("Task `{name}` has **failed**. ❌"),
        ReportPhase::Cancelled => {
            let status = task.status.as_ref();
            let by = status
                .and_then(|s| s.cancelled_by.as_deref())
                .map(|b| format!(" by `{b}`"))
                .unwrap_or_default();
            let why = status
                .and_then(|s| s.message.as_deref())
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            format!("Task `{name}` was **cancelled**{by}{why}. 🛑")
        }
    };
    format!("🤖 **Kelos Task Status**\n\n{text}\n\n{REPORT_MARKER}")
}

/// What to report for `task`, if anything: `Ok(None)` when reporting is off for it, it has
/// no phase yet, or the comment already shows its phase.
pub fn plan_report(task: &Task) -> Result<Option<Report>, String> {
    let ann = task.metadata.annotations.clone().unwrap_or_default();
    if ann.get(ANNOTATION_GITHUB_REPORTING).map(String::as_str) != Some("enabled") {
        return Ok(None);
    }
    let Some(number) = ann.get(ANNOTATION_SOURCE_NUMBER) else {
        return Ok(None);
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("annotation {ANNOTATION_SOURCE_NUMBER}={number:?} is not a number"))?;
    let Some(phase) = task.phase() else {
        return Ok(None);
    };
    let phase = ReportPhase::of(phase);
    if ann.get(ANNOTATION_GITHUB_REPORT_PHASE).map(String::as_str) == Some(phase.as_str()) {
        return Ok(None);
    }
    let comment_id = match ann.get(ANNOTATION_GITHUB_COMMENT_ID) {
        None => None,
        Some(id) => Some(id.parse::<u64>().map_err(|_| {
            format!("annotation {ANNOTATION_GITHUB_COMMENT_ID}={id:?} is not a comment id")
        })?),
    };
    Ok(Some(Report {
        task: task.metadata.name.clone().unwrap_or_default(),
        number,
        comment_id,
        phase,
        body: comment_body(task, phase),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kelos_api::TaskStatus;

    use super::*;

    fn task(phase: Option<TaskPhase>, ann: &[(&str, &str)]) -> Task {
        let spec = serde_json::from_value(serde_json::json!({
            "type": "claude-code", "prompt": "p",
            "credentials": {"type": "oauth", "secretRef": {"name": "c"}}
        }))
        .unwrap();
        let mut t = Task::new("spawner-42", spec);
        t.metadata.annotations = Some(
            ann.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        t.status = phase.map(|p| TaskStatus {
            phase: Some(p),
            ..Default::default()
        });
        t
    }

    const ON: (&str, &str) = (ANNOTATION_GITHUB_REPORTING, "enabled");
    const NUM: (&str, &str) = (ANNOTATION_SOURCE_NUMBER, "42");

    #[test]
    fn pending_creates_an_accepted_comment() {
        let r = plan_report(&task(Some(TaskPhase::Pending), &[ON, NUM]))
            .unwrap()
            .unwrap();
        assert_eq!(r.number, 42);
        assert_eq!(r.comment_id, None);
        assert_eq!(r.phase, ReportPhase::Accepted);
        assert!(r.body.contains("Task `spawner-42` has been **accepted**"));
        assert!(r.body.contains(REPORT_MARKER));
    }

    #[test]
    fn running_and_waiting_are_accepted() {
        for p in [TaskPhase::Running, TaskPhase::Waiting] {
            let r = plan_report(&task(Some(p), &[ON, NUM])).unwrap().unwrap();
            assert_eq!(r.phase, ReportPhase::Accepted);
        }
    }

    #[test]
    fn terminal_phases_update_the_comment() {
        let id = (ANNOTATION_GITHUB_COMMENT_ID, "999");
        let acc = (ANNOTATION_GITHUB_REPORT_PHASE, "accepted");
        for (p, want, text) in [
            (
                TaskPhase::Succeeded,
                ReportPhase::Succeeded,
                "has **succeeded**. ✅",
            ),
            (TaskPhase::Failed, ReportPhase::Failed, "has **failed**. ❌"),
            (
                TaskPhase::Cancelled,
                ReportPhase::Cancelled,
                "was **cancelled**",
            ),
        ] {
            let r = plan_report(&task(Some(p), &[ON, NUM, id, acc]))
                .unwrap()
                .unwrap();
            assert_eq!(r.comment_id, Some(999));
            assert_eq!(r.phase, want);
            assert!(r.body.contains(text), "{}", r.body);
        }
    }

    #[test]
    fn cancelled_comment_says_who_and_why() {
        let mut t = task(Some(TaskPhase::Cancelled), &[ON, NUM]);
        let s = t.status.as_mut().unwrap();
        s.cancelled_by = Some("spawner:sp".into());
        s.message = Some("pull request #42 was closed".into());
        let r = plan_report(&t).unwrap().unwrap();
        assert!(
            r.body
                .contains("was **cancelled** by `spawner:sp`: pull request #42 was closed"),
            "{}",
            r.body
        );
    }

    #[test]
    fn same_phase_is_not_reported_twice() {
        let ann = [ON, NUM, (ANNOTATION_GITHUB_REPORT_PHASE, "accepted")];
        assert_eq!(
            plan_report(&task(Some(TaskPhase::Running), &ann)).unwrap(),
            None
        );
    }

    #[test]
    fn skipped_without_annotations_or_phase() {
        assert_eq!(
            plan_report(&task(Some(TaskPhase::Running), &[NUM])).unwrap(),
            None
        );
        assert_eq!(
            plan_report(&task(Some(TaskPhase::Running), &[ON])).unwrap(),
            None
        );
        assert_eq!(plan_report(&task(None, &[ON, NUM])).unwrap(), None);
        let mut t = task(Some(TaskPhase::Running), &[]);
        t.metadata.annotations = None;
        assert_eq!(plan_report(&t).unwrap(), None);
    }

    #[test]
    fn corrupt_comment_id_is_an_error() {
        let ann = [ON, NUM, (ANNOTATION_GITHUB_COMMENT_ID, "abc")];
        assert!(plan_report(&task(Some(TaskPhase::Succeeded), &ann)).is_err());
    }
}
