//! The `kelos-token-refresher` binary against the fake GitHub: real process, real HTTP, real
//! RS256 signature check (the fake verifies the JWT with the App's public key), real signals.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kelos_fake_github::{FakeGitHub, Fault};

const APP_KEY: &str = include_str!("../../kelos-fake-github/tests/data/app-key.pem");
const APP_PUBLIC_KEY: &str = include_str!("../../kelos-fake-github/tests/data/app-key.pub.pem");
const OTHER_KEY: &str = include_str!("../../kelos-fake-github/tests/data/other-key.pem");
const APP_ID: u64 = 4242;
const INSTALLATION_ID: u64 = 77;

struct Sidecar {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sidecar {
    fn token_file(&self) -> PathBuf {
        self.dir.path().join("token/GITHUB_TOKEN")
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on the child we spawned.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits for the process to exit; returns its exit code and stderr.
    fn wait(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return (status.code(), stderr);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the refresher did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app(gh: &FakeGitHub) {
    gh.register_app(APP_ID, "kelos-test", Some(APP_PUBLIC_KEY));
    gh.add_installation(INSTALLATION_ID, APP_ID);
}

fn start(base_url: &str, key: &str, installation: u64, extra: &[&str]) -> Sidecar {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("token")).unwrap();
    std::fs::create_dir_all(dir.path().join("github-app")).unwrap();
    std::fs::write(dir.path().join("github-app/privateKey"), key).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kelos-token-refresher"))
        .env("APP_ID", APP_ID.to_string())
        .env("INSTALLATION_ID", installation.to_string())
        .env("GITHUB_API_BASE_URL", base_url)
        .env("RUST_LOG", "debug")
        .arg(format!(
            "--private-key-file={}",
            dir.path().join("github-app/privateKey").display()
        ))
        .arg(format!(
            "--token-file={}",
            dir.path().join("token/GITHUB_TOKEN").display()
        ))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Sidecar { child, dir }
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn mints_a_verified_token_on_enterprise_and_exits_cleanly_on_sigterm() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    app(&gh);
    let sidecar = start(&gh.url(), APP_KEY, INSTALLATION_ID, &[]);
    let file = sidecar.token_file();
    wait_until("the token file", Duration::from_secs(20), || {
        !read(&file).is_empty()
    });
    let minted = gh.minted_tokens();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].installation_id, INSTALLATION_ID);
    assert_eq!(minted[0].app_id, APP_ID);
    assert_eq!(
        read(&file),
        minted[0].token,
        "exactly the token, no newline"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let request = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(request.has_authorization());

    sidecar.signal(libc::SIGTERM);
    let (code, stderr) = sidecar.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "SIGTERM is a clean exit:\n{stderr}");
    assert!(
        !stderr.contains(&minted[0].token),
        "the token must never be logged"
    );
    assert!(!stderr.contains("BEGIN RSA PRIVATE KEY"));
}

#[tokio::test]
async fn refreshes_and_replaces_the_token() {
    let gh = FakeGitHub::start().await;
    app(&gh);
    let sidecar = start(
        &gh.url(),
        APP_KEY,
        INSTALLATION_ID,
        &["--refresh-interval-seconds=1"],
    );
    let file = sidecar.token_file();
    wait_until("three tokens minted", Duration::from_secs(20), || {
        gh.mint_count() >= 3
    });
    wait_until(
        "the newest token in the file",
        Duration::from_secs(5),
        || {
            let minted = gh.minted_tokens();
            let newest = &minted.last().unwrap().token;
            read(&file) == *newest
        },
    );
    let tokens: std::collections::BTreeSet<_> =
        gh.minted_tokens().into_iter().map(|m| m.token).collect();
    assert!(tokens.len() >= 3, "each refresh is a new token");
    // No temp file is left next to it.
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "GITHUB_TOKEN" || n.ends_with(".tmp"))
    );
    sidecar.signal(libc::SIGINT);
    let (code, _) = sidecar.wait(Duration::from_secs(10));
    assert_eq!(code, Some(0), "SIGINT is a clean exit too");
}

#[tokio::test]
async fn a_failed_refresh_is_retried_with_backoff_and_keeps_the_old_token() {
    let gh = FakeGitHub::start().await;
    app(&gh);
    let sidecar = start(
        &gh.url(),
        APP_KEY,
        INSTALLATION_ID,
        &["--refresh-interval-seconds=1", "--retry-backoff-ms=100"],
    );
    let file = sidecar.token_file();
    // The server mints before the sidecar writes: wait for the file, not the mint count.
    wait_until(
        "the first token in the file",
        Duration::from_secs(20),
        || gh.mint_count() == 1 && read(&file) == gh.minted_tokens()[0].token,
    );
    let first = read(&file);
    let fault = gh.add_fault(
        Fault::status(500)
            .method("POST")
            .path_prefix("/app/installations")
            .times(2),
    );
    wait_until("two failed refreshes", Duration::from_secs(10), || {
        gh.fault_hits(fault) == 2
    });
    assert_eq!(read(&file), first, "a failed refresh keeps the old token");
    wait_until(
        "a refresh after the failures",
        Duration::from_secs(10),
        || gh.mint_count() >= 2,
    );
    wait_until("the new token in the file", Duration::from_secs(5), || {
        read(&file) == gh.minted_tokens().last().unwrap().token
    });
}

#[tokio::test]
async fn gives_up_after_the_initial_attempts() {
    let gh = FakeGitHub::start().await;
    app(&gh);
    // An installation of no app: GitHub answers 404.
    let sidecar = start(
        &gh.url(),
        APP_KEY,
        999,
        &["--initial-attempts=3", "--initial-retry-delay-ms=100"],
    );
    let file = sidecar.token_file();
    let (code, stderr) = sidecar.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(gh.count("POST", "/app/installations"), 3);
    assert!(!file.exists());
    assert!(stderr.contains("HTTP 404"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_key_fails_signature_verification() {
    let gh = FakeGitHub::start().await;
    app(&gh);
    let sidecar = start(
        &gh.url(),
        OTHER_KEY,
        INSTALLATION_ID,
        &["--initial-attempts=2", "--initial-retry-delay-ms=50"],
    );
    let (code, stderr) = sidecar.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(gh.mint_count(), 0);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "no key material in logs");
}

#[tokio::test]
async fn a_key_that_is_not_pem_fails_without_a_request() {
    let gh = FakeGitHub::start().await;
    app(&gh);
    let sidecar = start(
        &gh.url(),
        "not a key",
        INSTALLATION_ID,
        &["--initial-attempts=2", "--initial-retry-delay-ms=50"],
    );
    let (code, stderr) = sidecar.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(gh.count("POST", "/"), 0);
    assert!(stderr.contains("not a PEM RSA key"), "{stderr}");
}
