//! Prometheus metrics with the original's names and labels (reference §5), in a registry per
//! controller instance so tests can run several controllers in one process.

use prometheus::{CounterVec, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder};

use crate::error::Result;

/// Buckets of `kelos_task_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 8] = [30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0];

pub struct Metrics {
    registry: Registry,
    /// `{namespace, type}`: a Job was created for a Task.
    pub task_created: CounterVec,
    /// `{namespace, type, phase}`: a Task reached a terminal phase; once per Task.
    pub task_completed: CounterVec,
    /// `{namespace, type, phase}`: completionTime − startTime of finished Tasks that ran.
    pub task_duration: HistogramVec,
    /// `{controller}`: failed reconciles.
    pub reconcile_errors: CounterVec,
    /// `{namespace, type, spawner, model}` from the `cost-usd` result.
    pub cost_usd: CounterVec,
    /// `{namespace, type, spawner, model}` from the `input-tokens` result.
    pub input_tokens: CounterVec,
    /// `{namespace, type, spawner, model}` from the `output-tokens` result.
    pub output_tokens: CounterVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<CounterVec> {
            let c = CounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let usage = ["namespace", "type", "spawner", "model"];
        let task_duration = HistogramVec::new(
            HistogramOpts::new(
                "kelos_task_duration_seconds",
                "Duration of finished Tasks from start to completion in seconds",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["namespace", "type", "phase"],
        )?;
        registry.register(Box::new(task_duration.clone()))?;
        Ok(Metrics {
            task_created: counter(
                "kelos_task_created_total",
                "Total number of Tasks whose Job was created",
                &["namespace", "type"],
            )?,
            task_completed: counter(
                "kelos_task_completed_total",
                "Total number of Tasks that reached a terminal phase",
                &["namespace", "type", "phase"],
            )?,
            task_duration,
            reconcile_errors: counter(
                "kelos_reconcile_errors_total",
                "Total number of reconcile errors",
                &["controller"],
            )?,
            cost_usd: counter(
                "kelos_task_cost_usd_total",
                "Total cost in USD reported by agents",
                &usage,
            )?,
            input_tokens: counter(
                "kelos_task_input_tokens_total",
                "Total input tokens reported by agents",
                &usage,
            )?,
            output_tokens: counter(
                "kelos_task_output_tokens_total",
                "Total output tokens reported by agents",
                &usage,
            )?,
            registry,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Cost and token counters from a Task's results (`cost-usd`, `input-tokens`,
    /// `output-tokens`); values that are not positive numbers are ignored.
    pub fn record_usage(
        &self,
        labels: [&str; 4],
        results: &std::collections::BTreeMap<String, String>,
    ) {
        for (key, counter) in [
            ("cost-usd", &self.cost_usd),
            ("input-tokens", &self.input_tokens),
            ("output-tokens", &self.output_tokens),
        ] {
            let value = results.get(key).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(v) = value.filter(|v| v.is_finite() && *v > 0.0) {
                counter.with_label_values(&labels).inc_by(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_buckets_are_the_originals() {
        let m = Metrics::new().unwrap();
        m.task_completed
            .with_label_values(&["ns", "codex", "Cancelled"])
            .inc();
        m.task_duration
            .with_label_values(&["ns", "codex", "Succeeded"])
            .observe(45.0);
        m.record_usage(
            ["ns", "codex", "", "gpt"],
            &[
                ("cost-usd".to_string(), "0.25".to_string()),
                ("input-tokens".to_string(), "-3".to_string()),
                ("output-tokens".to_string(), "abc".to_string()),
            ]
            .into(),
        );
        let text = m.render();
        assert!(text.contains(
            r#"kelos_task_completed_total{namespace="ns",phase="Cancelled",type="codex"} 1"#
        ));
        assert!(text.contains(r#"kelos_task_duration_seconds_bucket{namespace="ns",phase="Succeeded",type="codex",le="60"} 1"#));
        assert!(text.contains(r#"le="3600""#));
        assert!(text.contains(
            r#"kelos_task_cost_usd_total{model="gpt",namespace="ns",spawner="",type="codex"} 0.25"#
        ));
        assert!(!text.contains("kelos_task_input_tokens_total{"));
    }
}
