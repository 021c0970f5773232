//! The cycle's decisions, as a pure function: discovery result + the spawner's Tasks + spec →
//! actions. No I/O, no clock: everything it needs is in its arguments, so every rule of the
//! original and of the cancellation contract is a unit test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use kelos_api::constants::{
    ANNOTATION_GITHUB_REPORTING, ANNOTATION_HEAD_SHA, ANNOTATION_SOURCE_KIND,
    ANNOTATION_SOURCE_NUMBER, ANNOTATION_TRIGGER_TIME, LABEL_SOURCE_ITEM, LABEL_TASKSPAWNER,
    SOURCE_KIND_ISSUE, SOURCE_KIND_PULL_REQUEST, cancelled_by_spawner,
};
use kelos_api::{CancellationAction, Task, TaskPhase, TaskSpawnerSpec, TaskSpec};
use kube::api::ObjectMeta;

use crate::item::{DiscoveryError, SourceKind, WorkItem};
use crate::naming::{describe_item, source_item_identity, source_kind, task_name};

/// The original's prompt when `taskTemplate.promptTemplate` is empty.
pub const DEFAULT_PROMPT_TEMPLATE: &str = "{{.Kind}} #{{.Number}}: {{.Title}}\n\n{{.Body}}\n{{- if .Comments}}\n\nComments:\n{{.Comments}}\n{{- end}}\n";

/// Everything besides discovery and Tasks the planner looks at.
#[derive(Clone, Debug)]
pub struct PlanContext<'a> {
    pub spawner_name: &'a str,
    pub spec: &'a TaskSpawnerSpec,
    /// `status.totalTasksCreated`: the lifetime counter behind `maxTotalTasks`.
    pub total_tasks_created: i64,
    pub now: DateTime<Utc>,
}

/// Why the spawner cancels a Task; also the `reason` label of the cancellation metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// `onSourceRemoved: Cancel`, after positive verification.
    SourceRemoved,
    /// `onRetrigger: Cancel`: a newer trigger comment or review.
    Retrigger,
    /// `onRetrigger: Cancel`: a new head commit on the pull request.
    NewHeadCommit,
    /// `onRetrigger: Cancel` with cron: a newer tick (no overlapping runs).
    CronOverlap,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::SourceRemoved => "source_removed",
            CancelReason::Retrigger => "retrigger",
            CancelReason::NewHeadCommit => "new_head_commit",
            CancelReason::CronOverlap => "cron_overlap",
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the shell needs to look an item up again (positive verification).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRef {
    /// The `kelos.dev/source-item` label value.
    pub identity: String,
    pub kind: Option<SourceKind>,
    /// The GitHub number from `kelos.dev/source-number`.
    pub number: Option<i64>,
}

impl ItemRef {
    pub fn describe(&self) -> String {
        match (self.kind, self.number) {
            (Some(SourceKind::PullRequest), Some(n)) => format!("pull request #{n}"),
            (Some(SourceKind::Issue), Some(n)) => format!("issue #{n}"),
            _ => format!("item {}", self.identity),
        }
    }
}

/// Why an item got no Task this cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipWhy {
    /// The item already has an active Task (at most one per item).
    ActiveTask(String),
    /// A finished Task blocks the item until its TTL or a newer trigger.
    Finished(String),
    MaxConcurrency(i32),
    BudgetExhausted(i32),
    /// The prompt or branch template failed for this item.
    Render(String),
    /// A newer cron tick in the same discovery replaces this one (no overlapping runs).
    SupersededTick(String),
}

impl SkipWhy {
    /// Whether a user wants to hear about it (logged as a warning).
    pub fn is_notable(&self) -> bool {
        matches!(self, SkipWhy::Render(_))
    }
}

impl fmt::Display for SkipWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipWhy::ActiveTask(t) => write!(f, "Task {t} is still active"),
            SkipWhy::Finished(t) => write!(
                f,
                "finished Task {t} blocks the item until its TTL or a newer trigger"
            ),
            SkipWhy::MaxConcurrency(n) => write!(f, "maxConcurrency ({n}) reached"),
            SkipWhy::BudgetExhausted(n) => write!(f, "maxTotalTasks ({n}) exhausted"),
            SkipWhy::Render(e) => write!(f, "rendering the task template failed: {e}"),
            SkipWhy::SupersededTick(t) => write!(f, "superseded by the newer cron tick {t}"),
        }
    }
}

