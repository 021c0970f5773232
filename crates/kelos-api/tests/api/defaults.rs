//! Defaults of minimal manifests, in Rust (serde) and in the CRD (what the apiserver fills in).

use kelos_api::{
    AgentConfig, CancellationAction, CancellationPolicy, GitHubItemType, GitHubState, ReviewState,
    Task, TaskSpawner, Workspace,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{apply_defaults, from_yaml, schema_of};

const GITHUB_ISSUES: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: TaskSpawner
metadata: {name: s}
spec:
  when: {githubIssues: {}}
  taskTemplate:
    type: claude-code
    credentials: {type: api-key, secretRef: {name: c}}
    workspaceRef: {name: w}
"#;

const GITHUB_PULL_REQUESTS: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: TaskSpawner
metadata: {name: s}
spec:
  when: {githubPullRequests: {}}
  taskTemplate:
    type: codex
    credentials: {type: oauth, secretRef: {name: c}}
    workspaceRef: {name: w}
"#;

const CRON_WITH_EMPTY_POLICY: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: TaskSpawner
metadata: {name: s}
spec:
  when: {cron: {schedule: "0 * * * *"}}
  cancellationPolicy: {}
  taskTemplate:
    type: gemini
    credentials: {type: api-key, secretRef: {name: c}}
"#;

const PARTIAL_POLICY: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: TaskSpawner
metadata: {name: s}
spec:
  when: {cron: {schedule: "0 * * * *"}}
  cancellationPolicy: {onRetrigger: Cancel}
  taskTemplate:
    type: gemini
    credentials: {type: api-key, secretRef: {name: c}}
"#;

const TASK: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: Task
metadata: {name: t}
spec:
  type: opencode
  prompt: hello
  credentials: {type: api-key, secretRef: {name: c}}
"#;

const WORKSPACE: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: Workspace
metadata: {name: w}
spec: {repo: "https://github.com/o/r.git"}
"#;

const AGENT_CONFIG: &str = r#"
apiVersion: kelos.dev/v1alpha1
kind: AgentConfig
metadata: {name: a}
spec: {}
"#;

#[test]
fn taskspawner_defaults() {
    let spawner: TaskSpawner = from_yaml(GITHUB_ISSUES);
    let spec = &spawner.spec;
    assert_eq!(spec.poll_interval, "5m");
    assert!(!spec.suspend);
    assert!(!spec.is_suspended());
    assert!(!spec.is_cron());
    assert_eq!(spec.max_concurrency, None);
    assert_eq!(spec.max_total_tasks, None);
    assert_eq!(spec.cancellation_policy, None);
    assert_eq!(spec.cancellation_policy(), ignore_ignore_zero());
    let issues = spec.when.github_issues.as_ref().unwrap();
    assert_eq!(issues.types, [GitHubItemType::Issues]);
    assert_eq!(issues.state, GitHubState::Open);
    assert_eq!(issues.comment_policy, None);
    assert_eq!(spawner.status, None);
}

#[test]
fn pull_request_source_defaults() {
    let spawner: TaskSpawner = from_yaml(GITHUB_PULL_REQUESTS);
    let pulls = spawner.spec.when.github_pull_requests.unwrap();
    assert_eq!(pulls.state, GitHubState::Open);
    assert_eq!(pulls.review_state, ReviewState::Any);
    assert_eq!(
        pulls.draft, None,
        "unset means drafts and ready pull requests alike"
    );
}

#[test]
fn cancellation_policy_defaults_change_nothing() {
    let spawner: TaskSpawner = from_yaml(CRON_WITH_EMPTY_POLICY);
    assert!(spawner.spec.is_cron());
    assert_eq!(spawner.spec.cancellation_policy, Some(ignore_ignore_zero()));

    let spawner: TaskSpawner = from_yaml(PARTIAL_POLICY);
    let policy = spawner.spec.cancellation_policy();
    assert_eq!(policy.on_retrigger, CancellationAction::Cancel);
    assert!(policy.on_retrigger.is_cancel());
    assert_eq!(policy.on_source_removed, CancellationAction::Ignore);
    assert_eq!(policy.grace_period_seconds, 0);
}

#[test]
fn task_workspace_and_agentconfig_have_no_hidden_defaults() {
    let task: Task = from_yaml(TASK);
    assert_eq!(task.spec.model, None);
    assert_eq!(
        task.spec.ttl_seconds_after_finished, None,
        "unset: never deleted"
    );
    assert_eq!(task.spec.pod_overrides, None);
    assert_eq!(task.status, None);
    assert!(!task.is_terminal());

    let workspace: Workspace = from_yaml(WORKSPACE);
    assert_eq!(workspace.spec.r#ref, None);
    assert_eq!(workspace.spec.remotes, None);

    let config: AgentConfig = from_yaml(AGENT_CONFIG);
    assert_eq!(config.spec, Default::default());
}

/// serde's defaults and the CRD's `default`s must agree, or a Rust writer and the apiserver
/// would disagree about what an omitted field means.
#[test]
fn serde_defaults_match_crd_defaults() {
    check_defaults_agree::<TaskSpawner>("TaskSpawner", GITHUB_ISSUES);
    check_defaults_agree::<TaskSpawner>("TaskSpawner", GITHUB_PULL_REQUESTS);
    check_defaults_agree::<TaskSpawner>("TaskSpawner", CRON_WITH_EMPTY_POLICY);
    check_defaults_agree::<TaskSpawner>("TaskSpawner", PARTIAL_POLICY);
    check_defaults_agree::<Task>("Task", TASK);
    check_defaults_agree::<Workspace>("Workspace", WORKSPACE);
    check_defaults_agree::<AgentConfig>("AgentConfig", AGENT_CONFIG);
}

fn check_defaults_agree<T: DeserializeOwned + Serialize>(kind: &str, yaml: &str) {
    let mut defaulted: Value = serde_saphyr::from_str(yaml).unwrap();
    apply_defaults(&schema_of(kind), &mut defaulted);
    let typed: T = from_yaml(yaml);
    assert_eq!(serde_json::to_value(typed).unwrap(), defaulted, "{yaml}");
}

fn ignore_ignore_zero() -> CancellationPolicy {
    CancellationPolicy {
        on_source_removed: CancellationAction::Ignore,
        on_retrigger: CancellationAction::Ignore,
        grace_period_seconds: 0,
    }
}
