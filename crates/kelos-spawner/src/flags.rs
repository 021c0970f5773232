//! The spawner's command line: the original's flags (spawner-reference §1.2) with the same
//! names, plus `--metrics-bind-address` and `--kubeconfig`. Go's flag package also accepts
//! `--one-shot=true`, so booleans take an optional value.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Clone, Debug, PartialEq)]
#[command(
    name = "kelos-spawner",
    about = "Discovers GitHub issues, pull requests and cron ticks for one TaskSpawner and creates and cancels Tasks for them."
)]
pub struct Flags {
    /// Name of the TaskSpawner to run.
    #[arg(long)]
    pub taskspawner_name: String,
    /// Namespace of the TaskSpawner (and of its Tasks).
    #[arg(long)]
    pub taskspawner_namespace: String,
    /// Owner of the GitHub repository to poll and report on.
    #[arg(long, default_value = "")]
    pub github_owner: String,
    /// Name of the GitHub repository.
    #[arg(long, default_value = "")]
    pub github_repo: String,
    /// GitHub API base URL, e.g. https://github.example.com/api/v3; empty means api.github.com.
    #[arg(long, default_value = "")]
    pub github_api_base_url: String,
    /// File holding the GitHub token (GitHub App mode, rewritten by the token refresher);
    /// re-read on every use. Without it the token comes from GITHUB_TOKEN.
    #[arg(long)]
    pub github_token_file: Option<PathBuf>,
    /// Jira base URL (accepted for compatibility; Jira discovery comes later).
    #[arg(long, default_value = "")]
    pub jira_base_url: String,
    /// Jira project key (accepted for compatibility).
    #[arg(long, default_value = "")]
    pub jira_project: String,
    /// Extra JQL (accepted for compatibility).
    #[arg(long, default_value = "")]
    pub jira_jql: String,
    /// Run one cycle and exit: 0 on success, 1 on failure (the cron source's CronJob).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value_t = false, action = clap::ArgAction::Set)]
    pub one_shot: bool,
    /// Address of the metrics endpoint (`/metrics`, `/healthz`), e.g. `:8080`; `0` disables
    /// it. Not served in one-shot mode.
    #[arg(long, default_value = ":8080")]
    pub metrics_bind_address: String,
    /// Kubeconfig to use instead of the in-cluster configuration or `$KUBECONFIG`.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Log verbosity: 0 info, 1 debug, 2 and more trace.
    #[arg(long, default_value_t = 0)]
    pub verbosity: u8,
    /// Log level (the original's zap flag): debug, info, error, or a number. Mutually
    /// exclusive with --verbosity.
    #[arg(long, conflicts_with = "verbosity")]
    pub zap_log_level: Option<String>,
}

impl Flags {
    /// The `tracing` filter the verbosity flags ask for (`RUST_LOG` wins when set).
    pub fn log_filter(&self) -> String {
        let level = match self.zap_log_level.as_deref() {
            Some("debug") => "debug",
            Some("error") => "error",
            Some("warn") => "warn",
            Some(n) if n.parse::<i32>().is_ok_and(|n| n >= 2) => "trace",
            Some(n) if n.parse::<i32>().is_ok_and(|n| n == 1) => "debug",
            Some(_) => "info",
            None => match self.verbosity {
                0 => "info",
                1 => "debug",
                _ => "trace",
            },
        };
        format!(
            "kelos_spawner={level},kube=warn,octocrab=warn,{level_default}",
            level_default = if level == "trace" { "debug" } else { "info" }
        )
    }

    /// The metrics listen address: Go's `:8080` means every interface; `0` or empty disables.
    pub fn metrics_addr(&self) -> Option<String> {
        let a = self.metrics_bind_address.trim();
        if a.is_empty() || a == "0" {
            return None;
        }
        Some(if a.starts_with(':') {
            format!("0.0.0.0{a}")
        } else {
            a.to_string()
        })
    }

    /// Whether a GitHub repository was configured.
    pub fn has_github(&self) -> bool {
        !self.github_owner.is_empty() && !self.github_repo.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("kelos-spawner").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_originals_flags_parse() {
        let f = parse(&[
            "--taskspawner-name=my-spawner",
            "--taskspawner-namespace",
            "default",
            "--github-owner=acme",
            "--github-repo=widgets",
            "--github-api-base-url=https://ghe.example.com/api/v3",
            "--github-token-file=/shared/token/GITHUB_TOKEN",
            "--jira-base-url=https://jira.example.com",
            "--jira-project=PROJ",
            "--jira-jql=type = Bug",
            "--one-shot",
        ]);
        assert_eq!(f.taskspawner_name, "my-spawner");
        assert_eq!(f.taskspawner_namespace, "default");
        assert_eq!(f.github_owner, "acme");
        assert_eq!(f.github_api_base_url, "https://ghe.example.com/api/v3");
        assert_eq!(
            f.github_token_file.as_deref(),
            Some(std::path::Path::new("/shared/token/GITHUB_TOKEN"))
        );
        assert_eq!(f.jira_project, "PROJ");
        assert!(f.one_shot);
        assert!(f.has_github());
    }

    #[test]
    fn one_shot_takes_go_style_values() {
        let base = ["--taskspawner-name=s", "--taskspawner-namespace=n"];
        assert!(!parse(&base).one_shot);
        assert!(parse(&[base[0], base[1], "--one-shot=true"]).one_shot);
        assert!(!parse(&[base[0], base[1], "--one-shot=false"]).one_shot);
    }

    #[test]
    fn required_flags() {
        assert!(Flags::try_parse_from(["kelos-spawner", "--taskspawner-name=s"]).is_err());
    }

    #[test]
    fn metrics_address() {
        let mut f = parse(&["--taskspawner-name=s", "--taskspawner-namespace=n"]);
        assert_eq!(f.metrics_addr().as_deref(), Some("0.0.0.0:8080"));
        f.metrics_bind_address = "0".into();
        assert_eq!(f.metrics_addr(), None);
        f.metrics_bind_address = "127.0.0.1:9090".into();
        assert_eq!(f.metrics_addr().as_deref(), Some("127.0.0.1:9090"));
    }

    #[test]
    fn verbosity_and_zap_level_are_exclusive() {
        assert!(
            Flags::try_parse_from([
                "kelos-spawner",
                "--taskspawner-name=s",
                "--taskspawner-namespace=n",
                "--verbosity=1",
                "--zap-log-level=debug"
            ])
            .is_err()
        );
    }
}
