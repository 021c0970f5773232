//! `TestCluster`: etcd + kube-apiserver on loopback, CRDs installed, an admin kubeconfig; in the
//! simulated-cluster ("full") tier also kube-controller-manager, kube-scheduler and KWOK with one
//! fake node.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::pki::Pki;
use crate::process::{Process, free_ports};
use crate::{apiserver, bins, controllers, crds, etcd, kubeconfig, kwok, workdir};

/// Set to keep the temp dir (logs, certs, kubeconfig) after a successful run too.
pub const KEEP_ENV: &str = "KELOS_TESTENV_KEEP";

const START_ATTEMPTS: u32 = 3;
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where the start time went. `total` excludes `binaries` (locating, or on a cold cache building,
/// the Go binaries), so it is the control plane's own start time.
#[derive(Clone, Copy, Debug)]
pub struct StartTimings {
    pub binaries: Duration,
    pub etcd: Duration,
    pub apiserver: Duration,
    pub crds: Duration,
    /// Full tier only (zero otherwise): from starting kube-controller-manager, kube-scheduler
    /// and kwok until both are healthy, the fake node is Ready and schedulable, and
    /// ServiceAccount `default/default` exists.
    pub simulation: Duration,
    pub total: Duration,
    /// Starts retried because a probed port was taken before the process bound it.
    pub retries: u32,
}

impl fmt::Display for StartTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.2}s (etcd {:.2}s, kube-apiserver {:.2}s, CRDs {:.2}s",
            self.total.as_secs_f64(),
            self.etcd.as_secs_f64(),
            self.apiserver.as_secs_f64(),
            self.crds.as_secs_f64(),
        )?;
        if !self.simulation.is_zero() {
            write!(
                f,
                ", controller-manager + scheduler + kwok + node Ready {:.2}s",
                self.simulation.as_secs_f64()
            )?;
        }
        write!(f, "; locating binaries {:.2}s", self.binaries.as_secs_f64())?;
        if self.retries > 0 {
            write!(f, "; {} port-conflict retries", self.retries)?;
        }
        write!(f, ")")
    }
}

/// A running control plane. Dropping it (or [`TestCluster::shutdown`]) stops the processes; if
/// the test binary dies first, the kernel kills them (`PR_SET_PDEATHSIG`).
pub struct TestCluster {
    dir: PathBuf,
    tempdir: Mutex<Option<TempDir>>,
    bin_dir: PathBuf,
    kubeconfig_path: PathBuf,
    config: kube::Config,
    /// In start order; stopped in reverse.
    processes: Vec<Process>,
    timings: StartTimings,
    /// The simulated-cluster tier (KCM, scheduler, kwok).
    full: bool,
    keep: AtomicBool,
    stopped: AtomicBool,
    namespaces: AtomicU64,
}

impl TestCluster {
    /// Starts etcd and kube-apiserver and installs `crds`. Builds the binaries first on a cold
    /// cache (see `hack/test-bins.sh`); fails loudly, never skips, when that is impossible.
    pub async fn start(crds: Vec<CustomResourceDefinition>) -> Result<TestCluster> {
        let began = Instant::now();
        let bin_dir = tokio::task::spawn_blocking(bins::locate)
            .await
            .map_err(|e| Error::Binaries(format!("locating the binaries panicked: {e}")))??;
        Self::start_tier(bin_dir, None, began.elapsed(), &crds).await
    }

    /// The simulated cluster ("full tier"): etcd, kube-apiserver (with the ServiceAccount
    /// admission plugin), kube-controller-manager (all default controllers: Job, garbage
    /// collector, namespace, ServiceAccount, ttl-after-finished, ...), kube-scheduler and KWOK
    /// with one fake node, [`kwok::NODE_NAME`](crate::kwok::NODE_NAME). Jobs really create Pods
    /// that are scheduled, run and finish as the stages in [`crate::kwok`] describe; garbage
    /// collection and namespace deletion work. Returns once both controllers are healthy, the
    /// node is Ready and schedulable, ServiceAccount `default/default` exists and `crds` are
    /// usable. The CRDs are installed before kube-controller-manager starts, so its garbage
    /// collector knows them from the start (CRDs installed later are picked up by its periodic
    /// discovery, within about 30 s).
    ///
    /// Builds kwok (and the rest) first on a cold cache: `hack/test-bins.sh --full`.
    pub async fn start_full(crds: Vec<CustomResourceDefinition>) -> Result<TestCluster> {
        let began = Instant::now();
        let (bin_dir, kwok_dir) = tokio::task::spawn_blocking(|| {
            Ok::<_, Error>((bins::locate_full()?, bins::locate_kwok()?))
        })
        .await
        .map_err(|e| Error::Binaries(format!("locating the binaries panicked: {e}")))??;
        Self::start_tier(bin_dir, Some(kwok_dir), began.elapsed(), &crds).await
    }

    /// [`TestCluster::start_full`] with the Kelos CRDs (`kelos_api::crds()`).
    pub async fn kelos_full() -> Result<TestCluster> {
        Self::start_full(kelos_api::crds()).await
    }

