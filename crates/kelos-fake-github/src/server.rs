//! The HTTP side: a thread with its own tokio runtime accepting HTTP/1.1 connections on
//! 127.0.0.1, and the per-request pipeline:
//!
//! fault (delay / drop / canned error) → prefix → auth → rate limit → route →
//! body faults (malformed, null) → ETag / 304 → rate-limit accounting and headers → log.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{ConnectionDropped, StartError};
use crate::etag;
use crate::faults::{FaultKind, FaultSet};
use crate::log::RequestRecord;
use crate::pagination::Query;
use crate::ratelimit::{RATE_LIMIT_DOCS, RateLimitStatus, SECONDARY_RATE_LIMIT_DOCS};
use crate::render::{self, Ctx};
use crate::routes::{self, Reply, Req};
use crate::state::State;

/// Everything the server and the test-facing handles share.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub faults: Mutex<FaultSet>,
    pub log: Mutex<Vec<RequestRecord>>,
    /// `http://127.0.0.1:<port><prefix>`.
    pub api_base: String,
    /// `""` or a GHE-style prefix such as `/api/v3`.
    pub prefix: String,
    request_seq: AtomicU64,
}

/// Locks a mutex, shrugging off poisoning (a panicking test must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(api_base: String, prefix: String) -> Self {
        Shared {
            state: Mutex::new(State::new(Utc::now())),
            faults: Mutex::new(FaultSet::default()),
            log: Mutex::new(Vec::new()),
            api_base,
            prefix,
            request_seq: AtomicU64::new(0),
        }
    }
}

