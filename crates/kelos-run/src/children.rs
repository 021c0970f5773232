//! The demo's child processes (kelos-controller, one kelos-spawner per TaskSpawner): each in its
//! own process group with `PR_SET_PDEATHSIG = SIGKILL`, output to a log file, stopped by its
//! recorded PID (SIGTERM to its group, SIGKILL after a grace period).
//!
//! The death signal is tied to the thread that forked the child, so every child is forked by one
//! dedicated thread that lives as long as the process: if kelos-run is killed outright, its
//! children go with it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// What to run.
pub struct Spec {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

type Request = (Spec, mpsc::Sender<io::Result<Child>>);

fn forker() -> &'static mpsc::Sender<Request> {
    static FORKER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    FORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("kelos-run-forker".into())
            .spawn(move || {
                for (spec, reply) in rx {
                    let _ = reply.send(fork(&spec));
                }
                // Unreachable in practice (the sender is a static); parking keeps the
                // children's death signal armed regardless.
                loop {
                    thread::park();
                }
            })
            .expect("spawning the kelos-run forker thread");
        tx
    })
}

fn fork(spec: &Spec) -> io::Result<Child> {
    let log = File::create(&spec.log)?;
    let log_err = log.try_clone()?;
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        // Its own group: a Ctrl-C in the terminal reaches kelos-run only, which then stops the
        // children in order.
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
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A running child. Dropping it kills it.
pub struct Process {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Process {
    pub fn spawn(spec: Spec) -> io::Result<Process> {
        let (name, log, program) = (spec.name.clone(), spec.log.clone(), spec.program.clone());
        let (tx, rx) = mpsc::channel();
        forker()
            .send((spec, tx))
            .map_err(|_| io::Error::other("the forker thread is gone"))?;
        let child = rx
            .recv()
            .map_err(|_| io::Error::other("the forker thread is gone"))?
            .map_err(|e| {
                io::Error::new(e.kind(), format!("starting {}: {e}", program.display()))
            })?;
        Ok(Process {
            name,
            pid: child.id(),
            log,
            child: Mutex::new(Some(child)),
        })
    }

    /// `Some(status)` once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM to the process group, SIGKILL after `grace`. Returns how it ended. Idempotent.
    pub fn stop(&self, grace: Duration) -> Option<ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let child = guard.as_mut()?;
        if let Ok(Some(status)) = child.try_wait() {
            *guard = None;
            return Some(status);
        }
        // The group id is the recorded PID (process_group(0)); not reused: not reaped yet.
        let pgid = self.pid as libc::pid_t;
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                *guard = None;
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
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

/// The last `lines` lines of a log.
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

/// A free loopback port (released before returning; the caller binds it soon after).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
