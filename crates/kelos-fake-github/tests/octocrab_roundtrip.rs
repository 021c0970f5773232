//! Real octocrab calls against the fake: what the spawner and reporter will do.

mod common;

use common::{github_error, octocrab};
use kelos_fake_github::{
    FakeGitHub, ItemState, NewComment, NewIssue, NewPull, NewReview, NewReviewComment,
};
use octocrab::models::CommentId;
use octocrab::params;

fn seed(gh: &FakeGitHub) -> (u64, u64, u64) {
    let repo = gh.repo("acme", "widgets");
    let a = repo.add_issue(
        NewIssue::new("First")
            .label("kelos/work")
            .label("bug")
            .author("alice"),
    );
    let b = repo.add_issue(NewIssue::new("Second").label("kelos/work").assignee("bob"));
    let pr = repo.add_pull(NewPull::new("Third", "feature/x").label("kelos/work"));
    repo.add_comment_with(
        a,
        NewComment::new("alice", "/kelos pick-up").author_association("MEMBER"),
    );
    repo.add_review(pr, NewReview::approved("bob"));
    repo.add_review_comment(pr, NewReviewComment::new("bob", "src/main.rs", 3, "typo"));
    (a, b, pr)
}

#[tokio::test]
async fn issues_list_filters_and_get() {
    let gh = FakeGitHub::start().await;
    let (a, b, pr) = seed(&gh);
    let octo = octocrab(&gh.url());
    let issues = octo.issues("acme", "widgets");

    let page = issues.list().per_page(100).send().await.unwrap();
    let numbers: Vec<u64> = page.items.iter().map(|i| i.number).collect();
    assert_eq!(
        numbers,
        vec![pr, b, a],
        "newest first, pull requests included"
    );
    assert!(page.items[0].pull_request.is_some());
    assert!(page.next.is_none());

    let both = issues
        .list()
        .labels(&["kelos/work".into(), "BUG".into()])
        .send()
        .await
        .unwrap();
    assert_eq!(
        both.items.iter().map(|i| i.number).collect::<Vec<_>>(),
        vec![a],
        "labels are ANDed and case-insensitive"
    );

    let assigned = issues.list().assignee("bob").send().await.unwrap();
    assert_eq!(assigned.items.len(), 1);
    let unassigned = issues
        .list()
        .assignee(params::issues::Filter::None)
        .send()
        .await
        .unwrap();
    assert_eq!(unassigned.items.len(), 2);
    let any = issues
        .list()
        .assignee(params::issues::Filter::Any)
        .send()
        .await
        .unwrap();
    assert_eq!(any.items.len(), 1);
    let by_alice = issues.list().creator("alice").send().await.unwrap();
    assert_eq!(by_alice.items.len(), 1);

    gh.repo("acme", "widgets").close(b);
    let open = issues.list().send().await.unwrap();
    assert_eq!(open.items.len(), 2);
    let closed = issues
        .list()
        .state(params::State::Closed)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.items[0].number, b);
    let asc = issues
        .list()
        .state(params::State::All)
        .direction(params::Direction::Ascending)
        .send()
        .await
        .unwrap();
    assert_eq!(asc.items[0].number, a);

    let one = issues.get(a).await.unwrap();
    assert_eq!(one.title, "First");
    let err = issues.get(999).await.unwrap_err();
    assert_eq!(github_error(&err), (404, "Not Found".to_string()));

    // The query octocrab sent is in the log.
    let last_list = gh
        .requests()
        .into_iter()
        .find(|r| r.api_path == "/repos/acme/widgets/issues" && r.query.contains("labels"))
        .unwrap();
    assert_eq!(
        last_list.query_param("labels").as_deref(),
        Some("kelos/work,BUG")
    );
}

