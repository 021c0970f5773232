//! Every fault kind, targeting, counting, and how octocrab reacts.

mod common;

use std::time::{Duration, Instant};

use common::{get, github_error, octocrab, octocrab_default, try_request};
use kelos_fake_github::{FakeGitHub, Fault, FaultKind};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;

fn setup() -> (FakeGitHub, String) {
    let gh = FakeGitHub::spawn("").unwrap();
    let repo = gh.repo("acme", "widgets");
    repo.seed_issues(150);
    repo.add_comment(7, "alice", "hi");
    let base = format!("{}/repos/acme/widgets", gh.url());
    (gh, base)
}

#[tokio::test]
async fn status_faults_target_a_page_and_count() {
    let (gh, base) = setup();
    let id = gh.add_fault(
        Fault::status(500)
            .get("/repos/acme/widgets/issues")
            .page(2)
            .times(1),
    );

    assert_eq!(
        get(&format!("{base}/issues?per_page=100")).await.status,
        200
    );
    let failed = get(&format!("{base}/issues?per_page=100&page=2")).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["message"], "Server Error");
    assert!(failed.header("x-ratelimit-remaining").is_some());
    assert_eq!(
        get(&format!("{base}/issues?per_page=100&page=2"))
            .await
            .status,
        200
    );
    assert_eq!(gh.fault_hits(id), 1);
    let log = gh.requests();
    assert_eq!(log[1].status, Some(500));
    assert_eq!(log[1].fault.as_deref(), Some("status 500"));

    for code in [502, 401, 403, 404, 503] {
        gh.add_fault(
            Fault::status(code)
                .get("/repos/acme/widgets/issues/7")
                .times(1),
        );
        let r = get(&format!("{base}/issues/7")).await;
        assert_eq!(r.status, code);
        let body = r.json();
        assert!(body["message"].is_string() && body["documentation_url"].is_string());
    }
    assert_eq!(
        get(&format!("{base}/issues/7")).await.json()["number"],
        7,
        "faults with times(1) are used up"
    );
}

#[tokio::test]
async fn octocrab_sees_status_faults_and_default_retries_hide_5xx() {
    let (gh, _) = setup();
    gh.add_fault(
        Fault::status(502)
            .path_prefix("/repos/acme/widgets/issues")
            .times(1),
    );
    let err = octocrab(&gh.url())
        .issues("acme", "widgets")
        .get(3)
        .await
        .unwrap_err();
    assert_eq!(github_error(&err).0, 502);

    gh.add_fault(
        Fault::status(401)
            .get("/repos/acme/widgets/issues/3")
            .times(1),
    );
    let err = octocrab(&gh.url())
        .issues("acme", "widgets")
        .get(3)
        .await
        .unwrap_err();
    assert_eq!(github_error(&err), (401, "Bad credentials".into()));

    // octocrab's default RetryConfig::Simple(3) retries 5xx immediately: one 500 is invisible.
    gh.clear_log();
    gh.add_fault(
        Fault::status(500)
            .get("/repos/acme/widgets/issues/3")
            .times(1),
    );
    let issue = octocrab_default(&gh.url())
        .issues("acme", "widgets")
        .get(3)
        .await
        .unwrap();
    assert_eq!(issue.number, 3);
    assert_eq!(gh.count_exact("GET", "/repos/acme/widgets/issues/3"), 2);
}

