//! The simulated cluster (kube-controller-manager, kube-scheduler, KWOK): Jobs run real Pods on a
//! fake node, garbage collection, graceful deletion and default ServiceAccounts work. All tests
//! share one cluster, each from its own tokio runtime.

use std::collections::HashSet;
use std::fs;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, ServiceAccount};
use kelos_testenv::{TestCluster, kwok};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams, PropagationPolicy};

async fn cluster() -> &'static TestCluster {
    kelos_testenv::shared_full().await
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with `what`
/// and the last state seen.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(state) => state,
        };
        if Instant::now() > deadline {
            panic!("{what}: not within {timeout:?}; last state: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A one-pod Job (`restartPolicy: Never`, no retries) whose pod template carries `annotations`.
fn job(name: &str, annotations: serde_json::Value, extra_spec: serde_json::Value) -> Job {
    let mut spec = serde_json::json!({
        "backoffLimit": 0,
        "template": {
            "metadata": { "annotations": annotations, "labels": { "job": name } },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "agent", "image": "kelos.dev/fake-agent:test" }],
            },
        },
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .unwrap()
}

fn condition(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn job_state(job: &Job) -> String {
    format!("{:?}", job.status)
}

async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("job={job}")))
        .await
        .unwrap()
        .items
}

/// The single pod of `job` once it reached `want` phase.
async fn wait_pod_phase(pods: &Api<Pod>, job: &str, want: &str, timeout: Duration) -> Pod {
    eventually(&format!("pod of job {job} {want}"), timeout, || async {
        let list = job_pods(pods, job).await;
        match list.as_slice() {
            [pod] if phase(pod) == want => Ok(pod.clone()),
            other => Err(format!(
                "{:?}",
                other
                    .iter()
                    .map(|p| (p.metadata.name.clone(), phase(p).to_owned()))
                    .collect::<Vec<_>>()
            )),
        }
    })
    .await
}

#[tokio::test]
async fn starts_on_loopback_only_and_reports_its_warm_start_time() {
    let cluster = cluster().await;
    let timings = cluster.start_timings();
    eprintln!("simulated cluster start time (warm binaries): {timings}");
    assert!(cluster.is_full());
    assert!(cluster.start_duration() < Duration::from_secs(120));
    assert_eq!(
        cluster
            .pids()
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>(),
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok"
        ]
    );
    for log in [
        "kube-controller-manager.log",
        "kube-scheduler.log",
        "kwok.log",
    ] {
        assert!(cluster.dir().join(log).exists(), "{log}");
    }

    // Every listening socket of every component is on loopback (KCM, the scheduler and kwok
    // default to 0.0.0.0).
    for (name, pid) in cluster.pids() {
        let listening = listening_addresses(pid);
        assert!(
            !listening.is_empty() || name == "kwok",
            "{name} listens nowhere?"
        );
        for address in listening {
            assert!(
                address.starts_with("127.0.0.1:") || address.starts_with("[::1]:"),
                "{name} (pid {pid}) listens on {address}"
            );
        }
    }

    let nodes: Api<Node> = Api::all(cluster.client().await);
    let node = nodes.get(kwok::NODE_NAME).await.unwrap();
    assert!(
        node.status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
}

