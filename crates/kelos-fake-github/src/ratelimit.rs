//! The primary ("core") rate limit: a budget of requests per window, reported on every
//! response in GitHub's `X-RateLimit-*` headers.

use chrono::{DateTime, Utc};

/// GitHub's documentation link for rate-limit errors.
pub(crate) const RATE_LIMIT_DOCS: &str =
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api";
pub(crate) const SECONDARY_RATE_LIMIT_DOCS: &str = "https://docs.github.com/free-pro-team@latest/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// A snapshot of the budget, as the headers report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitStatus {
    pub limit: u32,
    pub remaining: u32,
    pub used: u32,
    /// Epoch seconds at which the budget refills.
    pub reset: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    pub reset: i64,
    /// Seconds between refills.
    pub window: i64,
}

impl RateLimit {
    pub fn new(limit: u32, now: DateTime<Utc>) -> Self {
        RateLimit {
            limit,
            remaining: limit,
            reset: now.timestamp() + 3600,
            window: 3600,
        }
    }

    /// Refills the budget when the reset time has passed.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        if now.timestamp() >= self.reset {
            self.remaining = self.limit;
            self.reset = now.timestamp() + self.window;
        }
    }

    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }

    pub fn consume(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
    }

    pub fn status(&self) -> RateLimitStatus {
        RateLimitStatus {
            limit: self.limit,
            remaining: self.remaining,
            used: self.limit.saturating_sub(self.remaining),
            reset: self.reset,
        }
    }
}

impl RateLimitStatus {
    /// The `X-RateLimit-*` headers for this snapshot.
    pub(crate) fn headers(&self) -> [(&'static str, String); 5] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
            ("x-ratelimit-used", self.used.to_string()),
            ("x-ratelimit-resource", "core".to_string()),
        ]
    }
}
