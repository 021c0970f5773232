//! Drift between a spawner workload in the cluster and the one the controller would build.
//!
//! Only what the controller sets is compared (reference §6.2: the spawner container's image,
//! args, env, mounts and resources; init containers; volumes; replicas; for CronJobs also the
//! schedule and suspend), and each field only as far as the controller sets it. The API server
//! defaults many fields (`terminationMessagePath`, a Secret volume's `defaultMode`, probe
//! timeouts, …); comparing whole objects as the original does would see drift on every pass.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, Volume, VolumeMount};

use super::quantity;

fn env_same(actual: &[EnvVar], desired: &[EnvVar]) -> bool {
    let key = |e: &EnvVar| {
        let secret = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .map(|s| (s.name.clone(), s.key.clone(), s.optional.unwrap_or(false)));
        (
            e.name.clone(),
            e.value.clone().unwrap_or_default(),
            secret,
            // Other sources (fieldRef, …) are never set by the controller: their presence is
            // drift.
            e.value_from.as_ref().is_some_and(|v| {
                v.config_map_key_ref.is_some()
                    || v.field_ref.is_some()
                    || v.resource_field_ref.is_some()
            }),
        )
    };
    actual.len() == desired.len() && actual.iter().map(key).eq(desired.iter().map(key))
}

fn mounts_same(actual: &[VolumeMount], desired: &[VolumeMount]) -> bool {
    let key = |m: &VolumeMount| {
        (
            m.name.clone(),
            m.mount_path.clone(),
            m.read_only.unwrap_or(false),
            m.sub_path.clone().unwrap_or_default(),
        )
    };
    actual.len() == desired.len() && actual.iter().map(key).eq(desired.iter().map(key))
}

/// Whether `actual` differs from `desired` in a field the controller sets.
pub fn container_drifted(actual: &Container, desired: &Container) -> bool {
    let resources_same = {
        let (a, d) = (actual.resources.as_ref(), desired.resources.as_ref());
        quantity::same_list(
            a.and_then(|r| r.requests.as_ref()),
            d.and_then(|r| r.requests.as_ref()),
        ) && quantity::same_list(
            a.and_then(|r| r.limits.as_ref()),
            d.and_then(|r| r.limits.as_ref()),
        )
    };
    actual.name != desired.name
        || actual.image != desired.image
        // Unset in desired means "Kubernetes' default", which the server fills in.
        || (desired.image_pull_policy.is_some() && actual.image_pull_policy != desired.image_pull_policy)
        || actual.restart_policy != desired.restart_policy
        || actual.args.as_deref().unwrap_or_default() != desired.args.as_deref().unwrap_or_default()
        || !env_same(
            actual.env.as_deref().unwrap_or_default(),
            desired.env.as_deref().unwrap_or_default(),
        )
        || !mounts_same(
            actual.volume_mounts.as_deref().unwrap_or_default(),
            desired.volume_mounts.as_deref().unwrap_or_default(),
        )
        || !resources_same
}

fn containers_drifted(actual: &[Container], desired: &[Container]) -> bool {
    actual.len() != desired.len()
        || actual
            .iter()
            .zip(desired)
            .any(|(a, d)| container_drifted(a, d))
}

fn volumes_drifted(actual: &[Volume], desired: &[Volume]) -> bool {
    let key = |v: &Volume| {
        (
            v.name.clone(),
            v.empty_dir.is_some(),
            v.secret
                .as_ref()
                .map(|s| s.secret_name.clone().unwrap_or_default()),
            // Any other source is not the controller's.
            v.config_map.is_some() || v.host_path.is_some() || v.projected.is_some(),
        )
    };
    actual.len() != desired.len() || !actual.iter().map(key).eq(desired.iter().map(key))
}

/// Drift in the pod spec: the spawner container (the first), all init containers (the
/// sidecar) and the volumes.
pub fn pod_drifted(actual: &PodSpec, desired: &PodSpec) -> bool {
    let first = |p: &PodSpec| p.containers.first().cloned();
    match (first(actual), first(desired)) {
        (Some(a), Some(d)) if !container_drifted(&a, &d) => {}
        _ => return true,
    }
    containers_drifted(
        actual.init_containers.as_deref().unwrap_or_default(),
        desired.init_containers.as_deref().unwrap_or_default(),
    ) || volumes_drifted(
        actual.volumes.as_deref().unwrap_or_default(),
        desired.volumes.as_deref().unwrap_or_default(),
    ) || actual.service_account_name != desired.service_account_name
}

fn deployment_pod(d: &Deployment) -> Option<&PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