#[tokio::test]
async fn a_job_runs_to_completion() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-complete").await;
    let client = cluster.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client, &ns);

    // Like a Kelos agent Job: an init container (git clone) and a sidecar.
    let mut ok = job("ok", serde_json::json!({}), serde_json::json!({}));
    ok.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .init_containers = Some(
        serde_json::from_value(serde_json::json!([
            { "name": "clone", "image": "kelos.dev/fake-git:test" },
            { "name": "proxy", "image": "kelos.dev/fake-proxy:test", "restartPolicy": "Always" },
        ]))
        .unwrap(),
    );
    let started = Instant::now();
    jobs.create(&PostParams::default(), &ok).await.unwrap();
    let done = eventually("job ok Complete", Duration::from_secs(20), || async {
        let job = jobs.get("ok").await.map_err(|e| e.to_string())?;
        if condition(&job, "Complete") {
            Ok(job)
        } else {
            Err(job_state(&job))
        }
    })
    .await;
    eprintln!("Job Complete {:?} after creation", started.elapsed());
    let status = done.status.unwrap();
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(status.failed.unwrap_or(0), 0);

    let pod = wait_pod_phase(&pods, "ok", "Succeeded", Duration::from_secs(5)).await;
    assert_eq!(
        pod.spec.as_ref().unwrap().node_name.as_deref(),
        Some(kwok::NODE_NAME)
    );
    let container = &pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    let terminated = container
        .state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(terminated.exit_code, 0);
    assert_eq!(terminated.reason.as_deref(), Some("Completed"));
    let init = pod.status.unwrap().init_container_statuses.unwrap();
    assert_eq!(
        init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["clone", "proxy"]
    );
    for status in &init {
        let terminated = status.state.as_ref().unwrap().terminated.as_ref();
        assert_eq!(terminated.map(|t| t.exit_code), Some(0), "{status:?}");
    }
}

#[tokio::test]
async fn a_job_whose_pod_exits_non_zero_fails() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-fail").await;
    let client = cluster.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client, &ns);

    jobs.create(
        &PostParams::default(),
        &job(
            "boom",
            serde_json::json!({
                kwok::EXIT_CODE: "3",
                kwok::TERMINATION_MESSAGE: "agent gave up: \"quota\"",
            }),
            serde_json::json!({}),
        ),
    )
    .await
    .unwrap();
    let failed = eventually("job boom Failed", Duration::from_secs(20), || async {
        let job = jobs.get("boom").await.map_err(|e| e.to_string())?;
        if condition(&job, "Failed") {
            Ok(job)
        } else {
            Err(job_state(&job))
        }
    })
    .await;
    let status = failed.status.unwrap();
    assert_eq!(status.failed, Some(1));
    assert_eq!(status.succeeded.unwrap_or(0), 0);

    let pod = wait_pod_phase(&pods, "boom", "Failed", Duration::from_secs(5)).await;
    let container = &pod.status.unwrap().container_statuses.unwrap()[0];
    let terminated = container
        .state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(terminated.exit_code, 3);
    assert_eq!(terminated.reason.as_deref(), Some("Error"));
    assert_eq!(
        terminated.message.as_deref(),
        Some("agent gave up: \"quota\"")
    );
}

#[tokio::test]
async fn the_delay_annotation_keeps_a_job_running_until_its_pod_is_deleted() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-delay").await;
    let client = cluster.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client, &ns);

    // A finite delay: the Job completes, but not before it.
    let started = Instant::now();
    jobs.create(
        &PostParams::default(),
        &job(
            "three-seconds",
            serde_json::json!({ kwok::POD_COMPLETE_DELAY: "3s" }),
            serde_json::json!({}),
        ),
    )
    .await
    .unwrap();
    // An effectively endless one.
    jobs.create(
        &PostParams::default(),
        &job(
            "endless",
            serde_json::json!({ kwok::POD_COMPLETE_DELAY: "1h" }),
            serde_json::json!({}),
        ),
    )
    .await
    .unwrap();

    let running = wait_pod_phase(&pods, "endless", "Running", Duration::from_secs(20)).await;
    eventually(
        "job three-seconds Complete",
        Duration::from_secs(20),
        || async {
            let job = jobs.get("three-seconds").await.map_err(|e| e.to_string())?;
            if condition(&job, "Complete") {
                Ok(())
            } else {
                Err(job_state(&job))
            }
        },
    )
    .await;
    let took = started.elapsed();
    eprintln!("Job with a 3s delay Complete after {took:?}");
    assert!(took >= Duration::from_secs(3), "{took:?}");

    // Still running, and the Job still active.
    let name = running.metadata.name.unwrap();
    let pod = pods.get(&name).await.unwrap();
    assert_eq!(phase(&pod), "Running");
    let job = jobs.get("endless").await.unwrap();
    assert_eq!(job.status.as_ref().unwrap().active, Some(1), "{job:?}");
    assert!(!condition(&job, "Complete") && !condition(&job, "Failed"));

    // Deleting it ends it (grace 0: gone as soon as the Job controller drops its finalizer).
    pods.delete(&name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually("deleted pod gone", Duration::from_secs(20), || async {
        match pods.get_opt(&name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(pod) => Err(format!("{:?}", pod.metadata)),
        }
    })
    .await;
}

