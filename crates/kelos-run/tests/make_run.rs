//! `make run`, exactly as a newcomer types it (from the repository root, through the Makefile:
//! cached Go binaries, `cargo build` of the binaries, then `kelos-run`):
//!
//! * non-interactively (`KELOS_RUN_EXIT_AFTER_DEMO=1`): it must narrate the issue Tasks being
//!   created, running and succeeding, the review Task being created and running, the pull
//!   request being closed and that Task being Cancelled by `spawner:demo-reviews` with the
//!   message naming the closed pull request; exit 0; and leave no process behind;
//! * interactively: after the demo it prints `export KUBECONFIG=…` and stays up; a Ctrl-C (SIGINT
//!   to the foreground process group, as a terminal sends it) tears everything down, every
//!   recorded PID gone.
//!
//! The nested `make` and `cargo build` use this test's own target directory and cargo, so they
//! only relink what `cargo test` has not already built.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Cold, the nested cargo build may have to compile the binaries; warm it is a few seconds.
const MAKE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// One cluster at a time: both tests start a full simulated cluster.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo_root() -> PathBuf {
    kelos_testenv::repo_root()
}

/// The target directory `cargo test` builds into (`<target>/debug/kelos-run`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_kelos-run"))
        .parent()
        .and_then(Path::parent)
        .expect("kelos-run lives in <target>/<profile>/")
        .to_owned()
}

/// `make run` in its own process group, stdout piped line by line into the returned channel
/// (and echoed to stderr, which the test harness shows on failure).
fn make_run(extra_env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new("make");
    // What cargo sets for this test process must not reach the nested cargo: build scripts
    // (ring's, for one) rerun when e.g. CARGO_MANIFEST_DIR or CARGO_PKG_NAME differ from their
    // last build, which would rebuild them here and again in everyone's next build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || key == "CARGO_CRATE_NAME"
            || key == "CARGO_PRIMARY_PACKAGE"
            || key == "CARGO_TARGET_TMPDIR"
            || key == "CARGO_RUSTC_CURRENT_DIR"
            || key == "OUT_DIR"
        {
            cmd.env_remove(&*key);
        }
    }
    cmd.arg("run")
        .current_dir(repo_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO", env!("CARGO"))
        .env("NO_COLOR", "1")
        .env("KELOS_RUN_TIMEOUT", "180")
        // The fake GitHub, whatever the environment says.
        .env_remove("KELOS_RUN_REPO")
        .env_remove("KELOS_RUN_EXIT_AFTER_DEMO")
        .env_remove("KELOS_RUN_BIN_DIR")
        // Not a sub-make of whatever runs the tests: no inherited jobserver.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own group, like a terminal's foreground job: a Ctrl-C goes to the whole group.
        .process_group(0);
    let mut child = cmd.spawn().expect("running make (is it installed?)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Kills the make's process group if the test panics (kelos-run's children follow it through
/// their parent-death signal).
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        unsafe { libc::kill(-(self.0 as libc::pid_t), libc::SIGKILL) };
    }
}

