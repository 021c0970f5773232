//! The Task reconciler's failure paths before a Job exists (GitHub token, MCP secret, Job
//! build, missing Workspace) and a GitHub App Workspace end to end against a local token
//! endpoint (kelos-fake-github), on the real apiserver.

mod task_support;

use k8s_openapi::api::core::v1::Secret;
use kelos_api::TaskPhase;
use kelos_api::constants::ANNOTATION_COMPLETION_RECORDED;
use kelos_controller::job::JobImages;
use kelos_controller::task::TaskConfig;
use kelos_fake_github::FakeGitHub;
use kube::{Api, ResourceExt};
use serde_json::json;
use task_support::*;

/// The test App's key pair (the same fixture as tests/github_app.rs).
const APP_KEY_PKCS8: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDWQuM37GBEufAh
i5yjPJj54nrpoKq8zuCbbZUd35rtnecHjZ7PTOUjYBA099GMtazFldWp9umg4vDu
K7D5AVi/rTdkgpYGzWYI0Av+aaDLyEgMkYp4JjqwaQm91NuqR9DDIi1Bg+6uj8io
cjukkNfN5sFZMjkbJ/xa1pJ70vXWUMS5RbvTrCmj8WlceGB5Rferjfh3mDCkg5mM
f8r44qvvvCo7n1otHjAhTOouS5VRpfUPnt9v6YPzBC70in2g9kTXBZK5WX6QWy3M
ADWp4O+904zqdJ9jnPIywPbQzZIKH0seHUHs3yZNP1oYJxSBLSlDmtqgSHJWk0YL
5cA1aX1zAgMBAAECggEADkVThNitHakGx600Nf24MK93QVMOt6CEtWoTcLxvCnhv
SoGSDoTG+yD9fsiF7bwbKFYqt4eShVOM1P8WakUaVczPy1WCcHWwzb9RrAuMBrIb
h4x9ysWYgYtVd0UBQfKQJ2ldaQLEgRU+J7BRP17YWyH7IdCLCr9baMZVxBTZ8aWZ
A+GRyeDQ59HrRUY0Q9xCWeJVp45R6vtPoGh8MTY7rFzQ3Hmpf74HXgCkz/esw7sb
8HEcfNsbf2IsJs/RWRC6nUdA3aRhgjr8Z5tqPnLwkbCRnp7HcZuhI949gKlMld/7
GjOQwKA8cUgyHtQDpyqV2wA23mCKmi6h+XIOyCcneQKBgQD2moXcmLvTHoOCxYNX
bCx0DXhGn2nGClV8H0LwXEqnGigRIwCaOGl1/kd+5HnE8Hh8ZDfRClGQuGLfLqdF
OLepktchDfDCXyHGvGtTox7CLspQXNNFSctNnQryDNQBI7GBc8i5qIdErU1yTGaE
5K9GmvbFip2rGA/uqbUocudtGQKBgQDebOJAFuXnLfeOvcduNtAzbPLDhCy0YTYz
shdwfYLKhDS2MgeiQJ1wCtlz6mJg9IHa3yBoM1Ku/12HqjUzM+wiMUzvt6B3Z6qD
TF4aOQZ52OG9hkWT3vdWsExAX7Drw5ajEaHE9+WoSZues/8NBbZMd1THHsIvGp2O
UJbrTZ6EawKBgQC0ENTZ5TSQzeEdZfenqDc1bnh6qQBlOTp+bZ1FQT7JkZHcIYDZ
G4P2QnwWLeK0aRqxScRwAWbZk6muabR+GRIS4kPvwOwiIbDaGs8LvTpCdEQKNh2W
pHGs9JT/dVqAkn2UluTknChZf2njoeHh+9H4bkLur269dc58aLL9HBncUQKBgQCD
6CrdOzcovJf9rQqikBs1BD2MOcyRRL1yNwGzkpuIIpNoIY9pZ8x2b9i555xkR1zj
QkPjx9wXMBZ1qDlYnkhBlt87orilV3NF3npILt1qUXa+gOyuXyJr5K2z14wCpcGl
/4TiXOlzvgNuQOzW+jY8buB2HgWnDa+2gJCgBy4k9QKBgQCc36KJ2T0jNMM0CJgq
wQK8iSasuHWDiB3vv3zlujB9N1M0QrLApC2GaGx1f0Ij6EDZMn8mSWLcIpjXw/dt
wrorjgvSQ5fKchEuHiTvqA4STrUU0sctg2fbQ0xNpJgfAeqyA2Xh+PzPYhBWCgb1
0udLDVITb4uO+FVrpgdKzWWNKA==
-----END PRIVATE KEY-----";
const APP_PUBLIC_KEY: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1kLjN+xgRLnwIYucozyY
+eJ66aCqvM7gm22VHd+a7Z3nB42ez0zlI2AQNPfRjLWsxZXVqfbpoOLw7iuw+QFY
v603ZIKWBs1mCNAL/mmgy8hIDJGKeCY6sGkJvdTbqkfQwyItQYPuro/IqHI7pJDX
zebBWTI5Gyf8WtaSe9L11lDEuUW706wpo/FpXHhgeUX3q434d5gwpIOZjH/K+OKr
77wqO59aLR4wIUzqLkuVUaX1D57fb+mD8wQu9Ip9oPZE1wWSuVl+kFstzAA1qeDv
vdOM6nSfY5zyMsD20M2SCh9LHh1B7N8mTT9aGCcUgS0pQ5raoEhyVpNGC+XANWl9
cwIDAQAB
-----END PUBLIC KEY-----";

fn with_workspace(mut t: kelos_api::Task, ws: &str) -> kelos_api::Task {
    t.spec.workspace_ref = Some(kelos_api::WorkspaceReference { name: ws.into() });
    t
}

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
    env.wait_task(name, "marker", |t| {
        annotations(t).contains_key(ANNOTATION_COMPLETION_RECORDED)
    })
    .await;
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
    env.create(with_ttl(with_workspace(task("t1"), "ws"), 1))
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
    let ac: kelos_api::AgentConfig = serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "AgentConfig",
        "metadata": {"name": "ac"},
        "spec": {"mcpServers": [{"name": "tools", "type": "http", "url": "https://mcp.example",
                                  "headersFrom": {"secretRef": {"name": "mcp-headers"}}}]}
    }))
    .unwrap();
    Api::<kelos_api::AgentConfig>::namespaced(env.client.clone(), &env.ns)
        .create(&Default::default(), &ac)
        .await
        .unwrap();
    let mut t = task("t1");
    t.spec.agent_config_ref = Some(kelos_api::AgentConfigReference { name: "ac".into() });
    env.create(t).await;
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
    let gh = FakeGitHub::start().await;
    gh.register_app(4242, "kelos-test-app", Some(APP_PUBLIC_KEY));
    gh.add_installation(777, 4242);
    let env = Env::new("github-app").await;
    let _ctrl = env
        .start_with(TaskConfig {
            images: JobImages::default(),
            github_api_base_url: Some(gh.url()),
        })
        .await;
    env.secret(
        "app",
        &[
            ("appID", "4242"),
            ("installationID", "777"),
            ("privateKey", APP_KEY_PKCS8),
        ],
    )
    .await;
    env.workspace_spec(
        "ws",
        json!({"repo": "https://github.com/acme/widgets.git", "secretRef": {"name": "app"}}),
    )
    .await;
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
