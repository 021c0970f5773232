//! The GitHub REST client the spawner's sources and reporting use.
//!
//! Built on octocrab, but through its raw request API (`build_request` + `execute`), so the
//! client itself sees every status code, `Link`, `ETag` and rate-limit header and every body:
//! it must tell 304 from 200, a `null` or malformed body from an empty list, and a rate limit
//! from a server error. octocrab's own retry layer is switched off (its default retries 5xx and
//! 429 at once, which is the "hammering" we must not do) and so is its cache (it hides 304s).
//!
//! Rate limits are honoured by refusing, not waiting: a 403 with `X-RateLimit-Remaining: 0`,
//! a 429, or a secondary limit sets a "not before" instant (from `Retry-After` or
//! `X-RateLimit-Reset`) and returns [`DiscoveryError::RateLimited`]; every request before that
//! instant fails the same way without reaching GitHub. The daemon sleeps until
//! [`GitHubClient::not_before`].

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, ETAG, IF_NONE_MATCH, LINK, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::de::DeserializeOwned;

use super::etag::{CachedResponse, EtagCache};
use super::model::{CommentRef, User};
use super::token::TokenSource;
use crate::item::DiscoveryError;
use crate::metrics::SpawnerMetrics;

/// `https://api.github.com`, used when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// Page size of every listing.
pub const PER_PAGE: usize = 100;
/// Pages per listing before the listing counts as truncated (the original's `maxPages`).
pub const MAX_PAGES: usize = 10;
/// Wait when GitHub signals a secondary rate limit without saying how long.
const DEFAULT_RATE_LIMIT_WAIT_SECS: u64 = 60;
const GITHUB_ACCEPT: &str = "application/vnd.github+json";

/// How to reach GitHub, and the repository the spawner works on.
#[derive(Clone, Debug)]
pub struct GitHubConfig {
    /// API base: empty or `None` for `https://api.github.com`; GitHub Enterprise as
    /// `https://ghe.example.com/api/v3` (the path is kept).
    pub base_url: Option<String>,
    /// Repository owner (`--github-owner`; the fork override already applied by the caller).
    pub owner: String,
    /// Repository name (`--github-repo`).
    pub repo: String,
    pub token: TokenSource,
    /// Whole-request deadline (connect, headers and body). A request that takes longer is a
    /// `Transport` error.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Send `If-None-Match` with cached ETags and treat 304 as "same body as cached".
    pub etags: bool,
    /// Bounds of the ETag cache.
    pub etag_cache_entries: usize,
    pub etag_cache_bytes: usize,
    /// Pages per listing (`MAX_PAGES`); a listing with more is `Truncated`.
    pub max_pages: usize,
    /// Per-item lookups (comments, reviews, permissions) in flight at once.
    pub concurrency: usize,
    /// The agent's GitHub login, if known; otherwise `GET /user` for the token's identity.
    pub agent_login: Option<String>,
    pub metrics: Option<Arc<SpawnerMetrics>>,
}