/// One decision of the cycle. The shell applies them in order: cancellations before the
/// creations that replace them, so an item never has two active Tasks.
#[derive(Clone, Debug)]
pub enum Action {
    /// Create this Task. `replaces` names the Task cancelled for it in this cycle; the shell
    /// creates it only once that Task is terminal.
    Create {
        task: Box<Task>,
        item: String,
        replaces: Option<String>,
    },
    /// Delete a finished Task that is being retriggered (the original's behaviour).
    Delete { name: String, why: String },
    /// Cancel an active Task through its status, conditioned on the phase read here.
    Cancel {
        name: String,
        expected_phase: Option<TaskPhase>,
        resource_version: Option<String>,
        reason: CancelReason,
        message: String,
    },
    /// An active Task whose item was not discovered: look the item up again and cancel only if
    /// it now fails the filters (`Recheck::NoLongerMatches`).
    VerifyThenCancel {
        name: String,
        expected_phase: Option<TaskPhase>,
        resource_version: Option<String>,
        item: ItemRef,
    },
    /// No Task for this item this cycle.
    Skip { item: String, why: SkipWhy },
}

/// What the Task was created for, read back from its metadata.
struct TaskView<'a> {
    task: &'a Task,
    name: &'a str,
    phase: Option<TaskPhase>,
    identity: Option<&'a str>,
}

impl<'a> TaskView<'a> {
    fn new(task: &'a Task) -> Self {
        TaskView {
            task,
            name: task.metadata.name.as_deref().unwrap_or_default(),
            phase: task.phase(),
            identity: label(task, LABEL_SOURCE_ITEM),
        }
    }

    fn is_active(&self) -> bool {
        !self.phase.is_some_and(TaskPhase::is_terminal)
    }

    fn being_deleted(&self) -> bool {
        self.task.metadata.deletion_timestamp.is_some()
    }
}

fn label<'a>(task: &'a Task, key: &str) -> Option<&'a str> {
    task.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn annotation<'a>(task: &'a Task, key: &str) -> Option<&'a str> {
    task.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// The stored trigger: `Ok(None)` when the Task was created without one, `Err` when the
/// annotation is unreadable (then we make no trigger decision against it).
fn stored_trigger(task: &Task) -> Result<Option<DateTime<Utc>>, ()> {
    match annotation(task, ANNOTATION_TRIGGER_TIME) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ()),
    }
}

/// How a trigger time is written into `kelos.dev/trigger-time`: lossless, so the same trigger
/// always compares equal to itself.
pub fn format_trigger_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn completion_time(task: &Task) -> Option<DateTime<Utc>> {
    let ts = task.status.as_ref()?.completion_time.as_ref()?.0;
    DateTime::from_timestamp(ts.as_second(), ts.subsec_nanosecond().max(0) as u32)
}

