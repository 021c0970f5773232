//! Where the GitHub token comes from (spawner-reference §1.3): the `GITHUB_TOKEN` env (PAT
//! mode) or a file the GitHub App token refresher rewrites (`--github-token-file`), re-read on
//! every use so a rotated token is picked up. Token values never appear in `Debug` output or
//! logs.

use std::fmt;
use std::path::PathBuf;

/// Env variable holding a personal access token.
pub const GITHUB_TOKEN_ENV: &str = "GITHUB_TOKEN";

#[derive(Clone, Default)]
pub enum TokenSource {
    /// Unauthenticated requests.
    #[default]
    None,
    /// A fixed token (PAT from the env, or tests).
    Static(String),
    /// A token file re-read on every use. While the file does not exist yet, `fallback` (the
    /// env token, usually empty in App mode) is used, as the original does.
    File {
        path: PathBuf,
        fallback: Option<String>,
    },
}

impl TokenSource {
    /// As the spawner's flags describe it: the token file if one is configured (falling back
    /// to `GITHUB_TOKEN` while it is missing), else `GITHUB_TOKEN`, else none.
    pub fn from_flags(token_file: Option<PathBuf>) -> Self {
        let env = std::env::var(GITHUB_TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        match token_file {
            Some(path) if !path.as_os_str().is_empty() => TokenSource::File {
                path,
                fallback: env,
            },
            _ => env.map_or(TokenSource::None, TokenSource::Static),
        }
    }

    /// The current token (trimmed), if any. A missing file falls back; any other read error
    /// is returned (without the token).
    pub fn current(&self) -> Result<Option<String>, String> {
        let clean = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        match self {
            TokenSource::None => Ok(None),
            TokenSource::Static(t) => Ok(clean(t)),
            TokenSource::File { path, fallback } => match std::fs::read_to_string(path) {
                Ok(content) => Ok(clean(&content)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::info!(
                        path = %path.display(),
                        "Token file not yet available, proceeding without token"
                    );
                    Ok(fallback.as_deref().and_then(clean))
                }
                Err(e) => Err(format!("reading token file {}: {e}", path.display())),
            },
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::None => f.write_str("TokenSource::None"),
            TokenSource::Static(_) => f.write_str("TokenSource::Static(<redacted>)"),
            TokenSource::File { path, fallback } => f
                .debug_struct("TokenSource::File")
                .field("path", path)
                .field("fallback", &fallback.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_is_reread_and_missing_file_falls_back() {
        let dir = std::env::temp_dir().join(format!("kelos-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("GITHUB_TOKEN");
        let _ = std::fs::remove_file(&path);
        let src = TokenSource::File {
            path: path.clone(),
            fallback: Some("env-token".into()),
        };
        assert_eq!(src.current().unwrap().as_deref(), Some("env-token"));
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(src.current().unwrap().as_deref(), Some("first"));
        std::fs::write(&path, "second").unwrap();
        assert_eq!(src.current().unwrap().as_deref(), Some("second"));
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(src.current().unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
        let dbg = format!("{src:?}");
        assert!(!dbg.contains("env-token"), "{dbg}");
        assert!(!format!("{:?}", TokenSource::Static("secret".into())).contains("secret"));
    }
}
