//! kube-controller-manager and kube-scheduler for the simulated-cluster tier, on 127.0.0.1 only.
//!
//! Both serve `/healthz` over HTTPS with the apiserver's serving certificate (SAN 127.0.0.1,
//! signed by the serving CA), so the harness probes them with the same TLS trust as the
//! apiserver instead of skipping verification. Both use the admin kubeconfig (system:masters).
//! No delegated authentication/authorization for their own endpoints (as kwokctl): the health
//! and metrics paths are always allowed, and the apiserver has no request-header CA that
//! delegated authentication would otherwise complain about on every resync.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pki::PkiFiles;
use crate::process::{Process, Spec, TAIL_LINES, log_tail};

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const ALWAYS_ALLOW: &str = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics";

fn common_args(kubeconfig: &Path, pki: &PkiFiles, port: u16) -> Vec<String> {
    vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".into(),
        // The default is 0.0.0.0: never.
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        ALWAYS_ALLOW.into(),
        // Tests create bursts of objects; the defaults (20 qps) throttle the Job controller.
        "--kube-api-qps=500".into(),
        "--kube-api-burst=1000".into(),
    ]
}

pub fn controller_manager_spec(
    bin_dir: &Path,
    dir: &Path,
    kubeconfig: &Path,
    pki: &PkiFiles,
    port: u16,
) -> Spec {
    let mut args = common_args(kubeconfig, pki, port);
    args.extend([
        // Every default controller: job, garbage-collector, ttl-after-finished, namespace,
        // serviceaccount, root-ca-cert-publisher, node-lifecycle, ...
        "--controllers=*".into(),
        "--use-service-account-credentials=false".into(),
        format!("--root-ca-file={}", pki.serving_ca.display()),
        format!(
            "--service-account-private-key-file={}",
            pki.sa_private_key.display()
        ),
    ]);
    Spec {
        name: "kube-controller-manager",
        program: bin_dir.join("kube-controller-manager"),
        args,
        log: dir.join("kube-controller-manager.log"),
        env: Vec::new(),
    }
}

pub fn scheduler_spec(
    bin_dir: &Path,
    dir: &Path,
    kubeconfig: &Path,
    pki: &PkiFiles,
    port: u16,
) -> Spec {
    Spec {
        name: "kube-scheduler",
        program: bin_dir.join("kube-scheduler"),
        args: common_args(kubeconfig, pki, port),
        log: dir.join("kube-scheduler.log"),
        env: Vec::new(),
    }
}

/// Polls `https://127.0.0.1:<port>/healthz` until it answers 200, the process dies, or the
/// timeout passes. `config` is the admin config; only its URL is changed.
pub async fn wait_healthy(process: &Process, config: &kube::Config, port: u16) -> Result<()> {
    let mut config = config.clone();
    config.cluster_url = format!("https://127.0.0.1:{port}")
        .parse()
        .expect("a loopback URL parses");
    let client = kube::Client::try_from(config)?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(process.startup_failure(status));
        }
        let request = http::Request::get("/healthz")
            .body(Vec::new())
            .expect("static request");
        let probe = tokio::time::timeout(PROBE_TIMEOUT, client.request_text(request));
        let last_error = match probe.await {
            Ok(Ok(body)) if body.trim() == "ok" => return Ok(()),
            Ok(Ok(body)) => format!("/healthz answered {body:?}"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
        };
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                component: process.name,
                timeout: READY_TIMEOUT,
                last_error,
                log: process.log.clone(),
                tail: log_tail(&process.log, TAIL_LINES),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
