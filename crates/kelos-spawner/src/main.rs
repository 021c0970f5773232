//! kelos-spawner: one TaskSpawner's discovery, creation and cancellation loop. Everything but
//! wiring lives in the library (`cycle`, `daemon`, `flags`).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use kelos_spawner::cycle::Spawner;
use kelos_spawner::daemon;
use kelos_spawner::flags::Flags;
use kelos_spawner::github::{GitHubClient, GitHubConfig, TokenSource};
use kelos_spawner::metrics::SpawnerMetrics;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(flags.log_filter()));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    match run(flags).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "Cycle failed");
            ExitCode::FAILURE
        }
    }
}

async fn kube_client(flags: &Flags) -> Result<kube::Client, String> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("reading kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| format!("loading kubeconfig {}: {e}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("loading the Kubernetes configuration: {e}"))?,
    };
    kube::Client::try_from(config).map_err(|e| format!("building the Kubernetes client: {e}"))
}

async fn run(flags: Flags) -> Result<(), String> {
    let client = kube_client(&flags).await?;
    let metrics = Arc::new(SpawnerMetrics::new());
    let github = if flags.has_github() {
        let mut config = GitHubConfig::new(
            &flags.github_owner,
            &flags.github_repo,
            TokenSource::from_flags(flags.github_token_file.clone()),
        )
        .metrics(metrics.clone());
        if !flags.github_api_base_url.is_empty() {
            config = config.base_url(&flags.github_api_base_url);
        }
        Some(Arc::new(
            GitHubClient::new(config).map_err(|e| e.to_string())?,
        ))
    } else {
        None
    };
    let spawner = Spawner::new(
        client,
        &flags.taskspawner_namespace,
        &flags.taskspawner_name,
        github,
        metrics.clone(),
    );
    info!(
        taskspawner = %flags.taskspawner_name,
        namespace = %flags.taskspawner_namespace,
        one_shot = flags.one_shot,
        "starting kelos-spawner"
    );

    if flags.one_shot {
        let report = spawner.run_cycle().await.map_err(|e| e.to_string())?;
        return match report.discovery_error {
            Some(e) => Err(format!("discovering items: {e}")),
            None => Ok(()),
        };
    }

    if let Some(addr) = flags.metrics_addr() {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = daemon::serve_metrics(addr, metrics).await {
                error!(error = %e, "metrics endpoint failed");
            }
        });
    }
    daemon::run(spawner, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down");
}