/// The tick a cron item stands for: its trigger time, else its `Time`.
fn tick_time(item: &WorkItem) -> Option<DateTime<Utc>> {
    item.trigger_time.or_else(|| {
        DateTime::parse_from_rfc3339(&item.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The trigger a Task for `item` records: the item's trigger, for cron its tick.
fn item_trigger(item: &WorkItem) -> Option<DateTime<Utc>> {
    if source_kind(item) == SourceKind::CronTick {
        tick_time(item)
    } else {
        item.trigger_time
    }
}

/// When a finished Task stops blocking its item: a trigger strictly later than this.
enum Blocks {
    /// Never retriggered (the original needs a completionTime).
    Forever,
    Until(DateTime<Utc>),
    /// Any trigger retriggers it.
    AnyTrigger,
}

fn blocks(task: &Task, spawner: &str) -> Blocks {
    let by_us = task.phase() == Some(TaskPhase::Cancelled)
        && task.status.as_ref().and_then(|s| s.cancelled_by.as_deref())
            == Some(cancelled_by_spawner(spawner).as_str());
    if by_us {
        // We cancelled it for a newer trigger (or a removed item); its completionTime is the
        // cancel time, later than that trigger. Comparing with the trigger it served lets a
        // spawner killed between cancel and create finish the job after a restart.
        match stored_trigger(task) {
            Ok(Some(t)) => return Blocks::Until(t),
            Ok(None) => return Blocks::AnyTrigger,
            Err(()) => {}
        }
    }
    match completion_time(task) {
        Some(t) => Blocks::Until(t),
        None => Blocks::Forever,
    }
}

/// Why an active Task's item now has a newer trigger, under `onRetrigger: Cancel`.
fn newer_trigger(item: &WorkItem, task: &Task) -> Option<(CancelReason, String)> {
    let what = describe_item(item);
    if let Some(t) = item.trigger_time {
        // Against the trigger the Task was created for, never against completionTime or
        // creationTimestamp: both times come from the source's clock, so clock skew between
        // GitHub and the apiserver cannot make a trigger cancel its own replacement.
        match stored_trigger(task) {
            Ok(Some(s)) if t > s => {
                return Some((
                    CancelReason::Retrigger,
                    format!(
                        "{what} was triggered again at {} (this Task was for the trigger at {})",
                        format_trigger_time(t),
                        format_trigger_time(s)
                    ),
                ));
            }
            Ok(None) => {
                return Some((
                    CancelReason::Retrigger,
                    format!("{what} was triggered at {}", format_trigger_time(t)),
                ));
            }
            _ => {}
        }
    }
    if let (Some(head), Some(stored)) = (
        item.head_sha.as_deref(),
        annotation(task, ANNOTATION_HEAD_SHA),
    ) && head != stored
    {
        // The Task pushing to the pull request's own branch makes the new commits itself.
        let own_branch =
            !item.branch.is_empty() && task.spec.branch.as_deref() == Some(&item.branch);
        if !own_branch {
            return Some((
                CancelReason::NewHeadCommit,
                format!("{what} has a new head commit {head} (this Task was for {stored})"),
            ));
        }
    }
    None
}

/// The 13 template variables of the original (`{{.Labels}}` is a string, `{{.Kind}}` falls
/// back to "Issue").
pub fn template_data(item: &WorkItem) -> serde_json::Value {
    serde_json::json!({
        "ID": item.id,
        "Number": item.number,
        "Title": item.title,
        "Body": item.body,
        "URL": item.url,
        "Labels": item.labels.join(", "),
        "Comments": item.comments,
        "Kind": if item.kind.is_empty() { "Issue" } else { item.kind.as_str() },
        "Branch": item.branch,
        "ReviewState": item.review_state,
        "ReviewComments": item.review_comments,
        "Time": item.time,
        "Schedule": item.schedule,
    })
}

/// `owner/repo` from a `repo` override: shorthand, https (GHES too) or `git@host:owner/repo`.
pub fn derive_upstream_repo(spec: &TaskSpawnerSpec) -> Option<String> {
    let repo = spec
        .when
        .github_issues
        .as_ref()
        .and_then(|g| g.repo.as_deref())
        .or_else(|| {
            spec.when
                .github_pull_requests
                .as_ref()
                .and_then(|g| g.repo.as_deref())
        })?
        .trim();
    if repo.is_empty() {
        return None;
    }
    let first = repo.split('/').next().unwrap_or_default();
    if !first.contains(':') && !first.contains('.') {
        return Some(repo.trim_end_matches('/').to_string());
    }
    let path = if let Some((_, rest)) = repo.split_once("://") {
        rest.split_once('/').map(|(_, p)| p).unwrap_or_default()
    } else if let Some((_, rest)) = repo.split_once(':') {
        rest
    } else {
        repo
    };
    let segs: Vec<&str> = path
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        [.., owner, name] => Some(format!("{owner}/{name}")),
        _ => None,
    }
}

pub fn is_github_source(spec: &TaskSpawnerSpec) -> bool {
    spec.when.github_issues.is_some() || spec.when.github_pull_requests.is_some()
}

/// `reporting.enabled` of the GitHub source (issues checked first, as the original does).
pub fn reporting_enabled(spec: &TaskSpawnerSpec) -> bool {
    if let Some(g) = &spec.when.github_issues {
        return g.reporting.as_ref().and_then(|r| r.enabled) == Some(true);
    }
    if let Some(g) = &spec.when.github_pull_requests {
        return g.reporting.as_ref().and_then(|r| r.enabled) == Some(true);
    }
    false
}

fn priority_labels(spec: &TaskSpawnerSpec) -> &[String] {
    spec.when
        .github_issues
        .as_ref()
        .and_then(|g| g.priority_labels.as_deref())
        .or_else(|| {
            spec.when
                .github_pull_requests
                .as_ref()
                .and_then(|g| g.priority_labels.as_deref())
        })
        .unwrap_or_default()
}

/// Stable sort by the best (lowest) index of any of the item's labels in `priority`; items
/// with none of them go last.
pub fn sort_by_priority(items: &mut [&WorkItem], priority: &[String]) {
    if priority.is_empty() {
        return;
    }
    let rank = |item: &WorkItem| {
        item.labels
            .iter()
            .filter_map(|l| priority.iter().position(|p| p == l))
            .min()
            .unwrap_or(priority.len())
    };
    items.sort_by_key(|i| rank(i));
}

/// Builds the Task for `item`, or says why the templates could not be rendered.
pub fn build_task(item: &WorkItem, name: &str, ctx: &PlanContext<'_>) -> Result<Task, String> {
    let tt = &ctx.spec.task_template;
    let data = template_data(item);
    let prompt_template = tt
        .prompt_template
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_PROMPT_TEMPLATE);
    let prompt = kelos_api::template::render(prompt_template, &data)
        .map_err(|e| format!("promptTemplate: {e}"))?;
    let branch = match tt.branch.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(kelos_api::template::render(b, &data).map_err(|e| format!("branch: {e}"))?),
        None => None,
    };

    let mut labels = BTreeMap::new();
    labels.insert(LABEL_TASKSPAWNER.to_string(), ctx.spawner_name.to_string());
    labels.insert(LABEL_SOURCE_ITEM.to_string(), source_item_identity(item));

    let mut annotations = BTreeMap::new();
    if is_github_source(ctx.spec) {
        let kind = if source_kind(item) == SourceKind::PullRequest {
            SOURCE_KIND_PULL_REQUEST
        } else {
            SOURCE_KIND_ISSUE
        };
        annotations.insert(ANNOTATION_SOURCE_KIND.to_string(), kind.to_string());
        annotations.insert(
            ANNOTATION_SOURCE_NUMBER.to_string(),
            item.number.to_string(),
        );
        if reporting_enabled(ctx.spec) {
            annotations.insert(
                ANNOTATION_GITHUB_REPORTING.to_string(),
                "enabled".to_string(),
            );
        }
    }
    if let Some(t) = item_trigger(item) {
        annotations.insert(ANNOTATION_TRIGGER_TIME.to_string(), format_trigger_time(t));
    }
    if let Some(sha) = item.head_sha.as_deref().filter(|s| !s.is_empty()) {
        annotations.insert(ANNOTATION_HEAD_SHA.to_string(), sha.to_string());
    }

    let spec = TaskSpec {
        type_: tt.type_,
        prompt,
        credentials: tt.credentials.clone(),
        model: tt.model.clone(),
        image: tt.image.clone(),
        workspace_ref: tt.workspace_ref.clone(),
        agent_config_ref: tt.agent_config_ref.clone(),
        depends_on: tt.depends_on.clone().filter(|d| !d.is_empty()),
        branch,
        upstream_repo: tt
            .upstream_repo
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| derive_upstream_repo(ctx.spec)),
        ttl_seconds_after_finished: tt.ttl_seconds_after_finished,
        pod_overrides: tt.pod_overrides.clone(),
    };
    Ok(Task {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec,
        status: None,
    })
}