/// Reads lines until `stop` matches one (returned) or the output ends.
fn read_until(
    rx: &mpsc::Receiver<String>,
    lines: &mut Vec<String>,
    deadline: Instant,
    stop: impl Fn(&str) -> bool,
) -> Option<String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                lines.push(line.clone());
                if stop(&line) {
                    return Some(line);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("make run printed nothing conclusive within {MAKE_TIMEOUT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "make run did not exit within {within:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// A narration line split into (word, text): `21:40:09.000 +  7.9s    CREATED    Task …` gives
/// `("CREATED", "Task …")`. Steps (`━━ …`) and details give their first word too.
fn event(line: &str) -> Option<(&str, &str)> {
    let (time, rest) = line.split_once(' ')?;
    let is_time = time.len() == 12
        && time.chars().enumerate().all(|(i, c)| match i {
            2 | 5 => c == ':',
            8 => c == '.',
            _ => c.is_ascii_digit(),
        });
    if !is_time {
        return None;
    }
    let rest = rest.trim_start().strip_prefix('+')?.trim_start();
    let (elapsed, rest) = rest.split_once("s ")?;
    elapsed.parse::<f64>().ok()?;
    let rest = rest.trim_start();
    let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((word, text.trim_start()))
}

/// Index of the first event line with this word whose text contains every needle.
fn find(lines: &[String], word: &str, needles: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| {
            event(l).is_some_and(|(w, text)| w == word && needles.iter().all(|n| text.contains(n)))
        })
        .unwrap_or_else(|| panic!("no {word} line containing {needles:?} in make run's output"))
}

/// The name of the Task created for an item: `CREATED Task <name> for issue #1 …`.
fn task_for(lines: &[String], item: &str) -> String {
    let i = find(lines, "CREATED", &[&format!(" for {item} ")]);
    let (_, text) = event(&lines[i]).unwrap();
    text.strip_prefix("Task ")
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no Task name in {:?}", lines[i]))
        .to_owned()
}

/// Every PID kelos-run reported: the cluster's (`pids: etcd 1, …`) and the ones it stopped
/// (`stopped <name> (pid N)`).
fn reported_pids(lines: &[String]) -> Vec<(String, i32)> {
    let mut pids = Vec::new();
    for line in lines {
        let Some((word, text)) = event(line) else {
            continue;
        };
        let text = format!("{word} {text}");
        if let Some(list) = text.strip_prefix("pids: ") {
            for entry in list.split(", ") {
                let (name, pid) = entry.rsplit_once(' ').unwrap();
                pids.push((name.to_owned(), pid.parse().unwrap()));
            }
        } else if let Some(rest) = text.strip_prefix("stopped ")
            && let Some((name, pid)) = rest.split_once(" (pid ")
        {
            let pid = pid.split(')').next().unwrap();
            pids.push((name.to_owned(), pid.parse().unwrap()));
        }
    }
    pids
}

fn assert_all_gone(pids: &[(String, i32)]) {
    for (name, pid) in pids {
        let alive = unsafe { libc::kill(*pid, 0) } == 0;
        assert!(
            !alive,
            "{name} (pid {pid}) is still running after make run exited"
        );
    }
}

#[test]
fn make_run_narrates_tasks_created_running_succeeded_and_one_cancelled() {
    let _serial = serial();
    let started = Instant::now();
    let (mut child, rx) = make_run(&[("KELOS_RUN_EXIT_AFTER_DEMO", "1")]);
    let _guard = KillOnDrop(child.id());
    let mut lines = Vec::new();
    read_until(&rx, &mut lines, started + MAKE_TIMEOUT, |_| false);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let took = started.elapsed();
    assert!(status.success(), "make run exited with {status}");
    eprintln!("make run (non-interactive) took {took:.1?}");

    // The six steps, in order.
    let steps: Vec<&String> = lines
        .iter()
        .filter(|l| event(l).is_some_and(|(w, _)| w == "━━"))
        .collect();
    for (i, step) in steps.iter().take(6).enumerate() {
        assert!(
            step.contains(&format!("━━ {}/6 ", i + 1)),
            "step {} out of order: {step}",
            i + 1
        );
    }
    assert!(steps.len() >= 6, "only {} steps narrated", steps.len());

    // The issue Tasks: created, running, succeeded, in that order, before the pull request is
    // closed.
    let closed = find(&lines, "GITHUB", &["pull request #4 closed"]);
    for issue in ["issue #1", "issue #2"] {
        let task = task_for(&lines, issue);
        let created = find(&lines, "CREATED", &[&format!("Task {task} ")]);
        let running = find(&lines, "RUNNING", &[&format!("Task {task}:")]);
        let succeeded = find(&lines, "SUCCEEDED", &[&format!("Task {task}:")]);
        assert!(
            created < running && running < succeeded && succeeded < closed,
            "{task}: created {created}, running {running}, succeeded {succeeded}, PR closed {closed}"
        );
    }
    // Issue #3 has no label: no Task.
    assert!(
        !lines
            .iter()
            .any(|l| event(l).is_some_and(|(w, t)| w == "CREATED" && t.contains("issue #3"))),
        "a Task was created for the unlabelled issue #3"
    );

    // The review Task: created, running (its pod too), then cancelled by the spawner once the
    // pull request was closed, with the reason.
    let review = task_for(&lines, "pull request #4");
    let created = find(&lines, "CREATED", &[&format!("Task {review} ")]);
    let running = find(&lines, "RUNNING", &[&format!("Task {review}:")]);
    let pod_running = find(
        &lines,
        "pod",
        &[&format!("{review}-"), " running on kwok-node-0"],
    );
    let cancelled = find(
        &lines,
        "CANCELLED",
        &[
            &format!("Task {review}:"),
            "cancelledBy spawner:demo-reviews",
            "pull request #4 was closed",
        ],
    );
    assert!(
        created < running && running < closed && pod_running < closed && closed < cancelled,
        "{review}: created {created}, running {running}, pod running {pod_running}, closed {closed}, cancelled {cancelled}"
    );
    // Nothing else was cancelled, and nothing failed.
    assert_eq!(
        lines
            .iter()
            .filter(|l| event(l).is_some_and(|(w, _)| w == "CANCELLED" || w == "FAILED"))
            .count(),
        1,
        "exactly one Task ends Cancelled and none Failed"
    );
    // The final table shows it too.
    assert!(
        lines.iter().any(|l| l.contains(&review)
            && l.contains("Cancelled")
            && l.contains("spawner:demo-reviews")),
        "kubectl get tasks -o wide does not show {review} Cancelled by spawner:demo-reviews"
    );

    // Torn down: the controller, both spawners and the five cluster processes are gone.
    let pids = reported_pids(&lines);
    for name in [
        "kelos-controller",
        "kelos-spawner demo-issues",
        "kelos-spawner demo-reviews",
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ] {
        assert!(
            pids.iter().any(|(n, _)| n == name),
            "no PID reported for {name}: {pids:?}"
        );
    }
    assert_all_gone(&pids);
}

#[test]
fn make_run_stays_up_after_the_demo_and_ctrl_c_tears_everything_down() {
    let _serial = serial();
    let started = Instant::now();
    let (mut child, rx) = make_run(&[]);
    let group = child.id();
    let _guard = KillOnDrop(group);
    let mut lines = Vec::new();
    // A failed demo also stays up (for a look), after a warning: stop reading there too.
    let done = read_until(&rx, &mut lines, started + MAKE_TIMEOUT, |l| {
        l.contains("Ctrl-C tears everything down") || l.contains("warning:")
    });
    assert!(
        done.as_deref().is_some_and(|l| !l.contains("warning:")),
        "the demo did not finish: {done:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("CANCELLED")),
        "the demo finished without a cancelled Task"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("objects applied from") && l.contains("examples")),
        "examples/ not applied"
    );
    let kubeconfig = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("export KUBECONFIG="))
        .expect("export KUBECONFIG=… printed")
        .to_owned();

    // Still up: the printed KUBECONFIG works with the printed kubectl.
    thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "make run exited on its own"
    );
    let path = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("export PATH="))
        .and_then(|p| p.split(':').next())
        .expect("export PATH=<kubectl dir>:… printed")
        .to_owned();
    let out = Command::new(Path::new(&path).join("kubectl"))
        .args(["get", "tasks", "-n", "kelos-demo", "-o", "wide"])
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBERC", "off")
        .output()
        .unwrap();
    let tasks = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tasks.contains("Cancelled") && tasks.contains("Succeeded"),
        "{tasks}"
    );

    // Ctrl-C, as a terminal sends it: SIGINT to the foreground process group (make and kelos-run).
    unsafe { libc::kill(-(group as libc::pid_t), libc::SIGINT) };
    read_until(
        &rx,
        &mut lines,
        Instant::now() + Duration::from_secs(120),
        |_| false,
    );
    wait_exit(&mut child, Duration::from_secs(60));
    let pids = reported_pids(&lines);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped kelos-controller (pid ")),
        "no teardown narrated"
    );
    assert!(pids.len() >= 8, "{pids:?}");
    assert_all_gone(&pids);
    assert!(
        !Path::new(&kubeconfig).exists(),
        "the cluster's directory ({kubeconfig}) was not removed"
    );
}
