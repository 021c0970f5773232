//! The per-control-plane temp dir: certs, kubeconfig, logs and etcd's data.
//!
//! It lives on tmpfs (`/dev/shm`) when available, which makes etcd fast but costs RAM. So the
//! data dir goes away even when logs are kept, and dirs left behind by test binaries that were
//! SIGKILLed (no exit handler ran) are swept by the next start.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::error::{Error, Result};

const PREFIX: &str = "kelos-testenv-";
const OWNER_FILE: &str = "owner.pid";
/// Marks a dir kept on purpose (failure or `KELOS_TESTENV_KEEP`); never swept.
const KEPT_FILE: &str = "KEPT";
pub const ETCD_DATA: &str = "etcd-data";

fn base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

pub fn create() -> Result<TempDir> {
    let base = base();
    sweep_stale(&base);
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in(&base)
        .map_err(|e| Error::io(format!("creating a temp dir in {}", base.display()), e))?;
    let owner = dir.path().join(OWNER_FILE);
    fs::write(&owner, std::process::id().to_string())
        .map_err(|e| Error::io(format!("writing {}", owner.display()), e))?;
    Ok(dir)
}

/// Keeps the logs and certs for a post-mortem; drops etcd's data, the only large part.
pub fn preserve(dir: TempDir) -> PathBuf {
    let path = dir.keep();
    let _ = fs::remove_dir_all(path.join(ETCD_DATA));
    let _ = fs::write(path.join(KEPT_FILE), "");
    path
}

fn sweep_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = entry.file_name().to_string_lossy().starts_with(PREFIX);
        if !is_ours || path.join(KEPT_FILE).exists() {
            continue;
        }
        let Some(owner) = fs::read_to_string(path.join(OWNER_FILE))
            .ok()
            .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if !process_exists(owner) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn process_exists(pid: libc::pid_t) -> bool {
    // Signal 0 only checks; EPERM still means it exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_dead_owners_only() {
        let base = tempfile::tempdir().unwrap();
        let make = |name: &str, pid: &str, kept: bool| {
            let dir = base.path().join(format!("{PREFIX}{name}"));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join(OWNER_FILE), pid).unwrap();
            if kept {
                fs::write(dir.join(KEPT_FILE), "").unwrap();
            }
            dir
        };
        // PIDs above pid_max (4194304 at most on Linux) never exist.
        let dead = make("dead", "2147483000", false);
        let kept = make("kept", "2147483000", true);
        let alive = make("alive", &std::process::id().to_string(), false);
        sweep_stale(base.path());
        assert!(!dead.exists());
        assert!(kept.exists());
        assert!(alive.exists());
    }
}
