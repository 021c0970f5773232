//! One control plane per test binary and tier, shared by all its tests: [`shared_with`] (etcd +
//! kube-apiserver) and [`shared_full_with`] (the simulated cluster) are independent.
//!
//! Statics are never dropped, so the processes are stopped from an `atexit` handler (libtest
//! returns from `main` or calls `exit`, both of which run it). If the binary is killed outright,
//! `PR_SET_PDEATHSIG` still takes the processes down and the next start sweeps the temp dir.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use tokio::sync::OnceCell;

use crate::cluster::TestCluster;

// The error is stored as text so every test of a binary fails with the same message instead of
// each retrying a start that takes up to a minute to fail.
static SHARED: OnceCell<Result<TestCluster, String>> = OnceCell::const_new();
static SHARED_FULL: OnceCell<Result<TestCluster, String>> = OnceCell::const_new();
static PANICKED: AtomicBool = AtomicBool::new(false);

/// The test binary's control plane, started on first use with `crds` installed. Later callers
/// get the same cluster; their `crds` are ignored (use [`TestCluster::install_crds`] for more).
///
/// Panics, with instructions, when the control plane cannot start (e.g. Go is missing).
pub async fn shared_with(crds: fn() -> Vec<CustomResourceDefinition>) -> &'static TestCluster {
    shared_in(&SHARED, "control plane", || TestCluster::start(crds())).await
}

/// The test binary's simulated cluster ([`TestCluster::start_full`]: etcd, kube-apiserver,
/// kube-controller-manager, kube-scheduler, KWOK), started on first use with `crds` installed.
/// Separate from [`shared_with`]'s cluster; later callers' `crds` are ignored.
///
/// Panics, with instructions, when the cluster cannot start (e.g. Go is missing).
pub async fn shared_full_with(crds: fn() -> Vec<CustomResourceDefinition>) -> &'static TestCluster {
    shared_in(&SHARED_FULL, "simulated cluster", || {
        TestCluster::start_full(crds())
    })
    .await
}

async fn shared_in<F, Fut>(
    cell: &'static OnceCell<Result<TestCluster, String>>,
    what: &str,
    start: F,
) -> &'static TestCluster
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = crate::Result<TestCluster>>,
{
    let started = cell
        .get_or_init(|| async {
            note_panics();
            let result = start().await.map_err(|e| e.to_string());
            if let Ok(cluster) = &result {
                register_exit_handler();
                eprintln!(
                    "kelos-testenv: {what} {} up in {}",
                    cluster.apiserver_url(),
                    cluster.start_timings()
                );
            }
            result
        })
        .await;
    match started {
        Ok(cluster) => cluster,
        Err(message) => panic!("{message}"),
    }
}

fn register_exit_handler() {
    static REGISTER: Once = Once::new();
    // SAFETY: registering a plain extern "C" fn.
    REGISTER.call_once(|| unsafe {
        libc::atexit(stop_at_exit);
    });
}

/// A failing test keeps the control-plane logs for a post-mortem.
fn note_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            previous(info);
        }));
    });
}

extern "C" fn stop_at_exit() {
    // Unwinding out of an extern "C" fn aborts; nothing here should panic, but be sure.
    let _ = std::panic::catch_unwind(|| {
        for cell in [&SHARED_FULL, &SHARED] {
            if let Some(Ok(cluster)) = cell.get() {
                if PANICKED.load(Ordering::Relaxed) {
                    cluster.keep_dir();
                }
                // The state is thrown away, so there is nothing to shut down gracefully for.
                cluster.stop(Duration::ZERO);
            }
        }
    });
}