#[tokio::test]
async fn malformed_and_null_bodies() {
    let (gh, base) = setup();
    gh.add_fault(
        Fault::malformed_json()
            .get("/repos/acme/widgets/issues")
            .times(1),
    );
    let r = get(&format!("{base}/issues")).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(r.header("etag").is_none());

    gh.add_fault(Fault::null_body().get("/repos/acme/widgets/issues/*/comments"));
    let r = get(&format!("{base}/issues/7/comments")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"null");
    assert_eq!(
        get(&format!("{base}/issues/7")).await.status,
        200,
        "other paths unaffected"
    );

    // octocrab: both are errors (not empty pages), without retries even by default.
    let octo = octocrab_default(&gh.url());
    gh.add_fault(
        Fault::malformed_json()
            .get("/repos/acme/widgets/issues")
            .times(1),
    );
    let err = octo
        .issues("acme", "widgets")
        .list()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, octocrab::Error::Serde { .. }), "{err:?}");
    let err = octo
        .issues("acme", "widgets")
        .list_comments(7)
        .send()
        .await
        .unwrap_err();
    // A `null` page: "error decoding pagination result, top-level attribute unknown".
    assert!(matches!(err, octocrab::Error::Other { .. }), "{err:?}");
    gh.add_fault(Fault::null_body().get("/repos/acme/widgets/issues/8"));
    let err = octo.issues("acme", "widgets").get(8).await.unwrap_err();
    assert!(matches!(err, octocrab::Error::Json { .. }), "{err:?}");
}

#[tokio::test]
async fn delay_and_timeouts() {
    let (gh, base) = setup();
    gh.add_fault(Fault::delay(Duration::from_millis(400)).get("/repos/acme/widgets/issues/7"));
    let started = Instant::now();
    let r = get(&format!("{base}/issues/7")).await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A read timeout shorter than the delay fails the call (and the default retries try
    // again, each timing out).
    let octo = Octocrab::builder()
        .base_uri(gh.url())
        .unwrap()
        .add_retry_config(RetryConfig::None)
        .set_read_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let err = octo.issues("acme", "widgets").get(7).await.unwrap_err();
    // `Service(hyper_util … SendRequest, hyper::Error(Io, TimedOut))`.
    assert!(matches!(err, octocrab::Error::Service { .. }), "{err:?}");
}

#[tokio::test]
async fn dropped_connections() {
    let (gh, base) = setup();
    let id = gh.add_fault(Fault::drop_connection().get("/repos/acme/widgets/issues/7/comments"));
    let err = try_request("GET", &format!("{base}/issues/7/comments"), &[], None)
        .await
        .err()
        .expect("no response");
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err:?}");
    let log = gh.requests();
    assert_eq!(log.last().unwrap().status, None);
    assert_eq!(
        log.last().unwrap().fault.as_deref(),
        Some("dropped connection")
    );
    assert_eq!(get(&format!("{base}/issues/7")).await.status, 200);

    let err = octocrab(&gh.url())
        .issues("acme", "widgets")
        .list_comments(7)
        .send()
        .await
        .unwrap_err();
    // `Service(hyper_util … SendRequest, hyper::Error(IncompleteMessage))`.
    assert!(matches!(err, octocrab::Error::Service { .. }), "{err:?}");

    // octocrab's default retries hide a single dropped connection.
    gh.remove_fault(id);
    gh.add_fault(
        Fault::new(FaultKind::DropConnection)
            .get("/repos/acme/widgets/issues/7/comments")
            .times(1),
    );
    gh.clear_log();
    let page = octocrab_default(&gh.url())
        .issues("acme", "widgets")
        .list_comments(7)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(gh.count("GET", "/repos/acme/widgets/issues/7/comments"), 2);
}

#[tokio::test]
async fn method_and_prefix_matching() {
    let (gh, base) = setup();
    gh.add_fault(
        Fault::status(500)
            .method("POST")
            .path_prefix("/repos/acme/widgets/issues"),
    );
    assert_eq!(get(&format!("{base}/issues/7/comments")).await.status, 200);
    let r = common::request(
        "POST",
        &format!("{base}/issues/7/comments"),
        &[],
        Some(r#"{"body":"x"}"#),
    )
    .await;
    assert_eq!(r.status, 500);
    gh.clear_faults();
    let r = common::request(
        "POST",
        &format!("{base}/issues/7/comments"),
        &[],
        Some(r#"{"body":"x"}"#),
    )
    .await;
    assert_eq!(r.status, 201);
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/issues/comments/{}", r.json()["id"]))
    );
}
