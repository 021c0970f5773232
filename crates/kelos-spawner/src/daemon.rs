//! Daemon mode: a cycle every poll interval, and at once when the TaskSpawner's spec changes
//! (its generation) or one of its Tasks changes phase, starts deleting or is deleted (what
//! refills `maxConcurrency` slots and creates replacements promptly), as the original's
//! controller-runtime predicates do. Never before GitHub's rate-limit "not before".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kelos_api::constants::LABEL_TASKSPAWNER;
use kelos_api::{Task, TaskPhase, TaskSpawner};
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

use crate::cycle::{CycleError, Spawner};
use crate::metrics::{CONTENT_TYPE, SpawnerMetrics};

/// Back-off after a failed cycle (an apiserver error): doubling from 1 s up to 5 min.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long to wait for the TaskSpawner to (re)appear before looking again.
const NOT_FOUND_WAIT: Duration = Duration::from_secs(300);

/// Runs cycles until `shutdown` resolves.
pub async fn run(spawner: Spawner, shutdown: impl std::future::Future<Output = ()>) {
    let wake = Arc::new(Notify::new());
    let watch_spawner = tokio::spawn(watch_spawner(
        spawner_client(&spawner),
        spawner.namespace().to_string(),
        spawner.name().to_string(),
        wake.clone(),
    ));
    let watch_tasks = tokio::spawn(watch_tasks(
        spawner_client(&spawner),
        spawner.namespace().to_string(),
        spawner.name().to_string(),
        wake.clone(),
    ));
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match spawner.run_cycle().await {
            Ok(report) => {
                backoff = Duration::from_secs(1);
                report.poll_interval
            }
            Err(CycleError::NotFound { .. }) => {
                info!("TaskSpawner not found; waiting for it to be created");
                NOT_FOUND_WAIT
            }
            Err(e) => {
                error!(error = %e, retry_in = ?backoff, "cycle failed");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => debug!("woken by a TaskSpawner or Task change"),
        }
        // GitHub said "not before": a wake-up does not make us hammer it.
        if let Some(pause) = spawner.github().and_then(|g| g.rate_limit_wait()) {
            info!(wait = ?pause, "waiting for the GitHub rate limit to reset");
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
    watch_spawner.abort();
    watch_tasks.abort();
}

fn spawner_client(spawner: &Spawner) -> Client {
    spawner.client().clone()
}

/// Wakes the loop when the TaskSpawner is created, deleted, or its spec changes (generation);
/// status-only updates (our own writes) are ignored.
async fn watch_spawner(client: Client, namespace: String, name: String, wake: Arc<Notify>) {
    let api: Api<TaskSpawner> = Api::namespaced(client, &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut generation: Option<i64> = None;
    let mut stream = watcher::watcher(api, cfg).boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(ts)) | Ok(Event::InitApply(ts)) => {
                let g = ts.metadata.generation;
                if generation != g {
                    if generation.is_some() {
                        wake.notify_one();
                    }
                    generation = g;
                }
            }
            Ok(Event::Delete(_)) => {
                generation = None;
                wake.notify_one();
            }
            Ok(Event::Init) | Ok(Event::InitDone) => {}
            Err(e) => warn!(error = %e, "watching the TaskSpawner"),
        }
    }
}

/// What of a Task wakes the loop when it changes.
fn task_key(t: &Task) -> (Option<TaskPhase>, bool) {
    (t.phase(), t.metadata.deletion_timestamp.is_some())
}

/// Wakes the loop when one of this spawner's Tasks changes phase, starts deleting, or is
/// deleted. Creations (ours) and annotation updates (reporting) are ignored.
async fn watch_tasks(client: Client, namespace: String, name: String, wake: Arc<Notify>) {
    let api: Api<Task> = Api::namespaced(client, &namespace);
    let cfg = watcher::Config::default().labels(&format!("{LABEL_TASKSPAWNER}={name}"));
    let mut seen: HashMap<String, (Option<TaskPhase>, bool)> = HashMap::new();
    let mut stream = watcher::watcher(api, cfg).boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::InitApply(t)) => {
                seen.insert(t.name_any(), task_key(&t));
            }
            Ok(Event::Apply(t)) => {
                let key = task_key(&t);
                if let Some(old) = seen.insert(t.name_any(), key)
                    && old != key
                {
                    wake.notify_one();
                }
            }
            Ok(Event::Delete(t)) => {
                seen.remove(&t.name_any());
                wake.notify_one();
            }
            Ok(Event::Init) | Ok(Event::InitDone) => {}
            Err(e) => warn!(error = %e, "watching Tasks"),
        }
    }
}

/// Serves `/metrics` and `/healthz` until the process ends.
pub async fn serve_metrics(addr: String, metrics: Arc<SpawnerMetrics>) -> std::io::Result<()> {
    use axum::Router;
    use axum::http::header;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(address = %addr, "serving metrics");
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }));
    axum::serve(listener, app).await
}