fn bare_pod(name: &str, annotations: serde_json::Value) -> Pod {
    // No owner: no Job finalizer, and it never completes.
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "job": name }, "annotations": annotations },
        "spec": { "containers": [{ "name": "main", "image": "kelos.dev/fake:test" }] },
    }))
    .unwrap()
}

async fn wait_gone(pods: &Api<Pod>, name: &str, timeout: Duration) {
    eventually(&format!("pod {name} gone"), timeout, || async {
        match pods.get_opt(name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(pod) => Err(format!("{:?}", pod.metadata.deletion_timestamp)),
        }
    })
    .await;
}

#[tokio::test]
async fn a_deleted_pod_stays_visible_for_its_grace_period() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-grace").await;
    let pods: Api<Pod> = Api::namespaced(cluster.client().await, &ns);

    pods.create(
        &PostParams::default(),
        &bare_pod("sleeper", serde_json::json!({})),
    )
    .await
    .unwrap();
    wait_pod_phase(&pods, "sleeper", "Running", Duration::from_secs(20)).await;

    let deleted_at = Instant::now();
    pods.delete("sleeper", &DeleteParams::default().grace_period(5))
        .await
        .unwrap();
    let terminating = pods.get("sleeper").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(5));

    tokio::time::sleep(Duration::from_millis(4700)).await;
    let still = pods.get_opt("sleeper").await.unwrap();
    let still = still.unwrap_or_else(|| {
        panic!(
            "pod gone after {:?}, before its grace period",
            deleted_at.elapsed()
        )
    });
    assert_eq!(still.metadata.deletion_grace_period_seconds, Some(5));
    assert_eq!(phase(&still), "Running");

    wait_gone(&pods, "sleeper", Duration::from_secs(10)).await;
    let gone_after = deleted_at.elapsed();
    eprintln!("pod deleted with gracePeriodSeconds=5 visible for {gone_after:?}");
    assert!(gone_after >= Duration::from_secs(5), "{gone_after:?}");

    // The delete-delay annotation replaces the grace period (here the default 30 s).
    pods.create(
        &PostParams::default(),
        &bare_pod("quick", serde_json::json!({ kwok::POD_DELETE_DELAY: "0s" })),
    )
    .await
    .unwrap();
    wait_pod_phase(&pods, "quick", "Running", Duration::from_secs(20)).await;
    let deleted_at = Instant::now();
    // The pod as the delete left it (it may be gone before a GET could see it).
    let deleting = pods
        .delete("quick", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a graceful delete returns the pod");
    assert_eq!(deleting.metadata.deletion_grace_period_seconds, Some(30));
    wait_gone(&pods, "quick", Duration::from_secs(5)).await;
    eprintln!(
        "pod with {}=0s gone {:?} after deletion",
        kwok::POD_DELETE_DELAY,
        deleted_at.elapsed()
    );
}