    async fn start_tier(
        bin_dir: PathBuf,
        kwok_dir: Option<PathBuf>,
        binaries: Duration,
        crds: &[CustomResourceDefinition],
    ) -> Result<TestCluster> {
        let mut retries = 0;
        loop {
            match Self::start_once(&bin_dir, kwok_dir.as_deref(), crds).await {
                Err(Error::AddressInUse { .. }) if retries + 1 < START_ATTEMPTS => retries += 1,
                Ok(mut cluster) => {
                    cluster.timings.binaries = binaries;
                    cluster.timings.retries = retries;
                    return Ok(cluster);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// [`TestCluster::start`] with the Kelos CRDs (`kelos_api::crds()`).
    pub async fn kelos() -> Result<TestCluster> {
        Self::start(kelos_api::crds()).await
    }

    async fn start_once(
        bin_dir: &Path,
        kwok_dir: Option<&Path>,
        crds: &[CustomResourceDefinition],
    ) -> Result<TestCluster> {
        let tempdir = workdir::create()?;
        let dir = tempdir.path().to_owned();
        match Self::boot(bin_dir, kwok_dir, &dir, crds).await {
            Ok((processes, config, kubeconfig_path, timings)) => Ok(TestCluster {
                dir,
                tempdir: Mutex::new(Some(tempdir)),
                bin_dir: bin_dir.to_owned(),
                kubeconfig_path,
                config,
                processes,
                timings,
                full: kwok_dir.is_some(),
                keep: AtomicBool::new(std::env::var_os(KEEP_ENV).is_some()),
                stopped: AtomicBool::new(false),
                namespaces: AtomicU64::new(0),
            }),
            // A lost port race is not interesting; everything else deserves its logs.
            Err(e @ Error::AddressInUse { .. }) => Err(e),
            Err(e) => {
                let kept = workdir::preserve(tempdir);
                eprintln!(
                    "kelos-testenv: control plane failed to start; logs kept in {}",
                    kept.display()
                );
                Err(e)
            }
        }
    }

    /// Everything that can fail, with the processes dropped (killed) on the way out. The full
    /// tier is started when `kwok_dir` (where the kwok binary lives) is given.
    async fn boot(
        bin_dir: &Path,
        kwok_dir: Option<&Path>,
        dir: &Path,
        crds: &[CustomResourceDefinition],
    ) -> Result<(Vec<Process>, kube::Config, PathBuf, StartTimings)> {
        let began = Instant::now();
        let pki = Pki::generate(dir)?;
        let ports = free_ports(5)?;
        let (etcd_client, etcd_peer, apiserver_port) = (ports[0], ports[1], ports[2]);
        let (kcm_port, scheduler_port) = (ports[3], ports[4]);

        let etcd = Process::spawn(etcd::spec(bin_dir, dir, etcd_client, etcd_peer))?;
        etcd::wait_healthy(&etcd, etcd_client).await?;
        let etcd_ready = began.elapsed();

        let server = format!("https://127.0.0.1:{apiserver_port}");
        let kubeconfig_path = dir.join("kubeconfig");
        kubeconfig::write(
            &kubeconfig_path,
            &kubeconfig::render(
                &server,
                &pki.serving_ca_pem,
                &pki.admin_cert_pem,
                &pki.admin_key_pem,
            ),
        )?;
        let config = kubeconfig::load(&kubeconfig_path).await?;
        // This client lives only during startup, on the caller's runtime.
        let client = kube::Client::try_from(config.clone())?;

        let apiserver = Process::spawn(apiserver::spec(
            bin_dir,
            dir,
            &pki.files,
            &etcd::client_url(etcd_client),
            apiserver_port,
            kwok_dir.is_some(),
        ))?;
        let mut processes = vec![etcd, apiserver];
        apiserver::wait_ready(&processes[1], &client).await?;
        let apiserver_ready = began.elapsed();

        crds::install(&client, crds).await?;
        let crds_ready = began.elapsed();

        if let Some(kwok_dir) = kwok_dir {
            let stages = dir.join("kwok-stages.yaml");
            std::fs::write(&stages, kwok::STAGES)
                .map_err(|e| Error::io(format!("writing {}", stages.display()), e))?;
            processes.push(Process::spawn(controllers::controller_manager_spec(
                bin_dir,
                dir,
                &kubeconfig_path,
                &pki.files,
                kcm_port,
            ))?);
            processes.push(Process::spawn(controllers::scheduler_spec(
                bin_dir,
                dir,
                &kubeconfig_path,
                &pki.files,
                scheduler_port,
            ))?);
            processes.push(Process::spawn(kwok::spec(
                kwok_dir,
                dir,
                &kubeconfig_path,
                &stages,
            ))?);
            let (kcm, scheduler, kwok_process) = (&processes[2], &processes[3], &processes[4]);
            kwok::create_node(&client).await?;
            tokio::try_join!(
                controllers::wait_healthy(kcm, &config, kcm_port),
                controllers::wait_healthy(scheduler, &config, scheduler_port),
                kwok::wait_node_ready(&client, kwok_process, kcm),
                kwok::wait_default_service_account(
                    &client,
                    "default",
                    Some(kcm),
                    controllers::READY_TIMEOUT
                ),
            )?;
        }
        let total = began.elapsed();

        let timings = StartTimings {
            binaries: Duration::ZERO,
            etcd: etcd_ready,
            apiserver: apiserver_ready - etcd_ready,
            crds: crds_ready - apiserver_ready,
            simulation: if kwok_dir.is_some() {
                total - crds_ready
            } else {
                Duration::ZERO
            },
            total,
            retries: 0,
        };
        Ok((processes, config, kubeconfig_path, timings))
    }

    /// A new client for the caller's tokio runtime. Clients are not shared because each
    /// `#[tokio::test]` has its own runtime, and a client's connection tasks die with the runtime
    /// that created them.
    pub async fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config.clone())
            .expect("building a kube::Client from the test control plane's kubeconfig")
    }

    /// The `kube::Config` every [`TestCluster::client`] is built from.
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// Creates a fresh namespace `<prefix>-<n>-<random>` and returns its name. Namespaces are
    /// never deleted: without kube-controller-manager deletion never finishes. In the full tier
    /// this also waits for the namespace's `default` ServiceAccount, without which the
    /// ServiceAccount admission plugin rejects pods.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = namespace_name(prefix, self.namespaces.fetch_add(1, Ordering::Relaxed));
        let api: Api<Namespace> = Api::all(self.client().await);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("kelos.dev/testenv".to_owned(), "true".to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating test namespace {name}: {e}"));
        if self.full {
            let kcm = self
                .processes
                .iter()
                .find(|p| p.name == "kube-controller-manager");
            kwok::wait_default_service_account(
                &self.client().await,
                &name,
                kcm,
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|e| panic!("test namespace {name}: {e}"));
        }
        name
    }

    /// Whether this is the simulated-cluster tier ([`TestCluster::start_full`]).
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Applies more CRDs (server-side, forced) and waits until they are usable.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<()> {
        crds::install(&self.client().await, crds).await
    }

    /// The admin kubeconfig (cluster, user and context `kelos-test`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Where etcd, kube-apiserver, kubectl (and friends) live.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The temp dir holding logs (`etcd.log`, `kube-apiserver.log`; in the full tier also
    /// `kube-controller-manager.log`, `kube-scheduler.log`, `kwok.log`), certs and the
    /// kubeconfig.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> String {
        self.config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned()
    }

    /// The built kubectl, pointed at this cluster only: `--kubeconfig` and `KUBECONFIG` are set,
    /// and its discovery cache and preferences stay out of the home dir.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig_path.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.join("kubectl-cache").display()
            ))
            .env("KUBECONFIG", &self.kubeconfig_path)
            .env("KUBERC", "off")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        cmd
    }

    /// The control plane's own start time (PKI, etcd, kube-apiserver, CRDs).
    pub fn start_duration(&self) -> Duration {
        self.timings.total
    }

    pub fn start_timings(&self) -> StartTimings {
        self.timings
    }

    /// `(name, PID)` of each process, in start order. Each PID is also its process group.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes.iter().map(|p| (p.name, p.pid)).collect()
    }

    /// Keep the temp dir (logs) when this cluster shuts down.
    pub fn keep_dir(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// Stops the processes in reverse start order (kwok, kube-scheduler, kube-controller-manager,
    /// kube-apiserver, etcd; SIGTERM, SIGKILL after 10 s each, by recorded PID), and removes the
    /// temp dir unless it is to be kept. Idempotent.
    pub fn shutdown(&self) {
        self.stop(STOP_GRACE);
    }

    pub(crate) fn stop(&self, grace: Duration) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        for process in self.processes.iter().rev() {
            process.stop(grace);
        }
        let tempdir = self
            .tempdir
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Unless kept, dropping the TempDir removes it.
        if let Some(tempdir) = tempdir
            && self.keep.load(Ordering::Relaxed)
        {
            let kept = workdir::preserve(tempdir);
            eprintln!(
                "kelos-testenv: control-plane logs kept in {}",
                kept.display()
            );
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A DNS-1123 label: `<prefix>-<n>-<5 random chars>`, at most 63 characters.
fn namespace_name(prefix: &str, n: u64) -> String {
    let mut clean: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "test" } else { clean };
    // RandomState is seeded randomly per process; enough to avoid clashes with namespaces a
    // previous user of a long-lived cluster (`make cluster`) created.
    let mut random = RandomState::new().hash_one(n);
    let suffix: String = (0..5)
        .map(|_| {
            let c = b"abcdefghijklmnopqrstuvwxyz0123456789"[(random % 36) as usize];
            random /= 36;
            c as char
        })
        .collect();
    format!("{clean}-{n}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels() {
        for prefix in ["Task_Controller", "", "---", &"x".repeat(100), "a.b/c"] {
            let name = namespace_name(prefix, 12345);
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
        }
        assert!(namespace_name("Task_Controller", 1).starts_with("task-controller-1-"));
        assert_ne!(namespace_name("a", 1), namespace_name("a", 2));
    }
}
