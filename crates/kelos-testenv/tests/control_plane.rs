//! The shared control plane: start, namespaces, CRDs, kubectl. Every test uses the same
//! cluster, each from its own tokio runtime, which is the situation the harness is built for.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kelos_testenv::TestCluster;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::Kubeconfig;

fn crd(kind: &str, plural: &str) -> CustomResourceDefinition {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.testenv.kelos.dev") },
        "spec": {
            "group": "testenv.kelos.dev",
            "scope": "Namespaced",
            "names": { "kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List") },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": { "type": "object", "properties": { "size": { "type": "integer" } } } }
                } },
                "subresources": { "status": {} }
            }]
        }
    }))
    .unwrap()
}

fn widgets() -> Vec<CustomResourceDefinition> {
    vec![crd("Widget", "widgets")]
}

async fn cluster() -> &'static TestCluster {
    kelos_testenv::shared_with(widgets).await
}

fn established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

#[tokio::test]
async fn starts_on_loopback_and_reports_its_start_time() {
    let cluster = cluster().await;
    let timings = cluster.start_timings();
    eprintln!("control-plane start time (warm binaries): {timings}");
    assert!(cluster.start_duration() < Duration::from_secs(90));

    assert!(
        cluster.apiserver_url().starts_with("https://127.0.0.1:"),
        "{}",
        cluster.apiserver_url()
    );
    let kubeconfig = Kubeconfig::read_from(cluster.kubeconfig_path()).unwrap();
    assert_eq!(kubeconfig.current_context.as_deref(), Some("kelos-test"));
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    assert_eq!(server, cluster.apiserver_url());
    assert!(server.starts_with("https://127.0.0.1:"));
    for (name, pid) in cluster.pids() {
        assert!(
            unsafe { libc::kill(pid as libc::pid_t, 0) } == 0,
            "{name} is not running"
        );
    }
}

#[tokio::test]
async fn creates_unique_namespaces() {
    let cluster = cluster().await;
    let a = cluster.namespace("testenv").await;
    let b = cluster.namespace("testenv").await;
    assert_ne!(a, b);
    let api: Api<Namespace> = Api::all(cluster.client().await);
    for name in [&a, &b] {
        let ns = api.get(name).await.unwrap();
        assert_eq!(ns.metadata.name.as_deref(), Some(name.as_str()));
    }
}

#[tokio::test]
async fn installs_crds_that_are_established_and_usable() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    assert!(established(
        &crds.get("widgets.testenv.kelos.dev").await.unwrap()
    ));

    // Installing more later works too, and is idempotent.
    let gadgets = crd("Gadget", "gadgets");
    cluster
        .install_crds(std::slice::from_ref(&gadgets))
        .await
        .unwrap();
    cluster.install_crds(&[gadgets]).await.unwrap();
    assert!(established(
        &crds.get("gadgets.testenv.kelos.dev").await.unwrap()
    ));

    // Usable right away: no discovery lag once install returns.
    let ns = cluster.namespace("crd").await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("testenv.kelos.dev", "v1", "Gadget"),
        "gadgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);
    let mut gadget = DynamicObject::new("g1", &resource);
    gadget.data = serde_json::json!({ "spec": { "size": 3 } });
    api.create(&PostParams::default(), &gadget).await.unwrap();
    let got = api.get("g1").await.unwrap();
    assert_eq!(got.data["spec"]["size"], 3);
}

#[tokio::test]
async fn built_kubectl_talks_to_the_cluster() {
    let cluster = cluster().await;
    let out = cluster
        .kubectl()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["serverVersion"]["gitVersion"], "v1.36.3");
    assert_eq!(version["clientVersion"]["gitVersion"], "v1.36.3");

    // kubectl sees the CRDs through discovery, and RBAC is on (admin is system:masters).
    let ns = cluster.namespace("kubectl").await;
    let out = cluster
        .kubectl()
        .args(["get", "widgets", "-n", &ns])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster
        .kubectl()
        .args([
            "auth",
            "can-i",
            "create",
            "pods",
            "-n",
            &ns,
            "--as=system:serviceaccount:default:nobody",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
}
