//! `githubPullRequests` discovery against the fake GitHub: spawner-reference §2.2 filters,
//! review state on the current head commit, comment policy over conversation comments,
//! inline comments and review bodies, trigger times, and `recheck`.

mod discovery_support;

use discovery_support::*;
use kelos_fake_github::{FakeGitHub, NewComment, NewPull, NewReview, NewReviewComment};
use kelos_spawner::item::{DiscoveryError, Recheck, SourceKind};
use serde_json::json;

#[tokio::test]
async fn pull_request_item_shape() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_pull(
        NewPull::new("Add gizmo", "gizmo")
            .head_sha("head1")
            .body("Adds it")
            .label("kelos/review"),
    );
    repo.add_comment_with(
        n,
        NewComment::new("alice", "conversation").created_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review_comment(
        n,
        NewReviewComment::new("bob", "src/lib.rs", 10, "nit: rename"),
    );
    repo.add_review_comment(
        n,
        NewReviewComment::new("bob", "README.md", 0, "file-level"),
    );
    repo.add_review_comment(
        n,
        NewReviewComment::new("bob", "src/old.rs", 3, "on an old commit").commit("head0"),
    );
    repo.add_review_comment(n, NewReviewComment::new("bob", "src/lib.rs", 11, "   "));
    repo.add_review(
        n,
        NewReview::approved("carol").submitted_at(at("2026-01-02T00:00:00Z")),
    );

    let items = discover(&gh, &pulls_spec(json!({"reviewState": "approved"}))).await;
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it.id, n.to_string());
    assert_eq!(it.kind, "PR");
    assert_eq!(it.source, Some(SourceKind::PullRequest));
    assert_eq!(it.title, "Add gizmo");
    assert_eq!(it.body, "Adds it");
    assert_eq!(
        it.url,
        format!("https://github.com/{OWNER}/{REPO}/pull/{n}")
    );
    assert_eq!(it.labels, vec!["kelos/review"]);
    assert_eq!(it.branch, "gizmo");
    assert_eq!(it.head_sha.as_deref(), Some("head1"));
    assert_eq!(it.review_state, "approved");
    assert_eq!(it.comments, "conversation", "conversation comments only");
    assert_eq!(
        it.review_comments,
        "src/lib.rs:10\nnit: rename\n---\nREADME.md\nfile-level"
    );
    assert_eq!(it.trigger_time, Some(at("2026-01-02T00:00:00Z")));

    let list = gh
        .requests()
        .into_iter()
        .find(|r| r.api_path == "/repos/acme/widgets/pulls")
        .unwrap();
    assert_eq!(
        list.query,
        "direction=desc&per_page=100&sort=updated&state=open"
    );
    for sub in [
        format!("/repos/acme/widgets/pulls/{n}/reviews"),
        format!("/repos/acme/widgets/issues/{n}/comments"),
        format!("/repos/acme/widgets/pulls/{n}/comments"),
    ] {
        assert_eq!(gh.count_exact("GET", &sub), 1, "{sub}");
    }
}

#[tokio::test]
async fn state_author_draft_labels_and_exclude_labels() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let ready = repo.add_pull(
        NewPull::new("ready", "a")
            .author("alice")
            .label("kelos/review"),
    );
    let draft = repo.add_pull(
        NewPull::new("draft", "b")
            .author("alice")
            .label("kelos/review")
            .draft(true),
    );
    let other = repo.add_pull(
        NewPull::new("other", "c")
            .author("bob")
            .label("kelos/review"),
    );
    let hold = repo.add_pull(
        NewPull::new("hold", "d")
            .author("alice")
            .labels(["kelos/review", "hold"]),
    );
    let unlabelled = repo.add_pull(NewPull::new("unlabelled", "e").author("alice"));
    let closed = repo.add_pull(NewPull::new("closed", "f").author("alice"));
    repo.close(closed);

    let d = |v| {
        let gh = &gh;
        async move { sorted_ids(&discover(gh, &pulls_spec(v)).await) }
    };
    assert_eq!(
        d(json!({})).await,
        vec![ready, draft, other, hold, unlabelled]
    );
    assert_eq!(d(json!({"state": "closed"})).await, vec![closed]);
    assert_eq!(
        d(json!({"author": "alice"})).await,
        vec![ready, draft, hold, unlabelled]
    );
    assert_eq!(
        d(json!({"author": "Alice"})).await,
        Vec::<u64>::new(),
        "author is exact"
    );
    assert_eq!(d(json!({"draft": true})).await, vec![draft]);
    assert_eq!(
        d(json!({"draft": false})).await,
        vec![ready, other, hold, unlabelled]
    );
    assert_eq!(
        d(json!({"labels": ["kelos/review"], "excludeLabels": ["hold"]})).await,
        vec![ready, draft, other]
    );
}

