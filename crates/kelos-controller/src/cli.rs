//! The controller's flags: the original's (reference §8, same names and defaults) plus
//! `--log-format`, `--github-api-base-url`, `--watch-namespace` and `--task-concurrency`.
//! Go-style booleans work as `--leader-elect` and `--leader-elect=true`.

use clap::{ArgAction, Parser};
use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};
use crate::job::{AgentImage, JobImages};
use crate::runner::Options;
use crate::server::parse_bind_address;
use crate::task::{RunConfig, TaskConfig};
use crate::taskspawner::{self, TaskSpawnerConfig};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kelos-controller",
    about = "Reconciles Tasks into Jobs and TaskSpawners into spawner workloads"
)]
pub struct Flags {
    /// Address of the Prometheus `/metrics` endpoint; `0` disables it.
    #[arg(long, default_value = ":8080")]
    pub metrics_bind_address: String,
    /// Address of `/healthz` and `/readyz`; `0` disables them.
    #[arg(long, default_value = ":8081")]
    pub health_probe_bind_address: String,
    /// Leader election for running more than one replica (Lease `kelos-controller-leader-election`).
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease (default: the pod's namespace, else `kelos-system`).
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// Path to a kubeconfig; default: in-cluster config, then `$KUBECONFIG` / `~/.kube/config`.
    #[arg(long)]
    pub kubeconfig: Option<String>,

    #[arg(long, default_value = crate::job::DEFAULT_CLAUDE_CODE_IMAGE)]
    pub claude_code_image: String,
    #[arg(long, default_value = "")]
    pub claude_code_image_pull_policy: String,
    #[arg(long, default_value = crate::job::DEFAULT_CODEX_IMAGE)]
    pub codex_image: String,
    #[arg(long, default_value = "")]
    pub codex_image_pull_policy: String,
    #[arg(long, default_value = crate::job::DEFAULT_GEMINI_IMAGE)]
    pub gemini_image: String,
    #[arg(long, default_value = "")]
    pub gemini_image_pull_policy: String,
    #[arg(long, default_value = crate::job::DEFAULT_OPENCODE_IMAGE)]
    pub opencode_image: String,
    #[arg(long, default_value = "")]
    pub opencode_image_pull_policy: String,
    #[arg(long, default_value = crate::job::DEFAULT_CURSOR_IMAGE)]
    pub cursor_image: String,
    #[arg(long, default_value = "")]
    pub cursor_image_pull_policy: String,

    #[arg(long, default_value = taskspawner::DEFAULT_SPAWNER_IMAGE)]
    pub spawner_image: String,
    #[arg(long, default_value = "")]
    pub spawner_image_pull_policy: String,
    /// Comma-separated `name=quantity`, e.g. `cpu=100m,memory=128Mi`.
    #[arg(long, default_value = "")]
    pub spawner_resource_requests: String,
    #[arg(long, default_value = "")]
    pub spawner_resource_limits: String,
    #[arg(long, default_value = taskspawner::DEFAULT_TOKEN_REFRESHER_IMAGE)]
    pub token_refresher_image: String,
    #[arg(long, default_value = "")]
    pub token_refresher_image_pull_policy: String,
    #[arg(long, default_value = "")]
    pub token_refresher_resource_requests: String,
    #[arg(long, default_value = "")]
    pub token_refresher_resource_limits: String,

    /// Accepted for compatibility; this controller never phones home, so it only exits.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub telemetry_report: bool,
    #[arg(long, default_value = "https://us.i.posthog.com")]
    pub telemetry_endpoint: String,
    #[arg(long, default_value = "production")]
    pub telemetry_environment: String,

    /// Log verbosity: 0 info, 1 debug, 2+ trace. Exclusive with `--zap-log-level`.
    #[arg(long, default_value_t = 0)]
    pub verbosity: i32,
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub zap_devel: bool,
    /// `json` or `console` (the original's zap encoder); `--log-format` wins.
    #[arg(long)]
    pub zap_encoder: Option<String>,
    /// `debug`, `info`, `error`, or a number (zap level = −verbosity).
    #[arg(long)]
    pub zap_log_level: Option<String>,
    #[arg(long)]
    pub zap_stacktrace_level: Option<String>,
    #[arg(long)]
    pub zap_time_encoding: Option<String>,
    /// `text` or `json`.
    #[arg(long)]
    pub log_format: Option<String>,

    /// GitHub API base URL for App installation tokens (default: api.github.com, or
    /// `https://<host>/api/v3` for a GitHub Enterprise workspace).
    #[arg(long)]
    pub github_api_base_url: Option<String>,
    /// Watch only this namespace (default: all).
    #[arg(long)]
    pub watch_namespace: Option<String>,
    /// Task reconciles in flight at once.
    #[arg(long, default_value_t = 32)]
    pub task_concurrency: u16,
}

fn image(image: &str, policy: &str) -> AgentImage {
    AgentImage {
        image: image.to_owned(),
        pull_policy: Some(policy.to_owned()).filter(|p| !p.is_empty()),
    }
}

fn policy(p: &str) -> Option<String> {
    Some(p.to_owned()).filter(|p| !p.is_empty())
}

impl Flags {
    pub fn images(&self) -> JobImages {
        JobImages {
            claude_code: image(&self.claude_code_image, &self.claude_code_image_pull_policy),
            codex: image(&self.codex_image, &self.codex_image_pull_policy),
            gemini: image(&self.gemini_image, &self.gemini_image_pull_policy),
            opencode: image(&self.opencode_image, &self.opencode_image_pull_policy),
            cursor: image(&self.cursor_image, &self.cursor_image_pull_policy),
        }
    }