impl GitHubConfig {
    pub fn new(owner: impl Into<String>, repo: impl Into<String>, token: TokenSource) -> Self {
        GitHubConfig {
            base_url: None,
            owner: owner.into(),
            repo: repo.into(),
            token,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            etags: true,
            etag_cache_entries: 20_000,
            etag_cache_bytes: 128 << 20,
            max_pages: MAX_PAGES,
            concurrency: 4,
            agent_login: None,
            metrics: None,
        }
    }

    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    pub fn etags(mut self, on: bool) -> Self {
        self.etags = on;
        self
    }
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages;
        self
    }
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }
    pub fn agent_login(mut self, login: impl Into<String>) -> Self {
        self.agent_login = Some(login.into());
        self
    }
    pub fn metrics(mut self, metrics: Arc<SpawnerMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

/// A response that made it through; a 304 is replaced by the cached body (status 200).
#[derive(Clone, Debug)]
pub(crate) struct Fetched {
    pub status: u16,
    pub body: Bytes,
    pub link: Option<String>,
}

struct Built {
    fingerprint: u64,
    crab: Octocrab,
}

/// A GitHub REST client for one repository. Cheap to share (`Arc`); safe to use concurrently.
pub struct GitHubClient {
    config: GitHubConfig,
    /// Normalised base URL, no trailing slash.
    base: String,
    /// `scheme://authority` of `base`.
    origin: String,
    crab: Mutex<Option<Built>>,
    etags: Mutex<EtagCache>,
    not_before: Mutex<Option<DateTime<Utc>>>,
    viewer: Mutex<Option<(u64, Option<String>)>>,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("base", &self.base)
            .field("owner", &self.config.owner)
            .field("repo", &self.config.repo)
            .field("token", &self.config.token)
            .finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// Validates the configuration; connects lazily (the first request builds the octocrab
    /// instance, which needs a Tokio runtime).
    pub fn new(config: GitHubConfig) -> Result<Self, DiscoveryError> {
        let raw = config
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or(DEFAULT_BASE_URL);
        let base = raw.trim_end_matches('/').to_string();
        let uri: http::Uri = base.parse().map_err(|e| {
            DiscoveryError::Config(format!("invalid GitHub API base URL {base:?}: {e}"))
        })?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(DiscoveryError::Config(format!(
                "GitHub API base URL {base:?} must be absolute (https://host[/api/v3])"
            )));
        };
        if uri.query().is_some() {
            return Err(DiscoveryError::Config(format!(
                "GitHub API base URL {base:?} must not have a query"
            )));
        }
        let origin = format!("{scheme}://{authority}");
        for (what, v) in [("owner", &config.owner), ("repo", &config.repo)] {
            if v.is_empty() || v.contains(['/', '?', '#', ' ']) {
                return Err(DiscoveryError::Config(format!(
                    "invalid GitHub {what} {v:?}"
                )));
            }
        }
        let etags = EtagCache::new(config.etag_cache_entries, config.etag_cache_bytes);
        Ok(GitHubClient {
            base,
            origin,
            etags: Mutex::new(etags),
            crab: Mutex::new(None),
            not_before: Mutex::new(None),
            viewer: Mutex::new(None),
            config,
        })
    }

    pub fn config(&self) -> &GitHubConfig {
        &self.config
    }
    pub fn owner(&self) -> &str {
        &self.config.owner
    }
    pub fn repo(&self) -> &str {
        &self.config.repo
    }
    /// The normalised API base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `{base}/repos/{owner}/{repo}{path}`.
    pub(crate) fn repo_url(&self, path: &str) -> String {
        format!(
            "{}/repos/{}/{}{}",
            self.base, self.config.owner, self.config.repo, path
        )
    }

    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The instant before which this client refuses to call GitHub (a rate limit is in force),
    /// if one is in the future.
    pub fn not_before(&self) -> Option<DateTime<Utc>> {
        let nb = *self.not_before.lock().unwrap();
        nb.filter(|t| *t > Utc::now())
    }

    /// How long to wait before calling GitHub again; `None` when there is no rate limit in force.
    pub fn rate_limit_wait(&self) -> Option<Duration> {
        self.not_before()
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .filter(|d| !d.is_zero())
    }

    /// Drops every cached ETag (tests; a spec change does not need it, URLs change).
    pub fn clear_etag_cache(&self) {
        self.etags.lock().unwrap().clear();
    }

    pub fn etag_cache_len(&self) -> usize {
        self.etags.lock().unwrap().len()
    }

    fn count(&self, status: &str) {
        if let Some(m) = &self.config.metrics {
            m.github_request(status);
        }
    }

    /// The octocrab instance for the current token (re-read from its source on every call,
    /// rebuilt when it changed).
    fn octocrab(&self) -> Result<Octocrab, DiscoveryError> {
        let token = self
            .config
            .token
            .current()
            .map_err(DiscoveryError::Config)?;
        let fingerprint = fingerprint(token.as_deref());
        let mut guard = self.crab.lock().unwrap();
        if let Some(b) = guard.as_ref()
            && b.fingerprint == fingerprint
        {
            return Ok(b.crab.clone());
        }
        if let Some(t) = &token
            && HeaderValue::from_str(&format!("Bearer {t}")).is_err()
        {
            return Err(DiscoveryError::Config(
                "the GitHub token contains characters not allowed in an HTTP header".into(),
            ));
        }
        let config_err = |e: octocrab::Error| {
            DiscoveryError::Config(format!("building the GitHub client: {}", error_chain(&e)))
        };
        let mut builder = Octocrab::builder()
            .base_uri(self.base.as_str())
            .map_err(config_err)?
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(self.config.connect_timeout));
        if let Some(t) = token {
            builder = builder.personal_token(t);
        }
        let crab = builder.build().map_err(config_err)?;
        *guard = Some(Built {
            fingerprint,
            crab: crab.clone(),
        });
        Ok(crab)
    }

    fn check_not_before(&self, url: &str) -> Result<(), DiscoveryError> {
        if let Some(t) = self.not_before() {
            let secs = (t - Utc::now()).num_milliseconds().max(0) as u64;
            return Err(DiscoveryError::RateLimited {
                url: url.to_string(),
                retry_after_secs: secs.div_ceil(1000).max(1),
            });
        }
        Ok(())
    }

    fn set_not_before(&self, t: DateTime<Utc>) {
        let mut g = self.not_before.lock().unwrap();
        if g.is_none_or(|old| old < t) {
            *g = Some(t);
        }
    }

    /// Sends one request; answers with the status, headers and whole body, or a `Transport`
    /// error (timeout, refused or dropped connection, broken body).
    async fn send(
        &self,
        method: Method,
        url: &str,
        payload: Option<&serde_json::Value>,
        if_none_match: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), DiscoveryError> {
        self.check_not_before(url)?;
        let crab = self.octocrab()?;
        let transport = |reason: String| DiscoveryError::Transport {
            url: url.to_string(),
            reason,
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(url)
            .header(ACCEPT, GITHUB_ACCEPT);
        if let Some(tag) = if_none_match {
            builder = builder.header(IF_NONE_MATCH, tag);
        }
        let request = crab
            .build_request(builder, payload)
            .map_err(|e| transport(format!("building the request: {}", error_chain(&e))))?;
        let exchange = async {
            let response = crab
                .execute(request)
                .await
                .map_err(|e| transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| transport(format!("reading the body: {}", error_chain(&e))))?
                .to_bytes();
            Ok::<_, DiscoveryError>((parts.status, parts.headers, body))
        };
        match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(Ok(answer)) => {
                self.count(answer.0.as_str());
                self.note_rate_limit(&answer.1);
                Ok(answer)
            }
            Ok(Err(e)) => {
                self.count("error");
                Err(e)
            }
            Err(_) => {
                self.count("error");
                Err(transport(format!(
                    "timed out after {} ms",
                    self.config.request_timeout.as_millis()
                )))
            }
        }
    }

    /// Updates the rate-limit gauge; an exhausted budget blocks requests until it resets.
    fn note_rate_limit(&self, headers: &HeaderMap) {
        let remaining = header_i64(headers, "x-ratelimit-remaining");
        if let (Some(r), Some(m)) = (remaining, &self.config.metrics) {
            m.set_rate_limit_remaining(r);
        }
        if remaining == Some(0)
            && let Some(reset) = header_i64(headers, "x-ratelimit-reset")
            && let Some(t) = DateTime::from_timestamp(reset, 0)
        {
            self.set_not_before(t);
        }
    }

    /// A `RateLimited` error if the answer is one (and the "not before" instant it implies).
    fn rate_limited(
        &self,
        url: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<DiscoveryError> {
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
            return None;
        }
        let now = Utc::now();
        let retry_after = header_i64(headers, RETRY_AFTER.as_str()).map(|s| s.max(0) as u64);
        let remaining = header_i64(headers, "x-ratelimit-remaining");
        let reset_wait = header_i64(headers, "x-ratelimit-reset")
            .map(|reset| (reset - now.timestamp()).max(1) as u64);
        let secondary = String::from_utf8_lossy(body)
            .to_ascii_lowercase()
            .contains("rate limit");
        let wait = match (retry_after, remaining) {
            (Some(secs), _) => secs.max(1),
            (None, Some(0)) => reset_wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT_SECS),
            _ if status == StatusCode::TOO_MANY_REQUESTS || secondary => {
                DEFAULT_RATE_LIMIT_WAIT_SECS
            }
            _ => return None,
        };
        self.set_not_before(now + chrono::Duration::seconds(wait as i64));
        tracing::warn!(
            url,
            status = status.as_u16(),
            wait_secs = wait,
            "GitHub rate limit; pausing GitHub calls"
        );
        Some(DiscoveryError::RateLimited {
            url: url.to_string(),
            retry_after_secs: wait,
        })
    }

    /// A GET that may answer any status: rate limits and transport failures are errors, 304 is
    /// replaced by the cached body (reported as 200 with `not_modified`), anything else is
    /// returned as is.
    pub(crate) async fn get_raw(&self, url: &str) -> Result<Fetched, DiscoveryError> {
        let cached = if self.config.etags {
            self.etags.lock().unwrap().get(url)
        } else {
            None
        };
        let (status, headers, body) = self
            .send(
                Method::GET,
                url,
                None,
                cached.as_ref().map(|c| c.etag.as_str()),
            )
            .await?;
        if let Some(e) = self.rate_limited(url, status, &headers, &body) {
            return Err(e);
        }
        if status == StatusCode::NOT_MODIFIED {
            let Some(c) = cached else {
                return Err(DiscoveryError::Malformed {
                    url: url.to_string(),
                    reason: "304 Not Modified without a cached response".into(),
                });
            };
            return Ok(Fetched {
                status: 200,
                body: c.body,
                link: c.link,
            });
        }
        let link = header_str(&headers, LINK.as_str());
        if status == StatusCode::OK
            && self.config.etags
            && let Some(tag) = header_str(&headers, ETAG.as_str())
        {
            self.etags.lock().unwrap().insert(
                url,
                CachedResponse {
                    etag: tag,
                    body: body.clone(),
                    link: link.clone(),
                },
            );
        }
        Ok(Fetched {
            status: status.as_u16(),
            body,
            link,
        })
    }

    /// A GET that must answer 2xx (or 304 from cache).
    pub(crate) async fn get_ok(&self, url: &str) -> Result<Fetched, DiscoveryError> {
        let f = self.get_raw(url).await?;
        if !(200..300).contains(&f.status) {
            return Err(status_error(url, f.status, &f.body));
        }
        Ok(f)
    }

    /// A GET of one JSON object; `null` or a body that does not parse is `Malformed`.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, DiscoveryError> {
        let f = self.get_ok(url).await?;
        parse_json(url, &f.body)
    }

    /// Like [`get_json`](Self::get_json), but 404 is `Ok(None)` (authorization lookups: "not a
    /// collaborator", "not a member").
    pub(crate) async fn get_json_or_404<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Option<T>, DiscoveryError> {
        let f = self.get_raw(url).await?;
        if f.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&f.status) {
            return Err(status_error(url, f.status, &f.body));
        }
        parse_json(url, &f.body).map(Some)
    }

    /// Every item of a paginated listing (`first` already carries `per_page`), following
    /// `Link: rel="next"`. More pages than `max_pages` is `Truncated`: never a partial list.
    pub(crate) async fn get_list<T: DeserializeOwned>(
        &self,
        first: &str,
    ) -> Result<Vec<T>, DiscoveryError> {
        let mut out = Vec::new();
        let mut url = first.to_string();
        let max_pages = self.config.max_pages.max(1);
        for page in 1..=max_pages {
            let f = self.get_ok(&url).await?;
            let items: Vec<T> = parse_json(&url, &f.body)?;
            out.extend(items);
            let Some(next) = f.link.as_deref().and_then(next_link) else {
                return Ok(out);
            };
            if page == max_pages {
                return Err(DiscoveryError::Truncated {
                    url: first.to_string(),
                    pages: max_pages,
                });
            }
            if !(next.starts_with(&self.origin)
                && next[self.origin.len()..].starts_with(['/', '?']))
            {
                return Err(DiscoveryError::Malformed {
                    url,
                    reason: format!("pagination link {next:?} points outside {}", self.origin),
                });
            }
            url = next;
        }
        unreachable!("the loop returns on its last page")
    }

    /// The login the token stands for (`GET /user`, cached per token), or the configured
    /// `agent_login`. `None` when GitHub will not say (GitHub App installation tokens get 403
    /// there): comments can then not be attributed to the agent.
    pub async fn viewer_login(&self) -> Result<Option<String>, DiscoveryError> {
        if let Some(l) = &self.config.agent_login {
            return Ok(Some(l.clone()));
        }
        let token = self
            .config
            .token
            .current()
            .map_err(DiscoveryError::Config)?;
        if token.is_none() {
            return Ok(None);
        }
        let fp = fingerprint(token.as_deref());
        if let Some((cached_fp, login)) = self.viewer.lock().unwrap().as_ref()
            && *cached_fp == fp
        {
            return Ok(login.clone());
        }
        let url = self.api_url("/user");
        let f = self.get_raw(&url).await?;
        let login = match f.status {
            200..=299 => Some(parse_json::<User>(&url, &f.body)?.login),
            403 | 404 => {
                tracing::info!(
                    status = f.status,
                    "GitHub does not say who the token belongs to; comments by the agent's identity cannot be told apart"
                );
                None
            }
            s => return Err(status_error(&url, s, &f.body)),
        };
        *self.viewer.lock().unwrap() = Some((fp, login.clone()));
        Ok(login)
    }

    /// Posts a comment on issue or pull request `number`; returns the comment's id.
    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64, DiscoveryError> {
        let url = self.repo_url(&format!("/issues/{number}/comments"));
        let payload = serde_json::json!({ "body": body });
        self.write(Method::POST, &url, &payload).await
    }

    /// Replaces the body of comment `id`.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), DiscoveryError> {
        let url = self.repo_url(&format!("/issues/comments/{id}"));
        let payload = serde_json::json!({ "body": body });
        self.write(Method::PATCH, &url, &payload).await.map(|_| ())
    }

    async fn write(
        &self,
        method: Method,
        url: &str,
        payload: &serde_json::Value,
    ) -> Result<u64, DiscoveryError> {
        let (status, headers, body) = self.send(method, url, Some(payload), None).await?;
        if let Some(e) = self.rate_limited(url, status, &headers, &body) {
            return Err(e);
        }
        if !status.is_success() {
            return Err(status_error(url, status.as_u16(), &body));
        }
        Ok(parse_json::<CommentRef>(url, &body)?.id)
    }
}