#[tokio::test]
async fn review_state_counts_only_the_current_head_commit() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let approved = repo.add_pull(NewPull::new("approved", "a").head_sha("a1"));
    repo.add_review(approved, NewReview::approved("bob"));
    let stale = repo.add_pull(NewPull::new("stale", "b").head_sha("b1"));
    repo.add_review(stale, NewReview::approved("bob").commit("b0"));
    let mixed = repo.add_pull(NewPull::new("mixed", "c").head_sha("c1"));
    repo.add_review(
        mixed,
        NewReview::approved("bob").submitted_at(at("2026-01-02T00:00:00Z")),
    );
    repo.add_review(
        mixed,
        NewReview::changes_requested("carol").submitted_at(at("2026-01-01T00:00:00Z")),
    );
    let changed_mind = repo.add_pull(NewPull::new("changed mind", "d").head_sha("d1"));
    repo.add_review(
        changed_mind,
        NewReview::changes_requested("bob").submitted_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review(
        changed_mind,
        NewReview::approved("bob").submitted_at(at("2026-01-02T00:00:00Z")),
    );
    let commented = repo.add_pull(NewPull::new("commented", "e").head_sha("e1"));
    repo.add_review(commented, NewReview::commented("bob").body("looks fine"));

    let approved_spec = pulls_spec(json!({"reviewState": "approved"}));
    let cr_spec = pulls_spec(json!({"reviewState": "changes_requested"}));
    assert_eq!(
        sorted_ids(&discover(&gh, &approved_spec).await),
        vec![approved, changed_mind]
    );
    let cr = discover(&gh, &cr_spec).await;
    assert_eq!(sorted_ids(&cr), vec![mixed]);
    assert_eq!(cr[0].trigger_time, Some(at("2026-01-01T00:00:00Z")));

    // A push clears the state until somebody reviews the new head.
    repo.push_head(approved, "a2");
    assert_eq!(
        sorted_ids(&discover(&gh, &approved_spec).await),
        vec![changed_mind]
    );
    let any = discover(&gh, &pulls_spec(json!({}))).await;
    let a = any.iter().find(|i| i.number as u64 == approved).unwrap();
    assert_eq!(a.review_state, "");
    assert_eq!(a.head_sha.as_deref(), Some("a2"));
    assert_eq!(a.trigger_time, None, "reviewState any: no review trigger");
}

