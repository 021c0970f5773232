//! The CRD schemas refuse invalid manifests with a message that says what is wrong. One table,
//! each row a manifest the apiserver must refuse and the text its message must contain.

mod support;

use serde_json::{Value, json};

use support::manifests::{
    agent_config, cron, issues, jira, policy, pulls, remotes, with, without, workspace,
};
use support::{apply, cluster_and_namespace, refusal, task};

const IMMUTABLE: &str = "Task spec is immutable after creation";
const WORKSPACE_REQUIRED: &str =
    "taskTemplate.workspaceRef is required when using githubIssues or githubPullRequests source";
const COMMENT_POLICY: &str = "commentPolicy cannot be used with triggerComment or excludeComments";
const NO_CRON_SOURCE_REMOVED: &str =
    "cancellationPolicy.onSourceRemoved: Cancel cannot be used with a cron source";
const URL_PATTERN: &str = "should match '^(https?://|git://|git@).*'";

/// `(what, manifest, expected text in the apiserver's message)`.
fn invalid_manifests() -> Vec<(&'static str, Value, &'static str)> {
    let comment_policy = json!({"triggerComment": "/kelos pick-up"});
    vec![
        // Task
        (
            "bad agent type",
            with(task("t"), "/spec/type", json!("claude")),
            r#"spec.type: Unsupported value: "claude""#,
        ),
        (
            "bad credential type",
            with(task("t"), "/spec/credentials/type", json!("token")),
            r#"spec.credentials.type: Unsupported value: "token""#,
        ),
        (
            "missing prompt",
            without(task("t"), "/spec/prompt"),
            "spec.prompt: Required value",
        ),
        (
            "missing credentials",
            without(task("t"), "/spec/credentials"),
            "spec.credentials: Required value",
        ),
        (
            "missing credentials secretRef",
            without(task("t"), "/spec/credentials/secretRef"),
            "spec.credentials.secretRef: Required value",
        ),
        (
            "missing type",
            without(task("t"), "/spec/type"),
            "spec.type: Required value",
        ),
        (
            "negative Task ttlSecondsAfterFinished",
            with(task("t"), "/spec/ttlSecondsAfterFinished", json!(-1)),
            "spec.ttlSecondsAfterFinished: Invalid value: -1: spec.ttlSecondsAfterFinished in body should be greater than or equal to 0",
        ),
        (
            "activeDeadlineSeconds 0",
            with(
                task("t"),
                "/spec/podOverrides/activeDeadlineSeconds",
                json!(0),
            ),
            "spec.podOverrides.activeDeadlineSeconds in body should be greater than or equal to 1",
        ),
        (
            "workspaceRef without name",
            with(task("t"), "/spec/workspaceRef", json!({})),
            "spec.workspaceRef.name: Required value",
        ),
        // TaskSpawner: cancellation policy
        (
            "onSourceRemoved: cancel",
            with(
                pulls(),
                "/spec/cancellationPolicy",
                policy("cancel", "Ignore", 0),
            ),
            r#"spec.cancellationPolicy.onSourceRemoved: Unsupported value: "cancel": supported values: "Cancel", "Ignore""#,
        ),
        (
            "onSourceRemoved: Delete",
            with(
                pulls(),
                "/spec/cancellationPolicy",
                policy("Delete", "Ignore", 0),
            ),
            r#"spec.cancellationPolicy.onSourceRemoved: Unsupported value: "Delete""#,
        ),
        (
            "onRetrigger: cancel",
            with(
                pulls(),
                "/spec/cancellationPolicy",
                policy("Ignore", "cancel", 0),
            ),
            r#"spec.cancellationPolicy.onRetrigger: Unsupported value: "cancel": supported values: "Cancel", "Ignore""#,
        ),
        (
            "onRetrigger: Delete",
            with(
                pulls(),
                "/spec/cancellationPolicy",
                policy("Ignore", "Delete", 0),
            ),
            r#"spec.cancellationPolicy.onRetrigger: Unsupported value: "Delete""#,
        ),
        (
            "negative gracePeriodSeconds",
            with(
                pulls(),
                "/spec/cancellationPolicy",
                policy("Cancel", "Cancel", -1),
            ),
            "spec.cancellationPolicy.gracePeriodSeconds in body should be greater than or equal to 0",
        ),
        (
            "cron with onSourceRemoved: Cancel",
            with(
                cron(),
                "/spec/cancellationPolicy",
                policy("Cancel", "Ignore", 0),
            ),
            NO_CRON_SOURCE_REMOVED,
        ),
        (
            "cron with defaulted onRetrigger and onSourceRemoved: Cancel",
            with(
                cron(),
                "/spec/cancellationPolicy",
                json!({"onSourceRemoved": "Cancel"}),
            ),
            NO_CRON_SOURCE_REMOVED,
        ),
        // TaskSpawner: spec
        (
            "githubIssues without workspaceRef",
            without(issues(), "/spec/taskTemplate/workspaceRef"),
            WORKSPACE_REQUIRED,
        ),
        (
            "githubPullRequests without workspaceRef",
            without(pulls(), "/spec/taskTemplate/workspaceRef"),
            WORKSPACE_REQUIRED,
        ),
        (
            "negative maxConcurrency",
            with(issues(), "/spec/maxConcurrency", json!(-1)),
            "spec.maxConcurrency in body should be greater than or equal to 0",
        ),
        (
            "negative maxTotalTasks",
            with(issues(), "/spec/maxTotalTasks", json!(-5)),
            "spec.maxTotalTasks in body should be greater than or equal to 0",
        ),
        (
            "negative taskTemplate ttlSecondsAfterFinished",
            with(
                issues(),
                "/spec/taskTemplate/ttlSecondsAfterFinished",
                json!(-1),
            ),
            "spec.taskTemplate.ttlSecondsAfterFinished in body should be greater than or equal to 0",
        ),
        (
            "taskTemplate activeDeadlineSeconds 0",
            with(
                issues(),
                "/spec/taskTemplate/podOverrides/activeDeadlineSeconds",
                json!(0),
            ),
            "spec.taskTemplate.podOverrides.activeDeadlineSeconds in body should be greater than or equal to 1",
        ),
        (
            "bad taskTemplate agent type",
            with(issues(), "/spec/taskTemplate/type", json!("copilot")),
            r#"spec.taskTemplate.type: Unsupported value: "copilot""#,
        ),
        (
            "missing taskTemplate",
            without(issues(), "/spec/taskTemplate"),
            "spec.taskTemplate: Required value",
        ),
        (
            "missing when",
            without(issues(), "/spec/when"),
            "spec.when: Required value",
        ),
        // TaskSpawner: sources
        (
            "githubIssues commentPolicy with triggerComment",
            with(
                with(
                    issues(),
                    "/spec/when/githubIssues/commentPolicy",
                    comment_policy.clone(),
                ),
                "/spec/when/githubIssues/triggerComment",
                json!("/kelos go"),
            ),
            COMMENT_POLICY,
        ),
        (
            "githubIssues commentPolicy with excludeComments",
            with(
                with(
                    issues(),
                    "/spec/when/githubIssues/commentPolicy",
                    comment_policy.clone(),
                ),
                "/spec/when/githubIssues/excludeComments",
                json!(["/kelos stop"]),
            ),
            COMMENT_POLICY,
        ),
        (
            "githubPullRequests commentPolicy with triggerComment",
            with(
                with(
                    pulls(),
                    "/spec/when/githubPullRequests/commentPolicy",
                    comment_policy.clone(),
                ),
                "/spec/when/githubPullRequests/triggerComment",
                json!("/kelos go"),
            ),
            COMMENT_POLICY,
        ),
        (
            "githubPullRequests commentPolicy with excludeComments",
            with(
                with(
                    pulls(),
                    "/spec/when/githubPullRequests/commentPolicy",
                    comment_policy,
                ),
                "/spec/when/githubPullRequests/excludeComments",
                json!(["/kelos stop"]),
            ),
            COMMENT_POLICY,
        ),
        (
            "bad allowedTeams",
            with(
                issues(),
                "/spec/when/githubIssues/commentPolicy/allowedTeams",
                json!(["platform"]),
            ),
            "should match '^[^/]+/[^/]+$'",
        ),
        (
            "bad minimumPermission",
            with(
                pulls(),
                "/spec/when/githubPullRequests/commentPolicy/minimumPermission",
                json!("owner"),
            ),
            r#"spec.when.githubPullRequests.commentPolicy.minimumPermission: Unsupported value: "owner""#,
        ),
        (
            "bad issues state",
            with(issues(), "/spec/when/githubIssues/state", json!("merged")),
            r#"spec.when.githubIssues.state: Unsupported value: "merged""#,
        ),
        (
            "bad pull request state",
            with(
                pulls(),
                "/spec/when/githubPullRequests/state",
                json!("Open"),
            ),
            r#"spec.when.githubPullRequests.state: Unsupported value: "Open""#,
        ),
        (
            "bad reviewState",
            with(
                pulls(),
                "/spec/when/githubPullRequests/reviewState",
                json!("commented"),
            ),
            r#"spec.when.githubPullRequests.reviewState: Unsupported value: "commented""#,
        ),
        (
            "bad issue types",
            with(issues(), "/spec/when/githubIssues/types", json!(["prs"])),
            r#"spec.when.githubIssues.types[0]: Unsupported value: "prs""#,
        ),
        (
            "cron without schedule",
            with(cron(), "/spec/when/cron", json!({})),
            "spec.when.cron.schedule: Required value",
        ),
        (
            "bad Jira baseUrl",
            with(
                jira(),
                "/spec/when/jira/baseUrl",
                json!("example.atlassian.net"),
            ),
            "spec.when.jira.baseUrl in body should match '^https?://.+'",
        ),
        (
            "Jira without project",
            without(jira(), "/spec/when/jira/project"),
            "spec.when.jira.project: Required value",
        ),
        // Workspace
        (
            "bad Workspace repo URL",
            with(
                workspace(),
                "/spec/repo",
                json!("ftp://example.com/repo.git"),
            ),
            URL_PATTERN,
        ),
        (
            "missing Workspace repo",
            without(workspace(), "/spec/repo"),
            "spec.repo: Required value",
        ),
        (
            "remote named origin",
            remotes(json!([{"name": "origin", "url": "https://github.com/a/b.git"}])),
            "remote name 'origin' is reserved for the clone source",
        ),
        (
            "duplicate remote names",
            remotes(json!([
                {"name": "upstream", "url": "https://github.com/a/b.git"},
                {"name": "upstream", "url": "https://github.com/c/d.git"}])),
            r#".spec.remotes: duplicate entries for key [name="upstream"]"#,
        ),
        (
            "bad remote URL",
            remotes(json!([{"name": "upstream", "url": "github.com/a/b"}])),
            URL_PATTERN,
        ),
        (
            "empty remote name",
            remotes(json!([{"name": "", "url": "https://github.com/a/b.git"}])),
            "spec.remotes[0].name in body should be at least 1 chars long",
        ),
        (
            "empty file path",
            with(
                workspace(),
                "/spec/files",
                json!([{"path": "", "content": "x"}]),
            ),
            "spec.files[0].path in body should be at least 1 chars long",
        ),
        // AgentConfig
        (
            "bad MCP type",
            with(
                agent_config(),
                "/spec/mcpServers",
                json!([{"name": "fs", "type": "websocket"}]),
            ),
            r#"spec.mcpServers[0].type: Unsupported value: "websocket": supported values: "stdio", "http", "sse""#,
        ),
        (
            "empty MCP server name",
            with(
                agent_config(),
                "/spec/mcpServers",
                json!([{"name": "", "type": "stdio"}]),
            ),
            "spec.mcpServers[0].name in body should be at least 1 chars long",
        ),
        (
            "empty plugin name",
            with(agent_config(), "/spec/plugins", json!([{"name": ""}])),
            "spec.plugins[0].name in body should be at least 1 chars long",
        ),
        (
            "skill without content",
            with(
                agent_config(),
                "/spec/plugins",
                json!([{"name": "p", "skills": [{"name": "s"}]}]),
            ),
            "spec.plugins[0].skills[0].content: Required value",
        ),
        (
            "empty skills.sh source",
            with(agent_config(), "/spec/skills", json!([{"source": ""}])),
            "spec.skills[0].source in body should be at least 1 chars long",
        ),
    ]
}

