//! GitHub App installation tokens for Workspaces whose Secret holds an App key (reference
//! §3.5).
//!
//! A Workspace Secret with all of `appID`, `installationID` and `privateKey` is a GitHub App
//! Secret ([`is_github_app`]); otherwise it is a personal access token under `GITHUB_TOKEN`
//! and used as is. For an App, the reconciler parses the credentials
//! ([`AppCredentials::from_secret_data`]), mints an installation token
//! ([`TokenClient::installation_token`]: an RS256 JWT, `iss=appID`, `iat=now-60s`,
//! `exp=now+10m`, then `POST {base}/app/installations/{id}/access_tokens`), writes it into
//! the Task-owned Secret `<task>-github-token` ([`desired_token_secret`]) and builds the Job
//! with that Secret ([`crate::job::JobInputs::github_token_secret`]). The token is minted once,
//! at Job creation, and not refreshed.
//!
//! Secrets stay secret: [`AppCredentials`] and [`InstallationToken`] print redacted, and no
//! error message carries the private key, the JWT or a token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kelos_api::Task;
use kelos_api::constants::LABEL_TASK;
use kube::{Resource, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::job::{
    GITHUB_TOKEN_KEY, github_api_base_url, github_token_secret_name, parse_github_repo,
};

/// Secret key of the App id.
pub const APP_ID_KEY: &str = "appID";
/// Secret key of the installation id.
pub const INSTALLATION_ID_KEY: &str = "installationID";
/// Secret key of the PEM private key (PKCS#1 or PKCS#8 RSA).
pub const PRIVATE_KEY_KEY: &str = "privateKey";
/// github.com's REST API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.github.com";
/// How long a token request may take before it fails.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// JWT `iat` backdating, for clock drift between us and GitHub.
pub const JWT_BACKDATE: chrono::Duration = chrono::Duration::seconds(60);
/// JWT lifetime (GitHub's maximum).
pub const JWT_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// Why no installation token could be had. Messages never contain the private key, the JWT
/// or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubAppError {
    #[error("GitHub App secret: {0} is empty")]
    EmptyField(&'static str),
    #[error("GitHub App secret: {0} must be a number")]
    NotANumber(&'static str),
    #[error(
        "GitHub App secret: privateKey is not a PEM-encoded RSA private key (PKCS#1 or PKCS#8)"
    )]
    InvalidPrivateKey,
    #[error("signing the GitHub App JWT failed: the private key is not a usable RSA key")]
    Signing,
    #[error("invalid GitHub API base URL {0:?}")]
    InvalidBaseUrl(String),
    #[error("setting up the HTTPS client failed: {0}")]
    Client(String),
    #[error("requesting an installation token from {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("requesting an installation token from {url} timed out after {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("unexpected status {status} from {url}: {message}")]
    UnexpectedStatus {
        status: u16,
        url: String,
        message: String,
    },
    #[error("the installation token response from {url} is not valid: {reason}")]
    InvalidResponse { url: String, reason: &'static str },
}

/// Whether a Secret's data makes it a GitHub App Secret: it has all of `appID`,
/// `installationID` and `privateKey`.
pub fn is_github_app(data: &BTreeMap<String, ByteString>) -> bool {
    [APP_ID_KEY, INSTALLATION_ID_KEY, PRIVATE_KEY_KEY]
        .iter()
        .all(|k| data.contains_key(*k))
}

/// [`is_github_app`] of a Secret's `data`.
pub fn is_github_app_secret(secret: &Secret) -> bool {
    secret.data.as_ref().is_some_and(is_github_app)
}

/// Parsed GitHub App credentials. `Debug` shows only the ids.
#[derive(Clone)]
pub struct AppCredentials {
    app_id: String,
    installation_id: String,
    key: EncodingKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn numeric_id(raw: &[u8], field: &'static str) -> Result<String, GitHubAppError> {
    let text = String::from_utf8_lossy(raw);
    let id = text.trim();
    if id.is_empty() {
        return Err(GitHubAppError::EmptyField(field));
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GitHubAppError::NotANumber(field));
    }
    Ok(id.to_string())
}

impl AppCredentials {
    /// From raw values: ids as decimal text (surrounding whitespace, such as the newline of
    /// `kubectl create secret --from-file`, is ignored) and a PEM RSA private key.
    pub fn new(
        app_id: &[u8],
        installation_id: &[u8],
        private_key_pem: &[u8],
    ) -> Result<Self, GitHubAppError> {
        let app_id = numeric_id(app_id, APP_ID_KEY)?;
        let installation_id = numeric_id(installation_id, INSTALLATION_ID_KEY)?;
        if private_key_pem.iter().all(u8::is_ascii_whitespace) {
            return Err(GitHubAppError::EmptyField(PRIVATE_KEY_KEY));
        }
        let key = EncodingKey::from_rsa_pem(private_key_pem)
            .map_err(|_| GitHubAppError::InvalidPrivateKey)?;
        let creds = AppCredentials {
            app_id,
            installation_id,
            key,
        };
        // The PEM parser checks only the envelope; signing once proves the key is usable.
        creds.jwt(Utc::now())?;
        Ok(creds)
    }

    /// From a Secret's `data` (see [`is_github_app`]); a missing key counts as empty.
    pub fn from_secret_data(data: &BTreeMap<String, ByteString>) -> Result<Self, GitHubAppError> {
        let get = |k: &str| data.get(k).map(|b| b.0.as_slice()).unwrap_or_default();
        Self::new(
            get(APP_ID_KEY),
            get(INSTALLATION_ID_KEY),
            get(PRIVATE_KEY_KEY),
        )
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// The App JWT at `now`: RS256, `iss=appID` (a string, as the original),
    /// `iat=now-60s`, `exp=now+10m`.
    pub fn jwt(&self, now: DateTime<Utc>) -> Result<String, GitHubAppError> {
        let claims = AppClaims {
            iat: (now - JWT_BACKDATE).timestamp(),
            exp: (now + JWT_LIFETIME).timestamp(),
            iss: self.app_id.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|_| GitHubAppError::Signing)
    }
}

/// The claims of an App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// An installation access token. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct InstallationToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The API base URL for a Workspace repository: `base_url_override` when set (the
/// controller's flag, for tests and proxies), else `https://api.github.com` for github.com
/// and `https://<host>/api/v3` for GitHub Enterprise. No trailing slash.
pub fn api_base_url(repo_url: &str, base_url_override: Option<&str>) -> String {
    match base_url_override.filter(|b| !b.is_empty()) {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            let (host, _, _) = parse_github_repo(repo_url);
            github_api_base_url(&host)
        }
    }
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Exchanges App credentials for installation tokens over HTTPS (or plain HTTP, for a local
/// test server). Cheap to clone; share one per controller.
#[derive(Clone)]
pub struct TokenClient {
    http: HttpsClient,
    timeout: Duration,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl TokenClient {
    /// A client trusting the system's root certificates, with rustls on ring. Without system
    /// roots it still works for `http://` base URLs; `https://` then fails per request.
    pub fn new() -> Result<Self, GitHubAppError> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no system root certificates; HTTPS to GitHub will fail");
                let config = rustls::ClientConfig::builder_with_provider(provider.into())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| GitHubAppError::Client(e.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        Ok(TokenClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            timeout: REQUEST_TIMEOUT,
        })
    }

    /// The same client with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Mints an installation token: `POST {base_url}/app/installations/{id}/access_tokens`
    /// with `Authorization: Bearer <jwt>` and `Accept: application/vnd.github.v3+json`;
    /// anything but 201 is an error carrying the status and GitHub's `message`.
    pub async fn installation_token(
        &self,
        base_url: &str,
        creds: &AppCredentials,
    ) -> Result<InstallationToken, GitHubAppError> {
        let base = base_url.trim_end_matches('/');
        let url = format!(
            "{base}/app/installations/{}/access_tokens",
            creds.installation_id
        );
        let uri: http::Uri = url
            .parse()
            .map_err(|_| GitHubAppError::InvalidBaseUrl(base_url.to_string()))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(GitHubAppError::InvalidBaseUrl(base_url.to_string()));
        }
        let jwt = creds.jwt(Utc::now())?;
        let request = http::Request::post(uri)
            .header(http::header::AUTHORIZATION, format!("Bearer {jwt}"))
            .header(http::header::ACCEPT, "application/vnd.github.v3+json")
            .header(http::header::USER_AGENT, "kelos-controller")
            .body(Empty::<Bytes>::new())
            .map_err(|_| GitHubAppError::InvalidBaseUrl(base_url.to_string()))?;

        let exchange = async {
            let response =
                self.http
                    .request(request)
                    .await
                    .map_err(|e| GitHubAppError::Transport {
                        url: url.clone(),
                        reason: transport_reason(&e),
                    })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| GitHubAppError::Transport {
                    url: url.clone(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            Ok::<_, GitHubAppError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| GitHubAppError::Timeout {
                url: url.clone(),
                secs: self.timeout.as_secs(),
            })??;

        if status != http::StatusCode::CREATED {
            return Err(GitHubAppError::UnexpectedStatus {
                status: status.as_u16(),
                url,
                message: error_message(&body),
            });
        }
        parse_token_body(&body, &url)
    }
}

/// The whole exchange for a Workspace: credentials from its Secret's `data`, the API base URL
/// for its repository (or `base_url_override`), then [`TokenClient::installation_token`].
pub async fn workspace_installation_token(
    client: &TokenClient,
    repo_url: &str,
    base_url_override: Option<&str>,
    secret_data: &BTreeMap<String, ByteString>,
) -> Result<InstallationToken, GitHubAppError> {
    let creds = AppCredentials::from_secret_data(secret_data)?;
    client
        .installation_token(&api_base_url(repo_url, base_url_override), &creds)
        .await
}

/// The token of a 201 body; errors never echo the body.
fn parse_token_body(body: &[u8], url: &str) -> Result<InstallationToken, GitHubAppError> {
    let token: InstallationToken =
        serde_json::from_slice(body).map_err(|_| GitHubAppError::InvalidResponse {
            url: url.to_string(),
            reason: "expected JSON with a string \"token\" and an RFC 3339 \"expires_at\"",
        })?;
    if token.token.is_empty() {
        return Err(GitHubAppError::InvalidResponse {
            url: url.to_string(),
            reason: "the token is empty",
        });
    }
    Ok(token)
}

fn transport_reason(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// GitHub's `message` from an error body (at most 200 characters), or a placeholder. Only
/// that field is used: a body is never echoed whole.
fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    match message {
        Some(m) if !m.is_empty() => m.chars().take(200).collect(),
        _ => "no error message in the response".to_string(),
    }
}

/// The Secret `<task>-github-token` holding an installation token under `GITHUB_TOKEN`
/// (`stringData`), in the Task's namespace, labelled `kelos.dev/task`, and owned by the Task
/// as controller (`blockOwnerDeletion`) when the Task has a uid, so garbage collection removes
/// it with the Task.
pub fn desired_token_secret(task: &Task, token: &InstallationToken) -> Secret {
    let name = task.name_any();
    let owner = task.controller_owner_ref(&()).map(|r| OwnerReference {
        block_owner_deletion: Some(true),
        ..r
    });
    Secret {
        metadata: ObjectMeta {
            name: Some(github_token_secret_name(&name)),
            namespace: task.namespace(),
            labels: Some(BTreeMap::from([(LABEL_TASK.to_string(), name)])),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([(
            GITHUB_TOKEN_KEY.to_string(),
            token.token.clone(),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies() {
        let ok = parse_token_body(
            br#"{"token":"ghs_abc","expires_at":"2026-01-02T03:04:05Z","permissions":{}}"#,
            "u",
        )
        .unwrap();
        assert_eq!(ok.token, "ghs_abc");
        assert_eq!(ok.expires_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
        for bad in [
            &br#"{"token":"ghs_abc","#[..],
            br#"{"token":12345,"expires_at":"2026-01-02T03:04:05Z"}"#,
            br#"{"token":"ghs_abc","expires_at":"soon"}"#,
            br#"{"token":"","expires_at":"2026-01-02T03:04:05Z"}"#,
            b"null",
        ] {
            let err = parse_token_body(bad, "u").unwrap_err();
            assert!(matches!(err, GitHubAppError::InvalidResponse { .. }));
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains("ghs_abc") && !text.contains("12345"),
                "{text}"
            );
        }
    }

    #[test]
    fn error_messages_use_only_the_message_field() {
        assert_eq!(
            error_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(
            error_message(b"<html>secret</html>"),
            "no error message in the response"
        );
        assert_eq!(
            error_message(&[b'{'; 3]),
            "no error message in the response"
        );
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(500));
        assert_eq!(error_message(long.as_bytes()).len(), 200);
    }
}
