//! Shared state of the Task reconciler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kelos_api::{Task, TaskPhase};
use kube::Client;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

use super::model::Peer;
use crate::github_app;
use crate::job::JobImages;
use crate::metrics::Metrics;

/// What the Task reconciler is configured with.
#[derive(Clone, Debug)]
pub struct TaskConfig {
    /// Agent images and pull policies (the `--<type>-image*` flags).
    pub images: JobImages,
    /// GitHub API base for App installation tokens; `None`: api.github.com, or
    /// `https://<host>/api/v3` for a GitHub Enterprise workspace.
    pub github_api_base_url: Option<String>,
}

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub tasks: Store<Task>,
    pub jobs: Store<Job>,
    pub pods: Store<Pod>,
    pub config: TaskConfig,
    /// Branch-lock key → the Task this process last let create a Job under it. Only bridges
    /// the moment before the caches show that Task as Pending; the lock itself is derived
    /// from Task state (see `branch`).
    locks: Mutex<HashMap<String, String>>,
    /// Consecutive failed reconciles per Task UID, for exponential retry backoff (kube-runtime
    /// has none per object). Cleared by a successful reconcile.
    failures: Mutex<HashMap<String, u32>>,
    /// Made on first use: most installations never use a GitHub App.
    token_client: OnceLock<github_app::TokenClient>,
}

impl Context {
    pub fn new(
        client: Client,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        stores: (Store<Task>, Store<Job>, Store<Pod>),
        config: TaskConfig,
    ) -> Context {
        Context {
            client,
            recorder,
            metrics,
            tasks: stores.0,
            jobs: stores.1,
            pods: stores.2,
            config,
            locks: Mutex::default(),
            failures: Mutex::default(),
            token_client: OnceLock::new(),
        }
    }

    pub fn token_client(&self) -> Result<&github_app::TokenClient, github_app::GitHubAppError> {
        if let Some(c) = self.token_client.get() {
            return Ok(c);
        }
        let client = github_app::TokenClient::new()?;
        Ok(self.token_client.get_or_init(|| client))
    }

    /// Counts a failed reconcile of `uid` and returns how many in a row.
    pub fn record_failure(&self, uid: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(uid.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn clear_failures(&self, uid: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(uid);
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn acquire_lock(&self, key: &str, task: &str) {
        self.locks().insert(key.to_owned(), task.to_owned());
    }

    /// Forgets `task` as the in-memory holder of `key` (no-op if another Task holds it).
    pub fn release_lock(&self, key: &str, task: &str) {
        let mut locks = self.locks();
        if locks.get(key).is_some_and(|h| h == task) {
            locks.remove(key);
        }
    }

    /// The in-memory holder of `key` other than `me`, dropping the entry once the caches
    /// show that holder finished or gone (from then on its state speaks for it).
    pub fn lock_holder(&self, key: &str, me: &str, peers: &[Peer]) -> Option<String> {
        let mut locks = self.locks();
        let holder = locks.get(key)?.clone();
        if holder == me {
            return None;
        }
        let stale = peers.iter().find(|p| p.name == holder).is_none_or(|p| {
            p.phase.is_some_and(TaskPhase::is_terminal)
                || p.deleting
                || matches!(p.phase, Some(TaskPhase::Pending | TaskPhase::Running))
        });
        if stale {
            locks.remove(key);
            return None;
        }
        Some(holder)
    }
}
