//! kelos-run: what `make run` runs. A local simulated cluster (kelos-testenv's full tier: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler, KWOK) with the CRDs installed; a fake
//! GitHub seeded with `kelos-demo/app` (or a real repository); kelos-controller and one
//! kelos-spawner per demo TaskSpawner as child processes; the demo manifests; then, narrated
//! line by line, Tasks being created, running and succeeding, and one being cancelled when its
//! pull request is closed. The cluster then stays up until Ctrl-C, which tears everything down.
//!
//! `--exit-after-demo` (or `KELOS_RUN_EXIT_AFTER_DEMO=1`) exits 0 once the cancelled Task is
//! observed, non-zero with the reason on failure or after `--timeout` seconds.

mod demo;
mod narrate;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kelos_api::TaskPhase;
use kelos_api::constants::{SOURCE_KIND_ISSUE, SOURCE_KIND_PULL_REQUEST, cancelled_by_spawner};
use kelos_testenv::TestCluster;
use kelos_testenv::process::{Process, Spec, free_ports, log_tail};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch as tokio_watch;

use demo::GitHub;
use narrate::Narrator;
use watch::Snapshot;

const STEPS: u32 = 6;
/// How long a stopped child gets between SIGTERM and SIGKILL.
const CHILD_GRACE: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
#[command(
    name = "kelos-run",
    about = "Local simulated cluster, fake (or real) GitHub, kelos-controller and kelos-spawner, and a narrated demo (make run)"
)]
struct Args {
    /// Exit once the demo's cancelled Task is observed (0), or with an error on failure or
    /// timeout, instead of leaving the cluster up until Ctrl-C.
    #[arg(
        long,
        env = "KELOS_RUN_EXIT_AFTER_DEMO",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    exit_after_demo: bool,
    /// Seconds the demo may take once the cluster is up, before it gives up.
    #[arg(long, env = "KELOS_RUN_TIMEOUT", default_value_t = 180)]
    timeout: u64,
    /// A real GitHub repository (`owner/repo`) instead of the fake; needs `GITHUB_TOKEN`.
    #[arg(long, env = "KELOS_RUN_REPO")]
    repo: Option<String>,
    /// Where kelos-controller and kelos-spawner are (default: next to kelos-run).
    #[arg(long, env = "KELOS_RUN_BIN_DIR")]
    bin_dir: Option<PathBuf>,
}

struct Bins {
    controller: PathBuf,
    spawner: PathBuf,
}

fn locate_bins(dir: Option<PathBuf>) -> Result<Bins, String> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .map_err(|e| format!("locating kelos-run itself: {e}"))?
            .parent()
            .map(Path::to_path_buf)
            .ok_or("kelos-run has no parent directory")?,
    };
    let bins = Bins {
        controller: dir.join("kelos-controller"),
        spawner: dir.join("kelos-spawner"),
    };
    for bin in [&bins.controller, &bins.spawner] {
        if !bin.is_file() {
            return Err(format!(
                "{} does not exist; build it first (`make run` does: cargo build -p kelos-controller -p kelos-spawner -p kelos-run)",
                bin.display()
            ));
        }
    }
    Ok(bins)
}

