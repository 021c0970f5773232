//! The cycle's I/O shell around the pure planner: read the TaskSpawner and its Tasks, discover,
//! plan, apply, write status, report to GitHub.
//!
//! Applying is idempotent, so a spawner killed at any point and started again converges:
//! * Creates tolerate AlreadyExists (the name is deterministic).
//! * A cancel is a JSON patch of the Task's status that first `test`s the phase (or, for a
//!   Task without one, the resourceVersion) it was planned against. A Task that finished in
//!   the meantime keeps its outcome, and a Task already cancelled is never cancelled (or
//!   counted) twice.
//! * A replacement is created only after the Task it replaces is terminal, so an item never
//!   has two active Tasks; killed in between, the next cycle creates it (the planner compares
//!   the trigger with the one the cancelled Task recorded, not with its completionTime).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kelos_api::constants::{
    ANNOTATION_GITHUB_COMMENT_ID, ANNOTATION_GITHUB_REPORT_PHASE, LABEL_SOURCE_ITEM,
    LABEL_TASKSPAWNER, SPAWNER_FIELD_MANAGER, cancelled_by_spawner,
};
use kelos_api::{Task, TaskPhase, TaskSpawner};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::cron::CronSource;
use crate::github::{GitHubClient, GitHubSource};
use crate::item::{DiscoveryError, Recheck, WorkItem};
use crate::metrics::{self, SpawnerMetrics};
use crate::planner::{Action, CancelReason, ItemRef, PlanContext, plan_cycle};
use crate::reporting::plan_report;
use crate::status::{Outcome, from_k8s_time, next_status};