/// The running server thread; dropping it stops the server.
pub(crate) struct ServerThread {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    pub fn spawn(listener: StdListener, shared: Arc<Shared>) -> Result<Self, StartError> {
        listener.set_nonblocking(true).map_err(StartError::Bind)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("fake-github".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => accept_loop(listener, shared, rx).await,
                        Err(e) => eprintln!("fake-github: listener: {e}"),
                    }
                });
                // Dropping the runtime cancels in-flight connections (delays included).
            })
            .map_err(StartError::Thread)?;
        Ok(ServerThread {
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    // An Err here is a dropped-connection fault or a client hang-up.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// What the pipeline needs to know about one request.
struct Inbound {
    method: String,
    path: String,
    api_path: Option<String>,
    raw_query: String,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
}

impl Inbound {
    fn header(&self, name: header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let inc = Inbound {
        method: parts.method.as_str().to_string(),
        api_path: strip_prefix(&shared.prefix, &path),
        query: Query::parse(&raw_query),
        path,
        raw_query,
        headers: parts.headers,
        body,
    };
    let mut record = RequestRecord {
        method: inc.method.clone(),
        path: inc.path.clone(),
        api_path: inc.api_path.clone().unwrap_or_else(|| inc.path.clone()),
        query: inc.raw_query.clone(),
        page: inc.query.page(),
        if_none_match: inc.header(header::IF_NONE_MATCH),
        authorization: inc.header(header::AUTHORIZATION),
        accept: inc.header(header::ACCEPT),
        body: String::from_utf8_lossy(&inc.body).into_owned(),
        status: None,
        fault: None,
        at: Utc::now(),
    };

    let fault = inc
        .api_path
        .as_deref()
        .and_then(|p| lock(&shared.faults).take(&inc.method, p, inc.query.page()));
    record.fault = fault.as_ref().map(FaultKind::name);
    match &fault {
        Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
        Some(FaultKind::DropConnection) => {
            lock(&shared.log).push(record);
            return Err(ConnectionDropped);
        }
        _ => {}
    }

    let response = shared.respond(&inc, fault.as_ref());
    record.status = Some(response.status().as_u16());
    lock(&shared.log).push(record);
    Ok(response)
}

/// The API path under `prefix`, or `None` when the request is outside it.
fn strip_prefix(prefix: &str, path: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some(path.to_string());
    }
    let rest = path.strip_prefix(prefix)?;
    match rest {
        "" => Some("/".into()),
        r if r.starts_with('/') => Some(r.to_string()),
        _ => None,
    }
}

/// The token in `Authorization: token X` / `Bearer X` (other schemes yield the raw value,
/// which matches no token).
fn bearer(authorization: Option<&str>) -> Option<&str> {
    let auth = authorization?.trim();
    let lower = auth.to_ascii_lowercase();
    for scheme in ["token ", "bearer "] {
        if lower.starts_with(scheme) {
            return Some(auth[scheme.len()..].trim());
        }
    }
    Some(auth)
}

fn status_message(code: u16) -> String {
    match code {
        401 => "Bad credentials".into(),
        403 => "Resource not accessible by integration".into(),
        404 => "Not Found".into(),
        422 => "Validation Failed".into(),
        500 | 502 => "Server Error".into(),
        _ => StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .into(),
    }
}

fn rate_limit_exceeded(login: Option<&str>) -> Reply {
    let message = match login {
        Some(login) => format!(
            "API rate limit exceeded for user ID {}. If you reach out to GitHub Support for help, please include the request ID FAKE.",
            render::stable_id("user", login)
        ),
        None => "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)".into(),
    };
    Reply::json(403, render::error(403, &message, RATE_LIMIT_DOCS))
}

/// What the pipeline decided, before it becomes an HTTP response.
struct Outcome {
    reply: Reply,
    /// Counts against the rate limit.
    consume: bool,
    rate_override: Option<RateLimitStatus>,
    retry_after: Option<u64>,
}

impl Outcome {
    fn new(reply: Reply, consume: bool) -> Self {
        Outcome {
            reply,
            consume,
            rate_override: None,
            retry_after: None,
        }
    }
}

impl Shared {
    fn respond(&self, inc: &Inbound, fault: Option<&FaultKind>) -> Response<Full<Bytes>> {
        let now = Utc::now();
        let mut st = lock(&self.state);
        st.rate.refresh(now);
        let authorization = inc.header(header::AUTHORIZATION);
        let token = bearer(authorization.as_deref());

        let mut out = match fault {
            Some(FaultKind::Status(code)) => {
                Outcome::new(Reply::error(*code, &status_message(*code)), true)
            }
            Some(FaultKind::RateLimited) => {
                let login = st.login_for_token(token, now);
                let mut o = Outcome::new(rate_limit_exceeded(login.as_deref()), false);
                let limit = st.rate.limit;
                o.rate_override = Some(RateLimitStatus {
                    limit,
                    remaining: 0,
                    used: limit,
                    reset: st.rate.reset,
                });
                o
            }
            Some(FaultKind::SecondaryRateLimit { retry_after }) => {
                let body = render::error(
                    429,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE.",
                    SECONDARY_RATE_LIMIT_DOCS,
                );
                let mut o = Outcome::new(Reply::json(429, body), true);
                o.retry_after = Some(*retry_after);
                o
            }
            _ => self.route(&mut st, inc, token, authorization.as_deref(), now),
        };

        // Body faults replace a normal answer's body; such answers carry no ETag.
        let mut body: Option<Vec<u8>> = out
            .reply
            .body
            .as_ref()
            .map(|v| serde_json::to_vec(v).expect("JSON values serialize"));
        let mut etag = None;
        match fault {
            Some(FaultKind::MalformedJson) => {
                let full = body
                    .take()
                    .unwrap_or_else(|| b"{\"message\":\"ok\"}".to_vec());
                body = Some(full[..full.len() / 2].to_vec());
                out.reply.status = 200;
            }
            Some(FaultKind::NullBody) => {
                body = Some(b"null".to_vec());
                out.reply.status = 200;
            }
            _ if inc.method == "GET" && out.reply.status == 200 && st.etags => {
                let tag = etag::compute(body.as_deref().unwrap_or_default());
                let not_modified = inc
                    .header(header::IF_NONE_MATCH)
                    .is_some_and(|inm| etag::matches(&inm, &tag));
                if not_modified {
                    // GitHub: a 304 does not count against the rate limit.
                    out.reply.status = 304;
                    out.reply.link = None;
                    out.consume = false;
                    body = None;
                }
                etag = Some(tag);
            }
            _ => {}
        }
        if out.consume {
            st.rate.consume();
        }
        let rate = out.rate_override.unwrap_or_else(|| st.rate.status());
        drop(st);

        let seq = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let mut b = Response::builder()
            .status(out.reply.status)
            .header("x-github-media-type", "github.v3; format=json")
            .header("x-github-api-version-selected", "2022-11-28")
            .header("x-github-request-id", format!("FAKE:{seq:08X}"))
            .header(header::VARY, "Accept, Authorization, Cookie, X-GitHub-OTP")
            .header(header::CACHE_CONTROL, "private, max-age=60, s-maxage=60");
        for (name, value) in rate.headers() {
            b = b.header(name, value);
        }
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json; charset=utf-8");
        }
        if let Some(tag) = etag {
            b = b.header(header::ETAG, tag);
        }
        if let Some(link) = out.reply.link {
            b = b.header(header::LINK, link);
        }
        if let Some(location) = out.reply.location {
            b = b.header(header::LOCATION, location);
        }
        if let Some(secs) = out.retry_after {
            b = b.header(header::RETRY_AFTER, secs.to_string());
        }
        b.body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("valid response parts")
    }

    /// Auth, rate limit and the endpoint itself.
    fn route(
        &self,
        st: &mut State,
        inc: &Inbound,
        token: Option<&str>,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let Some(api_path) = inc.api_path.as_deref() else {
            return Outcome::new(Reply::not_found(), true);
        };
        // App endpoints authenticate with a JWT instead (checked by the handler).
        let app_endpoint = api_path == "/app" || api_path.starts_with("/app/");
        let login = if app_endpoint {
            None
        } else {
            match (st.auth_required, token) {
                (true, None) => return Outcome::new(Reply::requires_auth(), false),
                (true, Some(_)) => match st.login_for_token(token, now) {
                    Some(login) => Some(login),
                    None => return Outcome::new(Reply::error(401, "Bad credentials"), false),
                },
                (false, _) => st.login_for_token(token, now),
            }
        };
        if st.rate.exhausted() {
            return Outcome::new(rate_limit_exceeded(login.as_deref()), false);
        }
        let req = Req {
            method: &inc.method,
            segs: api_path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect(),
            query: inc.query.clone(),
            body: &inc.body,
            login,
            authorization,
            url: format!("{}{}", self.api_base, api_path),
            now,
        };
        let html = st.html_base.clone();
        let ctx = Ctx {
            api: &self.api_base,
            html: &html,
        };
        let reply = routes::dispatch(st, &ctx, &req);
        let consume = reply.status != 401;
        Outcome::new(reply, consume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_tokens() {
        assert_eq!(strip_prefix("", "/x"), Some("/x".into()));
        assert_eq!(
            strip_prefix("/api/v3", "/api/v3/repos"),
            Some("/repos".into())
        );
        assert_eq!(strip_prefix("/api/v3", "/api/v3x"), None);
        assert_eq!(strip_prefix("/api/v3", "/repos"), None);
        assert_eq!(bearer(Some("token abc")), Some("abc"));
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("Basic xyz")), Some("Basic xyz"));
        assert_eq!(bearer(None), None);
    }
}
