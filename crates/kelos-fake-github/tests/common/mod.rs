//! Shared test helpers: a raw HTTP client (hyper, no TLS) and octocrab clients for the fake.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;

/// A raw HTTP answer.
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Deserializes the body into `T` (an octocrab model).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "does not deserialize into {}: {e}\n{}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one request; `Err` when the connection fails (e.g. a dropped-connection fault).
pub async fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Raw, hyper_util::client::legacy::Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(url)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "kelos-fake-github-tests");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap();
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(Raw {
        status,
        headers,
        body,
    })
}

pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Raw {
    try_request(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

pub async fn get(url: &str) -> Raw {
    request("GET", url, &[], None).await
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Raw {
    request("GET", url, headers, None).await
}

/// octocrab against the fake, with octocrab's defaults (which include `RetryConfig::Simple(3)`).
pub fn octocrab_default(base: &str) -> Octocrab {
    Octocrab::builder().base_uri(base).unwrap().build().unwrap()
}

/// octocrab against the fake with retries off, so every fault is visible.
pub fn octocrab(base: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(base)
        .unwrap()
        .add_retry_config(RetryConfig::None)
        .build()
        .unwrap()
}

/// The HTTP status of an octocrab GitHub error, and its message.
pub fn github_error(err: &octocrab::Error) -> (u16, String) {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            (source.status_code.as_u16(), source.message.clone())
        }
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}
