//! The TaskSpawner status the spawner owns, computed purely from the cycle's outcome.
//!
//! The spawner writes it with server-side apply under the field manager `kelos-spawner`, so it
//! never drops what the controller owns (`deploymentName`, `cronJobName`). Apply removes the
//! fields a manager stops sending, so every write carries all of the spawner's fields, also
//! after a failed discovery (then with their previous values).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kelos_api::constants::{
    CONDITION_DISCOVERY_FAILED, CONDITION_SUSPENDED, CONDITION_TASK_BUDGET_EXHAUSTED,
};
use kelos_api::{TaskSpawnerPhase, TaskSpawnerStatus};

use crate::item::DiscoveryError;

/// What happened this cycle, as far as status is concerned.
#[derive(Debug)]
pub enum Outcome<'a> {
    Suspended,
    DiscoveryFailed(&'a DiscoveryError),
    Discovered {
        /// Items discovered this cycle (the original's `totalDiscovered`).
        discovered: usize,
        /// Tasks created this cycle.
        created: i64,
        /// Tasks cancelled this cycle.
        cancelled: i64,
        /// Non-terminal Tasks after the cycle.
        active: i64,
    },
}

pub fn to_k8s_time(t: DateTime<Utc>) -> Time {
    Time(
        jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
    )
}

pub fn from_k8s_time(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

/// `reason` of the DiscoveryFailed condition (a CamelCase word, as conditions require).
fn failure_reason(e: &DiscoveryError) -> &'static str {
    match e {
        DiscoveryError::Status { .. } => "SourceError",
        DiscoveryError::RateLimited { .. } => "RateLimited",
        DiscoveryError::Malformed { .. } => "MalformedResponse",
        DiscoveryError::Transport { .. } => "TransportError",
        DiscoveryError::Truncated { .. } => "Truncated",
        DiscoveryError::Config(_) => "InvalidConfiguration",
    }
}

/// Sets condition `type_` in `conds`, keeping `lastTransitionTime` when the status is unchanged.
fn set_condition(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let transition = conds
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| to_k8s_time(now));
    conds.retain(|c| c.type_ != type_);
    conds.push(Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: transition,
    });
}

/// The spawner's part of the TaskSpawner status after a cycle.
pub fn next_status(
    current: Option<&TaskSpawnerStatus>,
    max_total_tasks: Option<i32>,
    generation: Option<i64>,
    outcome: &Outcome<'_>,
    now: DateTime<Utc>,
) -> TaskSpawnerStatus {
    let cur = current.cloned().unwrap_or_default();
    let mut conds: Vec<Condition> = cur
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        // Only the conditions the spawner owns; the controller applies its own.
        .filter(|c| {
            [
                CONDITION_SUSPENDED,
                CONDITION_TASK_BUDGET_EXHAUSTED,
                CONDITION_DISCOVERY_FAILED,
            ]
            .contains(&c.type_.as_str())
        })
        .collect();
    let mut next = TaskSpawnerStatus {
        phase: cur.phase,
        deployment_name: None,
        cron_job_name: None,
        total_discovered: cur.total_discovered,
        total_tasks_created: cur.total_tasks_created,
        total_tasks_cancelled: cur.total_tasks_cancelled,
        active_tasks: cur.active_tasks,
        last_discovery_time: cur.last_discovery_time.clone(),
        message: cur.message.clone(),
        conditions: None,
    };
    match outcome {
        Outcome::Suspended => {
            next.phase = Some(TaskSpawnerPhase::Suspended);
            next.message = Some("Suspended by user".into());
            set_condition(
                &mut conds,
                CONDITION_SUSPENDED,
                true,
                "UserSuspended",
                "TaskSpawner is suspended by user".into(),
                generation,
                now,
            );
        }
        Outcome::DiscoveryFailed(e) => {
            next.phase = Some(TaskSpawnerPhase::Running);
            set_condition(
                &mut conds,
                CONDITION_SUSPENDED,
                false,
                "Running",
                "TaskSpawner is running".into(),
                generation,
                now,
            );
            set_condition(
                &mut conds,
                CONDITION_DISCOVERY_FAILED,
                true,
                failure_reason(e),
                format!("discovery failed, so no Task was created or cancelled this cycle: {e}"),
                generation,
                now,
            );
        }
        Outcome::Discovered {
            discovered,
            created,
            cancelled,
            active,
        } => {
            let total_created = cur.total_tasks_created.unwrap_or(0) + created;
            let total_cancelled = cur.total_tasks_cancelled.unwrap_or(0) + cancelled;
            next.phase = Some(TaskSpawnerPhase::Running);
            next.last_discovery_time = Some(to_k8s_time(now));
            next.total_discovered = Some(*discovered as i64);
            next.total_tasks_created = Some(total_created);
            next.total_tasks_cancelled = Some(total_cancelled);
            next.active_tasks = Some(*active);
            next.message = Some(format!(
                "Discovered {discovered} items, created {total_created} tasks total"
            ));
            set_condition(
                &mut conds,
                CONDITION_SUSPENDED,
                false,
                "Running",
                "TaskSpawner is running".into(),
                generation,
                now,
            );
            set_condition(
                &mut conds,
                CONDITION_DISCOVERY_FAILED,
                false,
                "DiscoverySucceeded",
                "the last discovery was complete".into(),
                generation,
                now,
            );
        }
    }
    let total = next.total_tasks_created.unwrap_or(0);
    match max_total_tasks.filter(|m| *m > 0) {
        Some(max) if total >= i64::from(max) => set_condition(
            &mut conds,
            CONDITION_TASK_BUDGET_EXHAUSTED,
            true,
            "BudgetReached",
            format!("Total tasks created ({total}) has reached maxTotalTasks ({max})"),
            generation,
            now,
        ),
        _ => set_condition(
            &mut conds,
            CONDITION_TASK_BUDGET_EXHAUSTED,
            false,
            "BudgetAvailable",
            "Task budget has not been exhausted".into(),
            generation,
            now,
        ),
    }
    conds.sort_by(|a, b| a.type_.cmp(&b.type_));
    next.conditions = Some(conds);
    next
}

