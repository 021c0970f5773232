//! GitHub App installation tokens for spawners: the `kelos-token-refresher` sidecar.
//!
//! The controller runs this binary as a native sidecar (`initContainers[]` with
//! `restartPolicy: Always`) next to the spawner of a TaskSpawner whose Workspace Secret holds a
//! GitHub App (`appID`, `installationID`, `privateKey`). It signs an RS256 app JWT with the
//! private key, exchanges it for an installation access token
//! (`POST {base}/app/installations/{id}/access_tokens`, HTTP 201), and writes the token
//! atomically to a file the spawner re-reads every cycle. It refreshes the token well before it
//! expires.
//!
//! The pieces are a library so tests (and any other caller) can use them without the binary:
//! [`app_jwt`], [`TokenClient::mint`], [`write_token_file`], [`next_refresh`] and [`run`].
//! Nothing here ever logs or returns a token or a key in an error message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// Where the controller mounts the App Secret (`github-app-secret` volume).
pub const DEFAULT_PRIVATE_KEY_FILE: &str = "/etc/github-app/privateKey";
/// Where the spawner reads the token (`--github-token-file`), on the shared `github-token`
/// emptyDir.
pub const DEFAULT_TOKEN_FILE: &str = "/shared/token/GITHUB_TOKEN";
/// github.com's REST API; GitHub Enterprise uses `https://<host>/api/v3`.
pub const DEFAULT_API_BASE_URL: &str = "https://api.github.com";
/// The original refreshes every 45 minutes; installation tokens live for an hour.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(45 * 60);
/// Refresh at least this long before `expires_at`, whatever the interval says.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(10 * 60);
/// Never refresh more often than this (a token GitHub says expires in a minute, a bad clock).
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Initial attempts before giving up (exit 1, so the kubelet restarts the sidecar and the pod
/// shows the failure), and the pause between them.
pub const INITIAL_ATTEMPTS: u32 = 6;
pub const INITIAL_RETRY_DELAY: Duration = Duration::from_secs(10);
/// After a failed refresh, retry with this backoff (doubling, capped) instead of waiting the
/// full interval as the original does: a token that is not refreshed expires in an hour.
pub const RETRY_BACKOFF_START: Duration = Duration::from_secs(10);
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

const USER_AGENT: &str = concat!("kelos-token-refresher/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the GitHub App private key {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Carries only jsonwebtoken's error kind, never key material.
    #[error("the GitHub App private key is not a PEM RSA key (PKCS#1 or PKCS#8): {0}")]
    InvalidKey(jsonwebtoken::errors::Error),
    #[error("signing the GitHub App JWT: {0}")]
    Sign(jsonwebtoken::errors::Error),
    #[error("invalid GitHub API URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("setting up TLS: {0}")]
    Tls(std::io::Error),
    #[error("POST {url}: {reason}")]
    Request { url: String, reason: String },
    #[error("POST {url}: HTTP {status} (expected 201): {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("POST {url}: malformed installation token response: {reason}")]
    Decode { url: String, reason: String },
    #[error("writing the token file {path}: {source}")]
    WriteToken {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The RS256 JWT GitHub wants from an App: `iss` = app id, `iat` = now - 60 s (clock drift),
/// `exp` = now + 10 min (GitHub's maximum). `now` is unix seconds.
pub fn app_jwt(app_id: &str, private_key_pem: &[u8], now: i64) -> Result<String, Error> {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem).map_err(Error::InvalidKey)?;
    let claims = serde_json::json!({ "iat": now - 60, "exp": now + 600, "iss": app_id });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(Error::Sign)
}

/// An installation access token. `Debug` hides the token.
#[derive(Clone, Deserialize)]
pub struct InstallationToken {
    pub token: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Mints installation tokens over HTTPS (system roots, so a GHE host with a private CA works
/// when its CA is in the image or `SSL_CERT_FILE`) or plain HTTP (tests).
#[derive(Clone)]
pub struct TokenClient {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    api_base_url: String,
    timeout: Duration,
}

impl TokenClient {
    pub fn new(api_base_url: &str) -> Result<Self, Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(Error::Tls)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(TokenClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            api_base_url: api_base_url.trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(30),
        })
    }

    /// `POST {base}/app/installations/{installation_id}/access_tokens` with the app JWT.
    pub async fn mint(&self, installation_id: &str, jwt: &str) -> Result<InstallationToken, Error> {
        let url = format!(
            "{}/app/installations/{}/access_tokens",
            self.api_base_url, installation_id
        );
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| Error::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let request = http::Request::post(uri)
            .header(http::header::AUTHORIZATION, format!("Bearer {jwt}"))
            .header(http::header::ACCEPT, "application/vnd.github.v3+json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Request {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| Error::Request {
                    url: url.clone(),
                    reason: error_chain(&e),
                })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Request {
                    url: url.clone(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, Error>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Request {
                url: url.clone(),
                reason: format!("no answer within {:?}", self.timeout),
            })??;
        if status != http::StatusCode::CREATED {
            return Err(Error::Status {
                url,
                status: status.as_u16(),
                message: github_message(&body),
            });
        }
        let token: InstallationToken =
            serde_json::from_slice(&body).map_err(|e| Error::Decode {
                url: url.clone(),
                // serde's message names the position, never the input.
                reason: e.to_string(),
            })?;
        if token.token.is_empty() {
            return Err(Error::Decode {
                url,
                reason: "empty token".into(),
            });
        }
        Ok(token)
    }
}

/// GitHub's `{"message": …}` from an error body, shortened; never the raw body (which for a
/// misrouted 2xx could hold a token).
fn github_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Message {
        message: String,
    }
    match serde_json::from_slice::<Message>(body) {
        Ok(m) => m.message.chars().take(200).collect(),
        Err(_) => format!("{} byte body", body.len()),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes `token` to `path` atomically: `.<name>.tmp` in the same directory, mode 0644, then a
/// rename, so a reader sees the old token or the new one, never a partial file.
pub fn write_token_file(path: &Path, token: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let wrap = |source| Error::WriteToken {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        wrap(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the token path has no file name",
        ))
    })?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(wrap)?;
    file.write_all(token.as_bytes()).map_err(wrap)?;
    // The umask may have narrowed the mode given at creation.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(wrap)?;
    file.sync_all().map_err(wrap)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(wrap)
}

/// How long to wait before the next refresh: `interval`, or earlier so the refresh happens at
/// least [`EXPIRY_MARGIN`] before `expires_at` (but not sooner than [`MIN_REFRESH`] from now,
/// whatever the expiry says).
pub fn next_refresh(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> Duration {
    match expires_at {
        None => interval,
        Some(expires_at) => {
            let left = (expires_at - now).to_std().unwrap_or(Duration::ZERO);
            interval.min(left.saturating_sub(EXPIRY_MARGIN).max(MIN_REFRESH))
        }
    }
}

/// Everything the refresher needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub app_id: String,
    pub installation_id: String,
    pub api_base_url: String,
    pub private_key_file: PathBuf,
    pub token_file: PathBuf,
    pub refresh_interval: Duration,
    pub initial_attempts: u32,
    pub initial_retry_delay: Duration,
    /// First wait after a failed refresh; doubles up to [`RETRY_BACKOFF_MAX`].
    pub retry_backoff: Duration,
}

impl Config {
    pub fn new(app_id: impl Into<String>, installation_id: impl Into<String>) -> Self {
        Config {
            app_id: app_id.into(),
            installation_id: installation_id.into(),
            api_base_url: DEFAULT_API_BASE_URL.into(),
            private_key_file: DEFAULT_PRIVATE_KEY_FILE.into(),
            token_file: DEFAULT_TOKEN_FILE.into(),
            refresh_interval: REFRESH_INTERVAL,
            initial_attempts: INITIAL_ATTEMPTS,
            initial_retry_delay: INITIAL_RETRY_DELAY,
            retry_backoff: RETRY_BACKOFF_START,
        }
    }
}

/// One refresh: read the key (it may have been rotated in the Secret volume), sign, mint,
/// write. Returns when the token expires.
pub async fn refresh_once(
    config: &Config,
    client: &TokenClient,
) -> Result<Option<DateTime<Utc>>, Error> {
    let key = std::fs::read(&config.private_key_file).map_err(|source| Error::ReadKey {
        path: config.private_key_file.clone(),
        source,
    })?;
    let jwt = app_jwt(&config.app_id, &key, Utc::now().timestamp())?;
    let token = client.mint(&config.installation_id, &jwt).await?;
    write_token_file(&config.token_file, &token.token)?;
    Ok(token.expires_at)
}

/// How [`run`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// `shutdown` fired.
    Shutdown,
    /// Every initial attempt failed.
    InitialFailure,
}

