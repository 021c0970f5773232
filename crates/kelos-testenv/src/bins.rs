//! Finding the Go-built binaries. `hack/test-bins.sh` owns the cache layout and the build; we
//! only ask it for the directory (which builds on a cold cache, under its flock).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

pub const REQUIRED: [&str; 3] = ["etcd", "kube-apiserver", "kubectl"];
pub const REQUIRED_FULL: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kubectl",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The repository root, found at run time: the nearest ancestor holding `hack/test-bins.sh`,
/// starting from `CARGO_MANIFEST_DIR` (set by `cargo test`/`cargo run` for the process) or the
/// working directory (`make run`, `make cluster`). Not `env!("CARGO_MANIFEST_DIR")`: cargo
/// reuses a binary built in another checkout from a shared target dir without rebuilding it,
/// and a compile-time path would then point at that other (possibly deleted) checkout.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .expect("neither CARGO_MANIFEST_DIR nor a working directory");
    start
        .ancestors()
        .find(|dir| dir.join("hack/test-bins.sh").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no Kelos checkout (hack/test-bins.sh) at or above {}; run from the repository",
                start.display()
            )
        })
        .to_owned()
}

/// Runs `hack/test-bins.sh --envtest` and returns the directory it prints, after checking it
/// holds every binary we need. Blocking; can take tens of minutes on a cold cache.
pub fn locate() -> Result<PathBuf> {
    locate_with(&["--envtest"], &REQUIRED)
}

/// Like [`locate`], for the simulated-cluster tier: also needs kube-controller-manager and
/// kube-scheduler.
pub fn locate_full() -> Result<PathBuf> {
    locate_with(&["--envtest"], &REQUIRED_FULL)
}

/// The directory holding `kwok` (`hack/test-bins.sh --kwok`; builds it on a cold cache, about
/// 1.5 to 2.5 minutes on 2 cores).
pub fn locate_kwok() -> Result<PathBuf> {
    locate_with(&["--kwok"], &["kwok"])
}

fn locate_with(args: &[&str], required: &[&str]) -> Result<PathBuf> {
    let script = repo_root().join("hack/test-bins.sh");
    if !script.exists() {
        return Err(Error::Binaries(format!(
            "{} does not exist (kelos-testenv locates its binaries through the repository's hack/ scripts)",
            script.display()
        )));
    }
    let shown = std::iter::once(script.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    // stderr is inherited so a cold build's progress is visible while a test waits for it.
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Binaries(format!("could not run {shown}: {e}")))?;
    if !output.status.success() {
        return Err(Error::Binaries(format!(
            "{shown} failed ({}); see its output above",
            output.status
        )));
    }
    let dir = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let dir = PathBuf::from(dir);
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|bin| !dir.join(bin).is_file())
        .collect();
    if dir.as_os_str().is_empty() || !missing.is_empty() {
        return Err(Error::Binaries(format!(
            "{shown} printed {:?}, which lacks {missing:?}",
            dir
        )));
    }
    Ok(dir)
}
