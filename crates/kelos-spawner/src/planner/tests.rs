//! The planner's rules, one test each: the original's behaviours (spawner-reference §8) for
//! issues, pull requests and cron, and every cancellation rule of the contract (items 6-10).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kelos_api::constants::*;
use kelos_api::*;

use super::*;

const SPAWNER: &str = "spawner";

fn t(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0).unwrap()
}

fn k8s_time(dt: DateTime<Utc>) -> Time {
    Time(jiff::Timestamp::from_second(dt.timestamp()).unwrap())
}

fn template() -> TaskTemplate {
    TaskTemplate {
        type_: AgentType::ClaudeCode,
        credentials: Credentials {
            type_: CredentialType::Oauth,
            secret_ref: SecretReference {
                name: "creds".into(),
            },
        },
        model: None,
        image: None,
        workspace_ref: Some(WorkspaceReference {
            name: "test-ws".into(),
        }),
        agent_config_ref: None,
        depends_on: None,
        branch: None,
        prompt_template: None,
        ttl_seconds_after_finished: None,
        pod_overrides: None,
        upstream_repo: None,
    }
}

fn issues_spec() -> TaskSpawnerSpec {
    TaskSpawnerSpec {
        when: When {
            github_issues: Some(GitHubIssues {
                repo: None,
                types: vec![GitHubItemType::Issues],
                labels: None,
                exclude_labels: None,
                state: GitHubState::Open,
                comment_policy: None,
                trigger_comment: None,
                exclude_comments: None,
                assignee: None,
                author: None,
                priority_labels: None,
                reporting: None,
                poll_interval: None,
            }),
            ..Default::default()
        },
        task_template: template(),
        poll_interval: "5m".into(),
        max_concurrency: None,
        suspend: false,
        max_total_tasks: None,
        cancellation_policy: None,
    }
}

fn prs_spec() -> TaskSpawnerSpec {
    TaskSpawnerSpec {
        when: When {
            github_pull_requests: Some(GitHubPullRequests::default()),
            ..Default::default()
        },
        ..issues_spec()
    }
}

fn cron_spec() -> TaskSpawnerSpec {
    TaskSpawnerSpec {
        when: When {
            cron: Some(Cron {
                schedule: "0 * * * *".into(),
            }),
            ..Default::default()
        },
        task_template: TaskTemplate {
            workspace_ref: None,
            prompt_template: Some("nightly run".into()),
            ..template()
        },
        ..issues_spec()
    }
}

fn with_policy(
    mut spec: TaskSpawnerSpec,
    removed: CancellationAction,
    retrigger: CancellationAction,
) -> TaskSpawnerSpec {
    spec.cancellation_policy = Some(CancellationPolicy {
        on_source_removed: removed,
        on_retrigger: retrigger,
        grace_period_seconds: 0,
    });
    spec
}

use CancellationAction::{Cancel as C, Ignore as I};

fn issue(n: i64) -> WorkItem {
    WorkItem {
        id: n.to_string(),
        source: Some(SourceKind::Issue),
        number: n,
        title: format!("Issue {n}"),
        body: format!("Body {n}"),
        url: format!("https://github.com/o/r/issues/{n}"),
        kind: "Issue".into(),
        ..Default::default()
    }
}

fn labelled(n: i64, labels: &[&str]) -> WorkItem {
    WorkItem {
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..issue(n)
    }
}

fn triggered(n: i64, at: DateTime<Utc>) -> WorkItem {
    WorkItem {
        trigger_time: Some(at),
        ..issue(n)
    }
}

fn pr(n: i64, sha: &str, branch: &str) -> WorkItem {
    WorkItem {
        id: n.to_string(),
        source: Some(SourceKind::PullRequest),
        number: n,
        title: format!("PR {n}"),
        url: format!("https://github.com/o/r/pull/{n}"),
        kind: "PR".into(),
        branch: branch.into(),
        head_sha: Some(sha.into()),
        ..Default::default()
    }
}

fn tick(at: DateTime<Utc>) -> WorkItem {
    WorkItem {
        id: at.format("%Y%m%d-%H%M").to_string(),
        source: Some(SourceKind::CronTick),
        title: at.to_rfc3339(),
        time: at.to_rfc3339(),
        schedule: "0 * * * *".into(),
        trigger_time: Some(at),
        ..Default::default()
    }
}

/// A Task as this spawner would have created it for `item`, in `phase`.
fn task_for(item: &WorkItem, name: &str, phase: Option<TaskPhase>) -> Task {
    let ctx = PlanContext {
        spawner_name: SPAWNER,
        spec: &issues_spec(),
        total_tasks_created: 0,
        now: t(1, 0),
    };
    let mut task = build_task(item, name, &ctx).unwrap();
    task.metadata.resource_version = Some("7".into());
    task.metadata.creation_timestamp = Some(k8s_time(t(1, 0)));
    task.status = phase.map(|p| TaskStatus {
        phase: Some(p),
        ..Default::default()
    });
    task
}

fn finished(mut task: Task, phase: TaskPhase, at: DateTime<Utc>) -> Task {
    let status = task.status.get_or_insert_with(Default::default);
    status.phase = Some(phase);
    status.completion_time = Some(k8s_time(at));
    task
}

fn cancelled_by(mut task: Task, by: &str, at: DateTime<Utc>) -> Task {
    task = finished(task, TaskPhase::Cancelled, at);
    task.status.as_mut().unwrap().cancelled_by = Some(by.into());
    task
}

/// A Task from before source-item labels (e.g. made by the Go original).
fn legacy_task(name: &str, phase: Option<TaskPhase>) -> Task {
    let mut task = Task::new(name, task_for(&issue(1), name, None).spec);
    task.metadata.labels = Some(BTreeMap::from([(
        LABEL_TASKSPAWNER.to_string(),
        SPAWNER.to_string(),
    )]));
    task.status = phase.map(|p| TaskStatus {
        phase: Some(p),
        ..Default::default()
    });
    task
}

fn plan_with(
    spec: &TaskSpawnerSpec,
    items: &[WorkItem],
    existing: &[Task],
    total_created: i64,
) -> Vec<Action> {
    let ctx = PlanContext {
        spawner_name: SPAWNER,
        spec,
        total_tasks_created: total_created,
        now: t(10, 0),
    };
    plan_cycle(Ok(items), existing, &ctx)
}

