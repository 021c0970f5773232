//! The controller's `/metrics` scraped by a real Prometheus server (Debian's package, installed
//! by `hack/prometheus.sh`) started on loopback, and linted by `promtool check metrics`.
//!
//! The controller is the real binary cargo built, against kelos-testenv's real apiserver; the
//! test drives one Task to Cancelled and expects Prometheus to report
//! `kelos_task_completed_total{phase="Cancelled"} == 1` for the test's namespace.

#[path = "support/http.rs"]
mod http;
#[path = "support/process.rs"]
mod process;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kelos_api::Task;
use kelos_api::constants::ANNOTATION_COMPLETION_RECORDED;
use kelos_controller::metrics::Metrics;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use http::http_get;
use process::{Proc, free_addr, output_with_stdin};

const WAIT: Duration = Duration::from_secs(60);
const JOB: &str = "kelos-controller";

/// `prometheus` and `promtool`, as `hack/prometheus.sh --print` finds them.
fn prometheus_bins() -> (PathBuf, PathBuf) {
    let script = kelos_testenv::repo_root().join("hack/prometheus.sh");
    let out = Command::new(&script)
        .arg("--print")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "Prometheus is missing: run `hack/prometheus.sh` (it installs Debian's prometheus \
         package, which has promtool, with `apt-get install --no-install-recommends prometheus`; \
         `make test` does this in its test-bins step).\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().map(PathBuf::from);
    let (Some(prometheus), Some(promtool)) = (lines.next(), lines.next()) else {
        panic!("hack/prometheus.sh --print printed {text:?}");
    };
    (prometheus, promtool)
}

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; the `data.result` array.
async fn query(prometheus: SocketAddr, promql: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", encode(promql));
    let Some((200, body)) = http_get(prometheus, &path).await else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("Prometheus answered non-JSON ({e}): {body}"));
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Polls `check` every 250 ms until it gives a value.
async fn eventually<T, F, Fut>(what: &str, procs: &mut [&mut Proc], check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        for p in procs.iter_mut() {
            p.assert_running();
        }
        assert!(start.elapsed() < WAIT, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn prometheus_scrapes_the_cancelled_count_and_promtool_finds_no_lint() {
    let (prometheus_bin, promtool) = prometheus_bins();
    let cluster = kelos_testenv::shared().await;
    let client = cluster.client().await;
    let ns = cluster.namespace("prometheus").await;
    // Logs, the Prometheus config and its storage; kept with the cluster's dir on failure.
    let dir = cluster.dir().join(&ns);
    std::fs::create_dir_all(&dir).unwrap();

    let metrics = free_addr();
    let health = free_addr();
    let mut controller = Proc::spawn(
        "kelos-controller",
        Path::new(env!("CARGO_BIN_EXE_kelos-controller")),
        &[
            format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
            format!("--watch-namespace={ns}"),
            format!("--metrics-bind-address={metrics}"),
            format!("--health-probe-bind-address={health}"),
        ],
        &dir,
    );

    // A Task the controller starts (its Job), then cancelled through the status subresource.
    let tasks: Api<Task> = Api::namespaced(client.clone(), &ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let task: Task = serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
        "metadata": {"name": "to-cancel"},
        "spec": {"type": "codex", "prompt": "Refactor",
                 "credentials": {"type": "api-key", "secretRef": {"name": "openai"}}}
    }))
    .unwrap();
    tasks.create(&PostParams::default(), &task).await.unwrap();
    eventually(
        "the Job of Task to-cancel",
        &mut [&mut controller],
        || async { jobs.get_opt("to-cancel").await.unwrap() },
    )
    .await;
    tasks
        .patch_status(
            "to-cancel",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Cancelled", "cancelledBy": "user"}})),
        )
        .await
        .expect("cancelling the Task");
    eventually("the completion marker", &mut [&mut controller], || async {
        let t = tasks.get("to-cancel").await.unwrap();
        t.metadata
            .annotations
            .unwrap_or_default()
            .contains_key(ANNOTATION_COMPLETION_RECORDED)
            .then_some(())
    })
    .await;

    // A real Prometheus on loopback, scraping the controller every second.
    let prom = free_addr();
    let config = dir.join("prometheus.yml");
    let mut f = File::create(&config).unwrap();
    write!(
        f,
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
         - job_name: {JOB}\n    static_configs:\n      - targets: ['{metrics}']\n"
    )
    .unwrap();
    drop(f);
    let check = Command::new(&promtool)
        .arg("check")
        .arg("config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut prometheus = Proc::spawn(
        "prometheus",
        &prometheus_bin,
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
            format!("--web.listen-address={prom}"),
            "--log.level=warn".to_owned(),
        ],
        &dir,
    );
    eventually(
        "Prometheus /-/ready",
        &mut [&mut prometheus, &mut controller],
        || async { (http_get(prom, "/-/ready").await?.0 == 200).then_some(()) },
    )
    .await;

    // The target is up, and the count the test produced arrives.
    eventually(
        "up == 1",
        &mut [&mut prometheus, &mut controller],
        || async {
            let up = query(prom, &format!("up{{job=\"{JOB}\"}}")).await;
            (up.len() == 1 && up[0]["value"][1] == "1").then_some(())
        },
    )
    .await;
    let promql = format!(
        "kelos_task_completed_total{{phase=\"Cancelled\",namespace=\"{ns}\",type=\"codex\"}}"
    );
    let series = eventually(&promql, &mut [&mut prometheus, &mut controller], || async {
        let r = query(prom, &promql).await;
        (r.len() == 1 && r[0]["value"][1] == "1").then_some(r)
    })
    .await;
    assert_eq!(series[0]["metric"]["job"], JOB);
    assert_eq!(series[0]["metric"]["instance"], metrics.to_string());
    // Counted once: no other phase for the Task, and no duplicate after more scrapes.
    let other = format!("kelos_task_completed_total{{namespace=\"{ns}\",phase!=\"Cancelled\"}}");
    assert!(query(prom, &other).await.is_empty());
    let created = format!("kelos_task_created_total{{namespace=\"{ns}\",type=\"codex\"}}");
    let r = query(prom, &created).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["value"][1], "1");

    // What Prometheus scraped passes `promtool check metrics` (exit 0: no lint).
    let (code, text) = http_get(metrics, "/metrics")
        .await
        .expect("scraping /metrics");
    assert_eq!(code, 200);
    assert!(text.contains("# TYPE kelos_task_completed_total counter"));
    promtool_check_metrics(&promtool, &text);

    // The scrape above only has the families this Task touched; every family, populated by
    // the same registry and encoder the binary serves, passes too.
    let all = Metrics::new().unwrap();
    all.task_created.with_label_values(&["ns", "codex"]).inc();
    all.task_completed
        .with_label_values(&["ns", "codex", "Succeeded"])
        .inc();
    all.task_duration
        .with_label_values(&["ns", "codex", "Succeeded"])
        .observe(45.0);
    all.reconcile_errors.with_label_values(&["task"]).inc();
    all.record_usage(
        ["ns", "codex", "issues", "gpt-5"],
        &[
            ("cost-usd", "0.25"),
            ("input-tokens", "1200"),
            ("output-tokens", "300"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
    );
    let text = all.render();
    for family in [
        "kelos_task_created_total",
        "kelos_task_completed_total",
        "kelos_task_duration_seconds",
        "kelos_reconcile_errors_total",
        "kelos_task_cost_usd_total",
        "kelos_task_input_tokens_total",
        "kelos_task_output_tokens_total",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
    }
    promtool_check_metrics(&promtool, &text);
}

/// `promtool check metrics` on `text`: exit 0 (3 means lint findings, 1 a parse error).
fn promtool_check_metrics(promtool: &Path, text: &str) {
    let lint = output_with_stdin(Command::new(promtool).args(["check", "metrics"]), text);
    assert!(
        lint.status.success(),
        "promtool check metrics exited {}:\n{}{}\n---- metrics:\n{text}",
        lint.status,
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
