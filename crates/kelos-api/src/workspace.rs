//! `Workspace`: the git repository a Task clones.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::SecretReference;

/// WorkspaceSpec is a git repository cloned into each Task's pod, with optional extra remotes
/// and files written into the clone before the agent starts.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "Workspace",
    namespaced,
    doc = "Workspace is a git repository (with optional credentials, extra remotes and files) cloned into the pod of each Task that references it."
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    /// Clone URL, starting with `https://`, `http://`, `git://` or `git@`. It is the `origin`
    /// remote of the clone and, for GitHub, the repository a TaskSpawner watches by default.
    #[schemars(regex(pattern = r"^(https?://|git://|git@).*"))]
    pub repo: String,
    /// Branch or tag to clone (`git clone --branch`, `KELOS_BASE_BRANCH`); unset: the default
    /// branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
    /// Secret with `GITHUB_TOKEN` (a personal access token) or `appID`, `installationID` and
    /// `privateKey` (a GitHub App).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Extra git remotes added after the clone, e.g. `upstream` in a fork workflow. `origin`
    /// is reserved for the clone source; names are unique.
    // The original's uniqueness rule, `self.map(r, r.name).size() == self.size()`, always holds
    // (`map` keeps duplicates). A list map keyed by name makes the apiserver itself refuse
    // duplicates, at no CEL cost, and lets server-side apply merge remotes by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "x-kubernetes-validations" = [
            {"rule": "self.all(r, r.name != 'origin')", "message": "remote name 'origin' is reserved for the clone source"}
        ],
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["name"]
    ))]
    pub remotes: Option<Vec<GitRemote>>,
    /// Files written into the clone before the agent starts (e.g. a CLAUDE.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<WorkspaceFile>>,
}

/// An extra git remote.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct GitRemote {
    /// Remote name, e.g. `upstream`; not `origin`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Remote URL: `https://`, `http://`, `git://` or `git@`.
    #[schemars(regex(pattern = r"^(https?://|git://|git@).*"))]
    pub url: String,
}

/// A file written into the clone.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct WorkspaceFile {
    /// Path relative to the repository root, e.g. `CLAUDE.md`.
    #[schemars(length(min = 1))]
    pub path: String,
    /// File content, written verbatim.
    pub content: String,
}
