//! Every response shape deserializes into octocrab's model for it.

mod common;

use common::get;
use kelos_fake_github::{FakeGitHub, NewIssue, NewPull, NewReview, NewReviewComment};
use octocrab::models::{self, issues, pulls};

async fn seeded() -> (FakeGitHub, u64, u64) {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo("acme", "widgets");
    repo.define_label("kelos/work", "0e8a16", Some("Agents may pick this up"));
    let issue = repo.add_issue(
        NewIssue::new("Fix the widget")
            .body("It wobbles.")
            .labels(["kelos/work", "bug"])
            .assignee("bob")
            .author("alice"),
    );
    repo.add_comment(issue, "alice", "/kelos pick-up");
    repo.add_comment(issue, "kelos-bot[bot]", "🤖 accepted");
    let pr = repo.add_pull(
        NewPull::new("Add gizmo", "gizmo")
            .head_sha("1111111111111111111111111111111111111111")
            .author("carol")
            .label("kelos/review")
            .draft(true),
    );
    repo.add_review(pr, NewReview::approved("bob").body("LGTM"));
    repo.add_review(
        pr,
        NewReview::changes_requested("dave").commit("0000000000000000000000000000000000000000"),
    );
    repo.add_review_comment(pr, NewReviewComment::new("bob", "src/lib.rs", 10, "nit"));
    repo.add_review_comment(
        pr,
        NewReviewComment::new("bob", "README.md", 0, "file-level"),
    );
    repo.set_permission("bob", "admin");
    gh.add_team_member("acme", "platform", "bob");
    (gh, issue, pr)
}

#[tokio::test]
async fn issues_and_comments_deserialize() {
    let (gh, issue, pr) = seeded().await;
    let base = format!("{}/repos/acme/widgets", gh.url());

    let list: Vec<issues::Issue> = get(&format!("{base}/issues?state=all")).await.parse();
    assert_eq!(list.len(), 2);
    let plain = list.iter().find(|i| i.number == issue).unwrap();
    assert!(plain.pull_request.is_none());
    assert_eq!(plain.user.login, "alice");
    assert_eq!(plain.comments, 2);
    assert_eq!(plain.assignees[0].login, "bob");
    let work = plain
        .labels
        .iter()
        .find(|l| l.name == "kelos/work")
        .unwrap();
    assert_eq!(work.color, "0e8a16");
    assert_eq!(work.description.as_deref(), Some("Agents may pick this up"));
    assert_eq!(
        plain.html_url.as_str(),
        format!("https://github.com/acme/widgets/issues/{issue}")
    );
    let as_pr = list.iter().find(|i| i.number == pr).unwrap();
    let link = as_pr.pull_request.as_ref().expect("pull_request marker");
    assert_eq!(
        link.url.as_str(),
        format!("{}/repos/acme/widgets/pulls/{pr}", gh.url())
    );

    let one: issues::Issue = get(&format!("{base}/issues/{issue}")).await.parse();
    assert_eq!(one.title, "Fix the widget");
    assert_eq!(one.body.as_deref(), Some("It wobbles."));

    let comments: Vec<issues::Comment> = get(&format!("{base}/issues/{issue}/comments"))
        .await
        .parse();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].body.as_deref(), Some("/kelos pick-up"));
    assert_eq!(comments[1].user.login, "kelos-bot[bot]");
    assert_eq!(comments[1].user.r#type, "Bot");
    let one: issues::Comment = get(&format!("{base}/issues/comments/{}", comments[0].id))
        .await
        .parse();
    assert_eq!(one.id, comments[0].id);

    let labels: Vec<models::Label> = get(&format!("{base}/issues/{issue}/labels")).await.parse();
    assert_eq!(labels.len(), 2);
}