fn plan(spec: &TaskSpawnerSpec, items: &[WorkItem], existing: &[Task]) -> Vec<Action> {
    plan_with(spec, items, existing, 0)
}

/// The actions without skips, as short strings: "create spawner-1", "cancel spawner-1
/// retrigger", "verify spawner-1", "delete spawner-1".
fn summary(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { task, replaces, .. } => Some(match replaces {
                Some(r) => format!(
                    "create {} replacing {r}",
                    task.metadata.name.as_ref().unwrap()
                ),
                None => format!("create {}", task.metadata.name.as_ref().unwrap()),
            }),
            Action::Delete { name, .. } => Some(format!("delete {name}")),
            Action::Cancel { name, reason, .. } => Some(format!("cancel {name} {reason}")),
            Action::VerifyThenCancel { name, .. } => Some(format!("verify {name}")),
            Action::Skip { .. } => None,
        })
        .collect()
}

fn created(actions: &[Action]) -> Vec<&Task> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Create { task, .. } => Some(task.as_ref()),
            _ => None,
        })
        .collect()
}

fn skips(actions: &[Action]) -> Vec<(String, SkipWhy)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Skip { item, why } => Some((item.clone(), why.clone())),
            _ => None,
        })
        .collect()
}

fn items(ns: &[i64]) -> Vec<WorkItem> {
    ns.iter().map(|n| issue(*n)).collect()
}

// ---------------------------------------------------------------------------------------
// The original's behaviours (§8), issues and pull requests.

#[test]
fn no_max_concurrency_creates_a_task_per_item() {
    let a = plan(&issues_spec(), &items(&[1, 2, 3]), &[]);
    assert_eq!(
        summary(&a),
        ["create spawner-1", "create spawner-2", "create spawner-3"]
    );
}

#[test]
fn max_concurrency_limits_creation() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(2);
    let a = plan(&spec, &items(&[1, 2, 3, 4]), &[]);
    assert_eq!(summary(&a), ["create spawner-1", "create spawner-2"]);
    assert!(
        skips(&a)
            .iter()
            .all(|(_, why)| *why == SkipWhy::MaxConcurrency(2))
    );
}

#[test]
fn max_concurrency_counts_existing_active_tasks() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(3);
    let existing = [
        task_for(&issue(1), "spawner-1", Some(TaskPhase::Running)),
        task_for(&issue(2), "spawner-2", Some(TaskPhase::Pending)),
    ];
    let a = plan(&spec, &items(&[1, 2, 3, 4]), &existing);
    assert_eq!(summary(&a), ["create spawner-3"]);
}

#[test]
fn finished_tasks_do_not_count_toward_max_concurrency() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(2);
    let existing = [
        finished(
            task_for(&issue(1), "spawner-1", None),
            TaskPhase::Succeeded,
            t(2, 0),
        ),
        finished(
            task_for(&issue(2), "spawner-2", None),
            TaskPhase::Failed,
            t(2, 0),
        ),
    ];
    let a = plan(&spec, &items(&[1, 2, 3, 4]), &existing);
    assert_eq!(summary(&a), ["create spawner-3", "create spawner-4"]);
}

#[test]
fn cancelled_tasks_do_not_count_toward_max_concurrency() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(1);
    let existing = [cancelled_by(
        task_for(&issue(1), "spawner-1", None),
        CANCELLED_BY_USER,
        t(2, 0),
    )];
    let a = plan(&spec, &items(&[1, 2]), &existing);
    assert_eq!(summary(&a), ["create spawner-2"]);
}

#[test]
fn max_concurrency_zero_means_unlimited() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(0);
    assert_eq!(
        created(&plan(&spec, &items(&[1, 2, 3, 4, 5]), &[])).len(),
        5
    );
}

#[test]
fn already_at_max_concurrency_creates_nothing() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(2);
    let existing = [
        task_for(&issue(1), "spawner-1", Some(TaskPhase::Running)),
        task_for(&issue(2), "spawner-2", Some(TaskPhase::Running)),
    ];
    assert!(summary(&plan(&spec, &items(&[1, 2, 3]), &existing)).is_empty());
}

#[test]
fn tasks_of_unlabelled_items_still_count_as_active() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(1);
    let existing = [legacy_task("spawner-other", Some(TaskPhase::Running))];
    assert!(summary(&plan(&spec, &items(&[1]), &existing)).is_empty());
}

#[test]
fn task_template_fields_are_forwarded() {
    let mut spec = issues_spec();
    spec.task_template.agent_config_ref = Some(AgentConfigReference {
        name: "my-config".into(),
    });
    spec.task_template.model = Some("opus".into());
    spec.task_template.image = Some("img:1".into());
    spec.task_template.ttl_seconds_after_finished = Some(600);
    spec.task_template.depends_on = Some(vec!["setup".into()]);
    spec.task_template.pod_overrides = Some(PodOverrides {
        active_deadline_seconds: Some(3600),
        node_selector: Some(BTreeMap::from([("pool".into(), "agents".into())])),
        ..Default::default()
    });
    let a = plan(&spec, &items(&[1]), &[]);
    let task = created(&a)[0];
    assert_eq!(
        task.spec.agent_config_ref.as_ref().unwrap().name,
        "my-config"
    );
    assert_eq!(task.spec.model.as_deref(), Some("opus"));
    assert_eq!(task.spec.image.as_deref(), Some("img:1"));
    assert_eq!(task.spec.ttl_seconds_after_finished, Some(600));
    assert_eq!(
        task.spec.depends_on.as_deref(),
        Some(&["setup".to_string()][..])
    );
    assert_eq!(
        task.spec
            .pod_overrides
            .as_ref()
            .unwrap()
            .active_deadline_seconds,
        Some(3600)
    );
    assert_eq!(task.spec.workspace_ref.as_ref().unwrap().name, "test-ws");
    assert_eq!(task.spec.type_, AgentType::ClaudeCode);
}

#[test]
fn suspended_spawner_plans_nothing() {
    let mut spec = with_policy(issues_spec(), C, C);
    spec.suspend = true;
    let existing = [task_for(&issue(9), "spawner-9", Some(TaskPhase::Running))];
    assert!(plan(&spec, &items(&[1, 2]), &existing).is_empty());
    // not suspended: normal creation
    spec.suspend = false;
    assert!(!summary(&plan(&spec, &items(&[1]), &[])).is_empty());
}

