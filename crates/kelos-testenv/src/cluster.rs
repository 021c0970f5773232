//! `TestCluster`: etcd + kube-apiserver on loopback, CRDs installed, an admin kubeconfig.

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
use crate::{apiserver, bins, crds, etcd, kubeconfig, workdir};

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
    pub total: Duration,
    /// Starts retried because a probed port was taken before the process bound it.
    pub retries: u32,
}

impl fmt::Display for StartTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.2}s (etcd {:.2}s, kube-apiserver {:.2}s, CRDs {:.2}s; locating binaries {:.2}s",
            self.total.as_secs_f64(),
            self.etcd.as_secs_f64(),
            self.apiserver.as_secs_f64(),
            self.crds.as_secs_f64(),
            self.binaries.as_secs_f64(),
        )?;
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
        let binaries = began.elapsed();
        let mut retries = 0;
        loop {
            match Self::start_once(&bin_dir, &crds).await {
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

    async fn start_once(bin_dir: &Path, crds: &[CustomResourceDefinition]) -> Result<TestCluster> {
        let tempdir = workdir::create()?;
        let dir = tempdir.path().to_owned();
        match Self::boot(bin_dir, &dir, crds).await {
            Ok((processes, config, kubeconfig_path, timings)) => Ok(TestCluster {
                dir,
                tempdir: Mutex::new(Some(tempdir)),
                bin_dir: bin_dir.to_owned(),
                kubeconfig_path,
                config,
                processes,
                timings,
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

    /// Everything that can fail, with the processes dropped (killed) on the way out.
    async fn boot(
        bin_dir: &Path,
        dir: &Path,
        crds: &[CustomResourceDefinition],
    ) -> Result<(Vec<Process>, kube::Config, PathBuf, StartTimings)> {
        let began = Instant::now();
        let pki = Pki::generate(dir)?;
        let ports = free_ports(3)?;
        let (etcd_client, etcd_peer, apiserver_port) = (ports[0], ports[1], ports[2]);

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
        ))?;
        let processes = vec![etcd, apiserver];
        apiserver::wait_ready(&processes[1], &client).await?;
        let apiserver_ready = began.elapsed();

        crds::install(&client, crds).await?;
        let total = began.elapsed();

        let timings = StartTimings {
            binaries: Duration::ZERO,
            etcd: etcd_ready,
            apiserver: apiserver_ready - etcd_ready,
            crds: total - apiserver_ready,
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
    /// never deleted: without kube-controller-manager deletion never finishes.
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
        name
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

    /// The temp dir holding logs (`etcd.log`, `kube-apiserver.log`), certs and the kubeconfig.
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

    /// Stops kube-apiserver, then etcd (SIGTERM, SIGKILL after 10 s each, by recorded PID), and
    /// removes the temp dir unless it is to be kept. Idempotent.
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
