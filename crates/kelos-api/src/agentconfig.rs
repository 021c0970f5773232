//! `AgentConfig`: instructions, plugins, skills and MCP servers injected into agents.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::SecretValuesSource;

/// AgentConfigSpec carries what an agent should know and be able to use: an AGENTS.md,
/// plugins (skills and sub-agents), skills.sh packages and MCP servers.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "AgentConfig",
    namespaced,
    doc = "AgentConfig holds instructions (AGENTS.md), plugins, skills and MCP servers injected into the agents of the Tasks that reference it."
)]
#[serde(rename_all = "camelCase")]
pub struct AgentConfigSpec {
    /// Instructions written to the agent's native AGENTS.md location (`KELOS_AGENTS_MD`).
    #[serde(default, rename = "agentsMD", skip_serializing_if = "Option::is_none")]
    pub agents_md: Option<String>,
    /// Plugin bundles (skills and sub-agents), each written to `/kelos/plugin/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<PluginSpec>>,
    /// skills.sh packages installed before the agent starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<SkillsShSpec>>,
    /// MCP servers made available to the agent (`KELOS_MCP_SERVERS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_servers: Option<Vec<McpServerSpec>>,
}

/// A plugin bundle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct PluginSpec {
    /// Plugin name, the directory under `/kelos/plugin`; no `/`, `\`, `.` or `..`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Skills, each written to `skills/<name>/SKILL.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<SkillDefinition>>,
    /// Sub-agents, each written to `agents/<name>.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<AgentDefinition>>,
}

/// A skill inside a plugin.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SkillDefinition {
    /// Skill name, the directory under `skills/`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Content of the skill's SKILL.md.
    pub content: String,
}

/// A sub-agent inside a plugin.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct AgentDefinition {
    /// Sub-agent name, the file `agents/<name>.md`.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The sub-agent's definition (markdown).
    pub content: String,
}

/// A skills.sh package.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SkillsShSpec {
    /// Package source, `owner/repo` (installed with `npx skills add`).
    #[schemars(length(min = 1))]
    pub source: String,
    /// One skill of the package (`-s`); unset installs all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
}

/// Transport of an MCP server.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum McpServerType {
    /// A local command speaking MCP on stdin and stdout.
    Stdio,
    /// Streamable HTTP.
    Http,
    /// Server-sent events.
    Sse,
}

/// An MCP server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerSpec {
    /// Server name, its key in the MCP configuration; unique.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Transport: stdio (a command), http or sse (a URL).
    #[serde(rename = "type")]
    pub type_: McpServerType,
    /// Command to start (stdio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Arguments of the command (stdio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Server URL (http, sse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers (http, sse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Headers read from a Secret; its values win over `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_from: Option<SecretValuesSource>,
    /// Environment of the command (stdio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Environment read from a Secret; its values win over `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_from: Option<SecretValuesSource>,
}
