//! Child processes that cannot outlive the process that spawned them: the test binary's control
//! plane here, and kelos-run's kelos-controller and kelos-spawners.
//!
//! Every child gets `PR_SET_PDEATHSIG = SIGKILL`, so it is killed when its parent dies, even by
//! SIGKILL; and its own process group, so a Ctrl-C in the terminal reaches the parent only (which
//! then stops the children in its own order), and [`Process::stop`] signals the child's whole
//! group. Output goes to a log file.
//!
//! The death signal is tied to the *thread* that forked the child, not the process, and cargo
//! test runs every test on a short-lived thread; so all children are forked by one dedicated
//! thread that lives as long as the process.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What to run; the spawner thread turns it into a `Command`.
pub struct Spec {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    /// Extra environment variables (on top of the inherited environment).
    pub env: Vec<(String, String)>,
}

type Request = (Spec, mpsc::Sender<io::Result<Child>>);

fn spawner() -> &'static mpsc::Sender<Request> {
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("kelos-testenv-spawner".into())
            .spawn(move || {
                for (spec, reply) in rx {
                    let _ = reply.send(spawn_here(&spec));
                }
                // The sender lives in a static, so this is unreachable in practice; parking keeps
                // the children's death signal armed regardless.
                loop {
                    thread::park();
                }
            })
            .expect("spawning the kelos-testenv process thread");
        tx
    })
}

fn spawn_here(spec: &Spec) -> io::Result<Child> {
    let log = File::create(&spec.log)?;
    let log_err = log.try_clone()?;
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // grpc-go (etcd client inside the apiserver) honours proxy variables; loopback must not
        // go through a proxy.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .process_group(0);
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // If we were orphaned before prctl ran, the signal will never come.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A running child, killed by process group. Dropping it kills it.
pub struct Process {
    pub name: &'static str,
    pub pid: u32,
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Process {
    pub fn spawn(spec: Spec) -> Result<Process> {
        let (name, log, program) = (spec.name, spec.log.clone(), spec.program.clone());
        let (tx, rx) = mpsc::channel();
        spawner()
            .send((spec, tx))
            .map_err(|_| Error::io("spawner thread is gone", io::Error::other("channel closed")))?;
        let child = rx
            .recv()
            .map_err(|_| Error::io("spawner thread is gone", io::Error::other("no reply")))?
            .map_err(|e| Error::io(format!("starting {}", program.display()), e))?;
        Ok(Process {
            name,
            pid: child.id(),
            log,
            child: Mutex::new(Some(child)),
        })
    }

    /// `Some(status)` once the process has exited (and been reaped).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            None => None,
            Some(child) => child.try_wait().ok().flatten(),
        }
    }

    /// The error to report for a process that died during startup.
    pub(crate) fn startup_failure(&self, status: ExitStatus) -> Error {
        let tail = log_tail(&self.log, TAIL_LINES);
        if tail.contains("address already in use") {
            return Error::AddressInUse {
                component: self.name,
                log: self.log.clone(),
            };
        }
        Error::Exited {
            component: self.name,
            status: status.to_string(),
            log: self.log.clone(),
            tail,
        }
    }

    /// SIGTERM to the process group, then SIGKILL after `grace` (at once if `grace` is zero).
    /// Returns how the process ended, or `None` if it had already been stopped (or could not be
    /// waited for). Idempotent.
    pub fn stop(&self, grace: Duration) -> Option<ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(None) => {}
            exited => {
                *guard = None;
                return exited.ok().flatten();
            }
        }
        // The group id is the PID we recorded (process_group(0)); it cannot have been reused
        // because we have not reaped the child yet.
        let pgid = self.pid as libc::pid_t;
        if !grace.is_zero() {
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(None) => {}
                    exited => {
                        *guard = None;
                        return exited.ok().flatten();
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let status = child.wait().ok();
        *guard = None;
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// How many lines of a component's log testenv's errors quote.
pub(crate) const TAIL_LINES: usize = 40;

/// The last `lines` lines of a log (from at most its last 16 KiB), for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 16 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `n` distinct free loopback ports. They are released before returning, so a caller must be
/// ready for "address already in use" and retry.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io("probing a free port on 127.0.0.1", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| Error::io("probing a free port on 127.0.0.1", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct() {
        let ports = free_ports(4).unwrap();
        let mut sorted = ports.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
    }

    #[test]
    fn child_survives_its_spawning_test_thread_and_stops_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        // Spawned from a thread that exits right away: the child must keep running.
        let process = thread::spawn(move || {
            Process::spawn(Spec {
                name: "sleep",
                program: "sleep".into(),
                args: vec!["30".into()],
                log,
                env: Vec::new(),
            })
            .unwrap()
        })
        .join()
        .unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(
            process.exit_status().is_none(),
            "child died with its thread"
        );
        let started = Instant::now();
        let status = process.stop(Duration::from_secs(5));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGTERM ignored"
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM));
        assert!(unsafe { libc::kill(process.pid as libc::pid_t, 0) } != 0);
        assert_eq!(process.stop(Duration::ZERO), None, "not idempotent");
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tail.log");
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        assert_eq!(log_tail(&log, 2), "line 99\nline 100");
        assert_eq!(log_tail(&log, TAIL_LINES).lines().count(), TAIL_LINES);
        assert_eq!(log_tail(&dir.path().join("missing.log"), 5), "");
    }
}
