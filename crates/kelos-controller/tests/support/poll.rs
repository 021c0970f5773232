//! Polling until something shows up in the API (or anywhere else).
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(30);

/// Polls `f` every 100 ms until it gives a value; panics after [`WAIT`].
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
