//! Test-facing helpers change what the API answers; the server outlives per-test runtimes.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::get;
use kelos_fake_github::{
    FakeGitHub, ItemState, NewComment, NewIssue, NewPull, NewReview, TeamMembership,
};

#[tokio::test]
async fn helpers_show_through_the_api() {
    let gh = FakeGitHub::start().await;
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    gh.set_clock(Some(t0));
    let repo = gh.repo("acme", "widgets");
    let n = repo.add_issue(NewIssue::new("Fix").label("kelos/work"));
    let pr = repo.add_pull(NewPull::new("Feature", "feat").draft(true).author("carol"));
    let base = format!("{}/repos/acme/widgets", gh.url());

    let issue = get(&format!("{base}/issues/{n}")).await.json();
    assert_eq!(issue["created_at"], "2026-01-01T00:00:00Z");
    assert_eq!(issue["state"], "open");
    assert_eq!(issue["state_reason"], serde_json::Value::Null);

    gh.set_clock(Some(t0 + Duration::hours(1)));
    repo.remove_label(n, "KELOS/WORK");
    repo.add_label(n, "kelos/needs-input");
    repo.close(n);
    let issue = get(&format!("{base}/issues/{n}")).await.json();
    assert_eq!(issue["state"], "closed");
    assert_eq!(issue["state_reason"], "completed");
    assert_eq!(issue["closed_by"]["login"], "acme");
    assert_eq!(issue["updated_at"], "2026-01-01T01:00:00Z");
    assert_eq!(issue["labels"][0]["name"], "kelos/needs-input");
    repo.reopen(n);
    assert_eq!(
        get(&format!("{base}/issues/{n}")).await.json()["state_reason"],
        "reopened"
    );

    // `since` and `sort=updated` see the change.
    let since = get(&format!("{base}/issues?since=2026-01-01T00:30:00Z"))
        .await
        .json();
    assert_eq!(since.as_array().unwrap().len(), 1);
    let by_updated = get(&format!("{base}/issues?sort=updated&direction=desc"))
        .await
        .json();
    assert_eq!(by_updated[0]["number"], n);

    // Drafts, pushes and reviews.
    repo.set_draft(pr, false);
    let old_head = repo.get_issue(pr).unwrap().pull.unwrap().head_sha;
    repo.add_review(pr, NewReview::approved("bob"));
    repo.push_head(pr, "3333333333333333333333333333333333333333");
    repo.add_review(pr, NewReview::changes_requested("dave"));
    let p = get(&format!("{base}/pulls/{pr}")).await.json();
    assert_eq!(p["draft"], false);
    assert_eq!(p["head"]["sha"], "3333333333333333333333333333333333333333");
    assert_eq!(p["mergeable_state"], "clean");
    let reviews = get(&format!("{base}/pulls/{pr}/reviews")).await.json();
    assert_eq!(reviews[0]["commit_id"], old_head);
    assert_eq!(
        reviews[1]["commit_id"],
        "3333333333333333333333333333333333333333"
    );
    let as_issue = get(&format!("{base}/issues/{pr}")).await.json();
    assert_eq!(as_issue["draft"], false);
    assert!(as_issue["pull_request"]["url"].is_string());

    // Comments with explicit times and associations; edits and deletes.
    let c = repo.add_comment_with(
        n,
        NewComment::new("erin", "/kelos pick-up")
            .created_at(t0 + Duration::minutes(5))
            .author_association("CONTRIBUTOR"),
    );
    repo.set_permission("frank", "write");
    let c2 = repo.add_comment(n, "frank", "later");
    let comments = get(&format!("{base}/issues/{n}/comments")).await.json();
    assert_eq!(comments[0]["created_at"], "2026-01-01T00:05:00Z");
    assert_eq!(comments[0]["author_association"], "CONTRIBUTOR");
    assert_eq!(comments[1]["author_association"], "COLLABORATOR");
    repo.edit_comment(c, "/kelos needs-input");
    repo.delete_comment(c2);
    let comments = get(&format!("{base}/issues/{n}/comments")).await.json();
    assert_eq!(comments.as_array().unwrap().len(), 1);
    assert_eq!(comments[0]["body"], "/kelos needs-input");

    // Teams: pending memberships are reported as such; removal gives 404.
    gh.set_team_membership(
        "acme",
        "platform",
        "gina",
        Some(TeamMembership {
            role: "maintainer".into(),
            state: "pending".into(),
        }),
    );
    let m = get(&format!(
        "{}/orgs/acme/teams/platform/memberships/gina",
        gh.url()
    ))
    .await;
    assert_eq!(m.json()["state"], "pending");
    assert_eq!(m.json()["role"], "maintainer");
    gh.set_team_membership("acme", "platform", "gina", None);
    let m = get(&format!(
        "{}/orgs/acme/teams/platform/memberships/gina",
        gh.url()
    ))
    .await;
    assert_eq!(m.status, 404);

    // Deleting an issue makes it 404; removing the repo makes everything 404.
    repo.delete_issue(n);
    assert_eq!(get(&format!("{base}/issues/{n}")).await.status, 404);
    assert_eq!(repo.get_issue(pr).unwrap().state, ItemState::Open);
    gh.remove_repo("acme", "widgets");
    assert_eq!(get(&format!("{base}/issues")).await.status, 404);
}

#[tokio::test]
async fn invalid_parameters_are_422() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets");
    let base = format!("{}/repos/acme/widgets", gh.url());
    for q in [
        "state=bogus",
        "sort=bogus",
        "direction=up",
        "since=yesterday",
    ] {
        let r = get(&format!("{base}/issues?{q}")).await;
        assert_eq!(r.status, 422, "{q}");
        assert_eq!(r.json()["message"], "Validation Failed");
    }
    assert_eq!(get(&format!("{base}/pulls?state=bogus")).await.status, 422);
    let r = common::request(
        "POST",
        &format!("{base}/issues/1/comments"),
        &[],
        Some("{}"),
    )
    .await;
    assert_eq!(r.status, 404, "no issue 1");
    gh.repo("acme", "widgets").add_issue(NewIssue::new("x"));
    let r = common::request("POST", &format!("{base}/issues/1/comments"), &[], Some("{")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Problems parsing JSON");
}

/// Each `#[tokio::test]` has its own runtime; the fake has its own thread, so one fake can
/// serve several runtimes in turn, and dropping it stops the server.
#[test]
fn survives_runtimes_and_stops_on_drop() {
    let gh = FakeGitHub::spawn("").unwrap();
    gh.repo("acme", "widgets").seed_issues(3);
    let url = format!("{}/repos/acme/widgets/issues", gh.url());
    for _ in 0..2 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let status = rt.block_on(async { get(&url).await.status });
        assert_eq!(status, 200);
    }
    let addr = gh.addr();
    drop(gh);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "server stopped"
    );
}