#[test]
fn max_total_tasks_limits_creation() {
    let mut spec = issues_spec();
    spec.max_total_tasks = Some(2);
    let a = plan(&spec, &items(&[1, 2, 3, 4]), &[]);
    assert_eq!(summary(&a), ["create spawner-1", "create spawner-2"]);
    assert!(
        skips(&a)
            .iter()
            .all(|(_, w)| *w == SkipWhy::BudgetExhausted(2))
    );
}

#[test]
fn max_total_tasks_counts_earlier_creations() {
    let mut spec = issues_spec();
    spec.max_total_tasks = Some(3);
    assert_eq!(
        created(&plan_with(&spec, &items(&[1, 2, 3, 4]), &[], 2)).len(),
        1
    );
}

#[test]
fn exhausted_budget_creates_nothing() {
    let mut spec = issues_spec();
    spec.max_total_tasks = Some(5);
    assert!(created(&plan_with(&spec, &items(&[1, 2]), &[], 5)).is_empty());
}

#[test]
fn max_total_tasks_zero_means_unlimited() {
    let mut spec = issues_spec();
    spec.max_total_tasks = Some(0);
    assert_eq!(
        created(&plan_with(&spec, &items(&[1, 2, 3]), &[], 100)).len(),
        3
    );
}

#[test]
fn the_more_restrictive_limit_wins() {
    let mut spec = issues_spec();
    spec.max_total_tasks = Some(2);
    spec.max_concurrency = Some(10);
    assert_eq!(created(&plan(&spec, &items(&[1, 2, 3, 4]), &[])).len(), 2);
}

#[test]
fn branch_template_is_rendered_per_item() {
    let mut spec = issues_spec();
    spec.task_template.branch = Some("kelos-task-{{.Number}}".into());
    let a = plan(&spec, &items(&[42, 99]), &[]);
    let tasks = created(&a);
    assert_eq!(tasks[0].metadata.name.as_deref(), Some("spawner-42"));
    assert_eq!(tasks[0].spec.branch.as_deref(), Some("kelos-task-42"));
    assert_eq!(tasks[1].metadata.name.as_deref(), Some("spawner-99"));
    assert_eq!(tasks[1].spec.branch.as_deref(), Some("kelos-task-99"));
}

#[test]
fn static_branch_passes_through() {
    let mut spec = issues_spec();
    spec.task_template.branch = Some("feature/my-branch".into());
    let a = plan(&spec, &items(&[1]), &[]);
    assert_eq!(
        created(&a)[0].spec.branch.as_deref(),
        Some("feature/my-branch")
    );
}

#[test]
fn default_prompt_and_every_template_variable() {
    let a = plan(&issues_spec(), &[labelled(7, &["bug"])], &[]);
    assert_eq!(created(&a)[0].spec.prompt, "Issue #7: Issue 7\n\nBody 7\n");

    let mut spec = prs_spec();
    spec.task_template.prompt_template = Some(
        "{{.ID}}|{{.Number}}|{{.Title}}|{{.Body}}|{{.URL}}|{{.Labels}}|{{.Comments}}|{{.Kind}}|{{.Branch}}|{{.ReviewState}}|{{.ReviewComments}}|{{.Time}}|{{.Schedule}}".into(),
    );
    let item = WorkItem {
        labels: vec!["a".into(), "b".into()],
        comments: "c1\n---\nc2".into(),
        review_state: "approved".into(),
        review_comments: "f.rs:3\nnit".into(),
        body: "B".into(),
        ..pr(5, "abc", "feat")
    };
    let a = plan(&spec, &[item], &[]);
    assert_eq!(
        created(&a)[0].spec.prompt,
        "5|5|PR 5|B|https://github.com/o/r/pull/5|a, b|c1\n---\nc2|PR|feat|approved|f.rs:3\nnit||"
    );
}

#[test]
fn render_error_skips_only_that_item() {
    let mut spec = issues_spec();
    spec.task_template.prompt_template = Some("{{if eq .Number 2}}{{.Missing}}{{end}}fix".into());
    let a = plan(&spec, &items(&[1, 2, 3]), &[]);
    assert_eq!(summary(&a), ["create spawner-1", "create spawner-3"]);
    let sk = skips(&a);
    assert_eq!(sk.len(), 1);
    assert_eq!(sk[0].0, "issue-2");
    match &sk[0].1 {
        SkipWhy::Render(e) => assert!(e.contains("\"Missing\""), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(sk[0].1.is_notable());
}

#[test]
fn priority_labels_order_creation_under_limits() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(2);
    spec.when.github_issues.as_mut().unwrap().priority_labels = Some(vec![
        "priority/critical".into(),
        "priority/important".into(),
    ]);
    let found = [
        labelled(1, &["priority/backlog"]),
        labelled(2, &["priority/important"]),
        labelled(3, &["priority/critical"]),
    ];
    let a = plan(&spec, &found, &[]);
    assert_eq!(summary(&a), ["create spawner-3", "create spawner-2"]);
}

#[test]
fn priority_sort_is_stable_best_match_unmatched_last() {
    let prio = vec!["p0".to_string(), "p1".to_string()];
    let a = labelled(1, &["x"]);
    let b = labelled(2, &["p1", "p0"]);
    let c = labelled(3, &["p1"]);
    let d = labelled(4, &[]);
    let e = labelled(5, &["p1"]);
    let mut v = vec![&a, &b, &c, &d, &e];
    sort_by_priority(&mut v, &prio);
    let order: Vec<i64> = v.iter().map(|i| i.number).collect();
    assert_eq!(order, [2, 3, 5, 1, 4]);
}

#[test]
fn without_priority_labels_discovery_order_is_kept() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(2);
    let a = plan(&spec, &items(&[9, 3, 5]), &[]);
    assert_eq!(summary(&a), ["create spawner-9", "create spawner-3"]);
}

#[test]
fn existing_task_for_an_item_blocks_a_duplicate() {
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    let a = plan(&issues_spec(), &items(&[1]), &existing);
    assert!(summary(&a).is_empty());
    assert_eq!(skips(&a)[0].1, SkipWhy::ActiveTask("spawner-1".into()));
}

