//! Rate-limit headers and the primary (403) and secondary (429) limits.

mod common;

use chrono::Utc;
use common::{get, github_error, octocrab, octocrab_default};
use kelos_fake_github::{FakeGitHub, Fault, NewIssue};

#[tokio::test]
async fn headers_on_every_response_and_budget_exhaustion() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets").add_issue(NewIssue::new("one"));
    gh.set_rate_limit(3);
    let url = format!("{}/repos/acme/widgets/issues", gh.url());

    for expected in [2, 1, 0] {
        let r = get(&url).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(expected.to_string().as_str())
        );
        assert_eq!(
            r.header("x-ratelimit-used"),
            Some((3 - expected).to_string().as_str())
        );
        assert_eq!(r.header("x-ratelimit-resource"), Some("core"));
        let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset > Utc::now().timestamp());
    }
    let limited = get(&url).await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let body = limited.json();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded for"),
        "{body}"
    );
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .contains("rate-limit")
    );
    // Errors carry the headers too.
    assert_eq!(
        get(&format!("{}/nope", gh.url()))
            .await
            .header("x-ratelimit-limit"),
        Some("3")
    );

    // octocrab: a 403 is not retried by default; the error carries the reset time.
    let err = octocrab_default(&gh.url())
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap_err();
    let (status, message) = github_error(&err);
    assert_eq!(status, 403);
    assert!(message.starts_with("API rate limit exceeded"));
    match &err {
        octocrab::Error::GitHub { source, .. } => {
            assert_eq!(source.rate_limit_reset, Some(gh.rate_limit().reset as u64));
        }
        _ => unreachable!(),
    }

    // The budget refills at the reset time.
    gh.set_rate_limit_reset(Utc::now() - chrono::Duration::seconds(1));
    let r = get(&url).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("2"));
    assert_eq!(gh.rate_limit().remaining, 2);
}

#[tokio::test]
async fn injected_primary_and_secondary_limits() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets");
    let url = format!("{}/repos/acme/widgets/issues", gh.url());

    gh.add_fault(
        Fault::rate_limited()
            .get("/repos/acme/widgets/issues")
            .times(1),
    );
    let r = get(&url).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );
    assert_eq!(get(&url).await.status, 200);

    gh.add_fault(Fault::secondary_rate_limit(7).get("/repos/acme/widgets/issues"));
    let r = get(&url).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );

    // With retries off octocrab reports the 429 …
    gh.clear_log();
    let err = octocrab(&gh.url())
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(github_error(&err).0, 429);
    assert_eq!(gh.count("GET", "/repos/acme/widgets/issues"), 1);
    // … but octocrab's default RetryConfig::Simple(3) retries a 429 at once, three times,
    // ignoring Retry-After.
    gh.clear_log();
    let err = octocrab_default(&gh.url())
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(github_error(&err).0, 429);
    assert_eq!(gh.count("GET", "/repos/acme/widgets/issues"), 4);
}
