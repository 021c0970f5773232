//! Fault injection: make matching requests fail in the ways GitHub (or the network) does.
//!
//! ```
//! use kelos_fake_github::Fault;
//! // Page 2 of the issue listing answers 502 once, then recovers.
//! let f = Fault::status(502).get("/repos/acme/widgets/issues").page(2).times(1);
//! // Every comment listing of issue 7 hangs up without answering.
//! let g = Fault::drop_connection().get("/repos/acme/widgets/issues/7/comments");
//! // Any pull request endpoint: 429 with `Retry-After: 30`.
//! let h = Fault::secondary_rate_limit(30).path_prefix("/repos/acme/widgets/pulls");
//! # let _ = (f, g, h);
//! ```
//!
//! Paths are API paths (without a GHE prefix such as `/api/v3`). In `path`, a `*` segment
//! matches any one segment (`/repos/acme/widgets/issues/*/comments`).

use std::time::Duration;

/// What a matching request gets instead of (or before) its normal answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// That status with GitHub's error body (`{"message": <reason>, "documentation_url": …}`).
    /// 401 says "Bad credentials", 404 "Not Found", 5xx "Server Error".
    Status(u16),
    /// Primary rate limit: 403, `X-RateLimit-Remaining: 0`, "API rate limit exceeded for …".
    RateLimited,
    /// Secondary rate limit: 429 with `Retry-After: <secs>`.
    SecondaryRateLimit { retry_after: u64 },
    /// 200 with the normal body cut in half (invalid JSON).
    MalformedJson,
    /// 200 with the body `null`.
    NullBody,
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// Close the connection without sending a response.
    DropConnection,
}

impl FaultKind {
    pub(crate) fn name(&self) -> String {
        match self {
            FaultKind::Status(code) => format!("status {code}"),
            FaultKind::RateLimited => "rate limited".into(),
            FaultKind::SecondaryRateLimit { retry_after } => {
                format!("secondary rate limit (retry after {retry_after}s)")
            }
            FaultKind::MalformedJson => "malformed json".into(),
            FaultKind::NullBody => "null body".into(),
            FaultKind::Delay(d) => format!("delay {}ms", d.as_millis()),
            FaultKind::DropConnection => "dropped connection".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PathMatch {
    Any,
    /// Segment-wise equality; `*` matches one segment.
    Exact(Vec<String>),
    /// Segment-wise prefix.
    Prefix(Vec<String>),
}

/// A fault rule: a kind, which requests it applies to, and how many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub(crate) kind: FaultKind,
    method: Option<String>,
    path: PathMatch,
    page: Option<u32>,
    times: Option<u32>,
}

impl Fault {
    /// A rule that applies to every request, every time, until narrowed down.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            method: None,
            path: PathMatch::Any,
            page: None,
            times: None,
        }
    }
    pub fn status(code: u16) -> Self {
        Self::new(FaultKind::Status(code))
    }
    pub fn rate_limited() -> Self {
        Self::new(FaultKind::RateLimited)
    }
    pub fn secondary_rate_limit(retry_after_secs: u64) -> Self {
        Self::new(FaultKind::SecondaryRateLimit {
            retry_after: retry_after_secs,
        })
    }
    pub fn malformed_json() -> Self {
        Self::new(FaultKind::MalformedJson)
    }
    pub fn null_body() -> Self {
        Self::new(FaultKind::NullBody)
    }
    pub fn delay(duration: Duration) -> Self {
        Self::new(FaultKind::Delay(duration))
    }
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }

    /// Only requests with this method (`"GET"`, `"POST"`, …).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
    /// Only this path (`*` segments are wildcards).
    pub fn path(mut self, pattern: &str) -> Self {
        self.path = PathMatch::Exact(segments(pattern));
        self
    }
    /// Only paths under this prefix (whole segments: `/repos/o/r/issues` covers
    /// `/repos/o/r/issues/7/comments` but not `/repos/o/r/issues2`).
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path = PathMatch::Prefix(segments(prefix));
        self
    }
    /// Shorthand for `.method("GET").path(pattern)`.
    pub fn get(self, pattern: &str) -> Self {
        self.method("GET").path(pattern)
    }
    /// Only this page (`page` query parameter, 1 when absent).
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }
    /// Apply to the next `n` matching requests only (default: every matching request).
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str, page: u32) -> bool {
        if self.times == Some(0) {
            return false;
        }
        if let Some(m) = &self.method
            && m != method
        {
            return false;
        }
        if let Some(p) = self.page
            && p != page
        {
            return false;
        }
        let segs = segments(path);
        match &self.path {
            PathMatch::Any => true,
            PathMatch::Exact(pattern) => {
                pattern.len() == segs.len()
                    && pattern.iter().zip(&segs).all(|(p, s)| p == "*" || p == s)
            }
            PathMatch::Prefix(prefix) => {
                prefix.len() <= segs.len()
                    && prefix.iter().zip(&segs).all(|(p, s)| p == "*" || p == s)
            }
        }
    }
}

/// Identifies an injected fault (see `FakeGitHub::add_fault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultId(pub(crate) u64);

#[derive(Default)]
pub(crate) struct FaultSet {
    next: u64,
    rules: Vec<(FaultId, Fault, u32)>,
}

impl FaultSet {
    pub fn add(&mut self, fault: Fault) -> FaultId {
        self.next += 1;
        let id = FaultId(self.next);
        self.rules.push((id, fault, 0));
        id
    }

    pub fn remove(&mut self, id: FaultId) {
        self.rules.retain(|(i, _, _)| *i != id);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn hits(&self, id: FaultId) -> u32 {
        self.rules
            .iter()
            .find(|(i, _, _)| *i == id)
            .map_or(0, |(_, _, hits)| *hits)
    }

    /// The first rule matching the request, counted as used.
    pub fn take(&mut self, method: &str, path: &str, page: u32) -> Option<FaultKind> {
        let (_, fault, hits) = self
            .rules
            .iter_mut()
            .find(|(_, f, _)| f.matches(method, path, page))?;
        *hits += 1;
        if let Some(n) = fault.times.as_mut() {
            *n -= 1;
        }
        Some(fault.kind.clone())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_and_counting() {
        let mut set = FaultSet::default();
        let id = set.add(Fault::status(500).get("/repos/o/r/issues").page(2).times(1));
        assert_eq!(set.take("GET", "/repos/o/r/issues", 1), None);
        assert_eq!(set.take("POST", "/repos/o/r/issues", 2), None);
        assert_eq!(
            set.take("GET", "/repos/o/r/issues", 2),
            Some(FaultKind::Status(500))
        );
        assert_eq!(set.take("GET", "/repos/o/r/issues", 2), None);
        assert_eq!(set.hits(id), 1);

        set.add(Fault::null_body().path("/repos/o/r/issues/*/comments"));
        assert!(set.take("GET", "/repos/o/r/issues/7/comments", 1).is_some());
        assert!(set.take("GET", "/repos/o/r/issues/7", 1).is_none());

        set.clear();
        set.add(Fault::drop_connection().path_prefix("/repos/o/r/pulls"));
        assert!(set.take("GET", "/repos/o/r/pulls/3/reviews", 1).is_some());
        assert!(set.take("GET", "/repos/o/r/pullsx", 1).is_none());
    }
}
