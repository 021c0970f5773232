//! An owned (not shared) control plane: explicit shutdown stops the processes and cleans up; a
//! killed owner takes its children with it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kelos_testenv::TestCluster;

fn running(pid: u32) -> bool {
    // A zombie has exited; it only waits for its (new) parent to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn shutdown_stops_processes_and_removes_the_temp_dir() {
    let cluster = TestCluster::start(Vec::new()).await.unwrap();
    eprintln!("owned control plane up in {}", cluster.start_timings());
    let pids = cluster.pids();
    assert_eq!(
        pids.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        ["etcd", "kube-apiserver"]
    );
    assert!(pids.iter().all(|(_, pid)| running(*pid)));
    let dir = cluster.dir().to_owned();
    assert!(dir.join("kube-apiserver.log").exists());

    let started = Instant::now();
    cluster.shutdown();
    eprintln!("graceful shutdown took {:?}", started.elapsed());
    for (name, pid) in pids {
        assert!(!running(pid), "{name} ({pid}) still running");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

/// The `kelos-cluster` binary comes up with the Kelos CRDs, and when it is SIGKILLed (no
/// cleanup code runs) its etcd and kube-apiserver die too, through PR_SET_PDEATHSIG.
#[test]
fn children_die_with_a_killed_owner() {
    let Started {
        mut child,
        pids,
        kubeconfig,
        kubectl,
    } = start_cluster(&[]);
    assert_eq!(pids.len(), 2);

    // The Kelos CRDs are served.
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--cache-dir={}", cache.path().display()))
        .args(["get", "tasks,taskspawners,workspaces,agentconfigs", "-A"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
    for pid in pids {
        assert!(
            wait_gone(pid, Duration::from_secs(10)),
            "{pid} survived its owner"
        );
    }
    // No exit handler ran, so the temp dir is ours to remove (the next start would sweep it).
    std::fs::remove_dir_all(kubeconfig.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn full_tier_shutdown_stops_every_process_in_reverse_order() {
    let cluster = TestCluster::start_full(Vec::new()).await.unwrap();
    eprintln!("owned simulated cluster up in {}", cluster.start_timings());
    let pids = cluster.pids();
    assert_eq!(
        pids.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok"
        ]
    );
    assert!(pids.iter().all(|(_, pid)| running(*pid)));
    let dir = cluster.dir().to_owned();

    let started = Instant::now();
    cluster.shutdown();
    eprintln!("graceful full-tier shutdown took {:?}", started.elapsed());
    for (name, pid) in pids {
        assert!(!running(pid), "{name} ({pid}) still running");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

/// `kelos-cluster --full` (what `make run` uses): a Job applied with kubectl completes, and a
/// SIGKILLed owner takes all five processes with it.
#[test]
fn full_cluster_runs_jobs_and_its_children_die_with_a_killed_owner() {
    let Started {
        mut child,
        pids,
        kubeconfig,
        kubectl,
    } = start_cluster(&["--full"]);
    assert_eq!(pids.len(), 5, "{pids:?}");

    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&kubectl)
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.path().display()))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "create",
        "job",
        "hello",
        "--image=kelos.dev/fake:test",
        "-n",
        "default",
    ]);
    run(&[
        "wait",
        "--for=condition=Complete",
        "job/hello",
        "-n",
        "default",
        "--timeout=30s",
    ]);
    let phase = run(&[
        "get",
        "pods",
        "-n",
        "default",
        "-l",
        "job-name=hello",
        "-o",
        "jsonpath={.items[*].status.phase}",
    ]);
    assert_eq!(phase.trim(), "Succeeded");

    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    child.wait().unwrap();
    for pid in pids {
        assert!(
            wait_gone(pid, Duration::from_secs(10)),
            "{pid} survived its owner"
        );
    }
    std::fs::remove_dir_all(kubeconfig.parent().unwrap()).unwrap();
}

/// A `kelos-cluster` process and what it printed once it was up.
struct Started {
    child: std::process::Child,
    pids: Vec<u32>,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

/// Starts `kelos-cluster` with `args` and reads its startup lines up to `export KUBECONFIG=`.
fn start_cluster(args: &[&str]) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kelos-cluster"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    let mut kubeconfig = None;
    let mut kubectl = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        eprintln!("{line}");
        if let Some(rest) = line.strip_prefix("kelos-cluster: pids ") {
            pids = rest
                .split_whitespace()
                .map(|kv| kv.split_once('=').unwrap().1.parse::<u32>().unwrap())
                .collect();
        }
        if let Some(path) = line.strip_prefix("kelos-cluster: kubectl ") {
            kubectl = Some(PathBuf::from(path));
        }
        if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
            kubeconfig = Some(PathBuf::from(path));
            break;
        }
    }
    // Keep draining its stdout: a closed pipe would kill it (EPIPE) on its next line.
    std::thread::spawn(move || lines.for_each(drop));
    let kubeconfig = kubeconfig.expect("kelos-cluster did not print its KUBECONFIG");
    Started {
        child,
        pids,
        kubeconfig,
        kubectl: kubectl.expect("kelos-cluster did not print its kubectl"),
    }
}
