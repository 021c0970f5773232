//! Installing CRDs the way envtest does: apply, then wait until they are usable.
//!
//! `Established` alone is not enough: discovery (and thus kubectl and kube's `Discovery`) can lag
//! behind it, so we also wait until every served version lists the resource.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::error::{Error, Result};

pub const FIELD_MANAGER: &str = "kelos-testenv";
const POLL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_secs(30);

/// Server-side applies every CRD (forcing ownership) and waits until all are established and
/// discoverable.
pub async fn install(client: &kube::Client, crds: &[CustomResourceDefinition]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds {
        let name = crd_name(crd)?;
        api.patch(name, &params, &Patch::Apply(crd))
            .await
            .map_err(|e| Error::Crd {
                name: name.into(),
                reason: format!("server-side apply failed: {e}"),
            })?;
    }
    // Wait after applying all of them, so their establishment overlaps.
    for crd in crds {
        wait_usable(client, &api, crd).await?;
    }
    Ok(())
}

fn crd_name(crd: &CustomResourceDefinition) -> Result<&str> {
    crd.metadata.name.as_deref().ok_or_else(|| Error::Crd {
        name: format!("{}.{}", crd.spec.names.plural, crd.spec.group),
        reason: "metadata.name is missing".into(),
    })
}

async fn wait_usable(
    client: &kube::Client,
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
) -> Result<()> {
    let name = crd_name(crd)?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let pending = match pending_reason(client, api, crd, name).await {
            Ok(None) => return Ok(()),
            Ok(Some(reason)) => reason,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::Crd {
                name: name.into(),
                reason: format!("not usable after {TIMEOUT:?}: {pending}"),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `None` once the CRD is established and every served version is in discovery.
async fn pending_reason(
    client: &kube::Client,
    api: &Api<CustomResourceDefinition>,
    crd: &CustomResourceDefinition,
    name: &str,
) -> Result<Option<String>> {
    let current = api.get(name).await?;
    let established = current
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
    if !established {
        return Ok(Some("condition Established is not True yet".into()));
    }
    let plural = &crd.spec.names.plural;
    for version in crd.spec.versions.iter().filter(|v| v.served) {
        let group_version = format!("{}/{}", crd.spec.group, version.name);
        let listed = match client.list_api_group_resources(&group_version).await {
            Ok(list) => list.resources.iter().any(|r| &r.name == plural),
            // 404 until the group/version appears in discovery at all.
            Err(_) => false,
        };
        if !listed {
            return Ok(Some(format!(
                "{plural} not yet in discovery for {group_version}"
            )));
        }
    }
    Ok(None)
}

/// Parses CRDs from (multi-document) YAML, e.g. `config/crd/*.yaml`. Empty documents are skipped.
pub fn from_yaml(text: &str) -> Result<Vec<CustomResourceDefinition>> {
    let docs: Vec<Option<serde_json::Value>> =
        serde_saphyr::from_multiple(text).map_err(|e| Error::Yaml(e.to_string()))?;
    docs.into_iter()
        .flatten()
        .filter(|doc| !doc.is_null())
        .map(|doc| serde_json::from_value(doc).map_err(|e| Error::Yaml(format!("not a CRD: {e}"))))
        .collect()
}