#[test]
fn unlabelled_task_with_the_original_name_blocks_its_item() {
    // Upgrading from the Go original: its Task `spawner-1` has no source-item label.
    let existing = [legacy_task("spawner-1", Some(TaskPhase::Running))];
    assert!(summary(&plan(&issues_spec(), &items(&[1]), &existing)).is_empty());
}

#[test]
fn retrigger_deletes_and_recreates_a_succeeded_task() {
    let existing = [finished(
        task_for(&issue(1), "spawner-1", None),
        TaskPhase::Succeeded,
        t(1, 0),
    )];
    let a = plan(&issues_spec(), &[triggered(1, t(2, 0))], &existing);
    assert_eq!(summary(&a), ["delete spawner-1", "create spawner-1-2"]);
    assert!(created(&a)[0].status.is_none(), "a fresh Task");
}

#[test]
fn retrigger_also_applies_to_failed_tasks() {
    let existing = [finished(
        task_for(&issue(1), "spawner-1", None),
        TaskPhase::Failed,
        t(1, 0),
    )];
    let a = plan(&issues_spec(), &[triggered(1, t(2, 0))], &existing);
    assert_eq!(summary(&a), ["delete spawner-1", "create spawner-1-2"]);
}

#[test]
fn no_retrigger_when_trigger_is_before_completion() {
    let existing = [finished(
        task_for(&issue(1), "spawner-1", None),
        TaskPhase::Succeeded,
        t(3, 0),
    )];
    let a = plan(&issues_spec(), &[triggered(1, t(2, 0))], &existing);
    assert!(summary(&a).is_empty());
    assert_eq!(skips(&a)[0].1, SkipWhy::Finished("spawner-1".into()));
}

#[test]
fn finished_task_without_trigger_blocks_its_item() {
    let existing = [finished(
        task_for(&issue(1), "spawner-1", None),
        TaskPhase::Succeeded,
        t(1, 0),
    )];
    assert!(summary(&plan(&issues_spec(), &items(&[1]), &existing)).is_empty());
}

#[test]
fn running_task_is_never_retriggered_under_ignore() {
    for spec in [issues_spec(), with_policy(issues_spec(), I, I)] {
        let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
        let a = plan(&spec, &[triggered(1, t(5, 0))], &existing);
        assert!(summary(&a).is_empty(), "{:?}", summary(&a));
    }
}

#[test]
fn retrigger_deletes_even_when_max_concurrency_blocks_the_recreate() {
    let mut spec = issues_spec();
    spec.max_concurrency = Some(1);
    let existing = [
        finished(
            task_for(&issue(1), "spawner-1", None),
            TaskPhase::Succeeded,
            t(1, 0),
        ),
        task_for(&issue(2), "spawner-running", Some(TaskPhase::Running)),
    ];
    let a = plan(&spec, &[triggered(1, t(2, 0)), issue(2)], &existing);
    assert_eq!(summary(&a), ["delete spawner-1"]);
}

#[test]
fn upstream_repo_is_derived_from_the_repo_override() {
    let cases = [
        ("upstream-org/upstream-repo", false),
        ("https://github.com/upstream-org/upstream-repo.git", false),
        (
            "https://github.example.com/upstream-org/upstream-repo/",
            false,
        ),
        ("git@github.com:upstream-org/upstream-repo.git", false),
        ("upstream-org/upstream-repo", true),
    ];
    for (repo, prs) in cases {
        let mut spec = if prs { prs_spec() } else { issues_spec() };
        if prs {
            spec.when.github_pull_requests.as_mut().unwrap().repo = Some(repo.into());
        } else {
            spec.when.github_issues.as_mut().unwrap().repo = Some(repo.into());
        }
        assert_eq!(
            derive_upstream_repo(&spec).as_deref(),
            Some("upstream-org/upstream-repo"),
            "{repo}"
        );
        let a = plan(&spec, &items(&[1]), &[]);
        assert_eq!(
            created(&a)[0].spec.upstream_repo.as_deref(),
            Some("upstream-org/upstream-repo")
        );
    }
    assert_eq!(derive_upstream_repo(&issues_spec()), None);
}

#[test]
fn explicit_upstream_repo_wins() {
    let mut spec = issues_spec();
    spec.when.github_issues.as_mut().unwrap().repo = Some("a/b".into());
    spec.task_template.upstream_repo = Some("explicit/repo".into());
    let a = plan(&spec, &items(&[1]), &[]);
    assert_eq!(
        created(&a)[0].spec.upstream_repo.as_deref(),
        Some("explicit/repo")
    );
}

fn annotations(task: &Task) -> BTreeMap<String, String> {
    task.metadata.annotations.clone().unwrap_or_default()
}

#[test]
fn issue_tasks_carry_labels_and_source_annotations() {
    let a = plan(&issues_spec(), &items(&[42]), &[]);
    let task = created(&a)[0];
    let labels = task.metadata.labels.clone().unwrap();
    assert_eq!(labels[LABEL_TASKSPAWNER], SPAWNER);
    assert_eq!(labels[LABEL_SOURCE_ITEM], "issue-42");
    let ann = annotations(task);
    assert_eq!(ann[ANNOTATION_SOURCE_KIND], "issue");
    assert_eq!(ann[ANNOTATION_SOURCE_NUMBER], "42");
    assert!(!ann.contains_key(ANNOTATION_GITHUB_REPORTING));
    assert!(
        task.metadata.owner_references.is_none(),
        "no ownerReference, as the original"
    );
}

#[test]
fn pull_request_tasks_carry_kind_number_and_head_sha() {
    let a = plan(&prs_spec(), &[pr(7, "abc123", "feat")], &[]);
    let task = created(&a)[0];
    let ann = annotations(task);
    assert_eq!(ann[ANNOTATION_SOURCE_KIND], "pull-request");
    assert_eq!(ann[ANNOTATION_SOURCE_NUMBER], "7");
    assert_eq!(ann[ANNOTATION_HEAD_SHA], "abc123");
    assert_eq!(
        task.metadata.labels.as_ref().unwrap()[LABEL_SOURCE_ITEM],
        "pr-7"
    );
}

