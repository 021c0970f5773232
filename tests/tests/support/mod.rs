//! Helpers shared by the control-plane tests (each test binary includes this module).
#![allow(dead_code)]

pub mod manifests;

use std::path::{Path, PathBuf};
use std::process::Command;

use kelos_testenv::TestCluster;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;

/// The field manager these tests apply with.
pub const FIELD_MANAGER: &str = "kelos-test";

pub fn repo_root() -> PathBuf {
    kelos_testenv::repo_root()
}

/// The shared control plane with the Kelos CRDs, and a fresh namespace for the calling test.
pub async fn cluster_and_namespace(prefix: &str) -> (&'static TestCluster, kube::Client, String) {
    let cluster = kelos_testenv::shared().await;
    let client = cluster.client().await;
    let ns = cluster.namespace(prefix).await;
    (cluster, client, ns)
}

/// A namespaced API for one of the Kelos kinds (or `Secret`).
pub fn api(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let (gvk, plural) = match kind {
        "Secret" => (
            GroupVersionKind::gvk("", "v1", "Secret"),
            "secrets".to_owned(),
        ),
        _ => (
            GroupVersionKind::gvk("kelos.dev", "v1alpha1", kind),
            format!("{}s", kind.to_lowercase()),
        ),
    };
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    )
}

/// Server-side applies one manifest (its `kind` picks the API) into `ns`.
pub async fn apply(
    client: &kube::Client,
    ns: &str,
    manifest: &Value,
) -> kube::Result<DynamicObject> {
    let kind = manifest["kind"].as_str().expect("manifest has a kind");
    let name = manifest["metadata"]["name"]
        .as_str()
        .expect("manifest has a name");
    api(client, ns, kind)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(manifest),
        )
        .await
}

/// The apiserver's message for a refused request; panics if the request succeeded or failed
/// for a reason other than the apiserver saying no.
pub fn refusal<T: std::fmt::Debug>(result: kube::Result<T>) -> String {
    match result {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("expected the apiserver to refuse, got {other:?}"),
    }
}

/// Every non-empty document of a (multi-document) YAML file.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    docs.into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect()
}

/// Runs a command to completion and returns its stdout; panics with stderr when it fails.
pub fn run(mut cmd: Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// `kubectl` on the shared cluster, off the async runtime (it blocks).
pub async fn kubectl(cluster: &'static TestCluster, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = cluster.kubectl();
        cmd.args(&args);
        run(cmd)
    })
    .await
    .expect("kubectl task")
}

/// A valid Task manifest to start from.
pub fn task(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name},
        "spec": {
            "type": "claude-code",
            "prompt": "Fix the bug.",
            "credentials": {"type": "api-key", "secretRef": {"name": "claude-credentials"}}
        }
    })
}

/// Like [`kubectl`], retried for up to 30 s: what kubectl reads from the OpenAPI document (e.g.
/// `kubectl explain`) is published some time after a CRD is Established.
pub async fn kubectl_eventually(cluster: &'static TestCluster, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = cluster.kubectl();
            cmd.args(&owned);
            cmd.output().expect("running kubectl")
        })
        .await
        .expect("kubectl task");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl {args:?} kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