fn cronjob_pod(c: &CronJob) -> Option<&PodSpec> {
    c.spec.job_template.spec.as_ref()?.template.spec.as_ref()
}

/// Whether the Deployment needs an update.
pub fn deployment_drifted(actual: &Deployment, desired: &Deployment) -> bool {
    let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    replicas(actual) != replicas(desired)
        || match (deployment_pod(actual), deployment_pod(desired)) {
            (Some(a), Some(d)) => pod_drifted(a, d),
            _ => true,
        }
}

/// Whether the CronJob needs an update.
pub fn cronjob_drifted(actual: &CronJob, desired: &CronJob) -> bool {
    let schedule = |c: &CronJob| c.spec.schedule.clone();
    let suspend = |c: &CronJob| c.spec.suspend.unwrap_or(false);
    schedule(actual) != schedule(desired)
        || suspend(actual) != suspend(desired)
        || match (cronjob_pod(actual), cronjob_pod(desired)) {
            (Some(a), Some(d)) => pod_drifted(a, d),
            _ => true,
        }
}

/// Puts the controller's fields of `desired` into the pod spec of `actual`, keeping what others
/// (and the API server's defaulting) put elsewhere.
fn overwrite_pod(actual: &mut PodSpec, desired: &PodSpec) {
    actual.containers = desired.containers.clone();
    actual.init_containers = desired.init_containers.clone();
    actual.volumes = desired.volumes.clone();
    actual.service_account_name = desired.service_account_name.clone();
    actual.restart_policy = desired.restart_policy.clone();
    actual.security_context = desired.security_context.clone();
}

/// `actual` with the controller's fields from `desired`, ready for a replace (it keeps
/// `actual`'s resourceVersion, so a concurrent change makes the replace fail with a conflict).
pub fn updated_deployment(actual: &Deployment, desired: &Deployment) -> Deployment {
    let mut out = actual.clone();
    out.metadata.managed_fields = None;
    let (Some(spec), Some(want)) = (out.spec.as_mut(), desired.spec.as_ref()) else {
        out.spec = desired.spec.clone();
        return out;
    };
    spec.replicas = want.replicas;
    match (spec.template.spec.as_mut(), want.template.spec.as_ref()) {
        (Some(pod), Some(want_pod)) => overwrite_pod(pod, want_pod),
        _ => spec.template.spec = want.template.spec.clone(),
    }
    out
}

/// `actual` with the controller's fields from `desired`, ready for a replace.
pub fn updated_cronjob(actual: &CronJob, desired: &CronJob) -> CronJob {
    let mut out = actual.clone();
    out.metadata.managed_fields = None;
    let (spec, want) = (&mut out.spec, &desired.spec);
    spec.schedule = want.schedule.clone();
    spec.suspend = want.suspend;
    let pod = spec
        .job_template
        .spec
        .as_mut()
        .and_then(|j| j.template.spec.as_mut());
    let want_pod = cronjob_pod(desired);
    match (pod, want_pod) {
        (Some(pod), Some(want_pod)) => overwrite_pod(pod, want_pod),
        _ => spec.job_template = want.job_template.clone(),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ResourceRequirements, SecretVolumeSource};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn container() -> Container {
        Container {
            name: "spawner".into(),
            image: Some("img:1".into()),
            args: Some(vec!["--a".into()]),
            resources: Some(ResourceRequirements {
                limits: Some([("cpu".to_string(), Quantity("1000m".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn server_defaults_are_not_drift() {
        let desired = container();
        let mut actual = container();
        actual.termination_message_path = Some("/dev/termination-log".into());
        actual.image_pull_policy = Some("IfNotPresent".into());
        actual.resources.as_mut().unwrap().limits =
            Some([("cpu".to_string(), Quantity("1".into()))].into());
        assert!(!container_drifted(&actual, &desired));

        let secret = |mode| Volume {
            name: "github-app-secret".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some("s".into()),
                default_mode: mode,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(!volumes_drifted(&[secret(Some(420))], &[secret(None)]));
    }

    #[test]
    fn changes_to_managed_fields_are_drift() {
        let desired = container();
        let mut actual = container();
        actual.image = Some("img:2".into());
        assert!(container_drifted(&actual, &desired));
        let mut actual = container();
        actual.args = Some(vec!["--b".into()]);
        assert!(container_drifted(&actual, &desired));
        let mut actual = container();
        actual.env = Some(vec![EnvVar {
            name: "X".into(),
            value: Some("1".into()),
            ..Default::default()
        }]);
        assert!(container_drifted(&actual, &desired));
        let mut actual = container();
        actual.resources = None;
        assert!(container_drifted(&actual, &desired));
    }
}