#[test]
fn pull_requests_found_through_the_issues_api_are_pull_requests() {
    let item = WorkItem {
        kind: "PR".into(),
        ..issue(8)
    };
    let a = plan(&issues_spec(), &[item], &[]);
    assert_eq!(
        annotations(created(&a)[0])[ANNOTATION_SOURCE_KIND],
        "pull-request"
    );
}

#[test]
fn reporting_annotation_when_enabled() {
    let mut spec = issues_spec();
    spec.when.github_issues.as_mut().unwrap().reporting = Some(GitHubReporting {
        enabled: Some(true),
    });
    assert!(reporting_enabled(&spec));
    let a = plan(&spec, &items(&[1]), &[]);
    assert_eq!(
        annotations(created(&a)[0])[ANNOTATION_GITHUB_REPORTING],
        "enabled"
    );

    let mut spec = prs_spec();
    spec.when.github_pull_requests.as_mut().unwrap().reporting = Some(GitHubReporting {
        enabled: Some(true),
    });
    assert!(reporting_enabled(&spec));

    let mut off = issues_spec();
    off.when.github_issues.as_mut().unwrap().reporting = Some(GitHubReporting {
        enabled: Some(false),
    });
    assert!(!reporting_enabled(&off));
    assert!(!reporting_enabled(&issues_spec()));
    assert!(!reporting_enabled(&cron_spec()));
}

#[test]
fn trigger_time_is_recorded_losslessly() {
    let at =
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(250);
    let a = plan(&issues_spec(), &[triggered(1, at)], &[]);
    let stored = annotations(created(&a)[0])[ANNOTATION_TRIGGER_TIME].clone();
    assert_eq!(DateTime::parse_from_rfc3339(&stored).unwrap(), at);
}

#[test]
fn jira_keys_make_valid_names() {
    let mut spec = issues_spec();
    spec.when = When {
        jira: Some(Jira {
            base_url: "https://jira.example.com".into(),
            project: "PROJ".into(),
            jql: None,
            secret_ref: SecretReference { name: "j".into() },
            poll_interval: None,
        }),
        ..Default::default()
    };
    let item = WorkItem {
        id: "PROJ-42".into(),
        number: 42,
        source: Some(SourceKind::Jira),
        kind: "Bug".into(),
        ..Default::default()
    };
    let a = plan(&spec, &[item], &[]);
    let task = created(&a)[0];
    assert_eq!(task.metadata.name.as_deref(), Some("spawner-proj-42"));
    assert!(
        task.metadata.annotations.is_none(),
        "no GitHub annotations for Jira"
    );
}

#[test]
fn discovery_error_plans_nothing() {
    let spec = with_policy(issues_spec(), C, C);
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    let err = DiscoveryError::Status {
        status: 500,
        url: "u".into(),
        message: "m".into(),
    };
    let ctx = PlanContext {
        spawner_name: SPAWNER,
        spec: &spec,
        total_tasks_created: 0,
        now: t(1, 0),
    };
    assert!(plan_cycle(Err(&err), &existing, &ctx).is_empty());
}

// ---------------------------------------------------------------------------------------
// Cron.

#[test]
fn cron_creates_one_task_per_tick_in_order() {
    let ticks = [tick(t(7, 9)), tick(t(7, 10))];
    let a = plan(&cron_spec(), &ticks, &[]);
    assert_eq!(
        summary(&a),
        [
            "create spawner-20260107-0900",
            "create spawner-20260107-1000"
        ]
    );
    let task = created(&a)[0];
    assert_eq!(task.spec.prompt, "nightly run");
    assert_eq!(
        task.metadata.labels.as_ref().unwrap()[LABEL_SOURCE_ITEM],
        "cron-20260107-0900"
    );
    let ann = annotations(task);
    assert!(
        !ann.contains_key(ANNOTATION_SOURCE_KIND),
        "no GitHub annotations for cron"
    );
    assert!(ann.contains_key(ANNOTATION_TRIGGER_TIME));
}

#[test]
fn cron_kind_renders_as_issue() {
    let mut spec = cron_spec();
    spec.task_template.prompt_template = Some("{{.Kind}} {{.Time}} {{.Schedule}}".into());
    let a = plan(&spec, &[tick(t(7, 9))], &[]);
    assert_eq!(
        created(&a)[0].spec.prompt,
        "Issue 2026-01-07T09:00:00+00:00 0 * * * *"
    );
}

