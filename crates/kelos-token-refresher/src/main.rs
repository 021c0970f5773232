//! `kelos-token-refresher`: keeps `/shared/token/GITHUB_TOKEN` holding a fresh GitHub App
//! installation token for the spawner next to it. See the library docs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kelos_token_refresher::{Config, Exit, run};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Mints GitHub App installation tokens into a file, refreshing them before they expire"
)]
struct Args {
    /// GitHub App id (the Secret's `appID`).
    #[arg(long, env = "APP_ID")]
    app_id: String,
    /// Installation id (the Secret's `installationID`).
    #[arg(long, env = "INSTALLATION_ID")]
    installation_id: String,
    /// REST API base; `https://<host>/api/v3` for GitHub Enterprise.
    #[arg(long, env = "GITHUB_API_BASE_URL", default_value = kelos_token_refresher::DEFAULT_API_BASE_URL)]
    github_api_base_url: String,
    /// PEM RSA private key of the App (PKCS#1 or PKCS#8).
    #[arg(long, default_value = kelos_token_refresher::DEFAULT_PRIVATE_KEY_FILE)]
    private_key_file: PathBuf,
    /// Where to write the token (atomically, mode 0644).
    #[arg(long, default_value = kelos_token_refresher::DEFAULT_TOKEN_FILE)]
    token_file: PathBuf,
    /// Longest time between refreshes, in seconds (earlier when the token expires sooner).
    #[arg(long, default_value_t = kelos_token_refresher::REFRESH_INTERVAL.as_secs())]
    refresh_interval_seconds: u64,
    /// Initial attempts before exiting 1.
    #[arg(long, default_value_t = kelos_token_refresher::INITIAL_ATTEMPTS)]
    initial_attempts: u32,
    /// Pause between initial attempts, in milliseconds.
    #[arg(long, default_value_t = kelos_token_refresher::INITIAL_RETRY_DELAY.as_millis() as u64)]
    initial_retry_delay_ms: u64,
    /// First wait after a failed refresh, in milliseconds (doubles up to 5 minutes).
    #[arg(long, default_value_t = kelos_token_refresher::RETRY_BACKOFF_START.as_millis() as u64)]
    retry_backoff_ms: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let mut config = Config::new(args.app_id, args.installation_id);
    config.api_base_url = args.github_api_base_url;
    config.private_key_file = args.private_key_file;
    config.token_file = args.token_file;
    config.refresh_interval = Duration::from_secs(args.refresh_interval_seconds.max(1));
    config.initial_attempts = args.initial_attempts.max(1);
    config.initial_retry_delay = Duration::from_millis(args.initial_retry_delay_ms);
    config.retry_backoff = Duration::from_millis(args.retry_backoff_ms.max(1));

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        tracing::info!(
            app_id = %config.app_id,
            installation_id = %config.installation_id,
            api = %config.api_base_url,
            file = %config.token_file.display(),
            "starting"
        );
        match run(&config, shutdown_signal()).await {
            Exit::Shutdown => {
                tracing::info!("shutting down");
                ExitCode::SUCCESS
            }
            Exit::InitialFailure => ExitCode::FAILURE,
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// SIGTERM (the kubelet) or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; only Ctrl-C stops the refresher");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
