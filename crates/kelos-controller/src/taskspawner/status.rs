//! The TaskSpawner status fields the controller owns (reference §6.2, §6.3): `phase`,
//! `message`, `deploymentName`, `cronJobName`. The spawner writes the rest (counts,
//! conditions, and `Running` once it polls).

use kelos_api::{TaskSpawnerPhase, TaskSpawnerStatus};
use serde_json::{Map, Value, json};

pub const MESSAGE_SUSPENDED: &str = "Suspended by user";
pub const MESSAGE_RESUMED: &str = "Resumed";

/// Which workload the status is about, and whether the controller just created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload<'a> {
    Deployment { name: &'a str, created: bool },
    CronJob { name: &'a str, created: bool },
}

/// The JSON merge patch for `status` (`null` removes a field), or `None` when nothing changes.
pub fn status_patch(
    current: Option<&TaskSpawnerStatus>,
    workload: Workload<'_>,
    suspended: bool,
) -> Option<Value> {
    let default = TaskSpawnerStatus::default();
    let current = current.unwrap_or(&default);
    let phase = current.phase;
    let mut patch = Map::new();
    match workload {
        Workload::Deployment { name, created } => {
            let (want_phase, message) = if suspended {
                (
                    Some(TaskSpawnerPhase::Suspended),
                    Some(Some(MESSAGE_SUSPENDED)),
                )
            } else if created {
                (Some(TaskSpawnerPhase::Pending), None)
            } else if phase == Some(TaskSpawnerPhase::Suspended) {
                (Some(TaskSpawnerPhase::Running), Some(Some(MESSAGE_RESUMED)))
            } else if phase.is_none() {
                (Some(TaskSpawnerPhase::Pending), None)
            } else {
                (phase, None)
            };
            let needed = created
                || current.deployment_name.as_deref() != Some(name)
                || current
                    .cron_job_name
                    .as_deref()
                    .is_some_and(|n| !n.is_empty())
                || phase != want_phase;
            if !needed {
                return None;
            }
            patch.insert("phase".into(), json!(want_phase));
            patch.insert("deploymentName".into(), json!(name));
            patch.insert("cronJobName".into(), Value::Null);
            if let Some(message) = message {
                patch.insert("message".into(), json!(message));
            }
        }
        Workload::CronJob { name, created } => {
            let (want_phase, message) = if suspended {
                (Some(TaskSpawnerPhase::Suspended), Some(MESSAGE_SUSPENDED))
            } else {
                (Some(TaskSpawnerPhase::Running), None)
            };
            let needed = created
                || current.cron_job_name.as_deref() != Some(name)
                || current
                    .deployment_name
                    .as_deref()
                    .is_some_and(|n| !n.is_empty())
                || phase != want_phase;
            if !needed {
                return None;
            }
            patch.insert("phase".into(), json!(want_phase));
            patch.insert("cronJobName".into(), json!(name));
            patch.insert("deploymentName".into(), Value::Null);
            // Cleared when running (reference §6.3); on create only set when suspended.
            if message.is_some() || !created {
                patch.insert("message".into(), json!(message));
            }
        }
    }
    Some(Value::Object(patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(phase: &str, deployment: Option<&str>, cron: Option<&str>) -> TaskSpawnerStatus {
        TaskSpawnerStatus {
            phase: TaskSpawnerPhase::ALL
                .into_iter()
                .find(|p| p.as_str() == phase),
            deployment_name: deployment.map(str::to_string),
            cron_job_name: cron.map(str::to_string),
            ..Default::default()
        }
    }

    fn dep(name: &str, created: bool) -> Workload<'_> {
        Workload::Deployment { name, created }
    }

    #[test]
    fn deployment_create() {
        assert_eq!(
            status_patch(None, dep("s", true), false),
            Some(json!({"phase": "Pending", "deploymentName": "s", "cronJobName": null}))
        );
        assert_eq!(
            status_patch(None, dep("s", true), true),
            Some(
                json!({"phase": "Suspended", "deploymentName": "s", "cronJobName": null, "message": "Suspended by user"})
            )
        );
    }

    #[test]
    fn deployment_steady_state_writes_nothing() {
        let s = st("Running", Some("s"), None);
        assert_eq!(status_patch(Some(&s), dep("s", false), false), None);
        let s = st("Suspended", Some("s"), None);
        assert_eq!(status_patch(Some(&s), dep("s", false), true), None);
    }

    #[test]
    fn deployment_resume_and_mode_switch() {
        let s = st("Suspended", Some("s"), None);
        assert_eq!(
            status_patch(Some(&s), dep("s", false), false),
            Some(
                json!({"phase": "Running", "deploymentName": "s", "cronJobName": null, "message": "Resumed"})
            )
        );
        let s = st("Running", None, Some("s"));
        assert_eq!(
            status_patch(Some(&s), dep("s", false), false),
            Some(json!({"phase": "Running", "deploymentName": "s", "cronJobName": null}))
        );
        let s = st("", Some("s"), None);
        assert_eq!(
            status_patch(Some(&s), dep("s", false), false),
            Some(json!({"phase": "Pending", "deploymentName": "s", "cronJobName": null}))
        );
    }

    #[test]
    fn cronjob_status() {
        let cj = |created| Workload::CronJob { name: "c", created };
        assert_eq!(
            status_patch(None, cj(true), false),
            Some(json!({"phase": "Running", "cronJobName": "c", "deploymentName": null}))
        );
        let s = st("Running", Some("c"), None);
        assert_eq!(
            status_patch(Some(&s), cj(false), true),
            Some(
                json!({"phase": "Suspended", "cronJobName": "c", "deploymentName": null, "message": "Suspended by user"})
            )
        );
        let s = st("Suspended", None, Some("c"));
        assert_eq!(
            status_patch(Some(&s), cj(false), false),
            Some(
                json!({"phase": "Running", "cronJobName": "c", "deploymentName": null, "message": null})
            )
        );
        let s = st("Running", None, Some("c"));
        assert_eq!(status_patch(Some(&s), cj(false), false), None);
    }
}