/// Why a cycle could not run at all. A failed discovery is not one of these: the cycle then
/// still writes status (the DiscoveryFailed condition) and reports; see [`CycleReport`].
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("TaskSpawner {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error("building the status patch: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// What a cycle did.
#[derive(Clone, Debug, Default)]
pub struct CycleReport {
    pub suspended: bool,
    /// Items discovered; `None` when discovery failed or did not run.
    pub discovered: Option<usize>,
    /// Why discovery failed, if it did (then nothing was created or cancelled).
    pub discovery_error: Option<String>,
    pub created: Vec<String>,
    /// `(task, reason)` for every Task this cycle cancelled.
    pub cancelled: Vec<(String, CancelReason)>,
    pub deleted: Vec<String>,
    /// The poll interval the spec asks for.
    pub poll_interval: Duration,
}

/// Where the clock comes from; tests pin it to drive cron ticks.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// One TaskSpawner's spawner: what stays across cycles.
#[derive(Clone)]
pub struct Spawner {
    client: Client,
    namespace: String,
    name: String,
    /// The GitHub client from the flags; lives for the process so its ETag cache does.
    github: Option<Arc<GitHubClient>>,
    metrics: Arc<SpawnerMetrics>,
    clock: Clock,
}

/// What the cycle has read and decided, before anything is written.
pub struct Prepared {
    pub spawner: TaskSpawner,
    pub tasks: Vec<Task>,
    pub discovery: Result<Vec<WorkItem>, DiscoveryError>,
    pub actions: Vec<Action>,
    pub now: DateTime<Utc>,
    source: Option<GitHubSource>,
}

enum CancelResult {
    Cancelled,
    /// Finished (or gone) before our patch landed: its outcome stands, nothing to count.
    AlreadyTerminal,
    Failed(String),
}

impl Spawner {
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
        github: Option<Arc<GitHubClient>>,
        metrics: Arc<SpawnerMetrics>,
    ) -> Self {
        Spawner {
            client,
            namespace: namespace.into(),
            name: name.into(),
            github,
            metrics,
            clock: Arc::new(Utc::now),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn github(&self) -> Option<&Arc<GitHubClient>> {
        self.github.as_ref()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn metrics(&self) -> &Arc<SpawnerMetrics> {
        &self.metrics
    }

    fn tasks_api(&self) -> Api<Task> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn spawners_api(&self) -> Api<TaskSpawner> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs one whole cycle: plan, apply, status, reporting.
    pub async fn run_cycle(&self) -> Result<CycleReport, CycleError> {
        let span = info_span!("cycle", spawner = %self.name, namespace = %self.namespace);
        async {
            let prepared = self.prepare().await?;
            let report = self.apply(prepared).await?;
            info!(
                suspended = report.suspended,
                discovered = ?report.discovered,
                created = report.created.len(),
                cancelled = report.cancelled.len(),
                deleted = report.deleted.len(),
                discovery_error = report.discovery_error.as_deref().unwrap_or(""),
                "cycle finished"
            );
            Ok(report)
        }
        .instrument(span)
        .await
    }

    async fn get_spawner(&self) -> Result<TaskSpawner, CycleError> {
        self.spawners_api()
            .get_opt(&self.name)
            .await?
            .ok_or_else(|| CycleError::NotFound {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            })
    }

    /// This spawner's Tasks, found by label (not from status, so restarts lose nothing).
    pub async fn list_tasks(&self) -> Result<Vec<Task>, CycleError> {
        let lp = ListParams::default().labels(&format!("{LABEL_TASKSPAWNER}={}", self.name));
        Ok(self.tasks_api().list(&lp).await?.items)
    }

    /// Reads and decides; writes nothing.
    pub async fn prepare(&self) -> Result<Prepared, CycleError> {
        let spawner = self.get_spawner().await?;
        let now = (self.clock)();
        if spawner.spec.is_suspended() {
            debug!("TaskSpawner is suspended, skipping discovery and cancellation");
            return Ok(Prepared {
                spawner,
                tasks: Vec::new(),
                discovery: Ok(Vec::new()),
                actions: Vec::new(),
                now,
                source: None,
            });
        }
        let tasks = self.list_tasks().await?;
        let started = Instant::now();
        let (discovery, source) = self.discover(&spawner, now).await;
        self.metrics
            .observe_discovery(started.elapsed(), &discovery);
        if let Err(e) = &discovery {
            warn!(error = %e, kind = e.kind(), "discovery failed; no Task is created or cancelled this cycle");
        }
        let ctx = PlanContext {
            spawner_name: &self.name,
            spec: &spawner.spec,
            total_tasks_created: spawner
                .status
                .as_ref()
                .and_then(|s| s.total_tasks_created)
                .unwrap_or(0),
            now,
        };
        let actions = plan_cycle(discovery.as_deref(), &tasks, &ctx);
        Ok(Prepared {
            spawner,
            tasks,
            discovery,
            actions,
            now,
            source,
        })
    }

    async fn discover(
        &self,
        spawner: &TaskSpawner,
        now: DateTime<Utc>,
    ) -> (Result<Vec<WorkItem>, DiscoveryError>, Option<GitHubSource>) {
        let spec = &spawner.spec;
        if spec.when.github_issues.is_some() || spec.when.github_pull_requests.is_some() {
            let Some(client) = &self.github else {
                return (
                    Err(DiscoveryError::Config(
                        "a GitHub source needs --github-owner and --github-repo".into(),
                    )),
                    None,
                );
            };
            let source = match GitHubSource::from_spec(spec, client.clone()) {
                Ok(s) => s,
                Err(e) => return (Err(e), None),
            };
            let items = source.discover().await;
            return (items, Some(source));
        }
        if let Some(cron) = CronSource::from_spec(spec) {
            let result = cron.and_then(|c| {
                // Every tick since the last successful discovery (else since creation).
                let last = spawner
                    .status
                    .as_ref()
                    .and_then(|s| s.last_discovery_time.as_ref())
                    .or(spawner.metadata.creation_timestamp.as_ref())
                    .and_then(from_k8s_time);
                c.discover(last, now)
            });
            return (result, None);
        }
        if spec.when.jira.is_some() {
            return (
                Err(DiscoveryError::Config(
                    "Jira discovery is not supported by this spawner yet".into(),
                )),
                None,
            );
        }
        (
            Err(DiscoveryError::Config(format!(
                "no source configured in TaskSpawner {}/{}",
                self.namespace, self.name
            ))),
            None,
        )
    }

    /// Applies the planned actions, writes status and reports.
    pub async fn apply(&self, prepared: Prepared) -> Result<CycleReport, CycleError> {
        let actions = prepared.actions.clone();
        let mut report = self.apply_actions(&prepared, actions).await;
        self.finish(&prepared, &mut report).await?;
        Ok(report)
    }

    /// Applies `actions` (normally `prepared.actions`) in order; writes no status. Tests use
    /// it with a subset to stop a spawner part-way (e.g. after a cancel, before its create).
    pub async fn apply_actions(&self, prepared: &Prepared, actions: Vec<Action>) -> CycleReport {
        let spawner = &prepared.spawner;
        let mut report = CycleReport {
            suspended: spawner.spec.is_suspended(),
            poll_interval: poll_interval(spawner),
            ..Default::default()
        };
        let grace = i64::from(
            spawner
                .spec
                .cancellation_policy()
                .grace_period_seconds
                .max(0),
        );
        let api = self.tasks_api();
        // Tasks whose cancellation did not land: their replacements must wait.
        let mut not_cancelled: HashMap<String, String> = HashMap::new();

        for action in actions {
            match action {
                Action::Skip { item, why } => {
                    if why.is_notable() {
                        warn!(item = %item, why = %why, "skipping item");
                    } else {
                        debug!(item = %item, why = %why, "skipping item");
                    }
                }
                Action::Delete { name, why } => {
                    match api.delete(&name, &DeleteParams::background()).await {
                        Ok(_) => {
                            info!(task = %name, why = %why, "deleted finished Task for retrigger");
                            report.deleted.push(name);
                        }
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            warn!(task = %name, error = %e, "deleting finished Task for retrigger")
                        }
                    }
                }
                Action::Cancel {
                    name,
                    expected_phase,
                    resource_version,
                    reason,
                    message,
                } => {
                    let result = self
                        .cancel(
                            &api,
                            &name,
                            expected_phase,
                            resource_version,
                            &message,
                            grace,
                        )
                        .await;
                    self.record_cancel(
                        &mut report,
                        &mut not_cancelled,
                        name,
                        reason,
                        &message,
                        result,
                    );
                }
                Action::VerifyThenCancel {
                    name,
                    expected_phase,
                    resource_version,
                    item,
                } => {
                    let Some(message) = self
                        .verify_removed(prepared.source.as_ref(), &name, &item)
                        .await
                    else {
                        continue;
                    };
                    let result = self
                        .cancel(
                            &api,
                            &name,
                            expected_phase,
                            resource_version,
                            &message,
                            grace,
                        )
                        .await;
                    self.record_cancel(
                        &mut report,
                        &mut not_cancelled,
                        name,
                        CancelReason::SourceRemoved,
                        &message,
                        result,
                    );
                }
                Action::Create {
                    task,
                    item,
                    replaces,
                } => {
                    if let Some(old) = replaces.as_ref().and_then(|r| not_cancelled.get(r)) {
                        warn!(item = %item, replaces = ?replaces, error = %old,
                            "not creating the replacement: the Task it replaces is still active");
                        continue;
                    }
                    if let Some(name) = self.create(&api, &task, &item).await {
                        report.created.push(name);
                    }
                }
            }
        }
        report
    }

    /// Writes the TaskSpawner status for the cycle and reports to GitHub.
    async fn finish(
        &self,
        prepared: &Prepared,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let spawner = &prepared.spawner;
        let outcome = match &prepared.discovery {
            _ if report.suspended => Outcome::Suspended,
            Err(e) => {
                report.discovery_error = Some(e.to_string());
                Outcome::DiscoveryFailed(e)
            }
            Ok(items) => {
                report.discovered = Some(items.len());
                // Counted from a fresh list: exact whatever happened to individual writes.
                let active = self
                    .list_tasks()
                    .await?
                    .iter()
                    .filter(|t| !t.is_terminal())
                    .count() as i64;
                Outcome::Discovered {
                    discovered: items.len(),
                    created: report.created.len() as i64,
                    cancelled: report.cancelled.len() as i64,
                    active,
                }
            }
        };
        self.write_status(spawner, &outcome, prepared.now).await?;

        // The original reports after every cycle, also while suspended.
        if crate::planner::reporting_enabled(&spawner.spec) {
            self.report_to_github().await;
        }
        Ok(())
    }

    fn record_cancel(
        &self,
        report: &mut CycleReport,
        not_cancelled: &mut HashMap<String, String>,
        name: String,
        reason: CancelReason,
        message: &str,
        result: CancelResult,
    ) {
        match result {
            CancelResult::Cancelled => {
                info!(task = %name, reason = %reason, message = %message, "cancelled Task");
                self.metrics.task_cancelled(metric_reason(reason));
                report.cancelled.push((name, reason));
            }
            CancelResult::AlreadyTerminal => {
                info!(task = %name, reason = %reason, "Task finished before it could be cancelled");
            }
            CancelResult::Failed(e) => {
                warn!(task = %name, reason = %reason, error = %e, "cancelling Task failed");
                not_cancelled.insert(name, e);
            }
        }
    }

    /// Positive verification: the item's own state, and the reason it no longer matches.
    /// `None` (cancel nothing) when it still matches or the lookup failed.
    async fn verify_removed(
        &self,
        source: Option<&GitHubSource>,
        task: &str,
        item: &ItemRef,
    ) -> Option<String> {
        let (Some(source), Some(number)) = (source, item.number) else {
            info!(task = %task, item = %item.identity,
                "item no longer discovered but cannot be looked up again; not cancelling");
            return None;
        };
        match source.recheck(&number.to_string()).await {
            Ok(Recheck::NoLongerMatches { reason }) => Some(reason),
            Ok(Recheck::StillMatches) => {
                info!(task = %task, item = %item.describe(),
                    "item missing from the listing but still matches; not cancelling");
                None
            }
            Err(e) => {
                warn!(task = %task, item = %item.describe(), error = %e,
                    "looking the item up again failed; not cancelling this cycle");
                None
            }
        }
    }

    /// Cancels through the status subresource, conditioned on what was read: `test` of the
    /// phase (or of the resourceVersion for a Task without a phase). On a failed test the
    /// Task is read again: finished means its outcome stands; still active means retry
    /// against the new phase.
    async fn cancel(
        &self,
        api: &Api<Task>,
        name: &str,
        mut expected_phase: Option<TaskPhase>,
        mut resource_version: Option<String>,
        message: &str,
        grace: i64,
    ) -> CancelResult {
        let cancelled_by = cancelled_by_spawner(&self.name);
        let message = format!("Cancelled by TaskSpawner {}: {message}", self.name);
        let mut has_status = true;
        let mut last_error = String::new();
        for _ in 0..3 {
            let patch = cancel_patch(
                expected_phase,
                resource_version.as_deref(),
                has_status,
                &cancelled_by,
                &message,
                grace,
            );
            let patch: json_patch::Patch = match serde_json::from_value(patch) {
                Ok(p) => p,
                Err(e) => return CancelResult::Failed(e.to_string()),
            };
            match api
                .patch_status(name, &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
            {
                Ok(_) => return CancelResult::Cancelled,
                Err(e) => last_error = e.to_string(),
            }
            match api.get_opt(name).await {
                Ok(None) => return CancelResult::AlreadyTerminal,
                Ok(Some(t)) if t.is_terminal() => return CancelResult::AlreadyTerminal,
                Ok(Some(t)) => {
                    expected_phase = t.phase();
                    resource_version = t.metadata.resource_version.clone();
                    has_status = t.status.is_some();
                }
                Err(e) => return CancelResult::Failed(format!("{last_error}; then {e}")),
            }
        }
        CancelResult::Failed(last_error)
    }

    /// Creates the Task; AlreadyExists for the same item is success (a restarted spawner).
    async fn create(&self, api: &Api<Task>, task: &Task, item: &str) -> Option<String> {
        let name = task.name_any();
        let pp = PostParams {
            field_manager: Some(SPAWNER_FIELD_MANAGER.to_string()),
            ..Default::default()
        };
        match api.create(&pp, task).await {
            Ok(_) => {
                info!(task = %name, item = %item, "created Task");
                self.metrics.task_created();
                Some(name)
            }
            Err(kube::Error::Api(s)) if s.is_already_exists() => {
                match api.get_opt(&name).await {
                    Ok(Some(t))
                        if t.labels().get(LABEL_TASKSPAWNER) == Some(&self.name)
                            && t.labels().get(LABEL_SOURCE_ITEM).map(String::as_str)
                                == Some(item) =>
                    {
                        info!(task = %name, "Task already exists, skipping");
                    }
                    _ => warn!(task = %name, item = %item,
                        "a Task of that name exists but is not this item's; skipping"),
                }
                None
            }
            Err(e) => {
                warn!(task = %name, item = %item, error = %e, "creating Task failed");
                None
            }
        }
    }

    async fn write_status(
        &self,
        spawner: &TaskSpawner,
        outcome: &Outcome<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), CycleError> {
        let status = next_status(
            spawner.status.as_ref(),
            spawner.spec.max_total_tasks,
            spawner.metadata.generation,
            outcome,
            now,
        );
        let body = serde_json::json!({
            "apiVersion": kelos_api::constants::API_VERSION,
            "kind": "TaskSpawner",
            "metadata": { "name": self.name },
            "status": status,
        });
        self.spawners_api()
            .patch_status(
                &self.name,
                &PatchParams::apply(SPAWNER_FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await?;
        Ok(())
    }

    /// One comment per Task, edited as it moves; errors are logged per Task and never stop the
    /// cycle (the original's behaviour).
    pub async fn report_to_github(&self) {
        let Some(client) = &self.github else {
            return;
        };
        if client.rate_limit_wait().is_some() {
            debug!("GitHub rate limit in force; reporting waits for the next cycle");
            return;
        }
        let tasks = match self.list_tasks().await {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "listing Tasks for reporting");
                return;
            }
        };
        let api = self.tasks_api();
        for task in &tasks {
            let report = match plan_report(task) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    warn!(task = %task.name_any(), error = %e, "reporting task status");
                    continue;
                }
            };
            let id = match report.comment_id {
                Some(id) => client.update_comment(id, &report.body).await.map(|_| id),
                None => client.create_comment(report.number, &report.body).await,
            };
            let id = match id {
                Ok(id) => id,
                Err(e) => {
                    warn!(task = %report.task, error = %e, "reporting task status");
                    continue;
                }
            };
            let patch = serde_json::json!({"metadata": {"annotations": {
                ANNOTATION_GITHUB_COMMENT_ID: id.to_string(),
                ANNOTATION_GITHUB_REPORT_PHASE: report.phase.as_str(),
            }}});
            match api
                .patch(&report.task, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    debug!(task = %report.task, phase = report.phase.as_str(), "reported task status")
                }
                Err(e) => warn!(task = %report.task, error = %e, "recording the reported phase"),
            }
        }
    }
}

