//! Finding the Go-built binaries. `hack/test-bins.sh` owns the cache layout and the build; we
//! only ask it for the directory (which builds on a cold cache, under its flock).

use std::path::{Path, PathBuf};
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

/// The repository root, from this crate's location (`crates/kelos-testenv`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest_dir)
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
