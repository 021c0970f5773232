//! What the TaskSpawner reconciler is told by its flags: the spawner and token-refresher images,
//! pull policies and resources (`--spawner-image`, `--spawner-resource-requests`, …).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity;

/// The original's flag default for `--spawner-image`.
pub const DEFAULT_SPAWNER_IMAGE: &str = "ghcr.io/kelos-dev/kelos-spawner:latest";
/// The original's flag default for `--token-refresher-image`.
pub const DEFAULT_TOKEN_REFRESHER_IMAGE: &str = "ghcr.io/kelos-dev/kelos-token-refresher:latest";

/// Configuration of the TaskSpawner reconciler. `Default` gives the original's flag defaults
/// and a cluster-wide watch.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpawnerConfig {
    /// Image of the `spawner` container (`--spawner-image`).
    pub spawner_image: String,
    /// `imagePullPolicy` of the spawner; `None` (flag value `""`) leaves Kubernetes' default.
    pub spawner_image_pull_policy: Option<String>,
    /// Resources of the spawner (`--spawner-resource-requests` / `-limits`); `None` when
    /// neither flag is set. Build with [`resource_requirements`].
    pub spawner_resources: Option<ResourceRequirements>,
    /// Image of the `token-refresher` sidecar (`--token-refresher-image`).
    pub token_refresher_image: String,
    /// `imagePullPolicy` of the sidecar; `None` leaves Kubernetes' default.
    pub token_refresher_image_pull_policy: Option<String>,
    /// Resources of the sidecar (`--token-refresher-resource-requests` / `-limits`).
    pub token_refresher_resources: Option<ResourceRequirements>,
    /// Watch TaskSpawners (and their Workspaces, Secrets and workloads) in this namespace only;
    /// `None` watches the whole cluster. Tests use it to run one reconciler per namespace.
    pub watch_namespace: Option<String>,
}

impl Default for TaskSpawnerConfig {
    fn default() -> Self {
        TaskSpawnerConfig {
            spawner_image: DEFAULT_SPAWNER_IMAGE.into(),
            spawner_image_pull_policy: None,
            spawner_resources: None,
            token_refresher_image: DEFAULT_TOKEN_REFRESHER_IMAGE.into(),
            token_refresher_image_pull_policy: None,
            token_refresher_resources: None,
            watch_namespace: None,
        }
    }
}

/// A `--*-resource-requests` / `--*-resource-limits` value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceListError {
    #[error("invalid resource entry {0:?}: expected name=quantity")]
    Entry(String),
    #[error("invalid quantity {value:?} for resource {name:?}")]
    Quantity { name: String, value: String },
}

/// Parses `cpu=100m,memory=128Mi` (the original's `ParseResourceList`): comma-separated
/// `name=quantity` pairs, spaces around either side ignored, `""` is an empty list.
pub fn parse_resource_list(s: &str) -> Result<BTreeMap<String, Quantity>, ResourceListError> {
    let mut out = BTreeMap::new();
    for entry in s.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| ResourceListError::Entry(entry.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(ResourceListError::Entry(entry.to_string()));
        }
        if quantity::parse(value).is_none() {
            return Err(ResourceListError::Quantity {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        out.insert(name.to_string(), Quantity(value.to_string()));
    }
    Ok(out)
}

/// The container resources for a pair of flags: `None` when both are empty, as in the
/// original (the container then has no `resources`).
pub fn resource_requirements(
    requests: &str,
    limits: &str,
) -> Result<Option<ResourceRequirements>, ResourceListError> {
    let requests = parse_resource_list(requests)?;
    let limits = parse_resource_list(limits)?;
    if requests.is_empty() && limits.is_empty() {
        return Ok(None);
    }
    Ok(Some(ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lists_parse_like_the_original() {
        let list = parse_resource_list(" cpu = 100m, memory=128Mi ,").unwrap();
        assert_eq!(list["cpu"], Quantity("100m".into()));
        assert_eq!(list["memory"], Quantity("128Mi".into()));
        assert!(parse_resource_list("").unwrap().is_empty());
        assert_eq!(
            parse_resource_list("cpu"),
            Err(ResourceListError::Entry("cpu".into()))
        );
        assert_eq!(
            parse_resource_list("cpu=lots"),
            Err(ResourceListError::Quantity {
                name: "cpu".into(),
                value: "lots".into()
            })
        );
    }

    #[test]
    fn requirements_only_when_a_flag_is_set() {
        assert_eq!(resource_requirements("", "").unwrap(), None);
        let r = resource_requirements("cpu=10m", "").unwrap().unwrap();
        assert!(r.limits.is_none());
        assert_eq!(r.requests.unwrap()["cpu"], Quantity("10m".into()));
    }
}