/// Real GitHub when `KELOS_RUN_REPO` is set; it then needs `GITHUB_TOKEN`.
fn github_mode(
    repo: Option<&str>,
    token: Option<String>,
) -> Result<Option<(String, String, String)>, String> {
    let Some(repo) = repo.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    let (owner, name) = demo::parse_repo(repo)?;
    let token = token.unwrap_or_default();
    if token.trim().is_empty() {
        return Err(format!(
            "KELOS_RUN_REPO={repo} needs GITHUB_TOKEN (a token that can read its issues and pull requests)"
        ));
    }
    Ok(Some((owner, name, token.trim().to_owned())))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let n = Narrator::new();
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");

    let (bins, real) = match locate_bins(args.bin_dir.clone()).and_then(|b| {
        Ok((
            b,
            github_mode(args.repo.as_deref(), std::env::var("GITHUB_TOKEN").ok())?,
        ))
    }) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("kelos-run: {e}");
            std::process::exit(1);
        }
    };

    n.step(
        1,
        STEPS,
        "Simulated cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (a fake node), Kelos CRDs",
    );
    let started = tokio::select! {
        started = TestCluster::kelos_full() => Some(started),
        _ = interrupt.recv() => None,
        _ = terminate.recv() => None,
    };
    // (A half-started cluster was dropped with the select: its processes are stopped.)
    let cluster = match started {
        Some(Ok(cluster)) => cluster,
        Some(Err(e)) => {
            eprintln!("kelos-run: the simulated cluster did not start: {e}");
            std::process::exit(1);
        }
        None => std::process::exit(130),
    };
    n.info(&format!(
        "up at {} in {}",
        cluster.apiserver_url(),
        cluster.start_timings()
    ));
    let pids: Vec<String> = cluster
        .pids()
        .iter()
        .map(|(name, pid)| format!("{name} {pid}"))
        .collect();
    n.info(&format!("pids: {}", pids.join(", ")));
    n.info(&format!(
        "CRDs installed: {}",
        kelos_api::crds()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    n.info(&format!("logs in {}", cluster.dir().display()));

    let mut run = Run {
        n: n.clone(),
        cluster,
        children: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(args.timeout),
        timeout: args.timeout,
        github: None,
        watcher: None,
    };
    let outcome = tokio::select! {
        outcome = run.demo(&bins, real, args.exit_after_demo) => outcome,
        _ = interrupt.recv() => Outcome::Interrupted,
        _ = terminate.recv() => Outcome::Interrupted,
    };

    let code = match outcome {
        Outcome::Done if !args.exit_after_demo => {
            run.apply_examples().await;
            run.hints();
            // Up until Ctrl-C; a controller or spawner that dies meanwhile ends it too (1).
            tokio::select! {
                _ = interrupt.recv() => 0,
                _ = terminate.recv() => 0,
                _ = run.any_child_exit() => 1,
            }
        }
        Outcome::Done => {
            n.info("demo complete (--exit-after-demo): tearing down");
            0
        }
        Outcome::Interrupted => 130,
        Outcome::Failed(e) => {
            n.warn(&e);
            run.cluster.keep_dir();
            eprintln!("kelos-run: {e}");
            if !args.exit_after_demo {
                n.info(&format!(
                    "the cluster stays up for a look: export KUBECONFIG={}; Ctrl-C stops it",
                    run.cluster.kubeconfig_path().display()
                ));
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            1
        }
    };
    run.teardown();
    drop(run);
    // Everything is stopped; exit now rather than wait for the runtime to wind down its tasks.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code)
}

enum Outcome {
    Done,
    Interrupted,
    Failed(String),
}

struct Run {
    n: Narrator,
    cluster: TestCluster,
    /// kelos-controller, then the spawners: stopped in reverse.
    children: Vec<Child>,
    deadline: Instant,
    timeout: u64,
    /// Dropped (the fake GitHub stopped) only after the spawners are.
    github: Option<Arc<GitHub>>,
    /// The Task and pod watchers: stopped before the cluster, whose apiserver otherwise waits
    /// for their watches to end.
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Run {
    async fn demo(
        &mut self,
        bins: &Bins,
        real: Option<(String, String, String)>,
        exit_after: bool,
    ) -> Outcome {
        match self.demo_steps(bins, real, exit_after).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(e),
        }
    }

    async fn demo_steps(
        &mut self,
        bins: &Bins,
        real: Option<(String, String, String)>,
        exit_after: bool,
    ) -> Result<(), String> {
        let n = self.n.clone();
        let client = self.cluster.client().await;

        // 2. GitHub.
        match &real {
            None => {
                n.step(
                    2,
                    STEPS,
                    "GitHub: a local fake (kelos-fake-github) seeded with kelos-demo/app",
                );
                let seeded = demo::fake()?;
                if let Some(url) = seeded.github.api_base_url() {
                    n.info(&format!(
                        "serving GitHub's REST API at {url}; it requires the token the spawners get in GITHUB_TOKEN"
                    ));
                }
                for line in &seeded.lines {
                    n.info(line);
                }
                self.github = Some(Arc::new(seeded.github));
            }
            Some((owner, repo, token)) => {
                n.step(
                    2,
                    STEPS,
                    &format!("GitHub: the real {owner}/{repo} (KELOS_RUN_REPO, GITHUB_TOKEN)"),
                );
                n.info("the spawners only read: reporting is off in the demo TaskSpawners");
                self.github = Some(Arc::new(GitHub::Real {
                    owner: owner.clone(),
                    repo: repo.clone(),
                    token: token.clone(),
                }));
            }
        }
        let github = self.github.clone().expect("just set");
        let github = &*github;

        // 3. Manifests.
        n.step(
            3,
            STEPS,
            &format!(
                "Namespace {} and the demo manifests (kubectl apply --server-side)",
                demo::NAMESPACE
            ),
        );
        self.create_namespace(&client, demo::NAMESPACE).await?;
        let mut policy_checked = false;
        for (path, manifest) in demo::MANIFESTS {
            self.apply(path, &github.render(manifest)).await?;
            if !policy_checked {
                self.wait_policy_active(&client).await?;
                policy_checked = true;
            }
        }

        // 4. Controller.
        n.step(4, STEPS, "kelos-controller (a local process, --kubeconfig)");
        let controller = self.start_controller(bins).await?;
        n.info(&format!(
            "ready: pid {}, metrics http://{}/metrics, health http://{}/readyz, log {}",
            controller.pid,
            controller.metrics,
            controller.health,
            controller.log.display()
        ));
        n.info("it reconciles Tasks into Jobs, and each TaskSpawner into a spawner Deployment (whose pod KWOK only pretends to run; the real spawners are the processes of the next step)");

        // 5. Spawners.
        n.step(5, STEPS, "kelos-spawner, one local process per TaskSpawner");
        for name in demo::SPAWNERS {
            let (pid, log) = self.start_spawner(bins, github, name)?;
            n.info(&format!(
                "{name}: pid {pid}, polls {}/{} every 10s{}, log {}",
                github.owner(),
                github.repo(),
                github
                    .api_base_url()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default(),
                log.display()
            ));
        }

        // 6. Watch.
        let (mut rx, watcher) =
            watch::spawn(client.clone(), demo::NAMESPACE, n.clone(), github.titles());
        self.watcher = Some(watcher);
        match github {
            GitHub::Fake {
                repo, issues, pull, ..
            } => {
                n.step(
                    6,
                    STEPS,
                    "Tasks: created by the spawners, run by the controller's Jobs on KWOK, and one cancelled",
                );
                let (issues, pull) = (issues.clone(), *pull);
                self.wait_for(
                    &mut rx,
                    "the issue Tasks to succeed and the review Task to run",
                    |s| {
                        issues.iter().all(|i| {
                            s.for_item(SOURCE_KIND_ISSUE, *i)
                                .is_some_and(|t| t.phase == Some(TaskPhase::Succeeded))
                        }) && s
                            .for_item(SOURCE_KIND_PULL_REQUEST, pull)
                            .is_some_and(|t| t.phase == Some(TaskPhase::Running) && t.pod_running)
                    },
                )
                .await?;
                let task = rx
                    .borrow()
                    .for_item(SOURCE_KIND_PULL_REQUEST, pull)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                n.info(&format!(
                    "Task {task} is still reviewing pull request #{pull}; now the pull request gets closed, so the review is no longer needed"
                ));
                let requests_before = item_requests(github, pull).len();
                repo.close(pull);
                n.event(
                    narrate::GITHUB,
                    &format!(
                        "pull request #{pull} closed on the fake GitHub (as a maintainer would)"
                    ),
                );
                let spawner = cancelled_by_spawner(demo::REVIEW_SPAWNER);
                let cancelled = self
                    .wait_for(&mut rx, &format!("Task {task} to be Cancelled"), |s| {
                        s.for_item(SOURCE_KIND_PULL_REQUEST, pull)
                            .is_some_and(|t| t.phase == Some(TaskPhase::Cancelled))
                    })
                    .await?;
                if let Some(read) = item_requests(github, pull).get(requests_before) {
                    n.event(
                        narrate::GITHUB,
                        &format!(
                            "before cancelling, kelos-spawner {} read the pull request itself (GET {} at {}) and found it closed: absence from a listing alone never cancels",
                            demo::REVIEW_SPAWNER,
                            read.api_path,
                            read.at.with_timezone(&chrono::Local).format("%H:%M:%S%.3f")
                        ),
                    );
                }
                let t = cancelled
                    .for_item(SOURCE_KIND_PULL_REQUEST, pull)
                    .expect("waited for it");
                let expected_message = format!("pull request #{pull} was closed");
                if t.cancelled_by.as_deref() != Some(spawner.as_str())
                    || !t
                        .message
                        .as_deref()
                        .unwrap_or("")
                        .contains(&expected_message)
                {
                    return Err(format!(
                        "Task {} was cancelled, but with cancelledBy {:?} and message {:?} (expected {spawner:?} and {expected_message:?})",
                        t.name, t.cancelled_by, t.message
                    ));
                }
                n.info(&format!(
                    "the controller deletes Job {} and its pod gets the TaskSpawner's 5s grace period; the Task stays (Cancelled, with its audit trail) until its TTL",
                    t.name
                ));
                self.show_tasks().await;
                if exit_after {
                    // Let the pod's termination show before tearing down, briefly.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        self.wait_pod_terminating(&client, &t.name),
                    )
                    .await;
                }
            }
            GitHub::Real { owner, repo, .. } => {
                n.step(6, STEPS, &format!("Tasks for {owner}/{repo}"));
                n.info(&format!(
                    "label an open issue {} or an open pull request {} in {owner}/{repo}: a Task appears within 10s",
                    demo::ISSUE_LABEL,
                    demo::REVIEW_LABEL
                ));
                n.info("issue Tasks run 5s and succeed; review Tasks keep running; close (or unlabel) a reviewed pull request to see its Task cancelled");
                if exit_after {
                    self.wait_for(&mut rx, "a Task to be Cancelled", |s| {
                        s.tasks
                            .values()
                            .any(|t| t.phase == Some(TaskPhase::Cancelled))
                    })
                    .await?;
                    self.show_tasks().await;
                }
            }
        }
        Ok(())
    }

    async fn create_namespace(&self, client: &kube::Client, name: &str) -> Result<(), String> {
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(e) => return Err(format!("creating namespace {name}: {e}")),
        }
        // Pods need the namespace's default ServiceAccount (kube-controller-manager makes it).
        let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), name);
        loop {
            if let Ok(Some(_)) = sa.get_opt("default").await {
                break;
            }
            self.check_deadline("the namespace's default ServiceAccount")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.n.info(&format!("namespace/{name} created"));
        Ok(())
    }

    /// The scenarios of `examples/`, applied together to their own namespace for a look (their
    /// Tasks run on KWOK too; nothing polls GitHub for their TaskSpawners). A failure is a
    /// warning, not the end of the demo.
    async fn apply_examples(&mut self) {
        let dir = kelos_testenv::repo_root().join("examples");
        if !dir.is_dir() {
            return;
        }
        self.n.heading(&format!(
            "Also: the scenarios of examples/, in namespace {}",
            demo::EXAMPLES_NAMESPACE
        ));
        self.deadline = Instant::now() + Duration::from_secs(60);
        let client = self.cluster.client().await;
        if let Err(e) = self
            .create_namespace(&client, demo::EXAMPLES_NAMESPACE)
            .await
        {
            self.n.warn(&e);
            return;
        }
        let mut cmd = tokio::process::Command::from(self.cluster.kubectl());
        cmd.args([
            "apply",
            "--server-side",
            "--field-manager=kelos-run",
            "-n",
            demo::EXAMPLES_NAMESPACE,
            "-R",
            "-f",
        ])
        .arg(&dir);
        match cmd.output().await {
            Ok(out) if out.status.success() => {
                let objects = String::from_utf8_lossy(&out.stdout).lines().count();
                self.n.info(&format!(
                    "{objects} objects applied from {} (kubectl get tasks,taskspawners -n {})",
                    dir.display(),
                    demo::EXAMPLES_NAMESPACE
                ));
            }
            Ok(out) => self.n.warn(&format!(
                "kubectl apply -R -f {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => self.n.warn(&format!("running kubectl: {e}")),
        }
    }

    /// `kubectl apply --server-side -n kelos-demo -f -`, narrating what it did.
    async fn apply(&self, path: &str, manifest: &str) -> Result<(), String> {
        let mut cmd = tokio::process::Command::from(self.cluster.kubectl());
        cmd.args([
            "apply",
            "--server-side",
            "--field-manager=kelos-run",
            "-n",
            demo::NAMESPACE,
            "-f",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("running kubectl: {e}"))?;
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(manifest.as_bytes())
            .await
            .map_err(|e| format!("writing to kubectl: {e}"))?;
        drop(stdin);
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| format!("running kubectl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kubectl apply -f {path} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let applied: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end_matches(" serverside-applied").to_owned())
            .collect();
        self.n.info(&format!("{path}: {}", applied.join(", ")));
        Ok(())
    }

    /// Admission policies take effect a moment after they are created: a server-side dry-run
    /// of a Task-like pod shows when the apiserver applies it.
    async fn wait_policy_active(&self, client: &kube::Client) -> Result<(), String> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), demo::NAMESPACE);
        let probe: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "kelos-run-policy-probe",
                "labels": {"kelos.dev/task": format!("{}-0", demo::REVIEW_SPAWNER)}
            },
            "spec": {"containers": [{"name": "probe", "image": "probe"}]}
        }))
        .expect("a valid pod");
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        loop {
            if let Ok(pod) = pods.create(&dry_run, &probe).await
                && pod
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(watch::KWOK_COMPLETE_DELAY))
            {
                self.n.info(
                    "agent-runtime policy active: demo-reviews agents keep working until stopped, other agents work 5s",
                );
                return Ok(());
            }
            self.check_deadline("the agent-runtime MutatingAdmissionPolicy to take effect")?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn start_controller(&mut self, bins: &Bins) -> Result<ControllerInfo, String> {
        let ports = free_ports(2).map_err(|e| e.to_string())?;
        let (metrics, health) = (
            format!("127.0.0.1:{}", ports[0]),
            format!("127.0.0.1:{}", ports[1]),
        );
        let log = self.cluster.dir().join("kelos-controller.log");
        let process = Process::spawn(Spec {
            name: "kelos-controller",
            program: bins.controller.clone(),
            args: vec![
                format!("--kubeconfig={}", self.cluster.kubeconfig_path().display()),
                format!("--metrics-bind-address={metrics}"),
                format!("--health-probe-bind-address={health}"),
            ],
            env: vec![],
            log: log.clone(),
        })
        .map_err(|e| e.to_string())?;
        let pid = process.pid;
        self.children.push(Child {
            name: "kelos-controller".into(),
            process,
        });
        loop {
            if http_status(&health, "/readyz").await == Some(200) {
                break;
            }
            self.check_children()?;
            self.check_deadline("kelos-controller to be ready (/readyz)")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(ControllerInfo {
            pid,
            metrics,
            health,
            log,
        })
    }

    fn start_spawner(
        &mut self,
        bins: &Bins,
        github: &GitHub,
        name: &str,
    ) -> Result<(u32, PathBuf), String> {
        let metrics = format!("127.0.0.1:{}", free_ports(1).map_err(|e| e.to_string())?[0]);
        let log = self.cluster.dir().join(format!("kelos-spawner-{name}.log"));
        let mut args = vec![
            format!("--taskspawner-name={name}"),
            format!("--taskspawner-namespace={}", demo::NAMESPACE),
            format!("--github-owner={}", github.owner()),
            format!("--github-repo={}", github.repo()),
            format!("--metrics-bind-address={metrics}"),
            format!("--kubeconfig={}", self.cluster.kubeconfig_path().display()),
        ];
        if let Some(url) = github.api_base_url() {
            args.push(format!("--github-api-base-url={url}"));
        }
        let process = Process::spawn(Spec {
            name: "kelos-spawner",
            program: bins.spawner.clone(),
            args,
            env: vec![("GITHUB_TOKEN".into(), github.token().into())],
            log: log.clone(),
        })
        .map_err(|e| e.to_string())?;
        let pid = process.pid;
        self.children.push(Child {
            name: format!("kelos-spawner {name}"),
            process,
        });
        Ok((pid, log))
    }

    async fn wait_pod_terminating(&self, client: &kube::Client, task: &str) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), demo::NAMESPACE);
        let selector = kube::api::ListParams::default().labels(&format!("kelos.dev/task={task}"));
        loop {
            match pods.list(&selector).await {
                Ok(list)
                    if list
                        .items
                        .iter()
                        .all(|p| p.metadata.deletion_timestamp.is_some()) =>
                {
                    // Give the watcher a moment to narrate it.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn show_tasks(&self) {
        let mut cmd = tokio::process::Command::from(self.cluster.kubectl());
        cmd.args(["get", "tasks", "-n", demo::NAMESPACE, "-o", "wide"]);
        if let Ok(out) = cmd.output().await {
            self.n
                .info(&format!("kubectl get tasks -n {} -o wide", demo::NAMESPACE));
            self.n.block(&String::from_utf8_lossy(&out.stdout));
        }
    }

    async fn wait_for(
        &self,
        rx: &mut tokio_watch::Receiver<Snapshot>,
        what: &str,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Result<Snapshot, String> {
        loop {
            {
                let snapshot = rx.borrow_and_update();
                if done(&snapshot) {
                    return Ok(snapshot.clone());
                }
            }
            self.check_children()?;
            if Instant::now() >= self.deadline {
                return Err(format!(
                    "gave up after {} s waiting for {what}; seen so far: {}",
                    self.timeout,
                    rx.borrow().summary()
                ) + &self.log_hint());
            }
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    fn check_deadline(&self, what: &str) -> Result<(), String> {
        if Instant::now() >= self.deadline {
            return Err(
                format!("gave up after {} s waiting for {what}", self.timeout) + &self.log_hint(),
            );
        }
        Ok(())
    }

    fn log_hint(&self) -> String {
        format!("; logs in {}", self.cluster.dir().display())
    }

    /// An error naming the first child that died, with the end of its log.
    fn check_children(&self) -> Result<(), String> {
        for Child { name, process } in &self.children {
            if let Some(status) = process.exit_status() {
                return Err(format!(
                    "{name} (pid {}) exited ({status}); the end of {}:\n{}",
                    process.pid,
                    process.log.display(),
                    log_tail(&process.log, 20)
                ));
            }
        }
        Ok(())
    }

    async fn any_child_exit(&self) {
        loop {
            if let Err(e) = self.check_children() {
                self.n.warn(&e);
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn hints(&self) {
        let n = &self.n;
        n.heading("Demo done; the cluster stays up for you");
        let kubectl_dir = self.cluster.bin_dir().display().to_string();
        n.block(&format!(
            "\nexport KUBECONFIG={}\nexport PATH={kubectl_dir}:$PATH   # kubectl {}, built with the cluster\n\nkubectl get tasks -n {ns} -o wide\nkubectl get task -n {ns} <name> -o yaml   # status.cancelledBy, status.message\nkubectl get taskspawners,jobs,pods -n {ns}\nkubectl get events -n {ns} --sort-by=.lastTimestamp\n\nLogs (controller, spawners, cluster components): {}\nCtrl-C tears everything down.\n",
            self.cluster.kubeconfig_path().display(),
            kubernetes_version(&kubectl_dir),
            self.cluster.dir().display(),
            ns = demo::NAMESPACE,
        ));
    }

    /// Spawners, controller, then the cluster, each by its recorded PID.
    fn teardown(&mut self) {
        self.n
            .heading("Tearing down: spawners, controller, then the cluster");
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        for Child { name, process } in self.children.iter().rev() {
            let how = match process.stop(CHILD_GRACE) {
                Some(status) => status.to_string(),
                None => "already gone".into(),
            };
            self.n
                .info(&format!("stopped {name} (pid {}): {how}", process.pid));
        }
        self.children.clear();
        self.github = None;
        let pids = self.cluster.pids();
        self.cluster.shutdown();
        for (name, pid) in pids {
            self.n.info(&format!("stopped {name} (pid {pid})"));
        }
    }
}

/// One of kelos-run's child processes, under the name the narration uses for it. The process
/// (kelos-testenv's) is in its own group, so a Ctrl-C reaches kelos-run only, and dies with
/// kelos-run.
struct Child {
    name: String,
    process: Process,
}

struct ControllerInfo {
    pid: u32,
    metrics: String,
    health: String,
    log: PathBuf,
}

/// The API paths the spawner reads an item by.
fn item_paths(number: u64) -> [String; 2] {
    [
        format!(
            "/repos/{}/{}/pulls/{number}",
            demo::DEMO_OWNER,
            demo::DEMO_REPO
        ),
        format!(
            "/repos/{}/{}/issues/{number}",
            demo::DEMO_OWNER,
            demo::DEMO_REPO
        ),
    ]
}

/// The fake GitHub's GET requests for one item, oldest first (none against real GitHub).
fn item_requests(github: &GitHub, number: u64) -> Vec<kelos_fake_github::RequestRecord> {
    let GitHub::Fake { server, .. } = github else {
        return Vec::new();
    };
    let paths = item_paths(number);
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && paths.contains(&r.api_path))
        .collect()
}

/// `GET path` on a plain-HTTP loopback server: its status code.
async fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// `v1.36.3` from the test-bins directory name (`k8s-v1.36.3-etcd-…`).
fn kubernetes_version(bin_dir: &str) -> String {
    Path::new(bin_dir)
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("k8s-"))
        .and_then(|n| n.split('-').next())
        .unwrap_or("")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_github_needs_repo_and_token() {
        let token = || Some("ghp_x".to_owned());
        assert_eq!(github_mode(None, token()).unwrap(), None);
        assert_eq!(github_mode(Some(" "), token()).unwrap(), None);
        assert_eq!(
            github_mode(Some("acme/widgets"), token()).unwrap(),
            Some(("acme".into(), "widgets".into(), "ghp_x".into()))
        );
        let e = github_mode(Some("acme/widgets"), None).unwrap_err();
        assert!(e.contains("needs GITHUB_TOKEN"), "{e}");
        assert!(github_mode(Some("acme/widgets"), Some(" ".into())).is_err());
        assert!(github_mode(Some("acme"), token()).is_err());
    }

    #[test]
    fn exit_after_demo_takes_flag_or_env() {
        let parse = |args: &[&str]| Args::try_parse_from(args).unwrap().exit_after_demo;
        // SAFETY: the only test in this binary touching the environment.
        unsafe { std::env::remove_var("KELOS_RUN_EXIT_AFTER_DEMO") };
        assert!(!parse(&["kelos-run"]));
        assert!(parse(&["kelos-run", "--exit-after-demo"]));
        for (value, expected) in [
            ("1", true),
            ("true", true),
            ("yes", true),
            ("0", false),
            ("false", false),
        ] {
            unsafe { std::env::set_var("KELOS_RUN_EXIT_AFTER_DEMO", value) };
            assert_eq!(parse(&["kelos-run"]), expected, "{value}");
        }
        unsafe { std::env::remove_var("KELOS_RUN_EXIT_AFTER_DEMO") };
    }
}
