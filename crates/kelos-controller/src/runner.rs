//! Starting and stopping a whole controller: the Task reconciler, the TaskSpawner reconciler,
//! and the metrics and health servers. `main` and the tests use the same entry point.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::metrics::Metrics;
use crate::server;
use crate::task::{self, RunConfig};
use crate::taskspawner::{self, TaskSpawnerConfig};

#[derive(Clone, Debug)]
pub struct Options {
    pub metrics_addr: Option<SocketAddr>,
    pub health_addr: Option<SocketAddr>,
    pub task: RunConfig,
    /// `None`: do not run the TaskSpawner reconciler (Task-only tests and the bench).
    pub taskspawner: Option<TaskSpawnerConfig>,
}

/// A running controller.
pub struct Running {
    /// Where `/metrics` is served (the bound port when `:0` was asked for).
    pub metrics_addr: Option<SocketAddr>,
    pub health_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
    servers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Graceful stop: in-flight reconciles finish, then everything ends.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.handle).await;
        for s in &self.servers {
            s.abort();
        }
    }

    /// Stops at once, as a crash would.
    pub fn abort(self) {
        self.handle.abort();
        for s in &self.servers {
            s.abort();
        }
    }

    /// Waits until the controller stops on its own (it runs until shut down).
    pub async fn wait(mut self) {
        let _ = (&mut self.handle).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
        for s in &self.servers {
            s.abort();
        }
    }
}

/// Binds the HTTP listeners and starts everything on the current runtime.
pub async fn start(client: kube::Client, options: Options) -> Result<Running> {
    start_gated(client, options, None::<std::future::Ready<()>>).await
}

/// [`start`], but with a `gate` (leader election) the reconcilers start only once it resolves;
/// until then the metrics and health servers run and `/readyz` is ready (a healthy standby).
pub async fn start_gated<G>(
    client: kube::Client,
    options: Options,
    gate: Option<G>,
) -> Result<Running>
where
    G: std::future::Future<Output = ()> + Send + 'static,
{
    let metrics = Arc::new(Metrics::new()?);
    let (ready_tx, ready_rx) = watch::channel(false);
    let mut servers = Vec::new();
    let mut metrics_addr = None;
    if let Some(addr) = options.metrics_addr {
        let listener = server::bind(addr).await?;
        metrics_addr = listener.local_addr().ok();
        servers.push(tokio::spawn(server::serve(
            listener,
            server::metrics_router(metrics.clone()),
        )));
    }
    let mut health_addr = None;
    if let Some(addr) = options.health_addr {
        let listener = server::bind(addr).await?;
        health_addr = listener.local_addr().ok();
        servers.push(tokio::spawn(server::serve(
            listener,
            server::health_router(ready_rx),
        )));
    }
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (spawner_stop_tx, spawner_stop_rx) = oneshot::channel::<()>();
    let task_metrics = metrics.clone();
    let handle = tokio::spawn(async move {
        let mut shutdown_rx = shutdown_rx;
        if let Some(gate) = gate {
            let _ = ready_tx.send(true);
            tokio::select! {
                _ = gate => {}
                _ = &mut shutdown_rx => return,
            }
        }
        let shutdown = async move {
            let _ = shutdown_rx.await;
            let _ = spawner_stop_tx.send(());
        };
        let tasks = task::run(
            client.clone(),
            options.task,
            task_metrics.clone(),
            ready_tx,
            shutdown,
        );
        match options.taskspawner {
            Some(config) => {
                let errors = task_metrics.reconcile_errors.clone();
                let spawners = taskspawner::run(
                    client,
                    config,
                    async move {
                        let _ = spawner_stop_rx.await;
                    },
                    move |_| errors.with_label_values(&["taskspawner"]).inc(),
                );
                futures::join!(tasks, spawners);
            }
            None => tasks.await,
        }
    });
    Ok(Running {
        metrics_addr,
        health_addr,
        metrics,
        shutdown: Some(shutdown_tx),
        handle,
        servers,
    })
}
