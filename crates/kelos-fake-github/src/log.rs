//! The request log tests assert on.

use chrono::{DateTime, Utc};

/// One request the fake received and what it answered.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// The path as received (with a GHE prefix such as `/api/v3` if there is one).
    pub path: String,
    /// The API path (`/repos/o/r/issues`), prefix removed.
    pub api_path: String,
    /// The raw query string (`state=open&per_page=100`), empty when there is none.
    pub query: String,
    /// The `page` query parameter (1 when absent).
    pub page: u32,
    pub if_none_match: Option<String>,
    /// The `Authorization` header as sent (test tokens only, so it is kept verbatim).
    pub authorization: Option<String>,
    pub accept: Option<String>,
    /// The request body (POST/PATCH payloads), lossily decoded.
    pub body: String,
    /// The status answered; `None` when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// The injected fault that shaped the answer, if any.
    pub fault: Option<String>,
    pub at: DateTime<Utc>,
}

impl RequestRecord {
    /// The value of a query parameter (decoded).
    pub fn query_param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    pub fn has_authorization(&self) -> bool {
        self.authorization.is_some()
    }
}
