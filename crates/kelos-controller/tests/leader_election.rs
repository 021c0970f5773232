//! Leader election with real `kelos-controller` processes (the binary cargo built) against the
//! real kube-apiserver of kelos-testenv: one leader among two replicas, only the leader writes,
//! failover within the lease duration without processing a Task twice, stepping down on a
//! stolen Lease and on a partition from the apiserver, releasing on SIGTERM.
//!
//! Every process gets `--leader-election-namespace` and `--watch-namespace` set to its test's
//! own namespace, so the tests of this binary do not see each other.

#[path = "support/process.rs"]
mod process;
mod task_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use kelos_api::Task;
use kelos_controller::leader::LEASE_NAME;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use process::{Proc, free_addr};
use task_support::WAIT;
use task_support::http::{http_get, sample};

/// The controller's lease duration, renew deadline and renew period (leader.rs defaults).
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RENEW_PERIOD: Duration = Duration::from_secs(5);

/// A `kelos-controller` child process, SIGKILLed when dropped.
struct Controller {
    proc: Proc,
    metrics: SocketAddr,
    health: SocketAddr,
}

impl std::ops::Deref for Controller {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for Controller {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl Controller {
    /// Starts the binary with leader election on, scoped to `ns`, JSON logs to a file.
    fn start(name: &'static str, kubeconfig: &Path, ns: &str, dir: &Path) -> Controller {
        let metrics = free_addr();
        let health = free_addr();
        let proc = Proc::spawn_with(
            name,
            Path::new(env!("CARGO_BIN_EXE_kelos-controller")),
            &[
                format!("--kubeconfig={}", kubeconfig.display()),
                "--leader-elect".to_owned(),
                format!("--leader-election-namespace={ns}"),
                format!("--watch-namespace={ns}"),
                format!("--metrics-bind-address={metrics}"),
                format!("--health-probe-bind-address={health}"),
                "--log-format=json".to_owned(),
            ],
            dir,
            |cmd| {
                cmd.env("RUST_LOG", "info,kube=warn,hyper=warn,tower=warn")
                    .env_remove("POD_NAMESPACE");
            },
        );
        Controller {
            proc,
            metrics,
            health,
        }
    }