#[tokio::test]
async fn comments_create_and_update() {
    let gh = FakeGitHub::start().await;
    let (a, _, _) = seed(&gh);
    gh.set_authenticated_user("kelos-reporter");
    let octo = octocrab(&gh.url());
    let issues = octo.issues("acme", "widgets");

    let comments = issues.list_comments(a).per_page(100).send().await.unwrap();
    assert_eq!(comments.items.len(), 1);
    assert_eq!(comments.items[0].body.as_deref(), Some("/kelos pick-up"));
    assert_eq!(
        comments.items[0].author_association,
        Some(octocrab::models::AuthorAssociation::Member)
    );

    let created = issues.create_comment(a, "accepted").await.unwrap();
    assert_eq!(created.user.login, "kelos-reporter");
    let updated = issues
        .update_comment(CommentId(created.id.0), "succeeded")
        .await
        .unwrap();
    assert_eq!(updated.body.as_deref(), Some("succeeded"));
    let stored = gh.repo("acme", "widgets").comments(a);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].body, "succeeded");
    // octocrab's update_comment POSTs (GitHub accepts POST for PATCH).
    assert_eq!(
        gh.count_exact("POST", &format!("/repos/acme/widgets/issues/{a}/comments")),
        1
    );
    assert_eq!(gh.count("POST", "/repos/acme/widgets/issues/comments"), 1);
    assert_eq!(gh.count_status(201), 1);
    let post = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&post.body).unwrap()["body"],
        "accepted"
    );
}

#[tokio::test]
async fn pulls_list_get_reviews_and_review_comments() {
    let gh = FakeGitHub::start().await;
    let (_, _, pr) = seed(&gh);
    let repo = gh.repo("acme", "widgets");
    let other = repo.add_pull(NewPull::new("Fourth", "other").base("release"));
    let octo = octocrab(&gh.url());
    let pulls = octo.pulls("acme", "widgets");

    let page = pulls
        .list()
        .state(params::State::Open)
        .sort(params::pulls::Sort::Updated)
        .direction(params::Direction::Descending)
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.number).collect::<Vec<_>>(),
        vec![other, pr]
    );
    let on_release = pulls.list().base("release").send().await.unwrap();
    assert_eq!(on_release.items.len(), 1);
    let by_head = pulls.list().head("acme:feature/x").send().await.unwrap();
    assert_eq!(by_head.items[0].number, pr);

    let got = pulls.get(pr).await.unwrap();
    assert_eq!(got.head.ref_field, "feature/x");
    let old_head = got.head.sha.clone();

    let reviews = pulls.list_reviews(pr).per_page(100).send().await.unwrap();
    assert_eq!(reviews.items.len(), 1);
    assert_eq!(
        reviews.items[0].commit_id.as_deref(),
        Some(old_head.as_str())
    );

    let inline = pulls
        .list_comments(Some(pr))
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(inline.items[0].body, "typo");

    // A push and a merge are visible through the API.
    repo.push_head(pr, "2222222222222222222222222222222222222222");
    repo.merge(pr);
    let got = pulls.get(pr).await.unwrap();
    assert_eq!(got.head.sha, "2222222222222222222222222222222222222222");
    assert_eq!(got.merged, Some(true));
    assert!(got.merged_at.is_some());
    assert_eq!(got.state, Some(octocrab::models::IssueState::Closed));
    assert_eq!(repo.get_issue(pr).unwrap().state, ItemState::Closed);

    // A plain issue is not a pull request.
    let err = pulls.get(1).await.unwrap_err();
    assert_eq!(github_error(&err).0, 404);
}

#[tokio::test]
async fn ghe_prefix_user_and_teams() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    assert!(gh.url().ends_with("/api/v3"));
    seed(&gh);
    gh.add_team_member("acme", "platform", "bob");
    let octo = octocrab(&gh.url());

    let page = octo.issues("acme", "widgets").list().send().await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(
        page.items[0]
            .url
            .as_str()
            .contains("/api/v3/repos/acme/widgets/issues/")
    );
    assert_eq!(gh.requests()[0].path, "/api/v3/repos/acme/widgets/issues");
    assert_eq!(gh.requests()[0].api_path, "/repos/acme/widgets/issues");

    let me = octo.current().user().await.unwrap();
    assert_eq!(me.login, "kelos-bot");
    let m = octo
        .teams("acme")
        .memberships("platform")
        .get("bob")
        .await
        .unwrap();
    assert_eq!(m.state, octocrab::models::memberships::State::Active);
    let err = octo
        .teams("acme")
        .memberships("platform")
        .get("eve")
        .await
        .unwrap_err();
    assert_eq!(github_error(&err).0, 404);

    // Outside the prefix there is nothing.
    let root = common::get(&format!("http://{}/repos/acme/widgets/issues", gh.addr())).await;
    assert_eq!(root.status, 404);
}