    pub fn options(&self) -> Result<Options> {
        let resources = |req: &str, lim: &str, what: &str| {
            taskspawner::resource_requirements(req, lim)
                .map_err(|e| Error::Config(format!("--{what}-resource-requests/limits: {e}")))
        };
        let spawner = TaskSpawnerConfig {
            spawner_image: self.spawner_image.clone(),
            spawner_image_pull_policy: policy(&self.spawner_image_pull_policy),
            spawner_resources: resources(
                &self.spawner_resource_requests,
                &self.spawner_resource_limits,
                "spawner",
            )?,
            token_refresher_image: self.token_refresher_image.clone(),
            token_refresher_image_pull_policy: policy(&self.token_refresher_image_pull_policy),
            token_refresher_resources: resources(
                &self.token_refresher_resource_requests,
                &self.token_refresher_resource_limits,
                "token-refresher",
            )?,
            watch_namespace: self.watch_namespace.clone(),
        };
        Ok(Options {
            metrics_addr: parse_bind_address(&self.metrics_bind_address)?,
            health_addr: parse_bind_address(&self.health_probe_bind_address)?,
            task: RunConfig {
                namespace: self.watch_namespace.clone(),
                concurrency: self.task_concurrency.max(1),
                task: TaskConfig {
                    images: self.images(),
                    github_api_base_url: self.github_api_base_url.clone(),
                },
            },
            taskspawner: Some(spawner),
        })
    }

    /// The log filter: `RUST_LOG` if set, else from `--zap-log-level` / `--verbosity`.
    pub fn log_filter(&self) -> Result<EnvFilter> {
        if self.verbosity < 0 {
            return Err(Error::Config("--verbosity must not be negative".into()));
        }
        if self.verbosity > 0 && self.zap_log_level.is_some() {
            return Err(Error::Config(
                "--verbosity and --zap-log-level are mutually exclusive".into(),
            ));
        }
        if let Ok(filter) = EnvFilter::try_from_default_env() {
            return Ok(filter);
        }
        let level = match self.zap_log_level.as_deref() {
            Some("debug") => "debug",
            Some("error") => "error",
            Some("info") | None => match self.verbosity {
                0 => "info",
                1 => "debug",
                _ => "trace",
            },
            Some(n) => match n.parse::<i32>() {
                Ok(n) if n >= 0 => "info",
                Ok(-1) => "debug",
                Ok(_) => "trace",
                Err(_) => return Err(Error::Config(format!("invalid --zap-log-level {n:?}"))),
            },
        };
        Ok(EnvFilter::new(format!(
            "{level},kube=warn,hyper=warn,tower=warn"
        )))
    }

    pub fn json_logs(&self) -> Result<bool> {
        match (self.log_format.as_deref(), self.zap_encoder.as_deref()) {
            (Some("json"), _) => Ok(true),
            (Some("text"), _) => Ok(false),
            (Some(other), _) => Err(Error::Config(format!(
                "--log-format must be text or json, not {other:?}"
            ))),
            (None, Some("json")) => Ok(true),
            (None, _) => Ok(false),
        }
    }
}

/// Installs the global tracing subscriber.
pub fn init_tracing(flags: &Flags) -> Result<()> {
    let filter = flags.log_filter()?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if flags.json_logs()? {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
    Ok(())
}

/// The client from `--kubeconfig`, or the in-cluster / default config.
pub async fn client(flags: &Flags) -> Result<kube::Client> {
    let config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("reading --kubeconfig {path}: {e}")))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| Error::Config(format!("loading --kubeconfig {path}: {e}")))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Config(format!("no Kubernetes configuration: {e}")))?,
    };
    Ok(kube::Client::try_from(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals() {
        let f = Flags::parse_from(["kelos-controller"]);
        assert_eq!(f.metrics_bind_address, ":8080");
        assert_eq!(f.health_probe_bind_address, ":8081");
        assert!(!f.leader_elect);
        assert_eq!(f.images(), JobImages::default());
        let o = f.options().unwrap();
        assert_eq!(o.metrics_addr, Some("0.0.0.0:8080".parse().unwrap()));
    }

    #[test]
    fn go_style_flags_parse() {
        let f = Flags::parse_from([
            "kelos-controller",
            "--leader-elect",
            "--codex-image=my/codex:1",
            "--codex-image-pull-policy=Always",
            "--metrics-bind-address=127.0.0.1:9090",
            "--log-format=json",
            "--spawner-resource-requests=cpu=100m,memory=64Mi",
        ]);
        assert!(f.leader_elect);
        assert_eq!(f.images().codex, image("my/codex:1", "Always"));
        assert!(f.json_logs().unwrap());
        let o = f.options().unwrap();
        assert!(o.taskspawner.unwrap().spawner_resources.is_some());
        let f = Flags::parse_from(["kelos-controller", "--leader-elect=false"]);
        assert!(!f.leader_elect);
        let f = Flags::parse_from(["kelos-controller", "--spawner-resource-limits=cpu=lots"]);
        assert!(f.options().is_err());
    }
}
