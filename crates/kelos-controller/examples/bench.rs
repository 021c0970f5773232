//! `make bench`: throughput and latency of the Task controller on a local control plane
//! (kelos-testenv: kube-apiserver + etcd on loopback, no kubelet).
//!
//! The controller runs in a child process (this binary, `bench controller <kubeconfig>`), so
//! its resident memory is its own. Printed figures:
//! * Tasks created at once → every Task has its Job and phase Pending: 1,000 and 5,000;
//! * the apiserver's own rate for creating 1,000 Jobs with the same client and concurrency,
//!   and the ratio of the two rates;
//! * the controller's RSS with 6,000 Tasks and their Jobs cached (after the 5,000 run);
//! * median and p99 from a status write of `Cancelled` to the Job being gone.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use kelos_api::{Task, TaskPhase};
use kelos_controller::job::{self, JobImages, JobInputs};
use kelos_controller::runner::{self, Options};
use kelos_controller::task::{RunConfig, TaskConfig};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Reconciles in flight in the controller, and requests in flight for the direct Job rate
/// (`KELOS_BENCH_CONCURRENCY` overrides it).
fn concurrency() -> u16 {
    std::env::var("KELOS_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}
/// Requests in flight while the bench creates Tasks.
const CREATE_PARALLELISM: usize = 64;
const CANCEL_SAMPLES: usize = 200;

fn task(name: &str) -> Task {
    serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
        "metadata": {"name": name},
        "spec": {"type": "claude-code", "prompt": "Fix the flaky test in the parser",
                 "credentials": {"type": "api-key", "secretRef": {"name": "anthropic"}}}
    }))
    .expect("task fixture")
}

async fn namespace(client: &Client, name: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("creating namespace");
}

async fn client_from(kubeconfig: &Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// The child: a whole Task controller, cluster-wide, until killed.
async fn controller(kubeconfig: &Path) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let client = client_from(kubeconfig).await;
    let options = Options {
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        health_addr: None,
        task: RunConfig {
            namespace: None,
            concurrency: concurrency(),
            task: TaskConfig {
                images: JobImages::default(),
                github_api_base_url: None,
            },
        },
        taskspawner: None,
    };
    let running = runner::start(client, options).await.expect("controller");
    println!("metrics {}", running.metrics_addr.unwrap());
    running.wait().await;
}

/// Creates `n` Tasks at once in `ns` and returns (time to create them, time until every one
/// has its Job and phase Pending).
async fn tasks_to_jobs(client: &Client, ns: &str, n: usize) -> (Duration, Duration) {
    let api: Api<Task> = Api::namespaced(client.clone(), ns);
    // Watch first, so no transition is missed.
    let watch_api = api.clone();
    let done = tokio::spawn(async move {
        let mut pending = HashSet::new();
        let mut stream = watcher(watch_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(t) = stream.try_next().await.expect("watching Tasks") {
            let s = t.status.clone().unwrap_or_default();
            if s.phase == Some(TaskPhase::Pending) && s.job_name.is_some() {
                pending.insert(t.metadata.name.clone().unwrap());
                if pending.len() == n {
                    return Instant::now();
                }
            }
        }
        panic!("watch ended");
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &task(&format!("t-{i}")))
                    .await
                    .expect("creating Task");
            }
        })
        .buffer_unordered(CREATE_PARALLELISM)
        .collect::<Vec<_>>()
        .await;
    let created = start.elapsed();
    let finished = done.await.expect("watch task");
    (created, finished - start)
}

/// The apiserver's own rate: `n` Jobs of the controller's shape, `CONCURRENCY` in flight.
async fn direct_jobs(client: &Client, ns: &str, n: usize) -> Duration {
    let api: Api<Job> = Api::namespaced(client.clone(), ns);
    let images = JobImages::default();
    let jobs: Vec<Job> = (0..n)
        .map(|i| {
            let mut t = task(&format!("j-{i}"));
            t.metadata.namespace = Some(ns.into());
            let inputs = JobInputs {
                task: &t,
                workspace: None,
                agent_config: None,
                prompt: &t.spec.prompt,
                github_token_secret: None,
                images: &images,
            };
            job::build_job(&inputs).expect("job")
        })
        .collect();
    let start = Instant::now();
    futures::stream::iter(jobs)
        .map(|j| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &j)
                    .await
                    .expect("creating Job");
            }
        })
        .buffer_unordered(concurrency() as usize)
        .collect::<Vec<_>>()
        .await;
    let elapsed = start.elapsed();
    api.delete_collection(&DeleteParams::background(), &ListParams::default())
        .await
        .expect("deleting Jobs");
    elapsed
}

