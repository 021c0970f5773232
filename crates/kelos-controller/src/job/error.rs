//! Why a Job could not be built. The messages are the original's; the reconciler puts them
//! into `Failed to build Job: <message>` or `Failed to resolve MCP server secret: <message>`.
//! No message ever contains a Secret value.

use super::text::go_quote;

/// A Task whose Job cannot be built (the Task becomes Failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobBuildError {
    /// A `workspace.files[].path` that is blank, uses `\`, or leaves the repository.
    #[error("invalid workspace file path {}: {reason}", go_quote(.path))]
    InvalidWorkspaceFilePath { path: String, reason: &'static str },
    /// A plugin, skill or agent name that is not a single path component.
    #[error("invalid plugin configuration: {0}")]
    InvalidPlugin(String),
    /// A skills.sh entry without a source.
    #[error("invalid skills configuration: {0}")]
    InvalidSkills(String),
    /// An MCP server with an empty, unsafe or duplicate name.
    #[error("invalid MCP server configuration: {0}")]
    InvalidMcpServer(String),
    /// `headersFrom`/`envFrom` names a Secret the caller could not find.
    #[error(
        "fetching {field} secret {} for MCP server {}: secret not found",
        go_quote(.secret),
        go_quote(.server)
    )]
    McpSecretNotFound {
        /// `headersFrom` or `envFrom`.
        field: &'static str,
        secret: String,
        server: String,
    },
}