/// The JSON patch that cancels a Task, conditioned on what was read.
pub fn cancel_patch(
    expected_phase: Option<TaskPhase>,
    resource_version: Option<&str>,
    has_status: bool,
    cancelled_by: &str,
    message: &str,
    grace: i64,
) -> serde_json::Value {
    let mut ops = Vec::new();
    match (expected_phase, resource_version) {
        (Some(p), _) => ops
            .push(serde_json::json!({"op": "test", "path": "/status/phase", "value": p.as_str()})),
        (None, Some(rv)) => ops.push(
            serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}),
        ),
        (None, None) => {}
    }
    if has_status || expected_phase.is_some() {
        for (path, value) in [
            (
                "/status/phase",
                serde_json::json!(TaskPhase::Cancelled.as_str()),
            ),
            ("/status/cancelledBy", serde_json::json!(cancelled_by)),
            ("/status/message", serde_json::json!(message)),
            (
                "/status/cancellationGracePeriodSeconds",
                serde_json::json!(grace),
            ),
        ] {
            ops.push(serde_json::json!({"op": "add", "path": path, "value": value}));
        }
    } else {
        ops.push(
            serde_json::json!({"op": "add", "path": "/status", "value": {
                "phase": TaskPhase::Cancelled.as_str(),
                "cancelledBy": cancelled_by,
                "message": message,
                "cancellationGracePeriodSeconds": grace,
            }}),
        );
    }
    serde_json::Value::Array(ops)
}

