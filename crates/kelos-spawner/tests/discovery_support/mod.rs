//! Shared by the `discovery_*` tests: a fake GitHub with repository `acme/widgets`, specs from
//! JSON, and clients pointed at the fake.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kelos_api::TaskSpawnerSpec;
use kelos_fake_github::FakeGitHub;
use kelos_spawner::github::{GitHubClient, GitHubConfig, GitHubSource, TokenSource};
use kelos_spawner::item::WorkItem;
use kelos_spawner::metrics::SpawnerMetrics;
use serde_json::{Value, json};

pub const OWNER: &str = "acme";
pub const REPO: &str = "widgets";
pub const TOKEN: &str = "test-token";

/// A TaskSpawner spec whose `when` is `when` (JSON, as in a manifest).
pub fn spec(when: Value) -> TaskSpawnerSpec {
    serde_json::from_value(json!({
        "when": when,
        "taskTemplate": {
            "type": "claude-code",
            "credentials": {"type": "oauth", "secretRef": {"name": "creds"}},
            "workspaceRef": {"name": "ws"}
        }
    }))
    .expect("valid TaskSpawner spec")
}

pub fn issues_spec(source: Value) -> TaskSpawnerSpec {
    spec(json!({ "githubIssues": source }))
}

pub fn pulls_spec(source: Value) -> TaskSpawnerSpec {
    spec(json!({ "githubPullRequests": source }))
}

pub fn config(gh: &FakeGitHub) -> GitHubConfig {
    GitHubConfig::new(OWNER, REPO, TokenSource::Static(TOKEN.into()))
        .base_url(gh.url())
        .request_timeout(Duration::from_secs(10))
}

pub fn client_with(config: GitHubConfig) -> Arc<GitHubClient> {
    Arc::new(GitHubClient::new(config).expect("valid client config"))
}

pub fn client(gh: &FakeGitHub) -> Arc<GitHubClient> {
    client_with(config(gh))
}

pub fn client_with_metrics(gh: &FakeGitHub) -> (Arc<GitHubClient>, Arc<SpawnerMetrics>) {
    let metrics = Arc::new(SpawnerMetrics::new());
    (client_with(config(gh).metrics(metrics.clone())), metrics)
}

pub fn source(client: &Arc<GitHubClient>, spec: &TaskSpawnerSpec) -> GitHubSource {
    GitHubSource::from_spec(spec, client.clone()).expect("valid source")
}

/// Discovers with a fresh client; panics on error.
pub async fn discover(gh: &FakeGitHub, spec: &TaskSpawnerSpec) -> Vec<WorkItem> {
    source(&client(gh), spec)
        .discover()
        .await
        .expect("discovery succeeds")
}

pub fn ids(items: &[WorkItem]) -> Vec<String> {
    items.iter().map(|i| i.id.clone()).collect()
}

pub fn sorted_ids(items: &[WorkItem]) -> Vec<u64> {
    let mut v: Vec<u64> = items.iter().map(|i| i.id.parse().unwrap()).collect();
    v.sort();
    v
}

pub fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}
