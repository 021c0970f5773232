//! ETags and conditional requests.

mod common;

use common::{get, get_with, octocrab};
use kelos_fake_github::{FakeGitHub, NewIssue};
use octocrab::Octocrab;
use octocrab::service::middleware::cache::mem::InMemoryCache;
use octocrab::service::middleware::retry::RetryConfig;

#[tokio::test]
async fn repeat_with_if_none_match_is_304_and_free() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo("acme", "widgets");
    let n = repo.add_issue(NewIssue::new("one"));
    let url = format!("{}/repos/acme/widgets/issues?per_page=100", gh.url());

    let first = get(&url).await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("ETag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
    let remaining =
        |r: &common::Raw| -> u32 { r.header("x-ratelimit-remaining").unwrap().parse().unwrap() };
    let before = remaining(&first);

    let again = get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(remaining(&again), before, "a 304 costs nothing");

    // Weak form and lists match too; a stale tag does not.
    let weak = get_with(&url, &[("if-none-match", &format!("\"x\", W/{etag}"))]).await;
    assert_eq!(weak.status, 304);
    let stale = get_with(&url, &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(remaining(&stale), before - 1);

    // A change makes the old tag stale.
    repo.add_comment(n, "alice", "hello");
    let changed = get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);

    assert_eq!(gh.count_status(304), 2);
    let logged: Vec<Option<String>> = gh.requests().into_iter().map(|r| r.if_none_match).collect();
    assert_eq!(logged[0], None);
    assert_eq!(logged[1].as_deref(), Some(etag.as_str()));
}

#[tokio::test]
async fn etags_can_be_turned_off() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets").add_issue(NewIssue::new("one"));
    let url = format!("{}/repos/acme/widgets/issues/1", gh.url());
    let etag = get(&url).await.header("etag").unwrap().to_string();
    gh.set_etags(false);
    let r = get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("etag").is_none());
    // Errors never carry an ETag.
    gh.set_etags(true);
    let missing = get(&format!("{}/repos/acme/widgets/issues/99", gh.url())).await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("etag").is_none());
}

/// octocrab has no ETag handling by default: a 304 surfaces as `Error::GitHub` with status
/// 304. With `.cache(InMemoryCache::new())` it sends `If-None-Match` itself and turns a 304
/// into a 200 with the cached body (and the cached `Link`).
#[tokio::test]
async fn octocrab_and_conditional_requests() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets").seed_issues(150);

    let plain = octocrab(&gh.url());
    let url = format!("{}/repos/acme/widgets/issues?per_page=100", gh.url());
    let etag = get(&url).await.header("etag").unwrap().to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert("if-none-match", etag.parse().unwrap());
    let err = plain
        .get_with_headers::<Vec<octocrab::models::issues::Issue>, _, ()>(
            "/repos/acme/widgets/issues?per_page=100",
            None,
            Some(headers),
        )
        .await
        .unwrap_err();
    assert_eq!(common::github_error(&err).0, 304);

    gh.clear_log();
    let cached = Octocrab::builder()
        .base_uri(gh.url())
        .unwrap()
        .add_retry_config(RetryConfig::None)
        .cache(InMemoryCache::new())
        .build()
        .unwrap();
    let list = || async {
        cached
            .issues("acme", "widgets")
            .list()
            .per_page(100)
            .send()
            .await
            .unwrap()
    };
    let a = list().await;
    let b = list().await;
    assert_eq!(a.items.len(), 100);
    assert_eq!(b.items.len(), 100);
    assert_eq!(a.items[0].number, b.items[0].number);
    assert!(b.next.is_some(), "Link comes back from the cache");
    assert_eq!(gh.count_status(304), 1);
    assert!(gh.requests()[1].if_none_match.is_some());
}
