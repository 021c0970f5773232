//! Discovery is complete or an error: every way GitHub (or the network) can fail gives `Err`,
//! never a shorter list, and rate limits are honoured without spinning.

mod discovery_support;

use std::time::Duration;

use chrono::Utc;
use discovery_support::*;
use kelos_fake_github::{FakeGitHub, Fault, NewIssue, NewPull, NewReview};
use kelos_spawner::item::DiscoveryError;
use serde_json::json;

/// A fake with `n` open issues, each with one comment.
async fn seeded(n: usize) -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    for number in repo.seed_issues(n) {
        repo.add_comment(number, "alice", "hello");
    }
    gh
}

async fn discover_err(gh: &FakeGitHub) -> DiscoveryError {
    source(&client(gh), &issues_spec(json!({})))
        .discover()
        .await
        .expect_err("discovery must fail")
}

#[tokio::test]
async fn server_error_fails_without_retrying() {
    let gh = seeded(3).await;
    gh.add_fault(Fault::status(500).get("/repos/acme/widgets/issues"));
    let (client, metrics) = client_with_metrics(&gh);
    let err = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::Status { status: 500, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), "status");
    assert_eq!(
        gh.count("GET", "/repos/acme/widgets/issues"),
        1,
        "no immediate retries"
    );
    assert_eq!(metrics.github_requests("500"), 1);
}

#[tokio::test]
async fn unauthorised_is_an_error() {
    let gh = seeded(2).await;
    gh.require_token(Some("the-right-token"));
    let err = discover_err(&gh).await;
    assert!(
        matches!(&err, DiscoveryError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(
        !err.to_string().contains(TOKEN),
        "no token in errors: {err}"
    );
}

#[tokio::test]
async fn primary_rate_limit_is_honoured_without_spinning() {
    let gh = seeded(2).await;
    let reset = Utc::now() + chrono::Duration::seconds(120);
    gh.set_rate_limit_reset(reset);
    gh.set_rate_limit_remaining(0);
    let (client, metrics) = client_with_metrics(&gh);
    let src = source(&client, &issues_spec(json!({})));
    let err = src.discover().await.unwrap_err();
    let DiscoveryError::RateLimited {
        retry_after_secs, ..
    } = err
    else {
        panic!("expected RateLimited, got {err}");
    };
    assert!(
        (100..=121).contains(&retry_after_secs),
        "{retry_after_secs}"
    );
    assert_eq!(metrics.github_requests("403"), 1);
    assert_eq!(metrics.rate_limit_remaining(), 0);

    // The client refuses to call GitHub again before the reset: no request reaches it.
    let not_before = client.not_before().expect("a rate limit is in force");
    assert!((not_before - reset).num_seconds().abs() <= 1);
    assert!(client.rate_limit_wait().unwrap() > Duration::from_secs(100));
    let requests_before = gh.requests().len();
    for _ in 0..3 {
        assert!(matches!(
            src.discover().await,
            Err(DiscoveryError::RateLimited { .. })
        ));
        assert!(matches!(
            src.recheck("1").await,
            Err(DiscoveryError::RateLimited { .. })
        ));
        assert!(client.create_comment(1, "x").await.is_err());
    }
    assert_eq!(gh.requests().len(), requests_before, "never spin");
}

#[tokio::test]
async fn primary_rate_limit_fault_and_exhaustion_on_a_successful_response() {
    let gh = seeded(2).await;
    gh.add_fault(Fault::rate_limited().get("/repos/acme/widgets/issues"));
    let err = discover_err(&gh).await;
    assert!(matches!(err, DiscoveryError::RateLimited { .. }), "{err}");

    // The budget runs out on a successful answer: the next request is not sent.
    let gh = seeded(3).await;
    gh.set_rate_limit(2);
    // One request at a time, so "the next request" is well defined.
    let client = client_with(config(&gh).concurrency(1));
    let err = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::RateLimited { .. }), "{err}");
    assert_eq!(
        gh.requests().len(),
        2,
        "stopped at the last request of the budget"
    );
    assert!(client.not_before().is_some());
}

