//! MCP servers: Secret resolution of `headersFrom`/`envFrom` and the `KELOS_MCP_SERVERS`
//! JSON (reference §3.6).

use std::collections::{BTreeMap, BTreeSet};

use kelos_api::{AgentConfigSpec, McpServerSpec, McpServerType, SecretValuesSource};
use serde::Serialize;

use super::agent_config::sanitize_component_name;
use super::error::JobBuildError;
use super::text::{go_json_escape, go_quote};

/// Names of the Secrets an AgentConfig's MCP servers read (`headersFrom`, `envFrom`): what
/// the caller must fetch before [`resolve_mcp_secrets`].
pub fn mcp_secret_names(spec: &AgentConfigSpec) -> BTreeSet<String> {
    spec.mcp_servers
        .iter()
        .flatten()
        .flat_map(|s| [&s.headers_from, &s.env_from])
        .flatten()
        .map(source_secret_name)
        .collect()
}

fn source_secret_name(source: &SecretValuesSource) -> String {
    source
        .secret_ref
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default()
}

/// Resolves every MCP server's `headersFrom` and `envFrom` from `secrets` (Secret name →
/// its decoded `data`): all keys of the Secret are merged into `headers`/`env`, Secret values
/// winning over inline ones, and `headersFrom`/`envFrom` are cleared. A Secret missing from
/// `secrets` is an error naming the Secret and the server, never a value.
pub fn resolve_mcp_secrets(
    spec: &AgentConfigSpec,
    secrets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<AgentConfigSpec, JobBuildError> {
    let mut resolved = spec.clone();
    for server in resolved.mcp_servers.iter_mut().flatten() {
        if let Some(source) = server.headers_from.take() {
            let data = lookup(secrets, &source, "headersFrom", &server.name)?;
            merge(&mut server.headers, data);
        }
        if let Some(source) = server.env_from.take() {
            let data = lookup(secrets, &source, "envFrom", &server.name)?;
            merge(&mut server.env, data);
        }
    }
    Ok(resolved)
}

fn lookup<'a>(
    secrets: &'a BTreeMap<String, BTreeMap<String, String>>,
    source: &SecretValuesSource,
    field: &'static str,
    server: &str,
) -> Result<&'a BTreeMap<String, String>, JobBuildError> {
    let name = source_secret_name(source);
    secrets
        .get(&name)
        .ok_or_else(|| JobBuildError::McpSecretNotFound {
            field,
            secret: name,
            server: server.to_string(),
        })
}

fn merge(target: &mut Option<BTreeMap<String, String>>, data: &BTreeMap<String, String>) {
    let merged = target.get_or_insert_with(BTreeMap::new);
    for (k, v) in data {
        merged.insert(k.clone(), v.clone());
    }
}

/// One entry of `.mcp.json`; field order and omission of empty fields as Go's
/// `mcpServerJSON` (`omitempty` on every field).
#[derive(Serialize)]
struct McpServerJson<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    command: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    args: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct McpWrapper<'a> {
    #[serde(rename = "mcpServers")]
    mcp_servers: BTreeMap<&'a str, McpServerJson<'a>>,
}

fn type_str(t: McpServerType) -> &'static str {
    match t {
        McpServerType::Stdio => "stdio",
        McpServerType::Http => "http",
        McpServerType::Sse => "sse",
    }
}

/// `{"mcpServers":{"<name>":{"type":…,"command":…,"args":[…],"url":…,"headers":{…},"env":{…}}}}`
/// with sorted keys, empty fields omitted and Go's HTML-safe escaping, byte-for-byte what the
/// original puts into `KELOS_MCP_SERVERS`. Servers must already be resolved
/// ([`resolve_mcp_secrets`]); unresolved `headersFrom`/`envFrom` are ignored.
///
/// Errors (unwrapped; [`build_job`](super::build_job) wraps them in
/// `invalid MCP server configuration: …`): `MCP server name is empty`,
/// `MCP server name "a/b" contains path separators`, `MCP server name ".." is a path
/// traversal`, `duplicate MCP server name "x"`.
pub fn build_mcp_servers_json(servers: &[McpServerSpec]) -> Result<String, String> {
    let mut map = BTreeMap::new();
    for s in servers {
        if s.name.is_empty() {
            return Err("MCP server name is empty".to_string());
        }
        sanitize_component_name(&s.name, "MCP server")?;
        if map.contains_key(s.name.as_str()) {
            return Err(format!("duplicate MCP server name {}", go_quote(&s.name)));
        }
        let entry = McpServerJson {
            type_: type_str(s.type_),
            command: s.command.as_deref().unwrap_or(""),
            args: s.args.as_deref().unwrap_or(&[]),
            url: s.url.as_deref().unwrap_or(""),
            headers: s.headers.as_ref().filter(|h| !h.is_empty()),
            env: s.env.as_ref().filter(|e| !e.is_empty()),
        };
        map.insert(s.name.as_str(), entry);
    }
    let json = serde_json::to_string(&McpWrapper { mcp_servers: map })
        .map_err(|e| format!("marshalling MCP servers: {e}"))?;
    Ok(go_json_escape(&json))
}