fn metric_reason(reason: CancelReason) -> metrics::CancelReason {
    match reason {
        CancelReason::SourceRemoved => metrics::CancelReason::SourceRemoved,
        CancelReason::Retrigger | CancelReason::NewHeadCommit => metrics::CancelReason::Retrigger,
        CancelReason::CronOverlap => metrics::CancelReason::CronOverlap,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found())
}

/// The source's `pollInterval`, else `spec.pollInterval`, else 5m; Go durations (`30s`,
/// `1h30m`) or plain seconds; anything else 5m (the original's `parsePollInterval`).
pub fn poll_interval(spawner: &TaskSpawner) -> Duration {
    let when = &spawner.spec.when;
    let per_source = when
        .github_issues
        .as_ref()
        .and_then(|g| g.poll_interval.clone())
        .or_else(|| {
            when.github_pull_requests
                .as_ref()
                .and_then(|g| g.poll_interval.clone())
        })
        .or_else(|| when.jira.as_ref().and_then(|j| j.poll_interval.clone()))
        .filter(|s| !s.is_empty());
    let raw = per_source.unwrap_or_else(|| spawner.spec.poll_interval.clone());
    parse_poll_interval(&raw)
}

const DEFAULT_POLL: Duration = Duration::from_secs(300);

pub fn parse_poll_interval(s: &str) -> Duration {
    let s = s.trim();
    if s.is_empty() {
        return DEFAULT_POLL;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Duration::from_secs(secs);
    }
    parse_go_duration(s)
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_POLL)
}