#[tokio::test]
async fn the_bases_of_the_table_are_valid() {
    let (_, client, ns) = cluster_and_namespace("valid").await;
    let mut bases = vec![
        task("t"),
        issues(),
        pulls(),
        jira(),
        workspace(),
        agent_config(),
    ];
    bases.push(with(
        cron(),
        "/spec/cancellationPolicy",
        policy("Ignore", "Cancel", 0),
    ));
    bases.push(with(
        pulls(),
        "/spec/cancellationPolicy",
        policy("Cancel", "Cancel", 0),
    ));
    for (i, mut manifest) in bases.into_iter().enumerate() {
        manifest["metadata"]["name"] = json!(format!("valid-{i}"));
        apply(&client, &ns, &manifest)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{manifest:#}"));
    }
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_a_clear_message() {
    let (_, client, ns) = cluster_and_namespace("invalid").await;
    let cases = invalid_manifests();
    assert!(cases.len() >= 25, "{}", cases.len());
    let mut failures = Vec::new();
    for (i, (what, mut manifest, expected)) in cases.into_iter().enumerate() {
        manifest["metadata"]["name"] = json!(format!("case-{i}"));
        match apply(&client, &ns, &manifest).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(e) => {
                let message = refusal::<()>(Err(e));
                if !message.contains(expected) {
                    failures.push(format!("{what}: {message:?} lacks {expected:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_task_spec_cannot_change_after_creation() {
    let (_, client, ns) = cluster_and_namespace("immutable").await;
    apply(&client, &ns, &task("fixed")).await.unwrap();
    for (field, value) in [
        ("/spec/prompt", json!("Do something else.")),
        ("/spec/branch", json!("other")),
        ("/spec/ttlSecondsAfterFinished", json!(60)),
    ] {
        let changed = with(task("fixed"), field, value);
        let message = refusal(apply(&client, &ns, &changed).await);
        assert!(message.contains(IMMUTABLE), "{field}: {message}");
    }
    // Metadata stays mutable: labels, annotations and finalizers are how Tasks get tracked.
    let relabelled = with(task("fixed"), "/metadata/labels", json!({"team": "a"}));
    apply(&client, &ns, &relabelled).await.unwrap();
}

/// Server-side apply refuses duplicate remote names while building its merge structure; a plain
/// create (`kubectl create`, client-side apply) is refused by the schema's list-map validation.
#[tokio::test]
async fn duplicate_remote_names_are_refused_by_a_plain_create_too() {
    let (_, client, ns) = cluster_and_namespace("remotes").await;
    let manifest = remotes(json!([
        {"name": "upstream", "url": "https://github.com/a/b.git"},
        {"name": "upstream", "url": "https://github.com/c/d.git"}
    ]));
    let object: kube::api::DynamicObject = serde_json::from_value(manifest).unwrap();
    let result = support::api(&client, &ns, "Workspace")
        .create(&kube::api::PostParams::default(), &object)
        .await;
    let message = refusal(result);
    assert!(
        message.contains(r#"spec.remotes[1]: Duplicate value: {"name":"upstream"}"#),
        "{message}"
    );
}