#[tokio::test]
async fn secondary_rate_limit_honours_retry_after() {
    let gh = seeded(2).await;
    gh.add_fault(Fault::secondary_rate_limit(30).path_prefix("/repos/acme/widgets/issues"));
    let (client, metrics) = client_with_metrics(&gh);
    let err = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DiscoveryError::RateLimited {
                retry_after_secs: 30,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(metrics.github_requests("429"), 1);
    let wait = client.rate_limit_wait().unwrap();
    assert!(
        wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
}

#[tokio::test]
async fn malformed_json_and_null_bodies_are_errors_not_empty_lists() {
    let gh = seeded(2).await;
    let id = gh.add_fault(Fault::malformed_json().get("/repos/acme/widgets/issues"));
    let err = discover_err(&gh).await;
    assert!(matches!(err, DiscoveryError::Malformed { .. }), "{err}");
    gh.remove_fault(id);

    gh.add_fault(Fault::null_body().get("/repos/acme/widgets/issues"));
    let err = discover_err(&gh).await;
    assert!(
        matches!(&err, DiscoveryError::Malformed { reason, .. } if reason.contains("null")),
        "{err}"
    );
    assert_eq!(err.kind(), "malformed");
}

#[tokio::test]
async fn null_comments_body_is_an_error() {
    let gh = seeded(2).await;
    gh.add_fault(Fault::null_body().get("/repos/acme/widgets/issues/*/comments"));
    let err = discover_err(&gh).await;
    assert!(matches!(err, DiscoveryError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn a_timeout_is_a_transport_error() {
    let gh = seeded(2).await;
    gh.add_fault(Fault::delay(Duration::from_secs(5)).get("/repos/acme/widgets/issues"));
    let client = client_with(config(&gh).request_timeout(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let err = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DiscoveryError::Transport { reason, .. } if reason.contains("timed out")),
        "{err}"
    );
    assert_eq!(err.kind(), "transport");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_delay_within_the_timeout_is_fine() {
    let gh = seeded(2).await;
    gh.add_fault(
        Fault::delay(Duration::from_millis(200))
            .get("/repos/acme/widgets/issues")
            .times(1),
    );
    let client = client_with(config(&gh).request_timeout(Duration::from_secs(5)));
    let items = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let gh = seeded(2).await;
    gh.add_fault(Fault::drop_connection().get("/repos/acme/widgets/issues"));
    let (client, metrics) = client_with_metrics(&gh);
    let err = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Transport { .. }), "{err}");
    assert_eq!(metrics.github_requests("error"), 1);
}

#[tokio::test]
async fn failure_on_page_two_of_three() {
    let gh = seeded(250).await;
    gh.add_fault(Fault::status(502).get("/repos/acme/widgets/issues").page(2));
    let err = discover_err(&gh).await;
    assert!(
        matches!(&err, DiscoveryError::Status { status: 502, .. }),
        "{err}"
    );
    let pages: Vec<u32> = gh
        .requests()
        .iter()
        .filter(|r| r.api_path == "/repos/acme/widgets/issues")
        .map(|r| r.page)
        .collect();
    assert_eq!(pages, vec![1, 2]);
}

#[tokio::test]
async fn a_failed_comments_lookup_fails_discovery() {
    let gh = seeded(5).await;
    gh.add_fault(Fault::status(500).get("/repos/acme/widgets/issues/3/comments"));
    let err = discover_err(&gh).await;
    assert!(
        matches!(&err, DiscoveryError::Status { status: 500, url, .. } if url.contains("/issues/3/comments")),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_reviews_lookup_fails_discovery() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    for i in 0..4 {
        let n = repo.add_pull(NewPull::new(format!("pr {i}"), format!("b{i}")));
        repo.add_review(n, NewReview::approved("bob"));
    }
    gh.add_fault(Fault::drop_connection().get("/repos/acme/widgets/pulls/2/reviews"));
    let err = source(&client(&gh), &pulls_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Transport { .. }), "{err}");

    gh.clear_faults();
    gh.add_fault(Fault::status(500).path("/repos/acme/widgets/pulls/*/comments"));
    let err = source(&client(&gh), &pulls_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 500, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn page_cap_truncation_is_an_error() {
    // The original's cap: 10 pages of 100. 1001 open issues do not fit.
    let gh = FakeGitHub::start().await;
    gh.repo(OWNER, REPO).seed_issues(1001);
    let err = discover_err(&gh).await;
    assert!(
        matches!(&err, DiscoveryError::Truncated { pages: 10, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), "truncated");
    assert_eq!(gh.count("GET", "/repos/acme/widgets/issues"), 10);

    // Exactly at the cap is complete; one more is not.
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    repo.seed_issues(200);
    let capped = || client_with(config(&gh).max_pages(2));
    let items = source(&capped(), &issues_spec(json!({})))
        .discover()
        .await
        .unwrap();
    assert_eq!(items.len(), 200);
    repo.add_issue(NewIssue::new("one too many"));
    let err = source(&capped(), &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Truncated { pages: 2, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_repository_is_an_error_and_an_empty_one_is_authoritative() {
    let gh = FakeGitHub::start().await;
    let err = discover_err(&gh).await;
    assert!(
        matches!(err, DiscoveryError::Status { status: 404, .. }),
        "{err}"
    );
    gh.repo(OWNER, REPO);
    assert!(discover(&gh, &issues_spec(json!({}))).await.is_empty());
}

#[tokio::test]
async fn invalid_configuration_is_a_config_error() {
    let gh = FakeGitHub::start().await;
    let c = client(&gh);
    let mixed = issues_spec(json!({
        "commentPolicy": {"triggerComment": "/a"},
        "triggerComment": "/b"
    }));
    let err = kelos_spawner::github::GitHubSource::from_spec(&mixed, c.clone()).unwrap_err();
    assert!(
        err.to_string()
            .contains("commentPolicy cannot be used with triggerComment or excludeComments"),
        "{err}"
    );
    let cron = spec(json!({"cron": {"schedule": "0 9 * * *"}}));
    assert!(kelos_spawner::github::GitHubSource::from_spec(&cron, c).is_err());
    // A token that cannot be an HTTP header value is a config error, not a panic, and the
    // error does not show it.
    let mut cfg = config(&gh);
    cfg.token = kelos_spawner::github::TokenSource::Static("secret\nvalue".into());
    let err = source(&client_with(cfg), &issues_spec(json!({})))
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Config(_)), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}