    /// JSON log lines whose message contains `needle`.
    fn log_lines(&self, needle: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle))
            })
            .collect()
    }

    /// The holder identity it campaigns under (from its "campaigning" log line).
    async fn identity(&mut self) -> String {
        let start = Instant::now();
        loop {
            if let Some(id) = self
                .log_lines("leader election: campaigning")
                .first()
                .and_then(|v| v["fields"]["identity"].as_str().map(str::to_owned))
            {
                return id;
            }
            self.assert_running();
            assert!(
                start.elapsed() < WAIT,
                "{}: no campaigning log line:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for `/healthz` and `/readyz` to answer 200.
    async fn wait_serving(&mut self) {
        let start = Instant::now();
        loop {
            let healthy = http_get(self.health, "/healthz").await.map(|r| r.0) == Some(200);
            let ready = http_get(self.health, "/readyz").await.map(|r| r.0) == Some(200);
            if healthy && ready {
                return;
            }
            self.assert_running();
            assert!(
                start.elapsed() < WAIT,
                "{}: /healthz and /readyz never both answered 200:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self) -> String {
        let (code, body) = http_get(self.metrics, "/metrics")
            .await
            .unwrap_or_else(|| panic!("{}: /metrics unreachable", self.name));
        assert_eq!(code, 200, "{}: /metrics", self.name);
        body
    }
}

fn created(metrics: &str, ns: &str) -> f64 {
    sample(metrics, "kelos_task_created_total", &[("namespace", ns)])
}

/// `kelos_task_created_total` of `ctrl` once it reaches `expected` (or the last value seen at
/// the deadline): the counter moves just after the Job create returns, so a Job can be visible
/// a moment before its count.
async fn created_settled(ctrl: &Controller, ns: &str, expected: f64) -> f64 {
    let start = Instant::now();
    loop {
        let value = created(&ctrl.metrics().await, ns);
        if value == expected || start.elapsed() > WAIT {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Env {
    client: Client,
    ns: String,
    kubeconfig: PathBuf,
    /// Controller logs; inside the cluster's dir, which is kept when a test fails.
    dir: PathBuf,
}

impl Env {
    async fn new(prefix: &str) -> Env {
        let cluster = kelos_testenv::shared().await;
        let ns = cluster.namespace(prefix).await;
        let dir = cluster.dir().join(&ns);
        std::fs::create_dir_all(&dir).unwrap();
        Env {
            client: cluster.client().await,
            ns,
            kubeconfig: cluster.kubeconfig_path().to_owned(),
            dir,
        }
    }

    fn controller(&self, name: &'static str) -> Controller {
        Controller::start(name, &self.kubeconfig, &self.ns, &self.dir)
    }

    fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn lease(&self) -> Option<Lease> {
        self.leases()
            .get_opt(LEASE_NAME)
            .await
            .expect("reading the Lease")
    }

    async fn holder(&self) -> Option<String> {
        self.lease().await.and_then(|l| l.spec?.holder_identity)
    }

    /// Polls (every 20 ms) until the Lease holder is one of `ids`; returns it.
    async fn wait_holder(&self, ids: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(h) = self.holder().await.filter(|h| ids.contains(&h.as_str())) {
                return h;
            }
            assert!(
                start.elapsed() < limit,
                "none of {ids:?} took the Lease within {limit:?}; it is {:?}",
                self.lease().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn create_task(&self, name: &str) -> Task {
        Api::<Task>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &task_support::task(name))
            .await
            .expect("creating Task")
    }

    async fn jobs(&self) -> Vec<Job> {
        Api::<Job>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("listing Jobs")
            .items
    }

    /// Waits until each of `tasks` has a Job.
    async fn wait_jobs(&self, tasks: &[&str]) {
        let start = Instant::now();
        loop {
            let jobs = self.jobs().await;
            let missing: Vec<_> = tasks
                .iter()
                .filter(|t| !jobs.iter().any(|j| j.name_any() == **t))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(start.elapsed() < WAIT, "no Job for {missing:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn renew_time(lease: &Lease) -> SystemTime {
    let t = lease
        .spec
        .as_ref()
        .and_then(|s| s.renew_time.as_ref())
        .expect("the Lease has a renewTime");
    let since_epoch = Duration::from_nanos(t.0.as_nanosecond() as u64);
    SystemTime::UNIX_EPOCH + since_epoch
}

fn transitions(lease: &Lease) -> i32 {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0)
}

#[tokio::test]
async fn one_leader_writes_and_a_standby_takes_over_within_the_lease_duration() {
    let env = Env::new("leader-failover").await;
    let mut a = env.controller("replica-a");
    let mut b = env.controller("replica-b");
    let id_a = a.identity().await;
    let id_b = b.identity().await;
    assert_ne!(id_a, id_b);
    // Both serve probes; the standby counts as ready (it must not block a rollout).
    a.wait_serving().await;
    b.wait_serving().await;

    let first = env.wait_holder(&[&id_a, &id_b], WAIT).await;
    let (mut leader, mut standby, standby_id) = if first == id_a {
        (a, b, id_b.clone())
    } else {
        (b, a, id_a.clone())
    };
    eprintln!(
        "leader: {} ({first}); standby: {}",
        leader.name, standby.name
    );

    // Exactly one leader, and it keeps the Lease: the holder stays while renewTime moves on.
    let lease = env.lease().await.unwrap();
    let renewed_before = renew_time(&lease);
    for t in ["t1", "t2", "t3"] {
        env.create_task(t).await;
    }
    env.wait_jobs(&["t1", "t2", "t3"]).await;
    tokio::time::sleep(RENEW_PERIOD + Duration::from_secs(1)).await;
    let lease = env.lease().await.unwrap();
    assert_eq!(env.holder().await.as_deref(), Some(first.as_str()));
    assert!(renew_time(&lease) > renewed_before, "the leader renews");
    assert_eq!(leader.log_lines("acquired the Lease").len(), 1);
    assert!(standby.log_lines("acquired the Lease").is_empty());
    assert!(!standby.log_lines("standing by").is_empty());

    // Only the leader wrote: the standby created nothing. Scraped before the kill.
    let leader_created = created_settled(&leader, &env.ns, 3.0).await;
    let standby_created = created(&standby.metrics().await, &env.ns);
    assert_eq!((leader_created, standby_created), (3.0, 0.0));
    let jobs_before: BTreeMap<String, String> = env
        .jobs()
        .await
        .iter()
        .map(|j| (j.name_any(), j.uid().unwrap()))
        .collect();
    assert_eq!(jobs_before.len(), 3);

    // Kill the leader outright (no release), and create Tasks while nobody leads.
    leader.kill();
    let killed = Instant::now();
    let killed_wall = SystemTime::now();
    let lease = env.lease().await.unwrap();
    let transitions_before = transitions(&lease);
    let since_renewal = killed_wall
        .duration_since(renew_time(&lease))
        .unwrap_or_default();
    for t in ["t4", "t5"] {
        env.create_task(t).await;
    }

    env.wait_holder(&[&standby_id], LEASE_DURATION + Duration::from_secs(5))
        .await;
    let takeover = killed.elapsed();
    eprintln!(
        "takeover: {:.2} s after SIGKILL ({:.2} s after the dead leader's last renewal; lease duration {} s)",
        takeover.as_secs_f64(),
        (takeover + since_renewal).as_secs_f64(),
        LEASE_DURATION.as_secs()
    );
    // The Lease expires at most LEASE_DURATION after the last renewal, which came before the
    // kill; 1 s covers this test's 20 ms polling and the requests' latency.
    assert!(
        takeover <= LEASE_DURATION + Duration::from_secs(1),
        "takeover took {takeover:?}"
    );
    // Not before the dead leader's Lease expired on the standby's clock (it saw the last
    // renewal at most RENEW_PERIOD before the kill).
    assert!(
        takeover + since_renewal >= LEASE_DURATION - Duration::from_millis(500),
        "taken over before expiry: {takeover:?} after the kill, {since_renewal:?} after the last renewal"
    );
    let lease = env.lease().await.unwrap();
    assert_eq!(transitions(&lease), transitions_before + 1);

    // The new leader processes the Tasks created while nobody led, and new ones.
    env.wait_jobs(&["t4", "t5"]).await;
    for t in ["t6", "t7"] {
        env.create_task(t).await;
    }
    env.wait_jobs(&["t6", "t7"]).await;

    // No Task processed twice: one Job per Task, owned by it; the old Jobs untouched.
    let tasks = Api::<Task>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let jobs = env.jobs().await;
    assert_eq!(tasks.len(), 7);
    assert_eq!(jobs.len(), 7, "one Job per Task");
    for task in &tasks {
        let owned: Vec<_> = jobs
            .iter()
            .filter(|j| {
                j.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == task.uid().as_ref())
            })
            .collect();
        assert_eq!(owned.len(), 1, "Task {} has one Job", task.name_any());
    }
    for (name, uid) in &jobs_before {
        let now = jobs.iter().find(|j| j.name_any() == *name).unwrap();
        assert_eq!(now.uid().as_ref(), Some(uid), "Job {name} was recreated");
    }
    let standby_created = created_settled(&standby, &env.ns, 4.0).await;
    assert_eq!(
        standby_created, 4.0,
        "the new leader created only the new Jobs"
    );
    assert_eq!(leader_created + standby_created, tasks.len() as f64);

    // A graceful stop releases the Lease at once and exits 0.
    standby.signal("TERM");
    let status = standby.wait_exit(WAIT).await.expect("exit after SIGTERM");
    assert!(status.success(), "SIGTERM exit: {status}");
    let lease = env.lease().await.unwrap();
    let spec = lease.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref().unwrap_or(""), "");
    assert_eq!(spec.lease_duration_seconds, Some(1));
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_exits_non_zero() {
    let env = Env::new("leader-stolen").await;
    let mut a = env.controller("replica-a");
    let id = a.identity().await;
    env.wait_holder(&[&id], WAIT).await;
    a.wait_serving().await;

    // Someone else takes the Lease (a conditioned update, as a rival replica would; retried
    // when it races with a renewal).
    loop {
        let mut lease = env.lease().await.unwrap();
        let spec = lease.spec.as_mut().unwrap();
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        match env
            .leases()
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => panic!("taking the Lease over: {e}"),
        }
    }
    let taken = Instant::now();

    // Its next renewal (at most RENEW_PERIOD away) finds out, and the process stops.
    let status = a
        .wait_exit(RENEW_PERIOD + Duration::from_secs(3))
        .await
        .unwrap_or_else(|| panic!("still running after losing the Lease:\n{}", a.log()));
    eprintln!(
        "stepped down {:.2} s after the Lease was taken",
        taken.elapsed().as_secs_f64()
    );
    assert!(!status.success(), "exit status {status}");
    let lost = a.log_lines("lost the Lease");
    assert_eq!(lost.len(), 1, "{}", a.log());
    assert!(
        lost[0]["fields"]["reason"]
            .as_str()
            .unwrap()
            .contains("intruder")
    );
    // It did not touch the Lease on the way out.
    assert_eq!(env.holder().await.as_deref(), Some("intruder"));
}

/// A loopback TCP proxy to the apiserver that can be cut, as a network partition would.
struct Proxy {
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let registry = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                registry.lock().unwrap().push(conn.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Proxy { addr, tasks }
    }

    /// Closes the listener and every connection.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_before_its_lease_expires() {
    let env = Env::new("leader-partition").await;
    let cluster = kelos_testenv::shared().await;
    let url: http::Uri = cluster.apiserver_url().parse().unwrap();
    let upstream: SocketAddr = format!("127.0.0.1:{}", url.port_u16().unwrap())
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    // The same credentials, through the proxy (the serving cert is for 127.0.0.1, any port).
    let kubeconfig = std::fs::read_to_string(&env.kubeconfig).unwrap().replace(
        &format!("server: https://127.0.0.1:{}", upstream.port()),
        &format!("server: https://127.0.0.1:{}", proxy.addr.port()),
    );
    assert!(kubeconfig.contains(&proxy.addr.port().to_string()));
    let proxied = env.dir.join("proxied.kubeconfig");
    std::fs::write(&proxied, kubeconfig).unwrap();

    let mut a = Controller::start("partitioned", &proxied, &env.ns, &env.dir);
    let id_a = a.identity().await;
    env.wait_holder(&[&id_a], WAIT).await;
    let mut b = env.controller("standby");
    let id_b = b.identity().await;
    b.wait_serving().await;
    env.create_task("before").await;
    env.wait_jobs(&["before"]).await;

    // Cut A off from the apiserver right after one of its renewals.
    let last = renew_time(&env.lease().await.unwrap());
    while renew_time(&env.lease().await.unwrap()) == last {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.cut();
    let lease = env.lease().await.unwrap();
    let last_renewal = renew_time(&lease);
    assert_eq!(
        lease.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some(id_a.as_str())
    );

    // A must stop by itself within its renew deadline, before the Lease can expire.
    let status = a
        .wait_exit(LEASE_DURATION)
        .await
        .unwrap_or_else(|| panic!("the partitioned leader kept running:\n{}", a.log()));
    let exited = SystemTime::now();
    let after = exited.duration_since(last_renewal).unwrap_or_default();
    eprintln!(
        "partitioned leader exited {:.2} s after its last renewal (renew deadline {} s, lease {} s)",
        after.as_secs_f64(),
        RENEW_DEADLINE.as_secs(),
        LEASE_DURATION.as_secs()
    );
    assert!(!status.success(), "exit status {status}");
    assert!(
        after < LEASE_DURATION,
        "exited {after:?} after the last renewal"
    );
    assert!(
        after >= RENEW_DEADLINE - Duration::from_secs(1),
        "gave up early: {after:?}"
    );
    assert_eq!(a.log_lines("lost the Lease").len(), 1, "{}", a.log());

    // The standby takes over only after A is gone, and then does A's work.
    env.wait_holder(&[&id_b], LEASE_DURATION + Duration::from_secs(5))
        .await;
    let acquired = env
        .lease()
        .await
        .unwrap()
        .spec
        .unwrap()
        .acquire_time
        .unwrap();
    let acquired = SystemTime::UNIX_EPOCH + Duration::from_nanos(acquired.0.as_nanosecond() as u64);
    assert!(
        acquired > exited,
        "the standby acquired the Lease while the old leader still ran"
    );
    env.create_task("after").await;
    env.wait_jobs(&["after"]).await;
    assert_eq!(created_settled(&b, &env.ns, 1.0).await, 1.0);
    b.assert_running();
}