#[tokio::test]
async fn background_deletion_of_a_job_garbage_collects_its_pods() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-gc").await;
    let client = cluster.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client, &ns);

    let mut running = job(
        "workers",
        serde_json::json!({ kwok::POD_COMPLETE_DELAY: "1h" }),
        serde_json::json!({ "parallelism": 2, "completions": 2 }),
    );
    running
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .termination_grace_period_seconds = Some(1);
    jobs.create(&PostParams::default(), &running).await.unwrap();
    let names: HashSet<String> =
        eventually("two running pods", Duration::from_secs(20), || async {
            let list = job_pods(&pods, "workers").await;
            if list.len() == 2 && list.iter().all(|p| phase(p) == "Running") {
                Ok(list.into_iter().filter_map(|p| p.metadata.name).collect())
            } else {
                Err(format!("{} pods", list.len()))
            }
        })
        .await;

    let deleted_at = Instant::now();
    jobs.delete(
        "workers",
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    eventually(
        "pods garbage-collected",
        Duration::from_secs(30),
        || async {
            let left: Vec<String> = job_pods(&pods, "workers")
                .await
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .filter(|n| names.contains(n))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left: {left:?}"))
            }
        },
    )
    .await;
    eprintln!(
        "Job's pods garbage-collected {:?} after Background deletion",
        deleted_at.elapsed()
    );
    assert!(jobs.get_opt("workers").await.unwrap().is_none());
}

#[tokio::test]
async fn finished_jobs_with_a_ttl_are_cleaned_up() {
    let cluster = cluster().await;
    let ns = cluster.namespace("full-ttl").await;
    let jobs: Api<Job> = Api::namespaced(cluster.client().await, &ns);
    jobs.create(
        &PostParams::default(),
        &job(
            "short-lived",
            serde_json::json!({}),
            serde_json::json!({ "ttlSecondsAfterFinished": 0 }),
        ),
    )
    .await
    .unwrap();
    eventually(
        "ttl-after-finished deletes the Job",
        Duration::from_secs(30),
        || async {
            match jobs
                .get_opt("short-lived")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(job) => Err(job_state(&job)),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn new_namespaces_get_a_default_service_account_and_can_be_deleted() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    // Created directly: `TestCluster::namespace` would already wait for the ServiceAccount.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let name = format!("full-sa-{}", std::process::id());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    eventually(
        "default ServiceAccount",
        Duration::from_secs(15),
        || async {
            accounts
                .get_opt("default")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "missing".to_owned())
        },
    )
    .await;
    eventually(
        "kube-root-ca.crt ConfigMap",
        Duration::from_secs(15),
        || async {
            config_maps
                .get_opt("kube-root-ca.crt")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "missing".to_owned())
        },
    )
    .await;

    // Namespace deletion finishes (the namespace controller empties it).
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("namespace deleted", Duration::from_secs(60), || async {
        match namespaces.get_opt(&name).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(ns) => Err(format!("{:?}", ns.status)),
        }
    })
    .await;
}

/// `ip:port` of every TCP socket `pid` listens on, from its fds and /proc/net/tcp{,6}.
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: HashSet<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            link.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let mut found = Vec::new();
    for (table, v6) in [("tcp", false), ("tcp6", true)] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address, state (0A = LISTEN), inode.
            if cols.len() > 9 && cols[3] == "0A" && inodes.contains(cols[9]) {
                found.push(decode_address(cols[1], v6));
            }
        }
    }
    found
}

/// /proc/net/tcp's `HEXIP:HEXPORT`, with the IP in host (little-endian) 32-bit words.
fn decode_address(hex: &str, v6: bool) -> String {
    let (ip, port) = hex.split_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let mut bytes = Vec::new();
    for word in ip.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(word).unwrap(), 16).unwrap();
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    if v6 {
        let octets: [u8; 16] = bytes.try_into().unwrap();
        let addr = std::net::Ipv6Addr::from(octets);
        match addr.to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{port}"),
            None => format!("[{addr}]:{port}"),
        }
    } else {
        let octets: [u8; 4] = bytes.try_into().unwrap();
        format!("{}:{port}", std::net::Ipv4Addr::from(octets))
    }
}
