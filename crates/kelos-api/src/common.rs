//! Small reference types shared by several kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Refers to a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretReference {
    /// Name of the Secret.
    pub name: String,
}

/// Refers to a Workspace in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WorkspaceReference {
    /// Name of the Workspace.
    pub name: String,
}

/// Refers to an AgentConfig in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AgentConfigReference {
    /// Name of the AgentConfig.
    pub name: String,
}

/// Reads values from all keys of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValuesSource {
    /// Secret in the same namespace whose every key becomes an entry; its values win over
    /// inline ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
}
