//! kelos-controller: reconciles Tasks into Jobs (dependencies, branch locks, TTL, outputs,
//! cancellation, metrics) and TaskSpawners into spawner Deployments and CronJobs.

pub mod cli;
pub mod error;
pub mod github_app;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod runner;
pub mod server;
pub mod task;
pub mod taskspawner;

/// What `main` runs after logging is set up: the whole controller until SIGTERM or Ctrl-C.
pub async fn run_main(flags: cli::Flags) -> error::Result<()> {
    if flags.telemetry_report {
        tracing::info!("--telemetry-report: this controller never phones home; nothing to do");
        return Ok(());
    }
    let options = flags.options()?;
    let client = cli::client(&flags).await?;
    if flags.leader_elect {
        let config = leader::Config::new(flags.leader_election_namespace.as_deref());
        return leader::run(client, options, config, shutdown_signal()).await;
    }
    let running = runner::start(client, options).await?;
    tracing::info!(metrics = ?running.metrics_addr, health = ?running.health_addr, "kelos-controller started");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
