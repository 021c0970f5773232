//! A real Kubernetes control plane for tests: etcd + kube-apiserver (v1.36.3, built from the Go
//! module proxy by `hack/test-bins.sh`) on 127.0.0.1, with an admin kubeconfig and CRDs
//! installed. Two tiers:
//!
//! * [`shared`] / [`TestCluster::start`], the "envtest tier": no controller-manager, scheduler
//!   or kubelet. Jobs never get Pods, garbage collection and namespace deletion never happen.
//! * [`shared_full`] / [`TestCluster::start_full`], the "simulated cluster": adds
//!   kube-controller-manager, kube-scheduler and KWOK with one fake node. Jobs create Pods that
//!   are scheduled, run and succeed (or fail, or keep running: see [`kwok`] for the pod
//!   annotations that steer them); garbage collection, namespace deletion, default
//!   ServiceAccounts and graceful pod deletion work. About 3 to 6 s more to start.
//!
//! ```no_run
//! # async fn example() {
//! let cluster = kelos_testenv::shared().await; // one per test binary
//! let client = cluster.client().await; // one per test (runtime)
//! let ns = cluster.namespace("my-test").await;
//! # let _ = (client, ns);
//! let full = kelos_testenv::shared_full().await; // a separate, simulated cluster
//! # let _ = full;
//! # }
//! ```
//!
//! Children get `PR_SET_PDEATHSIG` and their own process group, so they die with the test
//! binary ([`process`], which kelos-run also uses for its own children). Logs live in [`TestCluster::dir`]; they are kept (and their path printed) when a
//! start fails, a test panics, or `KELOS_TESTENV_KEEP` is set.

mod apiserver;
mod bins;
mod cluster;
mod controllers;
pub mod crds;
mod error;
mod etcd;
pub mod kubeconfig;
pub mod kwok;
mod pki;
pub mod process;
mod shared;
mod workdir;

pub use bins::repo_root;
pub use cluster::{KEEP_ENV, StartTimings, TestCluster};
pub use error::{Error, Result};
pub use shared::{shared_full_with, shared_with};

/// The test binary's shared control plane with the Kelos CRDs installed.
pub async fn shared() -> &'static TestCluster {
    shared_with(kelos_api::crds).await
}

/// The test binary's shared simulated cluster (kube-controller-manager, kube-scheduler, KWOK)
/// with the Kelos CRDs installed. Separate from [`shared`].
pub async fn shared_full() -> &'static TestCluster {
    shared_full_with(kelos_api::crds).await
}