#[tokio::test]
async fn pulls_reviews_and_review_comments_deserialize() {
    let (gh, _, pr) = seeded().await;
    let base = format!("{}/repos/acme/widgets", gh.url());

    let list: Vec<pulls::PullRequest> = get(&format!("{base}/pulls")).await.parse();
    assert_eq!(list.len(), 1);
    let p = &list[0];
    assert_eq!(p.number, pr);
    assert_eq!(p.draft, Some(true));
    assert_eq!(p.head.ref_field, "gizmo");
    assert_eq!(p.head.sha, "1111111111111111111111111111111111111111");
    assert_eq!(p.base.ref_field, "main");
    assert_eq!(p.head.repo.as_ref().unwrap().name, "widgets");
    assert_eq!(p.user.as_ref().unwrap().login, "carol");
    assert_eq!(p.labels.as_ref().unwrap()[0].name, "kelos/review");
    assert_eq!(p.merged, None, "the list shape has no merge details");

    let full: pulls::PullRequest = get(&format!("{base}/pulls/{pr}")).await.parse();
    assert_eq!(full.merged, Some(false));
    assert_eq!(
        full.mergeable_state,
        Some(pulls::MergeableState::Draft),
        "draft pull requests are mergeable_state draft"
    );

    let reviews: Vec<pulls::Review> = get(&format!("{base}/pulls/{pr}/reviews")).await.parse();
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0].state, Some(pulls::ReviewState::Approved));
    assert_eq!(
        reviews[0].commit_id.as_deref(),
        Some("1111111111111111111111111111111111111111"),
        "reviews default to the current head"
    );
    assert_eq!(reviews[0].user.as_ref().unwrap().login, "bob");
    assert!(reviews[0].submitted_at.is_some());
    assert_eq!(reviews[1].state, Some(pulls::ReviewState::ChangesRequested));

    let inline: Vec<pulls::Comment> = get(&format!("{base}/pulls/{pr}/comments")).await.parse();
    assert_eq!(inline.len(), 2);
    assert_eq!(inline[0].path, "src/lib.rs");
    assert_eq!(inline[0].line, Some(10));
    assert_eq!(inline[1].line, None);
    let legacy: Vec<pulls::ReviewComment> =
        get(&format!("{base}/pulls/{pr}/comments")).await.parse();
    assert_eq!(legacy[0].body, "nit");
}

#[tokio::test]
async fn users_repos_teams_and_permissions_deserialize() {
    let (gh, _, _) = seeded().await;
    let me: models::Author = get(&format!("{}/user", gh.url())).await.parse();
    assert_eq!(me.login, "kelos-bot");
    let profile: models::UserProfile = get(&format!("{}/user", gh.url())).await.parse();
    assert_eq!(profile.login, "kelos-bot");

    let repo: models::Repository = get(&format!("{}/repos/acme/widgets", gh.url()))
        .await
        .parse();
    assert_eq!(repo.full_name.as_deref(), Some("acme/widgets"));
    assert_eq!(repo.default_branch.as_deref(), Some("main"));

    let team: models::memberships::TeamMembership = get(&format!(
        "{}/orgs/acme/teams/platform/memberships/bob",
        gh.url()
    ))
    .await
    .parse();
    assert_eq!(team.state, models::memberships::State::Active);
    assert_eq!(team.role, models::memberships::Role::Member);
    let missing = get(&format!(
        "{}/orgs/acme/teams/platform/memberships/eve",
        gh.url()
    ))
    .await;
    assert_eq!(missing.status, 404);

    // `{permission, role_name, user}` as GitHub documents it.
    let perm = get(&format!(
        "{}/repos/acme/widgets/collaborators/bob/permission",
        gh.url()
    ))
    .await;
    let v = perm.json();
    assert_eq!(v["permission"], "admin");
    assert_eq!(v["role_name"], "admin");
    assert_eq!(v["user"]["login"], "bob");
    assert_eq!(v["user"]["permissions"]["push"], true);
    let typed: models::repos::RepoPermission = perm.parse();
    assert_eq!(typed.role_name, "admin");
}

/// octocrab 0.54.9 types `RepoPermission::permission` with the *request* enum
/// (pull/push/admin/maintain/triage), but GitHub answers admin/write/read/none, so only
/// "admin" deserializes. Callers must read this endpoint as JSON (`role_name` first).
#[tokio::test]
async fn octocrab_repo_permission_model_only_parses_admin() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo("acme", "widgets");
    repo.set_permission("wendy", "write");
    repo.set_permission("tom", "triage");
    let url = |u: &str| {
        format!(
            "{}/repos/acme/widgets/collaborators/{u}/permission",
            gh.url()
        )
    };
    let w = get(&url("wendy")).await.json();
    assert_eq!(
        (w["permission"].as_str(), w["role_name"].as_str()),
        (Some("write"), Some("write"))
    );
    let t = get(&url("tom")).await.json();
    assert_eq!(
        (t["permission"].as_str(), t["role_name"].as_str()),
        (Some("read"), Some("triage"))
    );
    assert!(
        serde_json::from_value::<models::repos::RepoPermission>(w).is_err(),
        "if this starts passing, octocrab fixed its RepoPermission model"
    );
    assert_eq!(get(&url("stranger")).await.status, 404);
    assert_eq!(get(&url("acme")).await.json()["permission"], "admin");
}
