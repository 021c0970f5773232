//! Agent images, their pull policies, the fixed helper images and the per-type credential
//! variable names (reference §3.1).

use kelos_api::{AgentType, CredentialType};

/// Image of the git init containers (`git-clone`, `remote-setup`, `branch-setup`,
/// `workspace-files`, `plugin-setup`). Not configurable.
pub const GIT_CLONE_IMAGE: &str = "alpine/git:v2.47.2";
/// Image of the `skills-install` init container. Not configurable.
pub const NODE_IMAGE: &str = "node:22.14.0-alpine";

/// Default image for each agent type (the controller flags' defaults).
pub const DEFAULT_CLAUDE_CODE_IMAGE: &str = "ghcr.io/kelos-dev/claude-code:latest";
pub const DEFAULT_CODEX_IMAGE: &str = "ghcr.io/kelos-dev/codex:latest";
pub const DEFAULT_GEMINI_IMAGE: &str = "ghcr.io/kelos-dev/gemini:latest";
pub const DEFAULT_OPENCODE_IMAGE: &str = "ghcr.io/kelos-dev/opencode:latest";
pub const DEFAULT_CURSOR_IMAGE: &str = "ghcr.io/kelos-dev/cursor:latest";

/// The image an agent type runs, and its pull policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentImage {
    /// Image reference, used unless the Task sets `spec.image`.
    pub image: String,
    /// `imagePullPolicy` of the agent container (`Always`, `IfNotPresent`, `Never`). `None` or
    /// an empty string leaves it unset, so Kubernetes' default applies. The policy applies to a
    /// Task's custom `spec.image` too.
    pub pull_policy: Option<String>,
}

impl AgentImage {
    /// An image with no pull policy.
    pub fn new(image: impl Into<String>) -> Self {
        AgentImage {
            image: image.into(),
            pull_policy: None,
        }
    }

    /// The pull policy to write into the pod spec: `None` for unset or empty.
    pub(crate) fn effective_pull_policy(&self) -> Option<String> {
        self.pull_policy.clone().filter(|p| !p.is_empty())
    }
}

/// One [`AgentImage`] per agent type, filled from the controller's `--<type>-image` and
/// `--<type>-image-pull-policy` flags. [`Default`] gives the reference's defaults
/// (`ghcr.io/kelos-dev/<type>:latest`, no pull policy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobImages {
    pub claude_code: AgentImage,
    pub codex: AgentImage,
    pub gemini: AgentImage,
    pub opencode: AgentImage,
    pub cursor: AgentImage,
}

impl Default for JobImages {
    fn default() -> Self {
        JobImages {
            claude_code: AgentImage::new(DEFAULT_CLAUDE_CODE_IMAGE),
            codex: AgentImage::new(DEFAULT_CODEX_IMAGE),
            gemini: AgentImage::new(DEFAULT_GEMINI_IMAGE),
            opencode: AgentImage::new(DEFAULT_OPENCODE_IMAGE),
            cursor: AgentImage::new(DEFAULT_CURSOR_IMAGE),
        }
    }
}

impl JobImages {
    /// The image of an agent type. (`for` is a Rust keyword, hence the name.)
    pub fn for_agent(&self, agent: AgentType) -> &AgentImage {
        match agent {
            AgentType::ClaudeCode => &self.claude_code,
            AgentType::Codex => &self.codex,
            AgentType::Gemini => &self.gemini,
            AgentType::Opencode => &self.opencode,
            AgentType::Cursor => &self.cursor,
        }
    }

    /// Mutable access, for setting one type's image from a flag.
    pub fn for_agent_mut(&mut self, agent: AgentType) -> &mut AgentImage {
        match agent {
            AgentType::ClaudeCode => &mut self.claude_code,
            AgentType::Codex => &mut self.codex,
            AgentType::Gemini => &mut self.gemini,
            AgentType::Opencode => &mut self.opencode,
            AgentType::Cursor => &mut self.cursor,
        }
    }
}

/// Environment variable (and Secret key) of an API key for an agent type.
pub fn api_key_env_var(agent: AgentType) -> &'static str {
    match agent {
        AgentType::ClaudeCode => "ANTHROPIC_API_KEY",
        AgentType::Codex => "CODEX_API_KEY",
        AgentType::Gemini => "GEMINI_API_KEY",
        AgentType::Opencode => "OPENCODE_API_KEY",
        AgentType::Cursor => "CURSOR_API_KEY",
    }
}

/// Environment variable (and Secret key) of an OAuth credential for an agent type.
pub fn oauth_env_var(agent: AgentType) -> &'static str {
    match agent {
        AgentType::ClaudeCode => "CLAUDE_CODE_OAUTH_TOKEN",
        AgentType::Codex => "CODEX_AUTH_JSON",
        AgentType::Gemini => "GEMINI_API_KEY",
        AgentType::Opencode => "OPENCODE_API_KEY",
        AgentType::Cursor => "CURSOR_API_KEY",
    }
}

/// The credential variable a Task's agent gets: read from the key of the same name in
/// `spec.credentials.secretRef`.
pub fn credential_env_var(agent: AgentType, credential: CredentialType) -> &'static str {
    match credential {
        CredentialType::ApiKey => api_key_env_var(agent),
        CredentialType::Oauth => oauth_env_var(agent),
    }
}
