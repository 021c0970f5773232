//! The spawner's Prometheus metrics (the original exposes none; see the spec's "Where we
//! differ"). One `SpawnerMetrics` per process, shared (`Arc`) by the GitHub client, the cycle
//! and the HTTP endpoint that serves `render()`.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::item::DiscoveryError;

/// Why the spawner cancelled a Task: the `reason` label of
/// `kelos_spawner_tasks_cancelled_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// `onSourceRemoved: Cancel`: the item no longer passes the source's filters.
    SourceRemoved,
    /// `onRetrigger: Cancel`: the item got a newer trigger.
    Retrigger,
    /// `onRetrigger: Cancel` for cron: a newer tick while an earlier tick's Task is active.
    CronOverlap,
}

impl CancelReason {
    pub const ALL: [CancelReason; 3] = [
        CancelReason::SourceRemoved,
        CancelReason::Retrigger,
        CancelReason::CronOverlap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::SourceRemoved => "source_removed",
            CancelReason::Retrigger => "retrigger",
            CancelReason::CronOverlap => "cron_overlap",
        }
    }
}

/// Every `DiscoveryError::kind()` value, pre-registered so the series exist at zero.
const DISCOVERY_ERROR_KINDS: [&str; 6] = [
    "status",
    "rate_limited",
    "malformed",
    "transport",
    "truncated",
    "config",
];

/// The spawner's metrics and the registry they live in.
#[derive(Clone, Debug)]
pub struct SpawnerMetrics {
    registry: Registry,
    discovery_duration: Histogram,
    discovery_errors: IntCounterVec,
    github_requests: IntCounterVec,
    rate_limit_remaining: IntGauge,
    tasks_created: IntCounter,
    tasks_cancelled: IntCounterVec,
}

impl Default for SpawnerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SpawnerMetrics {
    /// Metrics in a fresh registry of their own.
    pub fn new() -> Self {
        Self::with_registry(Registry::new())
            .expect("metric names are valid and registered once in a fresh registry")
    }

    /// Metrics registered in `registry` (fails if they are already registered there).
    pub fn with_registry(registry: Registry) -> Result<Self, prometheus::Error> {
        let discovery_duration = Histogram::with_opts(
            HistogramOpts::new(
                "kelos_spawner_discovery_duration_seconds",
                "Time one discovery (listing plus per-item lookups) took, successful or not.",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
            ]),
        )?;
        let discovery_errors = IntCounterVec::new(
            Opts::new(
                "kelos_spawner_discovery_errors_total",
                "Discoveries that failed (no removal decisions were made in those cycles), by kind.",
            ),
            &["kind"],
        )?;
        let github_requests = IntCounterVec::new(
            Opts::new(
                "kelos_spawner_github_requests_total",
                "GitHub API requests by response status (\"304\" is a conditional-request hit; \"error\" means no response).",
            ),
            &["status"],
        )?;
        let rate_limit_remaining = IntGauge::new(
            "kelos_spawner_github_rate_limit_remaining",
            "X-RateLimit-Remaining of the latest GitHub response.",
        )?;
        let tasks_created = IntCounter::new(
            "kelos_spawner_tasks_created_total",
            "Tasks the spawner created.",
        )?;
        let tasks_cancelled = IntCounterVec::new(
            Opts::new(
                "kelos_spawner_tasks_cancelled_total",
                "Tasks the spawner cancelled, by reason (source_removed, retrigger, cron_overlap).",
            ),
            &["reason"],
        )?;

        registry.register(Box::new(discovery_duration.clone()))?;
        registry.register(Box::new(discovery_errors.clone()))?;
        registry.register(Box::new(github_requests.clone()))?;
        registry.register(Box::new(rate_limit_remaining.clone()))?;
        registry.register(Box::new(tasks_created.clone()))?;
        registry.register(Box::new(tasks_cancelled.clone()))?;

        for kind in DISCOVERY_ERROR_KINDS {
            discovery_errors.with_label_values(&[kind]);
        }
        for reason in CancelReason::ALL {
            tasks_cancelled.with_label_values(&[reason.as_str()]);
        }

        Ok(SpawnerMetrics {
            registry,
            discovery_duration,
            discovery_errors,
            github_requests,
            rate_limit_remaining,
            tasks_created,
            tasks_cancelled,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Records one discovery: its duration, and its error kind if it failed.
    pub fn observe_discovery<T>(&self, took: Duration, result: &Result<T, DiscoveryError>) {
        self.discovery_duration.observe(took.as_secs_f64());
        if let Err(e) = result {
            self.discovery_error(e);
        }
    }

    pub fn discovery_error(&self, error: &DiscoveryError) {
        self.discovery_errors
            .with_label_values(&[error.kind()])
            .inc();
    }

    /// Counts one GitHub request by status code (`"200"`, `"304"`, `"500"`, …, or `"error"`
    /// when no response arrived).
    pub fn github_request(&self, status: &str) {
        self.github_requests.with_label_values(&[status]).inc();
    }

    pub fn set_rate_limit_remaining(&self, remaining: i64) {
        self.rate_limit_remaining.set(remaining);
    }

    pub fn task_created(&self) {
        self.tasks_created.inc();
    }

    pub fn task_cancelled(&self, reason: CancelReason) {
        self.tasks_cancelled
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Value of `kelos_spawner_github_requests_total{status}` (tests and logs).
    pub fn github_requests(&self, status: &str) -> u64 {
        self.github_requests.with_label_values(&[status]).get()
    }

    pub fn rate_limit_remaining(&self) -> i64 {
        self.rate_limit_remaining.get()
    }

    pub fn tasks_cancelled(&self, reason: CancelReason) -> u64 {
        self.tasks_cancelled
            .with_label_values(&[reason.as_str()])
            .get()
    }

    pub fn discovery_errors(&self, kind: &str) -> u64 {
        self.discovery_errors.with_label_values(&[kind]).get()
    }

    /// Everything in the registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// `Content-Type` for `render()`'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_exact_names() {
        let m = SpawnerMetrics::new();
        m.observe_discovery::<()>(
            Duration::from_millis(20),
            &Err(DiscoveryError::Truncated {
                url: "u".into(),
                pages: 10,
            }),
        );
        m.github_request("200");
        m.github_request("304");
        m.github_request("304");
        m.set_rate_limit_remaining(4999);
        m.task_created();
        m.task_cancelled(CancelReason::Retrigger);
        let text = m.render();
        for needle in [
            "kelos_spawner_discovery_duration_seconds_count 1",
            "kelos_spawner_discovery_errors_total{kind=\"truncated\"} 1",
            "kelos_spawner_discovery_errors_total{kind=\"status\"} 0",
            "kelos_spawner_github_requests_total{status=\"304\"} 2",
            "kelos_spawner_github_requests_total{status=\"200\"} 1",
            "kelos_spawner_github_rate_limit_remaining 4999",
            "kelos_spawner_tasks_created_total 1",
            "kelos_spawner_tasks_cancelled_total{reason=\"retrigger\"} 1",
            "kelos_spawner_tasks_cancelled_total{reason=\"source_removed\"} 0",
            "kelos_spawner_tasks_cancelled_total{reason=\"cron_overlap\"} 0",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert_eq!(m.github_requests("304"), 2);
        assert_eq!(m.tasks_cancelled(CancelReason::Retrigger), 1);
    }
}
