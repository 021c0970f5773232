//! etcd for one control plane: envtest's flags, readiness by `GET /health`.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::process::{Process, Spec, TAIL_LINES, log_tail};

pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

pub fn spec(bin_dir: &Path, dir: &Path, client_port: u16, peer_port: u16) -> Spec {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    Spec {
        name: "etcd",
        program: bin_dir.join("etcd"),
        args: vec![
            "--name=default".into(),
            format!("--data-dir={}", dir.join("etcd-data").display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            // Explicit, so nothing falls back to the default localhost:2380.
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=default={peer}"),
            // Test data is disposable; fsync dominates etcd latency otherwise.
            "--unsafe-no-fsync=true".into(),
        ],
        log: dir.join("etcd.log"),
        env: Vec::new(),
    }
}

pub fn client_url(client_port: u16) -> String {
    format!("http://127.0.0.1:{client_port}")
}

/// Polls `/health` until etcd reports healthy, the process dies, or the timeout passes.
pub async fn wait_healthy(process: &Process, client_port: u16) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(process.startup_failure(status));
        }
        let last_error = match health(client_port).await {
            Ok(true) => return Ok(()),
            Ok(false) => "health is not \"true\"".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                component: "etcd",
                timeout: READY_TIMEOUT,
                last_error,
                log: process.log.clone(),
                tail: log_tail(&process.log, TAIL_LINES),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// A hand-rolled HTTP/1.0 GET: one plain-text request does not justify an HTTP client dependency.
async fn health(port: u16) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut response))
        .await
        .map_err(|_| std::io::Error::other("timed out reading /health"))??;
    Ok(response.starts_with("HTTP/1.") && response.contains(r#""health":"true""#))
}