pub fn condition<'a>(status: &'a TaskSpawnerStatus, type_: &str) -> Option<&'a Condition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn discovered(created: i64, active: i64) -> Outcome<'static> {
        Outcome::Discovered {
            discovered: 3,
            created,
            cancelled: 1,
            active,
        }
    }

    #[test]
    fn counts_after_a_cycle() {
        let cur = TaskSpawnerStatus {
            total_tasks_created: Some(4),
            total_tasks_cancelled: Some(2),
            ..Default::default()
        };
        let s = next_status(Some(&cur), None, Some(3), &discovered(2, 2), now());
        assert_eq!(s.phase, Some(TaskSpawnerPhase::Running));
        assert_eq!(s.total_discovered, Some(3));
        assert_eq!(s.total_tasks_created, Some(6));
        assert_eq!(s.total_tasks_cancelled, Some(3));
        assert_eq!(s.active_tasks, Some(2));
        assert_eq!(
            s.message.as_deref(),
            Some("Discovered 3 items, created 6 tasks total")
        );
        assert_eq!(
            from_k8s_time(s.last_discovery_time.as_ref().unwrap()),
            Some(now())
        );
        let susp = condition(&s, CONDITION_SUSPENDED).unwrap();
        assert_eq!(
            (susp.status.as_str(), susp.reason.as_str()),
            ("False", "Running")
        );
        assert_eq!(susp.observed_generation, Some(3));
        assert_eq!(
            condition(&s, CONDITION_DISCOVERY_FAILED).unwrap().status,
            "False"
        );
        assert_eq!(
            condition(&s, CONDITION_TASK_BUDGET_EXHAUSTED)
                .unwrap()
                .status,
            "False"
        );
    }

    #[test]
    fn suspended() {
        let s = next_status(None, None, Some(1), &Outcome::Suspended, now());
        assert_eq!(s.phase, Some(TaskSpawnerPhase::Suspended));
        assert_eq!(s.message.as_deref(), Some("Suspended by user"));
        let c = condition(&s, CONDITION_SUSPENDED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "UserSuspended")
        );
        assert_eq!(c.message, "TaskSpawner is suspended by user");
        // idempotent: the same again keeps the transition time
        let later = now() + chrono::Duration::minutes(5);
        let s2 = next_status(Some(&s), None, Some(1), &Outcome::Suspended, later);
        assert_eq!(
            condition(&s2, CONDITION_SUSPENDED)
                .unwrap()
                .last_transition_time,
            c.last_transition_time
        );
    }

    #[test]
    fn budget_exhausted() {
        let cur = TaskSpawnerStatus {
            total_tasks_created: Some(1),
            ..Default::default()
        };
        let s = next_status(Some(&cur), Some(2), None, &discovered(1, 1), now());
        let c = condition(&s, CONDITION_TASK_BUDGET_EXHAUSTED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "BudgetReached")
        );
        assert_eq!(
            c.message,
            "Total tasks created (2) has reached maxTotalTasks (2)"
        );
    }

    #[test]
    fn discovery_failure_says_why_and_keeps_the_counts() {
        let cur = next_status(None, None, None, &discovered(2, 2), now());
        let err = DiscoveryError::RateLimited {
            url: "https://api.github.com/repos/o/r/issues".into(),
            retry_after_secs: 60,
        };
        let later = now() + chrono::Duration::minutes(5);
        let s = next_status(
            Some(&cur),
            None,
            None,
            &Outcome::DiscoveryFailed(&err),
            later,
        );
        let c = condition(&s, CONDITION_DISCOVERY_FAILED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "RateLimited")
        );
        assert!(
            c.message.contains("no Task was created or cancelled"),
            "{}",
            c.message
        );
        assert!(c.message.contains("rate limit"), "{}", c.message);
        assert_eq!(s.total_tasks_created, cur.total_tasks_created);
        assert_eq!(s.active_tasks, cur.active_tasks);
        assert_eq!(
            s.last_discovery_time, cur.last_discovery_time,
            "not advanced"
        );
        // cleared on the next success
        let s2 = next_status(Some(&s), None, None, &discovered(0, 2), later);
        assert_eq!(
            condition(&s2, CONDITION_DISCOVERY_FAILED).unwrap().status,
            "False"
        );
    }

    #[test]
    fn controller_fields_and_conditions_are_not_sent() {
        let cur = TaskSpawnerStatus {
            deployment_name: Some("d".into()),
            conditions: Some(vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "X".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: to_k8s_time(now()),
            }]),
            ..Default::default()
        };
        let s = next_status(Some(&cur), None, None, &discovered(0, 0), now());
        assert!(s.deployment_name.is_none());
        assert!(condition(&s, "Ready").is_none());
    }
}