/// Parses a JSON body; `null` is `Malformed` (never an empty list).
pub(crate) fn parse_json<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, DiscoveryError> {
    let malformed = |reason: String| DiscoveryError::Malformed {
        url: url.to_string(),
        reason,
    };
    match serde_json::from_slice::<Option<T>>(body) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(malformed("the body is null".into())),
        Err(e) => Err(malformed(format!("{e}"))),
    }
}

/// `Status` with GitHub's `message` (or the start of the body).
fn status_error(url: &str, status: u16, body: &[u8]) -> DiscoveryError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            text.chars().take(200).collect()
        });
    DiscoveryError::Status {
        status,
        url: url.to_string(),
        message,
    }
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=").is_some_and(|v| {
                    v.trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
                })
            })
            .then(|| target.to_string())
    })
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

fn fingerprint(token: Option<&str>) -> u64 {
    let mut h = DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// An error and its sources, one line, without backtraces.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = match e.downcast_ref::<octocrab::Error>() {
        // Some octocrab variants print their backtrace in Display; name the variant instead.
        Some(octocrab::Error::Service { .. }) => "service error".to_string(),
        Some(octocrab::Error::Hyper { .. }) => "HTTP error".to_string(),
        _ => e.to_string(),
    };
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_parsing() {
        let l = "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(l).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let l = "<https://h/x?page=1>; rel=\"prev\", <https://h/x?page=1>; rel=\"first\"";
        assert_eq!(next_link(l), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn null_and_garbage_are_malformed() {
        assert!(matches!(
            parse_json::<Vec<u32>>("u", b"null"),
            Err(DiscoveryError::Malformed { .. })
        ));
        assert!(matches!(
            parse_json::<Vec<u32>>("u", b"[1, 2"),
            Err(DiscoveryError::Malformed { .. })
        ));
        assert!(matches!(
            parse_json::<Vec<u32>>("u", b""),
            Err(DiscoveryError::Malformed { .. })
        ));
        assert!(matches!(
            parse_json::<Vec<u32>>("u", b"{}"),
            Err(DiscoveryError::Malformed { .. })
        ));
        assert_eq!(
            parse_json::<Vec<u32>>("u", b"[]").unwrap(),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn base_url_validation() {
        let cfg = |b: &str| GitHubConfig::new("o", "r", TokenSource::None).base_url(b);
        assert_eq!(
            GitHubClient::new(cfg("https://ghe.example.com/api/v3/"))
                .unwrap()
                .repo_url("/issues"),
            "https://ghe.example.com/api/v3/repos/o/r/issues"
        );
        assert_eq!(
            GitHubClient::new(GitHubConfig::new("o", "r", TokenSource::None))
                .unwrap()
                .base_url(),
            DEFAULT_BASE_URL
        );
        assert!(GitHubClient::new(cfg("not a url")).is_err());
        assert!(GitHubClient::new(cfg("/api/v3")).is_err());
        assert!(GitHubClient::new(GitHubConfig::new("o/x", "r", TokenSource::None)).is_err());
    }
}
