//! kube-apiserver for one control plane: envtest's flag set, bound to 127.0.0.1 only.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::pki::PkiFiles;
use crate::process::{Process, Spec, TAIL_LINES, log_tail};

/// Generous for 2 cores under a parallel cargo build; it is usually a few seconds.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `full`: the simulated-cluster tier, where kube-controller-manager creates default
/// ServiceAccounts, so the ServiceAccount admission plugin stays on.
pub fn spec(
    bin_dir: &Path,
    dir: &Path,
    pki: &PkiFiles,
    etcd_url: &str,
    port: u16,
    full: bool,
) -> Spec {
    let mut args = vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--cert-dir={}", dir.join("apiserver-certs").display()),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.client_ca.display()),
        format!("--secure-port={port}"),
        "--bind-address=127.0.0.1".into(),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--allow-privileged=true".into(),
        // RBAC only: tests check real authorization (`kubectl auth can-i`); admin is
        // system:masters and bypasses it.
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer=https://127.0.0.1:{port}/"),
        format!("--service-account-key-file={}", pki.sa_public_key.display()),
        format!(
            "--service-account-signing-key-file={}",
            pki.sa_private_key.display()
        ),
    ];
    if !full {
        // No controller-manager creates default ServiceAccounts in the envtest tier.
        args.push("--disable-admission-plugins=ServiceAccount".into());
    }
    if let Some(ip) = advertise_address() {
        args.push(format!("--advertise-address={ip}"));
    }
    Spec {
        name: "kube-apiserver",
        program: bin_dir.join("kube-apiserver"),
        args,
        log: dir.join("kube-apiserver.log"),
        env: Vec::new(),
    }
}

/// Without a default route the apiserver cannot pick the address it writes into the
/// `kubernetes` Endpoints ("no default routes found"), and it rejects loopback. Nothing ever
/// dials that address in this cluster, so any non-loopback interface address will do.
fn advertise_address() -> Option<Ipv4Addr> {
    if has_default_route() {
        return None;
    }
    // TEST-NET-1 (RFC 5737) when the machine has no other interface at all: never routed.
    Some(first_non_loopback_ipv4().unwrap_or(Ipv4Addr::new(192, 0, 2, 1)))
}

// IPv4 only: the service range is IPv4, and the apiserver wants an advertise address of the
// same family.
fn has_default_route() -> bool {
    let routes = fs::read_to_string("/proc/net/route").unwrap_or_default();
    routes
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some("00000000"))
}

fn first_non_loopback_ipv4() -> Option<Ipv4Addr> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free exactly once.
    unsafe {
        if libc::getifaddrs(&mut addrs) != 0 {
            return None;
        }
        let mut found = None;
        let mut cur = addrs;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && (*addr).sa_family as i32 == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() {
                    found = Some(ip);
                    break;
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(addrs);
        found
    }
}

/// Polls `/readyz` with the admin identity until it answers 200.
pub async fn wait_ready(process: &Process, client: &kube::Client) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(process.startup_failure(status));
        }
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("static request");
        // Bounded per probe: a hung connection must not outlast READY_TIMEOUT (kube's own read
        // timeout is minutes).
        let probe = tokio::time::timeout(PROBE_TIMEOUT, client.request_text(request));
        let last_error = match probe.await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
        };
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                component: "kube-apiserver",
                timeout: READY_TIMEOUT,
                last_error,
                log: process.log.clone(),
                tail: log_tail(&process.log, TAIL_LINES),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