#[tokio::test]
async fn commands_in_inline_comments_and_review_bodies() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let inline = repo.add_pull(NewPull::new("inline", "a"));
    repo.add_review_comment(
        inline,
        NewReviewComment::new("alice", "src/x.rs", 1, "/kelos review")
            .created_at(at("2026-01-03T00:00:00Z")),
    );
    let review_body = repo.add_pull(NewPull::new("review body", "b"));
    repo.add_review(
        review_body,
        NewReview::commented("alice")
            .body("/kelos review")
            .submitted_at(at("2026-01-04T00:00:00Z")),
    );
    let excluded = repo.add_pull(NewPull::new("excluded", "c"));
    repo.add_comment_with(
        excluded,
        NewComment::new("alice", "/kelos review").created_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review(
        excluded,
        NewReview::commented("alice")
            .body("/kelos stop")
            .submitted_at(at("2026-01-02T00:00:00Z")),
    );
    let _silent = repo.add_pull(NewPull::new("silent", "d"));
    let unauthorised = repo.add_pull(NewPull::new("unauthorised", "e"));
    repo.add_review(
        unauthorised,
        NewReview::commented("mallory").body("/kelos review"),
    );

    let items = discover(
        &gh,
        &pulls_spec(json!({"commentPolicy": {
            "triggerComment": "/kelos review",
            "excludeComments": ["/kelos stop"],
            "allowedUsers": ["alice"]
        }})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![inline, review_body]);
    let t = |n| {
        items
            .iter()
            .find(|i| i.number as u64 == n)
            .unwrap()
            .trigger_time
    };
    assert_eq!(t(inline), Some(at("2026-01-03T00:00:00Z")));
    assert_eq!(t(review_body), Some(at("2026-01-04T00:00:00Z")));
}

#[tokio::test]
async fn exclude_is_not_cleared_by_a_newer_review_and_review_time_wins_only_with_review_state() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let paused = repo.add_pull(NewPull::new("paused", "a"));
    repo.add_comment_with(
        paused,
        NewComment::new("alice", "/kelos needs-input").created_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review(
        paused,
        NewReview::approved("bob").submitted_at(at("2026-01-02T00:00:00Z")),
    );
    let later_review = repo.add_pull(NewPull::new("trigger then review", "b"));
    repo.add_comment_with(
        later_review,
        NewComment::new("alice", "/kelos pick-up").created_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review(
        later_review,
        NewReview::approved("bob").submitted_at(at("2026-01-05T00:00:00Z")),
    );

    let policy =
        json!({"triggerComment": "/kelos pick-up", "excludeComments": ["/kelos needs-input"]});
    let approved = discover(
        &gh,
        &pulls_spec(json!({"reviewState": "approved", "commentPolicy": policy})),
    )
    .await;
    assert_eq!(sorted_ids(&approved), vec![later_review]);
    assert_eq!(approved[0].trigger_time, Some(at("2026-01-05T00:00:00Z")));

    let any = discover(&gh, &pulls_spec(json!({"commentPolicy": policy}))).await;
    assert_eq!(sorted_ids(&any), vec![later_review]);
    assert_eq!(
        any[0].trigger_time,
        Some(at("2026-01-01T00:00:00Z")),
        "reviewState any: the comment's time"
    );
}

#[tokio::test]
async fn the_agents_own_review_never_triggers() {
    let gh = FakeGitHub::start().await;
    gh.set_authenticated_user("kelos-bot");
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_pull(NewPull::new("x", "a"));
    repo.add_review(
        n,
        NewReview::changes_requested("carol").submitted_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_review(
        n,
        NewReview::changes_requested("kelos-bot").submitted_at(at("2026-01-03T00:00:00Z")),
    );
    let items = discover(
        &gh,
        &pulls_spec(json!({"reviewState": "changes_requested"})),
    )
    .await;
    assert_eq!(items[0].review_state, "changes_requested");
    assert_eq!(items[0].trigger_time, Some(at("2026-01-01T00:00:00Z")));
}

#[tokio::test]
async fn recheck_reasons_for_pull_requests() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let spec = pulls_spec(json!({
        "labels": ["kelos/review"],
        "excludeLabels": ["hold"],
        "draft": false,
        "reviewState": "approved"
    }));
    let src = source(&client(&gh), &spec);
    let mk = |branch: &str| {
        let n = repo.add_pull(NewPull::new("x", branch).label("kelos/review"));
        repo.add_review(n, NewReview::approved("bob"));
        n
    };
    let no = |reason: String| Recheck::NoLongerMatches { reason };

    let fine = mk("fine");
    assert_eq!(
        src.recheck(&fine.to_string()).await.unwrap(),
        Recheck::StillMatches
    );

    let closed = mk("closed");
    repo.close(closed);
    assert_eq!(
        src.recheck(&closed.to_string()).await.unwrap(),
        no(format!("pull request #{closed} was closed"))
    );

    let merged = mk("merged");
    repo.merge(merged);
    assert_eq!(
        src.recheck(&merged.to_string()).await.unwrap(),
        no(format!("pull request #{merged} was merged"))
    );

    let draft = mk("draft");
    repo.set_draft(draft, true);
    assert_eq!(
        src.recheck(&draft.to_string()).await.unwrap(),
        no(format!("pull request #{draft} is a draft"))
    );

    let unlabelled = mk("unlabelled");
    repo.remove_label(unlabelled, "kelos/review");
    assert_eq!(
        src.recheck(&unlabelled.to_string()).await.unwrap(),
        no(format!(
            "label kelos/review was removed from pull request #{unlabelled}"
        ))
    );

    let held = mk("held");
    repo.add_label(held, "hold");
    assert_eq!(
        src.recheck(&held.to_string()).await.unwrap(),
        no(format!(
            "excluded label hold was added to pull request #{held}"
        ))
    );

    let pushed = mk("pushed");
    repo.push_head(pushed, "new-head");
    assert_eq!(
        src.recheck(&pushed.to_string()).await.unwrap(),
        no(format!(
            "review state of pull request #{pushed} is no longer approved"
        ))
    );

    let err = src.recheck("9999").await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 404, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn recheck_author_and_exclude_comment() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_pull(NewPull::new("x", "a").author("alice"));
    let src = source(
        &client(&gh),
        &pulls_spec(json!({"author": "alice", "excludeComments": ["/kelos needs-input"]})),
    );
    assert_eq!(
        src.recheck(&n.to_string()).await.unwrap(),
        Recheck::StillMatches
    );
    repo.add_review_comment(
        n,
        NewReviewComment::new("bob", "a.rs", 1, "/kelos needs-input"),
    );
    assert_eq!(
        src.recheck(&n.to_string()).await.unwrap(),
        Recheck::NoLongerMatches {
            reason: format!("exclude comment /kelos needs-input was posted on pull request #{n}")
        }
    );
    let src = source(&client(&gh), &pulls_spec(json!({"author": "bob"})));
    assert_eq!(
        src.recheck(&n.to_string()).await.unwrap(),
        Recheck::NoLongerMatches {
            reason: format!("author of pull request #{n} is alice, not bob")
        }
    );
}