struct Planner<'a, 'c> {
    ctx: &'c PlanContext<'a>,
    actions: Vec<Action>,
    names_taken: HashSet<String>,
    active: i64,
    created: i64,
}

impl Planner<'_, '_> {
    fn max_concurrency(&self) -> i32 {
        self.ctx.spec.max_concurrency.unwrap_or(0)
    }

    fn max_total(&self) -> i32 {
        self.ctx.spec.max_total_tasks.unwrap_or(0)
    }

    fn budget_left(&self) -> bool {
        let max = self.max_total();
        max <= 0 || self.ctx.total_tasks_created + self.created < i64::from(max)
    }

    fn concurrency_left(&self) -> bool {
        let max = self.max_concurrency();
        max <= 0 || self.active < i64::from(max)
    }

    fn next_name(&mut self, item: &WorkItem) -> String {
        let mut ordinal = 1;
        loop {
            let name = task_name(self.ctx.spawner_name, &item.id, ordinal);
            if self.names_taken.insert(name.clone()) {
                return name;
            }
            ordinal += 1;
        }
    }

    fn skip(&mut self, item: &WorkItem, why: SkipWhy) {
        self.actions.push(Action::Skip {
            item: source_item_identity(item),
            why,
        });
    }

    /// Renders and records a Create; false when the templates failed (then it was skipped).
    fn create(&mut self, item: &WorkItem, replaces: Option<String>) -> bool {
        let name = self.next_name(item);
        match build_task(item, &name, self.ctx) {
            Ok(task) => {
                self.actions.push(Action::Create {
                    task: Box::new(task),
                    item: source_item_identity(item),
                    replaces,
                });
                self.created += 1;
                self.active += 1;
                true
            }
            Err(e) => {
                self.names_taken.remove(&name);
                self.skip(item, SkipWhy::Render(e));
                false
            }
        }
    }
}