#[test]
fn cron_under_ignore_overlaps_as_the_original_does() {
    let spec = with_policy(cron_spec(), I, I);
    let existing = [task_for(
        &tick(t(7, 9)),
        "spawner-20260107-0900",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[tick(t(7, 10))], &existing);
    assert_eq!(summary(&a), ["create spawner-20260107-1000"]);
}

#[test]
fn cron_max_concurrency_drops_the_tick_under_ignore() {
    let mut spec = cron_spec();
    spec.max_concurrency = Some(1);
    let existing = [task_for(
        &tick(t(7, 9)),
        "spawner-20260107-0900",
        Some(TaskPhase::Running),
    )];
    assert!(summary(&plan(&spec, &[tick(t(7, 10))], &existing)).is_empty());
}

// ---------------------------------------------------------------------------------------
// onSourceRemoved (contract 6).

fn removed_spec() -> TaskSpawnerSpec {
    with_policy(issues_spec(), C, I)
}

#[test]
fn source_removed_verifies_every_active_phase() {
    let existing = [
        task_for(&issue(1), "spawner-1", None),
        task_for(&issue(2), "spawner-2", Some(TaskPhase::Pending)),
        task_for(&issue(3), "spawner-3", Some(TaskPhase::Waiting)),
        task_for(&issue(4), "spawner-4", Some(TaskPhase::Running)),
        task_for(&issue(5), "spawner-5", Some(TaskPhase::Running)),
    ];
    let a = plan(&removed_spec(), &items(&[5]), &existing);
    assert_eq!(
        summary(&a),
        [
            "verify spawner-1",
            "verify spawner-2",
            "verify spawner-3",
            "verify spawner-4"
        ]
    );
    match &a[3] {
        Action::VerifyThenCancel {
            expected_phase,
            resource_version,
            item,
            ..
        } => {
            assert_eq!(*expected_phase, Some(TaskPhase::Running));
            assert_eq!(resource_version.as_deref(), Some("7"));
            assert_eq!(item.identity, "issue-4");
            assert_eq!(item.kind, Some(SourceKind::Issue));
            assert_eq!(item.number, Some(4));
            assert_eq!(item.describe(), "issue #4");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn source_removed_for_a_pull_request_carries_its_number() {
    let spec = with_policy(prs_spec(), C, I);
    let existing = [task_for(
        &pr(7, "a", "b"),
        "spawner-7",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[], &existing);
    match &a[0] {
        Action::VerifyThenCancel { item, .. } => {
            assert_eq!(item.kind, Some(SourceKind::PullRequest));
            assert_eq!(item.describe(), "pull request #7");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn source_removed_never_touches_finished_tasks() {
    let existing = [
        finished(
            task_for(&issue(1), "spawner-1", None),
            TaskPhase::Succeeded,
            t(1, 0),
        ),
        finished(
            task_for(&issue(2), "spawner-2", None),
            TaskPhase::Failed,
            t(1, 0),
        ),
        cancelled_by(
            task_for(&issue(3), "spawner-3", None),
            CANCELLED_BY_USER,
            t(1, 0),
        ),
    ];
    assert!(plan(&removed_spec(), &[], &existing).is_empty());
}

#[test]
fn source_removed_ignores_unlabelled_and_foreign_tasks() {
    let mut foreign = task_for(&issue(2), "other-2", Some(TaskPhase::Running));
    foreign
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(LABEL_TASKSPAWNER.into(), "other".into());
    let existing = [legacy_task("spawner-1", Some(TaskPhase::Running)), foreign];
    assert!(plan(&removed_spec(), &[], &existing).is_empty());
}

#[test]
fn source_removed_skips_tasks_being_deleted() {
    let mut task = task_for(&issue(1), "spawner-1", Some(TaskPhase::Running));
    task.metadata.deletion_timestamp = Some(k8s_time(t(2, 0)));
    assert!(plan(&removed_spec(), &[], &[task]).is_empty());
}

#[test]
fn source_removed_with_ignore_or_no_policy_cancels_nothing() {
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    for spec in [
        issues_spec(),
        with_policy(issues_spec(), I, I),
        with_policy(issues_spec(), I, C),
    ] {
        assert!(plan(&spec, &[], &existing).is_empty());
    }
}

#[test]
fn source_removed_after_an_empty_successful_discovery() {
    // A successful empty result is authoritative.
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    assert_eq!(
        summary(&plan(&removed_spec(), &[], &existing)),
        ["verify spawner-1"]
    );
}

#[test]
fn source_removed_never_after_a_failed_discovery() {
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    let errors = [
        DiscoveryError::RateLimited {
            url: "u".into(),
            retry_after_secs: 60,
        },
        DiscoveryError::Malformed {
            url: "u".into(),
            reason: "null body".into(),
        },
        DiscoveryError::Truncated {
            url: "u".into(),
            pages: 10,
        },
        DiscoveryError::Transport {
            url: "u".into(),
            reason: "timeout".into(),
        },
    ];
    let spec = removed_spec();
    let ctx = PlanContext {
        spawner_name: SPAWNER,
        spec: &spec,
        total_tasks_created: 0,
        now: t(1, 0),
    };
    for e in &errors {
        assert!(plan_cycle(Err(e), &existing, &ctx).is_empty(), "{e}");
    }
}

#[test]
fn source_removed_while_budget_is_exhausted() {
    let mut spec = removed_spec();
    spec.max_total_tasks = Some(1);
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    let a = plan_with(&spec, &items(&[2]), &existing, 1);
    assert_eq!(summary(&a), ["verify spawner-1"]);
}

#[test]
fn source_removed_is_ignored_for_cron() {
    // The CRD rejects the combination; the planner refuses it too.
    let spec = with_policy(cron_spec(), C, I);
    let existing = [task_for(
        &tick(t(7, 9)),
        "spawner-20260107-0900",
        Some(TaskPhase::Running),
    )];
    assert!(plan(&spec, &[], &existing).is_empty());
}

#[test]
fn suspend_stops_cancellation() {
    let mut spec = with_policy(issues_spec(), C, C);
    spec.suspend = true;
    let existing = [
        task_for(&issue(1), "spawner-1", Some(TaskPhase::Running)),
        task_for(&issue(2), "spawner-2", Some(TaskPhase::Running)),
    ];
    assert!(plan(&spec, &[triggered(2, t(9, 0))], &existing).is_empty());
}

// ---------------------------------------------------------------------------------------
// onRetrigger (contract 7 and 8).

fn retrigger_spec() -> TaskSpawnerSpec {
    with_policy(issues_spec(), I, C)
}

#[test]
fn retrigger_cancels_running_pending_waiting_and_new_tasks_and_replaces_them() {
    for phase in [
        None,
        Some(TaskPhase::Pending),
        Some(TaskPhase::Waiting),
        Some(TaskPhase::Running),
    ] {
        let existing = [task_for(&triggered(1, t(1, 0)), "spawner-1", phase)];
        let a = plan(&retrigger_spec(), &[triggered(1, t(2, 0))], &existing);
        assert_eq!(
            summary(&a),
            [
                "cancel spawner-1 retrigger",
                "create spawner-1-2 replacing spawner-1"
            ],
            "{phase:?}"
        );
        match &a[0] {
            Action::Cancel {
                expected_phase,
                message,
                ..
            } => {
                assert_eq!(*expected_phase, phase);
                assert!(message.contains("issue #1"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let replacement = created(&a)[0];
        assert_eq!(
            annotations(replacement)[ANNOTATION_TRIGGER_TIME],
            format_trigger_time(t(2, 0))
        );
    }
}

#[test]
fn task_created_without_a_trigger_is_retriggered_by_the_first_one() {
    let existing = [task_for(&issue(1), "spawner-1", Some(TaskPhase::Running))];
    let a = plan(&retrigger_spec(), &[triggered(1, t(2, 0))], &existing);
    assert_eq!(
        summary(&a),
        [
            "cancel spawner-1 retrigger",
            "create spawner-1-2 replacing spawner-1"
        ]
    );
}

#[test]
fn same_trigger_never_cancels_its_replacement() {
    // Next cycle after a retrigger: the cancelled Task is kept, the replacement runs.
    let existing = [
        cancelled_by(
            task_for(&triggered(1, t(1, 0)), "spawner-1", None),
            &cancelled_by_spawner(SPAWNER),
            t(2, 1),
        ),
        task_for(
            &triggered(1, t(2, 0)),
            "spawner-1-2",
            Some(TaskPhase::Running),
        ),
    ];
    let a = plan(&retrigger_spec(), &[triggered(1, t(2, 0))], &existing);
    assert!(summary(&a).is_empty(), "{:?}", summary(&a));
    assert_eq!(skips(&a)[0].1, SkipWhy::ActiveTask("spawner-1-2".into()));
}

#[test]
fn replacement_is_stable_under_clock_skew() {
    // The apiserver's clock far behind or ahead of GitHub's: completionTime and
    // creationTimestamp say nothing about triggers, so nothing changes.
    for completion in [
        t(1, 0) - chrono::Duration::days(30),
        t(2, 0) + chrono::Duration::days(30),
    ] {
        let mut replacement = task_for(
            &triggered(1, t(2, 0)),
            "spawner-1-2",
            Some(TaskPhase::Running),
        );
        replacement.metadata.creation_timestamp = Some(k8s_time(completion));
        let existing = [
            cancelled_by(
                task_for(&triggered(1, t(1, 0)), "spawner-1", None),
                &cancelled_by_spawner(SPAWNER),
                completion,
            ),
            replacement,
        ];
        assert!(
            summary(&plan(
                &retrigger_spec(),
                &[triggered(1, t(2, 0))],
                &existing
            ))
            .is_empty()
        );
    }
}

#[test]
fn killed_between_cancel_and_create_creates_the_replacement_once() {
    // The cancel landed (completionTime after the trigger), the create did not.
    let cancelled = cancelled_by(
        task_for(&triggered(1, t(1, 0)), "spawner-1", None),
        &cancelled_by_spawner(SPAWNER),
        t(2, 5),
    );
    let a = plan(
        &retrigger_spec(),
        &[triggered(1, t(2, 0))],
        std::slice::from_ref(&cancelled),
    );
    assert_eq!(
        summary(&a),
        ["create spawner-1-2"],
        "kept, not deleted, not cancelled again"
    );

    // And the cycle after that is stable.
    let replacement = task_for(&triggered(1, t(2, 0)), "spawner-1-2", None);
    let a = plan(
        &retrigger_spec(),
        &[triggered(1, t(2, 0))],
        &[cancelled, replacement],
    );
    assert!(summary(&a).is_empty());
}

#[test]
fn replacement_names_are_distinct_and_deterministic() {
    let existing = [
        cancelled_by(
            task_for(&triggered(1, t(1, 0)), "spawner-1", None),
            &cancelled_by_spawner(SPAWNER),
            t(2, 1),
        ),
        task_for(
            &triggered(1, t(2, 0)),
            "spawner-1-2",
            Some(TaskPhase::Running),
        ),
    ];
    let a = plan(&retrigger_spec(), &[triggered(1, t(3, 0))], &existing);
    assert_eq!(
        summary(&a),
        [
            "cancel spawner-1-2 retrigger",
            "create spawner-1-3 replacing spawner-1-2"
        ]
    );
}

#[test]
fn older_trigger_does_not_cancel() {
    let existing = [task_for(
        &triggered(1, t(3, 0)),
        "spawner-1",
        Some(TaskPhase::Running),
    )];
    assert!(
        summary(&plan(
            &retrigger_spec(),
            &[triggered(1, t(2, 0))],
            &existing
        ))
        .is_empty()
    );
}

#[test]
fn retrigger_replacement_takes_the_cancelled_tasks_slot() {
    let mut spec = retrigger_spec();
    spec.max_concurrency = Some(1);
    let existing = [task_for(
        &triggered(1, t(1, 0)),
        "spawner-1",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[triggered(1, t(2, 0)), issue(2)], &existing);
    assert_eq!(
        summary(&a),
        [
            "cancel spawner-1 retrigger",
            "create spawner-1-2 replacing spawner-1"
        ]
    );
}

#[test]
fn retrigger_cancels_even_when_budget_is_exhausted() {
    let mut spec = retrigger_spec();
    spec.max_total_tasks = Some(1);
    let existing = [task_for(
        &triggered(1, t(1, 0)),
        "spawner-1",
        Some(TaskPhase::Running),
    )];
    let a = plan_with(&spec, &[triggered(1, t(2, 0))], &existing, 1);
    assert_eq!(summary(&a), ["cancel spawner-1 retrigger"]);
    assert_eq!(skips(&a)[0].1, SkipWhy::BudgetExhausted(1));
}

#[test]
fn retrigger_does_not_cancel_when_the_replacement_cannot_be_rendered() {
    let mut spec = retrigger_spec();
    spec.task_template.prompt_template = Some("{{.Nope}}".into());
    let existing = [task_for(
        &triggered(1, t(1, 0)),
        "spawner-1",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[triggered(1, t(2, 0))], &existing);
    assert!(summary(&a).is_empty());
    assert!(matches!(skips(&a)[0].1, SkipWhy::Render(_)));
}

#[test]
fn new_head_commit_cancels_a_review_task() {
    let spec = with_policy(prs_spec(), I, C);
    let existing = [task_for(
        &pr(7, "old", "feat"),
        "spawner-7",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[pr(7, "new", "feat")], &existing);
    assert_eq!(
        summary(&a),
        [
            "cancel spawner-7 new_head_commit",
            "create spawner-7-2 replacing spawner-7"
        ]
    );
    assert_eq!(annotations(created(&a)[0])[ANNOTATION_HEAD_SHA], "new");
    // Next cycle with the same head: stable.
    let existing = [
        cancelled_by(
            task_for(&pr(7, "old", "feat"), "spawner-7", None),
            &cancelled_by_spawner(SPAWNER),
            t(2, 0),
        ),
        task_for(
            &pr(7, "new", "feat"),
            "spawner-7-2",
            Some(TaskPhase::Running),
        ),
    ];
    assert!(summary(&plan(&spec, &[pr(7, "new", "feat")], &existing)).is_empty());
}

#[test]
fn new_head_commit_never_cancels_the_task_pushing_to_that_branch() {
    let mut spec = with_policy(prs_spec(), I, C);
    spec.task_template.branch = Some("{{.Branch}}".into());
    let ctx = PlanContext {
        spawner_name: SPAWNER,
        spec: &spec,
        total_tasks_created: 0,
        now: t(1, 0),
    };
    let mut task = build_task(&pr(7, "old", "feat"), "spawner-7", &ctx).unwrap();
    task.status = Some(TaskStatus {
        phase: Some(TaskPhase::Running),
        ..Default::default()
    });
    assert_eq!(task.spec.branch.as_deref(), Some("feat"));
    assert!(summary(&plan(&spec, &[pr(7, "new", "feat")], &[task])).is_empty());
}

#[test]
fn new_head_commit_is_not_a_trigger_under_ignore() {
    let existing = [task_for(
        &pr(7, "old", "feat"),
        "spawner-7",
        Some(TaskPhase::Running),
    )];
    assert!(summary(&plan(&prs_spec(), &[pr(7, "new", "feat")], &existing)).is_empty());
}

#[test]
fn unlabelled_active_task_is_never_retrigger_cancelled() {
    let existing = [legacy_task("spawner-1", Some(TaskPhase::Running))];
    assert!(
        summary(&plan(
            &retrigger_spec(),
            &[triggered(1, t(2, 0))],
            &existing
        ))
        .is_empty()
    );
}

#[test]
fn at_most_one_active_task_per_item() {
    // Whatever the policy and triggers, a plan never leaves two active Tasks for one item.
    for spec in [
        issues_spec(),
        retrigger_spec(),
        with_policy(issues_spec(), C, C),
    ] {
        for existing in [
            vec![task_for(
                &triggered(1, t(1, 0)),
                "spawner-1",
                Some(TaskPhase::Running),
            )],
            vec![],
            vec![finished(
                task_for(&triggered(1, t(1, 0)), "spawner-1", None),
                TaskPhase::Succeeded,
                t(1, 5),
            )],
        ] {
            let a = plan(
                &spec,
                &[triggered(1, t(2, 0)), triggered(1, t(2, 0))],
                &existing,
            );
            let active_before = existing.iter().filter(|t| !t.is_terminal()).count();
            let cancels = a
                .iter()
                .filter(|a| matches!(a, Action::Cancel { .. }))
                .count();
            let creates = created(&a).len();
            assert!(active_before - cancels + creates <= 1, "{:?}", summary(&a));
        }
    }
}

#[test]
fn cancelled_task_blocks_its_item_like_a_finished_one() {
    // Cancelled by a person: the original's completionTime rule.
    let user_cancelled = cancelled_by(
        task_for(&triggered(1, t(1, 0)), "spawner-1", None),
        CANCELLED_BY_USER,
        t(3, 0),
    );
    let a = plan(
        &issues_spec(),
        &[triggered(1, t(2, 0))],
        std::slice::from_ref(&user_cancelled),
    );
    assert!(summary(&a).is_empty());
    let a = plan(&issues_spec(), &[triggered(1, t(4, 0))], &[user_cancelled]);
    assert_eq!(summary(&a), ["delete spawner-1", "create spawner-1-2"]);
}

#[test]
fn spawner_cancelled_task_for_a_removed_item_blocks_it_until_a_newer_trigger() {
    let cancelled = cancelled_by(
        task_for(&triggered(1, t(1, 0)), "spawner-1", None),
        &cancelled_by_spawner(SPAWNER),
        t(3, 0),
    );
    // The item is back with the same trigger: blocked.
    let a = plan(
        &removed_spec(),
        &[triggered(1, t(1, 0))],
        std::slice::from_ref(&cancelled),
    );
    assert!(summary(&a).is_empty());
    // A newer trigger: a new Task, the cancelled one kept for the audit trail.
    let a = plan(&removed_spec(), &[triggered(1, t(4, 0))], &[cancelled]);
    assert_eq!(summary(&a), ["create spawner-1-2"]);
}

// ---------------------------------------------------------------------------------------
// Cron overlap under onRetrigger: Cancel.

fn cron_cancel_spec() -> TaskSpawnerSpec {
    with_policy(cron_spec(), I, C)
}

#[test]
fn new_cron_tick_cancels_the_previous_ticks_running_task() {
    let existing = [task_for(
        &tick(t(7, 9)),
        "spawner-20260107-0900",
        Some(TaskPhase::Running),
    )];
    let a = plan(&cron_cancel_spec(), &[tick(t(7, 10))], &existing);
    assert_eq!(
        summary(&a),
        [
            "cancel spawner-20260107-0900 cron_overlap",
            "create spawner-20260107-1000 replacing spawner-20260107-0900"
        ]
    );
}

#[test]
fn new_cron_tick_replaces_even_at_max_concurrency() {
    let mut spec = cron_cancel_spec();
    spec.max_concurrency = Some(1);
    let existing = [task_for(
        &tick(t(7, 9)),
        "spawner-20260107-0900",
        Some(TaskPhase::Running),
    )];
    let a = plan(&spec, &[tick(t(7, 10))], &existing);
    assert_eq!(created(&a).len(), 1);
}

#[test]
fn only_the_newest_of_several_due_ticks_runs() {
    let a = plan(
        &cron_cancel_spec(),
        &[tick(t(7, 9)), tick(t(7, 10)), tick(t(7, 11))],
        &[],
    );
    assert_eq!(summary(&a), ["create spawner-20260107-1100"]);
    assert_eq!(
        skips(&a)
            .iter()
            .filter(|(_, w)| matches!(w, SkipWhy::SupersededTick(_)))
            .count(),
        2
    );
}

#[test]
fn finished_earlier_tick_is_left_alone() {
    let existing = [finished(
        task_for(&tick(t(7, 9)), "spawner-20260107-0900", None),
        TaskPhase::Succeeded,
        t(7, 9),
    )];
    let a = plan(&cron_cancel_spec(), &[tick(t(7, 10))], &existing);
    assert_eq!(summary(&a), ["create spawner-20260107-1000"]);
}

#[test]
fn rediscovered_tick_with_its_task_running_is_stable() {
    let existing = [task_for(
        &tick(t(7, 10)),
        "spawner-20260107-1000",
        Some(TaskPhase::Running),
    )];
    assert!(summary(&plan(&cron_cancel_spec(), &[tick(t(7, 10))], &existing)).is_empty());
}
