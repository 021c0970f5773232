//! A standalone local control plane (etcd + kube-apiserver) with the Kelos CRDs installed, for
//! `make cluster` and `make run`; with `--full` the simulated cluster (plus
//! kube-controller-manager, kube-scheduler and KWOK with one fake node, so Jobs run). Stays up
//! until Ctrl-C or SIGTERM, then tears down.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use k8s_openapi::api::core::v1::Namespace;
use kelos_testenv::TestCluster;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(about = "Start a local Kubernetes control plane with the Kelos CRDs installed")]
struct Args {
    /// The simulated cluster: also kube-controller-manager, kube-scheduler and KWOK (one fake
    /// node), so Jobs create Pods that run and finish, and garbage collection works.
    #[arg(long)]
    full: bool,
    /// Server-side apply every examples/**/*.yaml and list the resulting Tasks and TaskSpawners.
    #[arg(long)]
    apply_examples: bool,
    /// Where the examples live.
    #[arg(long, default_value_os_t = kelos_testenv::repo_root().join("examples"))]
    examples_dir: PathBuf,
    /// Tear down and exit once set up instead of waiting for Ctrl-C (for scripts and tests).
    #[arg(long)]
    exit_after_setup: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let started = if args.full {
        TestCluster::kelos_full().await
    } else {
        TestCluster::kelos().await
    };
    let cluster = match started {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("kelos-cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "kelos-cluster: {} {} up in {}",
        if cluster.is_full() {
            "simulated cluster"
        } else {
            "control plane"
        },
        cluster.apiserver_url(),
        cluster.start_timings()
    );
    let pids: Vec<String> = cluster
        .pids()
        .iter()
        .map(|(name, pid)| format!("{name}={pid}"))
        .collect();
    println!("kelos-cluster: pids {}", pids.join(" "));
    println!("kelos-cluster: logs in {}", cluster.dir().display());
    println!(
        "kelos-cluster: kubectl {}",
        cluster.bin_dir().join("kubectl").display()
    );

    let mut ok = true;
    if args.apply_examples {
        ok = apply_examples(&cluster, &args.examples_dir).await;
    }

    println!("export KUBECONFIG={}", cluster.kubeconfig_path().display());
    if !args.exit_after_setup {
        println!("kelos-cluster: up; Ctrl-C to stop");
        wait_for_stop_signal().await;
        println!("kelos-cluster: stopping");
    }
    cluster.shutdown();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn wait_for_stop_signal() {
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Applies each example file with the built kubectl, creating the namespaces they name first.
/// Returns false if any file failed; keeps going so one broken example doesn't hide the rest.
async fn apply_examples(cluster: &TestCluster, dir: &Path) -> bool {
    let mut files = Vec::new();
    collect_yaml(dir, &mut files);
    files.sort();
    if files.is_empty() {
        println!("kelos-cluster: no examples found under {}", dir.display());
        return true;
    }
    let client = cluster.client().await;
    let mut ok = true;
    for file in &files {
        let namespaces = match namespaces_in(file) {
            Ok(Some(namespaces)) => namespaces,
            Ok(None) => {
                println!(
                    "kelos-cluster: skipping {} (no Kubernetes objects)",
                    file.display()
                );
                continue;
            }
            Err(e) => {
                eprintln!("kelos-cluster: {}: {e}", file.display());
                ok = false;
                continue;
            }
        };
        for ns in namespaces {
            if let Err(e) = ensure_namespace(&client, &ns).await {
                eprintln!("kelos-cluster: creating namespace {ns}: {e}");
                ok = false;
            }
        }
        let output = cluster
            .kubectl()
            .args([
                "apply",
                "--server-side",
                "--field-manager=kelos-cluster",
                "-f",
            ])
            .arg(file)
            .output();
        match output {
            Ok(out) if out.status.success() => {
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
            Ok(out) => {
                eprintln!(
                    "kelos-cluster: applying {} failed:\n{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                ok = false;
            }
            Err(e) => {
                eprintln!("kelos-cluster: running kubectl: {e}");
                ok = false;
            }
        }
    }
    match cluster
        .kubectl()
        .args(["get", "tasks,taskspawners", "-A"])
        .output()
    {
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            ok &= out.status.success();
        }
        Err(e) => {
            eprintln!("kelos-cluster: running kubectl: {e}");
            ok = false;
        }
    }
    ok
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "yaml") {
            out.push(path);
        }
    }
}

/// The namespaces a file's objects name, or `None` if it holds no Kubernetes objects at all
/// (e.g. a values file next to the manifests).
fn namespaces_in(file: &Path) -> Result<Option<Vec<String>>, String> {
    let text = fs::read_to_string(file).map_err(|e| e.to_string())?;
    let docs: Vec<Option<serde_json::Value>> =
        serde_saphyr::from_multiple(&text).map_err(|e| e.to_string())?;
    let objects: Vec<serde_json::Value> = docs
        .into_iter()
        .flatten()
        .filter(|doc| doc.get("apiVersion").is_some() && doc.get("kind").is_some())
        .collect();
    if objects.is_empty() {
        return Ok(None);
    }
    let mut namespaces: Vec<String> = objects
        .iter()
        .filter_map(|o| {
            o.pointer("/metadata/namespace")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    Ok(Some(namespaces))
}

async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        other => other.map(|_| ()),
    }
}