/// The pure cycle: given a discovery result, this spawner's Tasks (listed by the
/// `kelos.dev/taskspawner` label) and the spec, decide what to create, delete and cancel.
///
/// * Suspended or a failed discovery: nothing at all (no creation, no removal decision).
/// * `onSourceRemoved: Cancel` (not for cron): active, labelled Tasks whose item was not
///   discovered become `VerifyThenCancel` (the shell looks the item up before cancelling).
/// * `onRetrigger: Cancel`: an active Task whose item has a newer trigger (or a new head
///   commit) is cancelled and replaced in the same cycle; for cron, a newer tick cancels the
///   earlier tick's active Task and only the newest tick runs.
/// * Otherwise the original: one Task per new item in priority order under
///   `maxConcurrency`/`maxTotalTasks`, finished Tasks retriggered by a newer trigger.
pub fn plan_cycle(
    discovery: Result<&[WorkItem], &DiscoveryError>,
    existing: &[Task],
    ctx: &PlanContext<'_>,
) -> Vec<Action> {
    // Suspend stops discovery and cancellation alike; a failed discovery decides nothing.
    if ctx.spec.is_suspended() {
        return Vec::new();
    }
    let Ok(items) = discovery else {
        return Vec::new();
    };
    let policy = ctx.spec.cancellation_policy();
    let cancel_on_retrigger = policy.on_retrigger == CancellationAction::Cancel;
    let cancel_on_removed =
        policy.on_source_removed == CancellationAction::Cancel && !ctx.spec.is_cron();
    let spawner = ctx.spawner_name;

    // The shell lists by label already; checking again keeps another spawner's Tasks out of
    // every decision even if a caller passes them in.
    let views: Vec<TaskView<'_>> = existing
        .iter()
        .filter(|t| label(t, LABEL_TASKSPAWNER) == Some(spawner))
        .map(TaskView::new)
        .collect();
    let mut planner = Planner {
        ctx,
        actions: Vec::new(),
        names_taken: views.iter().map(|v| v.name.to_string()).collect(),
        // The original counts every non-terminal Task, including ones without an item label.
        active: views.iter().filter(|v| v.is_active()).count() as i64,
        created: 0,
    };

    let mut by_identity: HashMap<&str, Vec<&TaskView<'_>>> = HashMap::new();
    let mut by_name: HashMap<&str, &TaskView<'_>> = HashMap::new();
    for v in &views {
        match v.identity {
            Some(id) => by_identity.entry(id).or_default().push(v),
            // Tasks from before item labels (e.g. the Go original): matched by the original's
            // dedup key, the name, for creation only; never cancelled.
            None => {
                by_name.insert(v.name, v);
            }
        }
    }

    // Discovered items, first occurrence of each identity.
    let mut seen = HashSet::new();
    let items: Vec<&WorkItem> = items
        .iter()
        .filter(|i| seen.insert(source_item_identity(i)))
        .collect();
    let discovered: HashSet<String> = items.iter().map(|i| source_item_identity(i)).collect();

    // Contract 6: only after a complete discovery (we have one), only this spawner's active
    // Tasks that carry an item identity.
    if cancel_on_removed {
        for v in &views {
            let Some(identity) = v.identity else { continue };
            if !v.is_active() || v.being_deleted() || discovered.contains(identity) {
                continue;
            }
            let kind = match annotation(v.task, ANNOTATION_SOURCE_KIND) {
                Some(SOURCE_KIND_PULL_REQUEST) => Some(SourceKind::PullRequest),
                Some(SOURCE_KIND_ISSUE) => Some(SourceKind::Issue),
                _ => None,
            };
            let number = annotation(v.task, ANNOTATION_SOURCE_NUMBER).and_then(|n| n.parse().ok());
            planner.actions.push(Action::VerifyThenCancel {
                name: v.name.to_string(),
                expected_phase: v.phase,
                resource_version: v.task.metadata.resource_version.clone(),
                item: ItemRef {
                    identity: identity.to_string(),
                    kind,
                    number,
                },
            });
        }
    }

    let tasks_of = |item: &WorkItem| -> Vec<&TaskView<'_>> {
        let mut tasks: Vec<&TaskView<'_>> = by_identity
            .get(source_item_identity(item).as_str())
            .cloned()
            .unwrap_or_default();
        if let Some(legacy) = by_name.get(task_name(spawner, &item.id, 1).as_str()) {
            tasks.push(legacy);
        }
        tasks
    };

    // Cron under onRetrigger: Cancel: only the newest tick runs; it supersedes older ticks in
    // this discovery and cancels earlier ticks' active Tasks.
    let mut items = items;
    let mut cron_replaces: Option<String> = None;
    if cancel_on_retrigger && ctx.spec.is_cron() {
        let newest = items
            .iter()
            .copied()
            .filter(|i| tick_time(i).is_some())
            .max_by_key(|i| tick_time(i));
        if let Some(newest) = newest {
            let newest_time = tick_time(newest);
            let newest_id = source_item_identity(newest);
            for item in &items {
                if source_item_identity(item) != newest_id && tasks_of(item).is_empty() {
                    planner.skip(item, SkipWhy::SupersededTick(newest.id.clone()));
                }
            }
            for v in &views {
                let Some(identity) = v.identity else { continue };
                if !v.is_active() || identity == newest_id {
                    continue;
                }
                let Ok(Some(tick)) = stored_trigger(v.task) else {
                    continue;
                };
                if Some(tick) >= newest_time {
                    continue;
                }
                planner.actions.push(Action::Cancel {
                    name: v.name.to_string(),
                    expected_phase: v.phase,
                    resource_version: v.task.metadata.resource_version.clone(),
                    reason: CancelReason::CronOverlap,
                    message: format!(
                        "cron tick {} is due while this Task for the tick at {} is still running; no overlapping runs",
                        newest.id,
                        format_trigger_time(tick)
                    ),
                });
                planner.active -= 1;
                cron_replaces.get_or_insert_with(|| v.name.to_string());
            }
            items = vec![newest];
        }
    }

    let mut replacements: Vec<(&WorkItem, String)> = Vec::new();
    let mut candidates: Vec<&WorkItem> = Vec::new();
    for item in items {
        let tasks = tasks_of(item);
        let active: Vec<&&TaskView<'_>> = tasks.iter().filter(|v| v.is_active()).collect();
        if !active.is_empty() {
            let retriggered: Vec<(&TaskView<'_>, CancelReason, String)> =
                if cancel_on_retrigger && !ctx.spec.is_cron() {
                    active
                        .iter()
                        .filter(|v| v.identity.is_some())
                        .filter_map(|v| newer_trigger(item, v.task).map(|(r, m)| (**v, r, m)))
                        .collect()
                } else {
                    Vec::new()
                };
            // Replace only when every active Task goes: at most one active Task per item.
            if retriggered.is_empty() || retriggered.len() != active.len() {
                planner.skip(item, SkipWhy::ActiveTask(active[0].name.to_string()));
                continue;
            }
            // Render first: a replacement that cannot be built must not cost the running Task.
            let probe = build_task(item, "probe", ctx);
            if let Err(e) = probe {
                planner.skip(item, SkipWhy::Render(e));
                continue;
            }
            for (v, reason, message) in &retriggered {
                planner.actions.push(Action::Cancel {
                    name: v.name.to_string(),
                    expected_phase: v.phase,
                    resource_version: v.task.metadata.resource_version.clone(),
                    reason: *reason,
                    message: message.clone(),
                });
                planner.active -= 1;
            }
            replacements.push((item, retriggered[0].0.name.to_string()));
            continue;
        }
        if tasks.is_empty() {
            if let Some(replaced) = cron_replaces.take() {
                replacements.push((item, replaced));
            } else {
                candidates.push(item);
            }
            continue;
        }
        // Only finished Tasks: the original's retrigger, for Cancelled as for the others.
        let Some(trigger) = item.trigger_time else {
            planner.skip(item, SkipWhy::Finished(tasks[0].name.to_string()));
            continue;
        };
        let retrigger = tasks.iter().all(|v| match blocks(v.task, spawner) {
            Blocks::Forever => false,
            Blocks::Until(t) => trigger > t,
            Blocks::AnyTrigger => true,
        });
        if !retrigger {
            let newest = tasks
                .iter()
                .max_by_key(|v| v.task.metadata.creation_timestamp.as_ref().map(|t| t.0))
                .map(|v| v.name)
                .unwrap_or_default();
            planner.skip(item, SkipWhy::Finished(newest.to_string()));
            continue;
        }
        for v in &tasks {
            let ours_cancelled =
                v.phase == Some(TaskPhase::Cancelled) && blocks_by_us(v.task, spawner);
            // Tasks we cancelled stay for the audit trail until their TTL.
            if ours_cancelled || v.being_deleted() {
                continue;
            }
            planner.actions.push(Action::Delete {
                name: v.name.to_string(),
                why: format!(
                    "{} was triggered again at {} after Task {} finished",
                    describe_item(item),
                    format_trigger_time(trigger),
                    v.name
                ),
            });
        }
        candidates.push(item);
    }

    // A replacement takes the slot of the Task it replaces, so maxConcurrency does not hold it
    // back; the lifetime budget does.
    for (item, replaced) in replacements {
        if !planner.budget_left() {
            planner.skip(item, SkipWhy::BudgetExhausted(planner.max_total()));
            continue;
        }
        planner.create(item, Some(replaced));
    }

    sort_by_priority(&mut candidates, priority_labels(ctx.spec));
    let mut stopped: Option<SkipWhy> = None;
    for item in candidates {
        if stopped.is_none() {
            if !planner.concurrency_left() {
                stopped = Some(SkipWhy::MaxConcurrency(planner.max_concurrency()));
            } else if !planner.budget_left() {
                stopped = Some(SkipWhy::BudgetExhausted(planner.max_total()));
            }
        }
        // The original stops at the first limit hit; the rest wait for a later cycle.
        if let Some(why) = &stopped {
            planner.skip(item, why.clone());
            continue;
        }
        planner.create(item, None);
    }
    planner.actions
}

fn blocks_by_us(task: &Task, spawner: &str) -> bool {
    task.status.as_ref().and_then(|s| s.cancelled_by.as_deref())
        == Some(cancelled_by_spawner(spawner).as_str())
}

/// Active (non-terminal) Tasks after the actions: what `status.activeTasks` reports when
/// every action succeeds.
pub fn count_active(existing: &[Task]) -> i64 {
    existing.iter().filter(|t| !t.is_terminal()).count() as i64
}

#[cfg(test)]
mod tests;
