//! A real Kubernetes control plane for tests: etcd + kube-apiserver (v1.36.3, built from the Go
//! module proxy by `hack/test-bins.sh`) on 127.0.0.1, with an admin kubeconfig and CRDs
//! installed. No controller-manager, scheduler or kubelet (the "envtest tier"): Jobs never get
//! Pods, garbage collection and namespace deletion never happen.
//!
//! ```no_run
//! # async fn example() {
//! let cluster = kelos_testenv::shared().await; // one per test binary
//! let client = cluster.client().await; // one per test (runtime)
//! let ns = cluster.namespace("my-test").await;
//! # let _ = (client, ns);
//! # }
//! ```
//!
//! Children get `PR_SET_PDEATHSIG` and their own process group, so they die with the test
//! binary. Logs live in [`TestCluster::dir`]; they are kept (and their path printed) when a
//! start fails, a test panics, or `KELOS_TESTENV_KEEP` is set.

mod apiserver;
mod bins;
mod cluster;
pub mod crds;
mod error;
mod etcd;
pub mod kubeconfig;
mod pki;
mod process;
mod shared;
mod workdir;

pub use bins::repo_root;
pub use cluster::{KEEP_ENV, StartTimings, TestCluster};
pub use error::{Error, Result};
pub use shared::shared_with;

/// The test binary's shared control plane with the Kelos CRDs installed.
pub async fn shared() -> &'static TestCluster {
    shared_with(kelos_api::crds).await
}