/// Status write of Cancelled → Job gone, one Task at a time.
async fn cancel_latencies(client: &Client, ns: &str, n: usize) -> Vec<Duration> {
    tasks_to_jobs(client, ns, n).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(jobs, watcher::Config::default()).boxed();
        while let Some(ev) = stream.try_next().await.expect("watching Jobs") {
            if let watcher::Event::Delete(j) = ev {
                let _ = tx.send((j.metadata.name.unwrap_or_default(), Instant::now()));
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks: Api<Task> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("t-{i}");
        let start = Instant::now();
        tasks
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Cancelled", "cancelledBy": "bench"}})),
            )
            .await
            .expect("cancelling");
        loop {
            let (gone, at) = rx.recv().await.expect("job watch");
            if gone == name {
                out.push(at - start);
                break;
            }
        }
    }
    watch.abort();
    out
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("controller") {
        controller(Path::new(&args[2])).await;
        return;
    }

    let cluster = kelos_testenv::TestCluster::kelos()
        .await
        .expect("starting the local control plane");
    println!("control plane up in {}", cluster.start_timings());
    let client = cluster.client().await;

    namespace(&client, "bench-direct").await;
    let direct = direct_jobs(&client, "bench-direct", 1000).await;
    let direct_rate = 1000.0 / direct.as_secs_f64();

    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .arg("controller")
        .arg(cluster.kubeconfig_path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the controller process");
    let pid = child.id().expect("controller pid");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.expect("controller output");
    assert!(
        first.is_some_and(|l| l.starts_with("metrics")),
        "controller did not start"
    );
    let (idle_rss, _) = rss_kib(pid);

    namespace(&client, "bench-1000").await;
    let (created_1k, done_1k) = tasks_to_jobs(&client, "bench-1000", 1000).await;
    namespace(&client, "bench-5000").await;
    let (created_5k, done_5k) = tasks_to_jobs(&client, "bench-5000", 5000).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, hwm) = rss_kib(pid);
    let cpu = cpu_secs(pid);

    namespace(&client, "bench-cancel").await;
    let mut lat = cancel_latencies(&client, "bench-cancel", CANCEL_SAMPLES).await;
    lat.sort();
    drop(child);

    let rate = |n: f64, d: Duration| n / d.as_secs_f64();
    let rate_1k = rate(1000.0, done_1k);
    let rate_5k = rate(5000.0, done_5k);
    let client_cfg = format!(
        "kube-rs client defaults (no client-side rate limit), {} reconciles / requests in flight",
        concurrency()
    );
    println!();
    println!("kelos-controller bench ({client_cfg})");
    println!(
        "  apiserver alone: 1,000 Jobs created in {:.2}s = {direct_rate:.0} Jobs/s",
        direct.as_secs_f64()
    );
    println!(
        "  1,000 Tasks → Job + phase Pending: {:.2}s ({:.0} Tasks/s; Tasks created in {:.2}s); ratio to apiserver Job rate: {:.2}",
        done_1k.as_secs_f64(),
        rate_1k,
        created_1k.as_secs_f64(),
        rate_1k / direct_rate
    );
    println!(
        "  5,000 Tasks → Job + phase Pending: {:.2}s ({:.0} Tasks/s; Tasks created in {:.2}s); ratio to apiserver Job rate: {:.2}",
        done_5k.as_secs_f64(),
        rate_5k,
        created_5k.as_secs_f64(),
        rate_5k / direct_rate
    );
    println!(
        "  controller RSS: {:.1} MiB idle, {:.1} MiB with 6,000 Tasks + 6,000 Jobs cached (peak {:.1} MiB)",
        idle_rss as f64 / 1024.0,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  controller CPU for the 6,000 Tasks: {cpu:.1}s ({:.2} ms per Task; the control plane and this bench share the same {} cores)",
        cpu * 1000.0 / 6000.0,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  Cancelled status write → Job gone ({} samples): median {}, p99 {}, max {}",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    cluster.shutdown();
}
