//! The Task reconciler's failure paths before a Job exists (GitHub token, MCP secret, Job
//! build, missing Workspace) and a GitHub App Workspace end to end against a local token
//! endpoint (kelos-fake-github), on the real apiserver.

mod task_support;

use k8s_openapi::api::core::v1::Secret;
use kelos_api::TaskPhase;
use kube::{Api, ResourceExt};
use serde_json::json;
use task_support::*;

async fn assert_failed_before_job(env: &Env, name: &str, message: &str, reason: &str) {
    let t = env.wait_phase(name, TaskPhase::Failed).await;
    let s = status_of(&t);
    assert_eq!(s.message.as_deref(), Some(message));
    assert!(
        s.completion_time.is_some(),
        "completionTime, so the TTL applies"
    );
    assert!(!env.job_exists(name).await);
    let e = env.wait_event(name, reason).await;
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.note.as_deref(), Some(message));
    env.wait_task(name, "marker", recorded).await;
}

#[tokio::test]
async fn missing_workspace_secret_fails_the_task() {
    let env = Env::new("fail-token").await;
    let _ctrl = env.start().await;
    env.workspace_spec(
        "ws",
        json!({"repo": "https://github.com/o/r.git", "secretRef": {"name": "missing"}}),
    )
    .await;
    // completionTime has whole seconds, so a 1 s TTL can expire before one poll sees Failed.
    env.create(with_ttl(with_workspace(task("t1"), "ws"), 3))
        .await;
    assert_failed_before_job(
        &env,
        "t1",
        "Failed to resolve GitHub token: secrets \"missing\" not found",
        "GitHubTokenFailed",
    )
    .await;
    // Never started, still cleaned up by its TTL.
    env.wait_gone("t1").await;
}

#[tokio::test]
async fn missing_mcp_secret_fails_the_task() {
    let env = Env::new("fail-mcp").await;
    let _ctrl = env.start().await;
    env.mcp_agent_config("ac", "mcp-headers").await;
    env.create(with_agent_config(task("t1"), "ac")).await;
    let t = env.wait_phase("t1", TaskPhase::Failed).await;
    let message = status_of(&t).message.unwrap();
    assert!(
        message.starts_with("Failed to resolve MCP server secret: "),
        "{message}"
    );
    assert!(message.contains("mcp-headers"), "{message}");
    env.wait_event("t1", "MCPSecretFailed").await;
}

#[tokio::test]
async fn unbuildable_job_fails_the_task() {
    let env = Env::new("fail-build").await;
    let _ctrl = env.start().await;
    env.workspace_spec(
        "ws",
        json!({"repo": "https://github.com/o/r.git", "files": [{"path": "../escape", "content": "x"}]}),
    )
    .await;
    env.create(with_workspace(task("t1"), "ws")).await;
    let t = env.wait_phase("t1", TaskPhase::Failed).await;
    let message = status_of(&t).message.unwrap();
    assert!(
        message.starts_with("Failed to build Job: invalid workspace file path"),
        "{message}"
    );
    env.wait_event("t1", "JobBuildFailed").await;
    assert!(!env.job_exists("t1").await);
}

#[tokio::test]
async fn missing_workspace_waits_then_starts() {
    let env = Env::new("wait-ws").await;
    let _ctrl = env.start().await;
    env.create(with_workspace(task("t1"), "later")).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let t = env.tasks().get("t1").await.unwrap();
    assert_eq!(t.phase(), None, "no phase while the Workspace is missing");
    assert!(!env.job_exists("t1").await);
    env.workspace("later").await;
    env.wait_phase("t1", TaskPhase::Pending).await;
}

#[tokio::test]
async fn github_app_workspace_gets_an_installation_token_secret() {
    let gh = fake_github_with_app().await;
    let env = Env::new("github-app").await;
    let _ctrl = env.start_with_github(&gh).await;
    env.app_secret("app", "777").await;
    env.secret_workspace("ws", "app").await;
    let created = env.create(with_workspace(task("t1"), "ws")).await;
    env.wait_phase("t1", TaskPhase::Pending).await;

    let minted = gh.minted_tokens();
    assert_eq!(minted.len(), 1);
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let secret = secrets.get("t1-github-token").await.unwrap();
    let data = secret.data.clone().unwrap();
    assert_eq!(data["GITHUB_TOKEN"].0, minted[0].token.as_bytes());
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("Task", Some(true))
    );
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());

    let job = env.wait_job("t1").await;
    let pod = job.spec.unwrap().template.spec.unwrap();
    let env_var = pod.containers[0]
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "GITHUB_TOKEN")
        .expect("GITHUB_TOKEN");
    let from = env_var
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(from.name, "t1-github-token");
    // The token is referenced, never inlined, and appears in no status or event.
    let token = &minted[0].token;
    assert!(
        !serde_json::to_string(&pod)
            .unwrap()
            .contains(token.as_str())
    );
    let t = env.tasks().get("t1").await.unwrap();
    assert!(!serde_json::to_string(&t).unwrap().contains(token.as_str()));
    for e in env.events("t1").await {
        assert!(!serde_json::to_string(&e).unwrap().contains(token.as_str()));
    }
}
