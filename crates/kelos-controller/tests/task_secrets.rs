//! No Secret value ever appears in the controller's logs (JSON, at debug level), its events or
//! Task status: GitHub App key and installation token, a PAT, MCP header values. Its own test
//! binary, so its log capture is the process's only subscriber.

mod task_support;

use std::io::Write;
use std::sync::Mutex;

use kelos_api::TaskPhase;
use task_support::*;

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
    let gh = fake_github_with_app().await;
    let env = Env::new("secrets").await;
    let ctrl = env.start_with_github(&gh).await;

    env.app_secret("app", "777").await;
    env.secret("pat", &[("GITHUB_TOKEN", PAT)]).await;
    env.secret("mcp", &[("Authorization", MCP_TOKEN)]).await;
    env.secret_workspace("app-ws", "app").await;
    env.secret_workspace("pat-ws", "pat").await;
    env.mcp_agent_config("ac", "mcp").await;

    env.create(with_agent_config(
        with_workspace(task("app-task"), "app-ws"),
        "ac",
    ))
    .await;
    env.create(with_workspace(task("pat-task"), "pat-ws")).await;
    // A failing exchange: its error message goes into status and an event.
    env.app_secret("bad-app", "999").await;
    env.secret_workspace("bad-ws", "bad-app").await;
    env.create(with_workspace(task("bad-task"), "bad-ws")).await;

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
