//! The GitHub client itself: conditional requests (the ETag figures for an idle cycle over 300
//! open issues), GitHub Enterprise base URLs, the token file re-read on every use, the agent's
//! identity, and the comment calls reporting uses.

mod discovery_support;

use discovery_support::*;
use kelos_fake_github::{FakeGitHub, NewIssue};
use kelos_spawner::github::{GitHubSource, REPORT_MARKER, TokenSource};
use kelos_spawner::item::{DiscoveryError, WorkItem};
use serde_json::json;

struct Cycle {
    requests: usize,
    not_modified: usize,
    ok: usize,
    items: Vec<WorkItem>,
}

async fn cycle(gh: &FakeGitHub, src: &GitHubSource) -> Cycle {
    gh.clear_log();
    let items = src.discover().await.expect("discovery succeeds");
    Cycle {
        requests: gh.requests().len(),
        not_modified: gh.count_status(304),
        ok: gh.count_status(200),
        items,
    }
}

#[tokio::test]
async fn idle_cycle_over_300_open_issues_with_and_without_etags() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    for n in repo.seed_issues(300) {
        if n % 3 == 0 {
            repo.add_comment(n, "alice", &format!("comment on {n}"));
        }
    }
    let spec = issues_spec(json!({}));

    let (client_on, metrics) = client_with_metrics(&gh);
    let on = source(&client_on, &spec);
    let cold = cycle(&gh, &on).await;
    let idle = cycle(&gh, &on).await;

    let off = source(&client_with(config(&gh).etags(false)), &spec);
    let off1 = cycle(&gh, &off).await;
    let off2 = cycle(&gh, &off).await;

    eprintln!(
        "ETag figures, idle discovery of 300 open issues (3 listing pages + 300 comment listings):"
    );
    eprintln!(
        "  ETags on,  first cycle: {} requests, {} answered 200, {} answered 304",
        cold.requests, cold.ok, cold.not_modified
    );
    eprintln!(
        "  ETags on,  idle cycle:  {} requests, {} answered 200, {} answered 304",
        idle.requests, idle.ok, idle.not_modified
    );
    eprintln!(
        "  ETags off, first cycle: {} requests, {} answered 200, {} answered 304",
        off1.requests, off1.ok, off1.not_modified
    );
    eprintln!(
        "  ETags off, idle cycle:  {} requests, {} answered 200, {} answered 304",
        off2.requests, off2.ok, off2.not_modified
    );
    eprintln!(
        "  client cache: {} entries; metrics: {} × 200, {} × 304",
        client_on.etag_cache_len(),
        metrics.github_requests("200"),
        metrics.github_requests("304")
    );

    assert_eq!(cold.items.len(), 300);
    assert_eq!(cold.requests, 303);
    assert_eq!((cold.ok, cold.not_modified), (303, 0));
    assert_eq!(idle.requests, 303);
    assert_eq!(
        (idle.ok, idle.not_modified),
        (0, 303),
        "every request of the idle cycle is a 304"
    );
    assert_eq!(idle.items, cold.items, "304s stand for the cached bodies");
    assert_eq!(off2.requests, 303);
    assert_eq!((off2.ok, off2.not_modified), (303, 0));
    assert_eq!(off2.items, cold.items);
    assert_eq!(metrics.github_requests("304"), 303);
    assert!(
        gh.requests().iter().all(|r| r.if_none_match.is_none()),
        "ETags off sends no If-None-Match"
    );

    // A change shows up at once: only the changed URLs answer 200 (issue 7's comments, and
    // the listing page that carries its comment count and updated_at).
    repo.add_comment(7, "bob", "new information");
    let after = cycle(&gh, &on).await;
    assert_eq!((after.ok, after.not_modified), (2, 301));
    let seven = after.items.iter().find(|i| i.number == 7).unwrap();
    assert_eq!(seven.comments, "new information");
}

