//! Finding the Go-built binaries. `hack/test-bins.sh` owns the cache layout and the build; we
//! only ask it for the directory (which builds on a cold cache, under its flock).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

pub const REQUIRED: [&str; 3] = ["etcd", "kube-apiserver", "kubectl"];

/// The repository root, from this crate's location (`crates/kelos-testenv`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest_dir)
        .to_owned()
}

/// Runs `hack/test-bins.sh` and returns the directory it prints, after checking it holds
/// every binary we need. Blocking; can take tens of minutes on a cold cache.
pub fn locate() -> Result<PathBuf> {
    let script = repo_root().join("hack/test-bins.sh");
    if !script.exists() {
        return Err(Error::Binaries(format!(
            "{} does not exist (kelos-testenv locates its binaries through the repository's hack/ scripts)",
            script.display()
        )));
    }
    // stderr is inherited so a cold build's progress is visible while a test waits for it.
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::Binaries(format!("could not run {}: {e}", script.display())))?;
    if !output.status.success() {
        return Err(Error::Binaries(format!(
            "{} failed ({}); see its output above",
            script.display(),
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
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|bin| !dir.join(bin).is_file())
        .collect();
    if dir.as_os_str().is_empty() || !missing.is_empty() {
        return Err(Error::Binaries(format!(
            "{} printed {:?}, which lacks {missing:?}",
            script.display(),
            dir
        )));
    }
    Ok(dir)
}
