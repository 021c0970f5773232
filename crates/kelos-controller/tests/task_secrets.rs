//! No Secret value ever appears in the controller's logs (JSON, at debug level), its events or
//! Task status: GitHub App key and installation token, a PAT, MCP header values. Its own test
//! binary, so its log capture is the process's only subscriber.

mod task_support;

use std::io::Write;
use std::sync::Mutex;

use kelos_api::TaskPhase;
use kelos_controller::job::JobImages;
use kelos_controller::task::TaskConfig;
use kelos_fake_github::FakeGitHub;
use kube::Api;
use serde_json::json;
use task_support::*;

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

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PAT: &str = "ghp_pat_value_never_logged_0123456789";
const MCP_TOKEN: &str = "Bearer mcp-secret-value-never-logged";

#[tokio::test]
async fn secrets_stay_out_of_logs_events_and_status() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(|| Capture)
        .init();
    let gh = FakeGitHub::start().await;
    gh.register_app(4242, "kelos-test-app", Some(APP_PUBLIC_KEY));
    gh.add_installation(777, 4242);
    let env = Env::new("secrets").await;
    let ctrl = env
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
    env.secret("pat", &[("GITHUB_TOKEN", PAT)]).await;
    env.secret("mcp", &[("Authorization", MCP_TOKEN)]).await;
    env.workspace_spec(
        "app-ws",
        json!({"repo": "https://github.com/acme/widgets.git", "secretRef": {"name": "app"}}),
    )
    .await;
    env.workspace_spec(
        "pat-ws",
        json!({"repo": "https://github.com/acme/widgets.git", "secretRef": {"name": "pat"}}),
    )
    .await;
    let ac: kelos_api::AgentConfig = serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "AgentConfig",
        "metadata": {"name": "ac"},
        "spec": {"mcpServers": [{"name": "tools", "type": "http", "url": "https://mcp.example",
                                  "headersFrom": {"secretRef": {"name": "mcp"}}}]}
    }))
    .unwrap();
    Api::<kelos_api::AgentConfig>::namespaced(env.client.clone(), &env.ns)
        .create(&Default::default(), &ac)
        .await
        .unwrap();

    let mut app_task = task("app-task");
    app_task.spec.workspace_ref = Some(kelos_api::WorkspaceReference {
        name: "app-ws".into(),
    });
    app_task.spec.agent_config_ref = Some(kelos_api::AgentConfigReference { name: "ac".into() });
    env.create(app_task).await;
    let mut pat_task = task("pat-task");
    pat_task.spec.workspace_ref = Some(kelos_api::WorkspaceReference {
        name: "pat-ws".into(),
    });
    env.create(pat_task).await;
    // A failing exchange: its error message goes into status and an event.
    env.secret(
        "bad-app",
        &[
            ("appID", "4242"),
            ("installationID", "999"),
            ("privateKey", APP_KEY_PKCS8),
        ],
    )
    .await;
    env.workspace_spec(
        "bad-ws",
        json!({"repo": "https://github.com/acme/widgets.git", "secretRef": {"name": "bad-app"}}),
    )
    .await;
    let mut bad = task("bad-task");
    bad.spec.workspace_ref = Some(kelos_api::WorkspaceReference {
        name: "bad-ws".into(),
    });
    env.create(bad).await;

    for n in ["app-task", "pat-task"] {
        env.wait_job(n).await;
        env.job_running(n).await;
        env.wait_phase(n, TaskPhase::Running).await;
        env.job_succeeded(n).await;
        env.wait_phase(n, TaskPhase::Succeeded).await;
    }
    let failed = env.wait_phase("bad-task", TaskPhase::Failed).await;
    let message = status_of(&failed).message.unwrap();
    assert!(
        message.starts_with("Failed to resolve GitHub token: "),
        "{message}"
    );
    env.wait_event("bad-task", "GitHubTokenFailed").await;
    let _ = metrics(&ctrl).await;
    ctrl.stop().await;

    let token = gh.minted_tokens()[0].token.clone();
    let key_line = APP_KEY_PKCS8.lines().nth(5).unwrap().to_owned();
    let secrets = [token.as_str(), PAT, MCP_TOKEN, key_line.as_str()];
    let logs = String::from_utf8(LOGS.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("\"namespace\""),
        "reconcile spans carry the namespace: {logs:.2000}"
    );
    let mut seen = Vec::new();
    for n in ["app-task", "pat-task", "bad-task"] {
        seen.push(serde_json::to_string(&env.tasks().get(n).await.unwrap().status).unwrap());
        for e in env.events(n).await {
            seen.push(serde_json::to_string(&e).unwrap());
        }
    }
    for secret in secrets {
        assert!(!logs.contains(secret), "a Secret value is in the logs");
        for text in &seen {
            assert!(
                !text.contains(secret),
                "a Secret value is in status or an event: {text}"
            );
        }
    }
}