/// The sidecar: up to `initial_attempts` tries `initial_retry_delay` apart (then
/// [`Exit::InitialFailure`]), then refresh before expiry until `shutdown` resolves.
pub async fn run(config: &Config, shutdown: impl std::future::Future<Output = ()>) -> Exit {
    tokio::pin!(shutdown);
    let client = match TokenClient::new(&config.api_base_url) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client");
            return Exit::InitialFailure;
        }
    };
    let mut expires_at = None;
    let mut ok = false;
    for attempt in 1..=config.initial_attempts.max(1) {
        tokio::select! {
            _ = &mut shutdown => return Exit::Shutdown,
            result = refresh_once(config, &client) => match result {
                Ok(expiry) => {
                    tracing::info!(file = %config.token_file.display(), expires_at = ?expiry, "wrote the initial installation token");
                    expires_at = expiry;
                    ok = true;
                    break;
                }
                Err(e) => tracing::warn!(attempt, attempts = config.initial_attempts, error = %e, "minting the installation token failed"),
            },
        }
        if attempt < config.initial_attempts {
            tokio::select! {
                _ = &mut shutdown => return Exit::Shutdown,
                _ = tokio::time::sleep(config.initial_retry_delay) => {}
            }
        }
    }
    if !ok {
        tracing::error!(
            attempts = config.initial_attempts,
            "giving up: no installation token"
        );
        return Exit::InitialFailure;
    }

    let mut backoff = config.retry_backoff;
    let mut wait = next_refresh(expires_at, Utc::now(), config.refresh_interval);
    loop {
        tracing::debug!(?wait, "next refresh");
        tokio::select! {
            _ = &mut shutdown => return Exit::Shutdown,
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = &mut shutdown => return Exit::Shutdown,
            result = refresh_once(config, &client) => match result {
                Ok(expiry) => {
                    tracing::info!(expires_at = ?expiry, "refreshed the installation token");
                    backoff = config.retry_backoff;
                    wait = next_refresh(expiry, Utc::now(), config.refresh_interval);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "refreshing the installation token failed");
                    wait = backoff;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX.max(config.retry_backoff));
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn refresh_follows_the_interval_for_hour_long_tokens() {
        let now = t("2026-01-01T00:00:00Z");
        let wait = next_refresh(Some(t("2026-01-01T01:00:00Z")), now, REFRESH_INTERVAL);
        assert_eq!(wait, REFRESH_INTERVAL);
        assert_eq!(next_refresh(None, now, REFRESH_INTERVAL), REFRESH_INTERVAL);
    }

    #[test]
    fn refresh_comes_early_for_short_tokens() {
        let now = t("2026-01-01T00:00:00Z");
        let wait = next_refresh(Some(t("2026-01-01T00:30:00Z")), now, REFRESH_INTERVAL);
        assert_eq!(wait, Duration::from_secs(20 * 60));
        // Already (nearly) expired or a skewed clock: the floor.
        let wait = next_refresh(Some(t("2026-01-01T00:05:00Z")), now, REFRESH_INTERVAL);
        assert_eq!(wait, MIN_REFRESH);
        // A short configured interval still wins.
        let wait = next_refresh(Some(t("2026-01-01T00:05:00Z")), now, Duration::from_secs(1));
        assert_eq!(wait, Duration::from_secs(1));
        let wait = next_refresh(Some(t("2025-12-31T00:00:00Z")), now, REFRESH_INTERVAL);
        assert_eq!(wait, MIN_REFRESH);
    }

    #[test]
    fn token_file_is_replaced_atomically_with_mode_0644() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("GITHUB_TOKEN");
        write_token_file(&path, "ghs_one").unwrap();
        write_token_file(&path, "ghs_two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ghs_two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["GITHUB_TOKEN".to_string()], "no temp file left");
    }

    #[test]
    fn bad_keys_are_rejected_without_echoing_them() {
        let err = app_jwt(
            "1",
            b"-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----\n",
            0,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::InvalidKey(_) | Error::Sign(_)),
            "{err}"
        );
        assert!(!err.to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn debug_redacts_the_token() {
        let token = InstallationToken {
            token: "ghs_secret".into(),
            expires_at: None,
        };
        assert!(!format!("{token:?}").contains("ghs_secret"));
    }

    #[test]
    fn error_bodies_yield_only_githubs_message() {
        assert_eq!(
            github_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(github_message(b"ghs_leaked"), "10 byte body");
    }
}