/// Go's `time.ParseDuration` for non-negative values: `1h30m`, `90s`, `1.5m`, `500ms`.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * scale;
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_intervals() {
        assert_eq!(parse_poll_interval(""), Duration::from_secs(300));
        assert_eq!(parse_poll_interval("30s"), Duration::from_secs(30));
        assert_eq!(parse_poll_interval("5m"), Duration::from_secs(300));
        assert_eq!(parse_poll_interval("1h30m"), Duration::from_secs(5400));
        assert_eq!(parse_poll_interval("45"), Duration::from_secs(45));
        assert_eq!(parse_poll_interval("1.5m"), Duration::from_secs(90));
        assert_eq!(parse_poll_interval("bogus"), Duration::from_secs(300));
        assert_eq!(parse_poll_interval("5x"), Duration::from_secs(300));
    }

    fn spawner(yaml: serde_json::Value) -> TaskSpawner {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "TaskSpawner",
            "metadata": {"name": "s"},
            "spec": yaml
        }))
        .unwrap()
    }

    fn template() -> serde_json::Value {
        serde_json::json!({"type": "claude-code", "credentials": {"type": "oauth", "secretRef": {"name": "c"}}, "workspaceRef": {"name": "w"}})
    }

    #[test]
    fn poll_interval_resolution() {
        let s = spawner(
            serde_json::json!({"when": {"githubIssues": {"pollInterval": "10s"}}, "taskTemplate": template(), "pollInterval": "5m"}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(10));
        let s = spawner(
            serde_json::json!({"when": {"githubIssues": {}}, "taskTemplate": template(), "pollInterval": "2m"}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(120));
        let s = spawner(
            serde_json::json!({"when": {"githubIssues": {}}, "taskTemplate": template(), "pollInterval": ""}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(300));
        let s = spawner(
            serde_json::json!({"when": {"githubPullRequests": {"pollInterval": "45s"}}, "taskTemplate": template()}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(45));
        let s = spawner(
            serde_json::json!({"when": {"jira": {"baseUrl": "https://j", "project": "P", "secretRef": {"name": "j"}, "pollInterval": "1m"}}, "taskTemplate": template()}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(60));
        let s = spawner(
            serde_json::json!({"when": {"cron": {"schedule": "0 * * * *"}}, "taskTemplate": template(), "pollInterval": "3m"}),
        );
        assert_eq!(poll_interval(&s), Duration::from_secs(180));
    }

    #[test]
    fn cancel_patch_tests_the_phase_it_read() {
        let p = cancel_patch(
            Some(TaskPhase::Running),
            Some("5"),
            true,
            "spawner:s",
            "why",
            30,
        );
        let ops = p.as_array().unwrap();
        assert_eq!(
            ops[0],
            serde_json::json!({"op": "test", "path": "/status/phase", "value": "Running"})
        );
        assert!(ops.contains(
            &serde_json::json!({"op": "add", "path": "/status/phase", "value": "Cancelled"})
        ));
        assert!(ops.contains(
            &serde_json::json!({"op": "add", "path": "/status/cancelledBy", "value": "spawner:s"})
        ));
        assert!(ops.contains(&serde_json::json!({"op": "add", "path": "/status/cancellationGracePeriodSeconds", "value": 30})));
    }

    #[test]
    fn cancel_patch_without_phase_tests_the_resource_version() {
        let p = cancel_patch(None, Some("5"), false, "spawner:s", "why", 0);
        let ops = p.as_array().unwrap();
        assert_eq!(
            ops[0],
            serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": "5"})
        );
        assert_eq!(ops[1]["path"], "/status");
        assert_eq!(ops[1]["value"]["phase"], "Cancelled");
    }
}