#[tokio::test]
async fn github_enterprise_base_url_keeps_its_path() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    assert!(gh.url().ends_with("/api/v3"));
    let repo = gh.repo(OWNER, REPO);
    let numbers = repo.seed_issues(120);
    repo.add_comment(numbers[0], "alice", "hi");
    let client = client(&gh);
    let items = source(&client, &issues_spec(json!({})))
        .discover()
        .await
        .unwrap();
    assert_eq!(items.len(), 120);
    let reqs = gh.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|r| r.path.starts_with("/api/v3/")),
        "{:?}",
        reqs.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(
        reqs.iter()
            .filter(|r| r.path == "/api/v3/repos/acme/widgets/issues")
            .map(|r| r.page)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    // Trailing slash tolerated.
    let slash = client_with(config(&gh).base_url(format!("{}/", gh.url())));
    assert_eq!(slash.base_url(), gh.url());
    let id = slash.create_comment(numbers[0], "status").await.unwrap();
    assert!(gh.requests().iter().any(|r| r.method == "POST"
        && r.path == format!("/api/v3/repos/acme/widgets/issues/{}/comments", numbers[0])));
    assert!(id > 0);
}

#[tokio::test]
async fn token_file_is_reread_on_every_use() {
    let gh = FakeGitHub::start().await;
    gh.repo(OWNER, REPO).add_issue(NewIssue::new("x"));
    let dir = std::env::temp_dir().join(format!("kelos-discovery-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("GITHUB_TOKEN");
    let _ = std::fs::remove_file(&path);
    let mut cfg = config(&gh);
    cfg.token = TokenSource::File {
        path: path.clone(),
        fallback: Some("env-token".into()),
    };
    let client = client_with(cfg);
    let src = source(&client, &issues_spec(json!({})));
    let auth = |gh: &FakeGitHub| {
        let mut seen: Vec<String> = gh
            .requests()
            .iter()
            .map(|r| r.authorization.clone().unwrap_or_default())
            .collect();
        seen.dedup();
        gh.clear_log();
        seen
    };

    src.discover().await.unwrap();
    assert_eq!(
        auth(&gh),
        vec!["Bearer env-token"],
        "missing file: the env fallback"
    );
    std::fs::write(&path, "installation-token-1\n").unwrap();
    src.discover().await.unwrap();
    assert_eq!(auth(&gh), vec!["Bearer installation-token-1"]);
    std::fs::write(&path, "installation-token-2").unwrap();
    src.discover().await.unwrap();
    assert_eq!(auth(&gh), vec!["Bearer installation-token-2"]);

    // Only the current token authenticates.
    gh.require_token(Some("installation-token-3"));
    let err = src.discover().await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 401, .. }),
        "{err}"
    );
    std::fs::write(&path, "installation-token-3").unwrap();
    src.discover().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!format!("{client:?}").contains("env-token"));
}

#[tokio::test]
async fn no_token_sends_no_authorization() {
    let gh = FakeGitHub::start().await;
    gh.repo(OWNER, REPO).add_issue(NewIssue::new("x"));
    let mut cfg = config(&gh);
    cfg.token = TokenSource::None;
    let items = source(&client_with(cfg), &issues_spec(json!({})))
        .discover()
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert!(gh.requests().iter().all(|r| r.authorization.is_none()));
}

#[tokio::test]
async fn viewer_login_is_asked_once_and_none_for_installation_tokens() {
    let gh = FakeGitHub::start().await;
    gh.set_authenticated_user("kelos-agent");
    let client = client(&gh);
    assert_eq!(
        client.viewer_login().await.unwrap().as_deref(),
        Some("kelos-agent")
    );
    assert_eq!(
        client.viewer_login().await.unwrap().as_deref(),
        Some("kelos-agent")
    );
    assert_eq!(gh.count_exact("GET", "/user"), 1);

    // GitHub answers 403 to installation tokens on /user: unknown, not an error.
    gh.add_fault(kelos_fake_github::Fault::status(403).get("/user"));
    let other = client_with(config(&gh));
    assert_eq!(other.viewer_login().await.unwrap(), None);
    gh.clear_faults();
    gh.add_fault(kelos_fake_github::Fault::status(500).get("/user"));
    let third = client_with(config(&gh));
    assert!(third.viewer_login().await.is_err());
}

#[tokio::test]
async fn create_and_update_comment() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_issue(NewIssue::new("x"));
    let client = client(&gh);
    let body = format!("Task `t` has been **accepted**.\n{REPORT_MARKER}");
    let id = client.create_comment(n, &body).await.unwrap();
    let comments = repo.comments(n);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, id);
    assert_eq!(comments[0].body, body);

    client.update_comment(id, "succeeded").await.unwrap();
    assert_eq!(repo.comments(n)[0].body, "succeeded");

    let err = client.create_comment(9999, "x").await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 404, .. }),
        "{err}"
    );
    let err = client.update_comment(424242, "x").await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 404, .. }),
        "{err}"
    );
}
