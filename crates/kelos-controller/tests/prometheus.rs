//! The controller's `/metrics` scraped by a real Prometheus server (Debian's package, installed
//! by `hack/prometheus.sh`) started on loopback, and linted by `promtool check metrics`.
//!
//! The controller is the real binary cargo built, against kelos-testenv's real apiserver; the
//! test drives one Task to Cancelled and expects Prometheus to report
//! `kelos_task_completed_total{phase="Cancelled"} == 1` for the test's namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use kelos_api::Task;
use kelos_api::constants::ANNOTATION_COMPLETION_RECORDED;
use kelos_controller::metrics::Metrics;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probing a free port on 127.0.0.1")
        .port()
}

/// A child process (SIGKILLed when dropped) logging to a file that is printed on failure.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, program: &Path, args: &[String], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        // setpriv (util-linux) makes the child die with this test's thread even on a crash.
        let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let child = cmd
            .args(args)
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({}): {e}", program.display()));
        Proc { name, child, log }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- {} log ({}):\n{}",
                self.name,
                self.log.display(),
                self.log()
            );
        }
    }
}

/// A plain HTTP/1.1 GET; `None` when nothing listens.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    // Prometheus' API may answer chunked; our controller does not.
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        code,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
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

    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let health: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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
    let mut lint = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    lint.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics exited {}:\n{}{}\n---- metrics:\n{text}",
        lint.status,
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
