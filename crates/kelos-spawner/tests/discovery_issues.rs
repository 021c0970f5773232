//! `githubIssues` discovery against the fake GitHub: every filter of spawner-reference §2.1,
//! the comment policy of §2.3, pagination, and positive verification (`recheck`).

mod discovery_support;

use discovery_support::*;
use kelos_fake_github::{FakeGitHub, Fault, NewComment, NewIssue, NewPull, TeamMembership};
use kelos_spawner::github::REPORT_MARKER;
use kelos_spawner::item::{DiscoveryError, Recheck, SourceKind};
use serde_json::json;

#[tokio::test]
async fn issue_item_shape_and_request() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_issue(
        NewIssue::new("Fix the widget")
            .body("It is broken")
            .labels(["bug", "kelos/work"]),
    );
    repo.add_comment(n, "alice", "first");
    repo.add_comment(n, "bob", "second");

    let items = discover(&gh, &issues_spec(json!({}))).await;
    assert_eq!(items.len(), 1);
    let it = &items[0];
    assert_eq!(it.id, n.to_string());
    assert_eq!(it.number, n as i64);
    assert_eq!(it.title, "Fix the widget");
    assert_eq!(it.body, "It is broken");
    assert_eq!(
        it.url,
        format!("https://github.com/{OWNER}/{REPO}/issues/{n}")
    );
    assert_eq!(it.labels, vec!["bug", "kelos/work"]);
    assert_eq!(it.comments, "first\n---\nsecond");
    assert_eq!(it.kind, "Issue");
    assert_eq!(it.source, Some(SourceKind::Issue));
    assert_eq!(it.trigger_time, None);
    assert!(it.branch.is_empty() && it.head_sha.is_none());

    let list = gh
        .requests()
        .into_iter()
        .find(|r| r.api_path == format!("/repos/{OWNER}/{REPO}/issues"))
        .unwrap();
    assert_eq!(list.query, "per_page=100&state=open");
    assert_eq!(list.authorization.as_deref(), Some("Bearer test-token"));
    assert_eq!(list.accept.as_deref(), Some("application/vnd.github+json"));
    assert_eq!(
        gh.count_exact("GET", &format!("/repos/{OWNER}/{REPO}/issues/{n}/comments")),
        1
    );
}

#[tokio::test]
async fn labels_all_required_server_side_and_exclude_labels_client_side() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let both = repo.add_issue(NewIssue::new("both").labels(["kelos/work", "bug"]));
    let _one = repo.add_issue(NewIssue::new("one").label("kelos/work"));
    let excluded =
        repo.add_issue(NewIssue::new("excluded").labels(["kelos/work", "bug", "wontfix"]));
    let _none = repo.add_issue(NewIssue::new("none"));

    let items = discover(
        &gh,
        &issues_spec(json!({"labels": ["kelos/work", "bug"], "excludeLabels": ["WontFix"]})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![both]);
    assert!(sorted_ids(&items).iter().all(|n| *n != excluded));
    let list = gh
        .requests()
        .into_iter()
        .find(|r| r.api_path.ends_with("/issues"))
        .unwrap();
    assert_eq!(
        list.query_param("labels").as_deref(),
        Some("kelos/work,bug")
    );
    assert_eq!(
        list.query, "labels=kelos%2Fwork%2Cbug&per_page=100&state=open",
        "parameters in Go's alphabetical order"
    );
}

#[tokio::test]
async fn state_open_closed_all() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let open = repo.add_issue(NewIssue::new("open"));
    let closed = repo.add_issue(NewIssue::new("closed").closed());

    assert_eq!(
        sorted_ids(&discover(&gh, &issues_spec(json!({}))).await),
        vec![open]
    );
    assert_eq!(
        sorted_ids(&discover(&gh, &issues_spec(json!({"state": "closed"}))).await),
        vec![closed]
    );
    assert_eq!(
        sorted_ids(&discover(&gh, &issues_spec(json!({"state": "all"}))).await),
        vec![open, closed]
    );
}

#[tokio::test]
async fn assignee_login_any_and_none_and_author() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let alice = repo.add_issue(NewIssue::new("a").assignee("alice").author("carol"));
    let bob = repo.add_issue(NewIssue::new("b").assignee("bob").author("dave"));
    let nobody = repo.add_issue(NewIssue::new("c").author("carol"));

    let d = |v| {
        let gh = &gh;
        async move { sorted_ids(&discover(gh, &issues_spec(v)).await) }
    };
    assert_eq!(d(json!({"assignee": "alice"})).await, vec![alice]);
    assert_eq!(d(json!({"assignee": "*"})).await, vec![alice, bob]);
    assert_eq!(d(json!({"assignee": "none"})).await, vec![nobody]);
    assert_eq!(d(json!({"author": "carol"})).await, vec![alice, nobody]);
    assert_eq!(
        d(json!({"author": "carol", "assignee": "none"})).await,
        vec![nobody]
    );
    let creator = gh
        .requests()
        .into_iter()
        .filter(|r| r.api_path.ends_with("/issues"))
        .find_map(|r| r.query_param("creator"));
    assert_eq!(creator.as_deref(), Some("carol"));
}

#[tokio::test]
async fn types_issues_pulls_both_and_default() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let issue = repo.add_issue(NewIssue::new("issue"));
    let pr = repo.add_pull(NewPull::new("pr", "feature"));

    let d = |v| {
        let gh = &gh;
        async move { discover(gh, &issues_spec(v)).await }
    };
    assert_eq!(sorted_ids(&d(json!({})).await), vec![issue]);
    assert_eq!(
        sorted_ids(&d(json!({"types": ["issues"]})).await),
        vec![issue]
    );
    let pulls = d(json!({"types": ["pulls"]})).await;
    assert_eq!(sorted_ids(&pulls), vec![pr]);
    assert_eq!(pulls[0].kind, "PR");
    assert_eq!(pulls[0].source, Some(SourceKind::PullRequest));
    assert_eq!(
        sorted_ids(&d(json!({"types": ["issues", "pulls"]})).await),
        vec![issue, pr]
    );
}

#[tokio::test]
async fn priority_labels_order_the_items() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let backlog = repo.add_issue(NewIssue::new("backlog").label("priority/backlog"));
    let plain = repo.add_issue(NewIssue::new("plain"));
    let important = repo.add_issue(NewIssue::new("important").label("priority/important"));
    let critical = repo.add_issue(NewIssue::new("critical").label("priority/critical"));

    let items = discover(
        &gh,
        &issues_spec(json!({"priorityLabels": ["priority/critical", "priority/important", "priority/backlog"]})),
    )
    .await;
    let order: Vec<u64> = items.iter().map(|i| i.number as u64).collect();
    assert_eq!(order, vec![critical, important, backlog, plain]);
}

#[tokio::test]
async fn comments_over_several_pages_and_64k_budget() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_issue(NewIssue::new("chatty"));
    for i in 0..130 {
        repo.add_comment(n, "alice", &format!("comment {i} {}", "x".repeat(600)));
    }
    let items = discover(&gh, &issues_spec(json!({}))).await;
    let comments = &items[0].comments;
    assert!(comments.len() <= 64 * 1024);
    assert!(comments.ends_with(&format!("comment 129 {}", "x".repeat(600))));
    assert!(
        !comments.contains("comment 0 "),
        "the oldest are dropped first"
    );
    assert_eq!(
        gh.count_exact("GET", &format!("/repos/{OWNER}/{REPO}/issues/{n}/comments")),
        2
    );
}

#[tokio::test]
async fn legacy_trigger_comment_sets_trigger_time_and_is_required() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let triggered = repo.add_issue(NewIssue::new("triggered"));
    repo.add_comment_with(
        triggered,
        NewComment::new("alice", "/kelos pick-up").created_at(at("2026-01-01T10:00:00Z")),
    );
    repo.add_comment_with(
        triggered,
        NewComment::new("bob", "please\n  /kelos pick-up  \nthanks")
            .created_at(at("2026-01-02T10:00:00Z")),
    );
    let inline = repo.add_issue(NewIssue::new("not whole line"));
    repo.add_comment(inline, "alice", "do /kelos pick-up now");
    let in_body = repo.add_issue(NewIssue::new("body").body("/kelos pick-up"));
    let _silent = repo.add_issue(NewIssue::new("silent"));

    let items = discover(
        &gh,
        &issues_spec(json!({"triggerComment": "/kelos pick-up"})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![triggered, in_body]);
    let t = items.iter().find(|i| i.number as u64 == triggered).unwrap();
    assert_eq!(t.trigger_time, Some(at("2026-01-02T10:00:00Z")));
    let b = items.iter().find(|i| i.number as u64 == in_body).unwrap();
    assert_eq!(b.trigger_time, None, "body commands carry no time");
}

#[tokio::test]
async fn exclude_comments_and_latest_command_wins() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let c = |repo: &kelos_fake_github::RepoHandle, n, body: &str, t: &str| {
        repo.add_comment_with(n, NewComment::new("alice", body).created_at(at(t)));
    };
    let paused = repo.add_issue(NewIssue::new("paused"));
    c(&repo, paused, "/kelos pick-up", "2026-01-01T00:00:00Z");
    c(&repo, paused, "/kelos needs-input", "2026-01-02T00:00:00Z");
    let resumed = repo.add_issue(NewIssue::new("resumed"));
    c(&repo, resumed, "/kelos needs-input", "2026-01-01T00:00:00Z");
    c(&repo, resumed, "/kelos pick-up", "2026-01-03T00:00:00Z");
    let body_excluded = repo.add_issue(NewIssue::new("body").body("/kelos needs-input"));
    let plain = repo.add_issue(NewIssue::new("plain"));

    // Exclude only: anything without an exclude command is discovered.
    let items = discover(
        &gh,
        &issues_spec(json!({"excludeComments": ["/kelos needs-input"]})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![plain]);

    // Both: the latest command wins; no command at all means not triggered.
    let items = discover(
        &gh,
        &issues_spec(json!({"commentPolicy": {
            "triggerComment": "/kelos pick-up",
            "excludeComments": ["/kelos needs-input", "/kelos stop"]
        }})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![resumed]);
    assert_eq!(items[0].trigger_time, Some(at("2026-01-03T00:00:00Z")));
    let _ = body_excluded;
}

#[tokio::test]
async fn allowed_users_ignore_unauthorised_commands() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let by_alice = repo.add_issue(NewIssue::new("alice"));
    repo.add_comment(by_alice, "Alice", "/kelos pick-up");
    let by_mallory = repo.add_issue(NewIssue::new("mallory"));
    repo.add_comment(by_mallory, "mallory", "/kelos pick-up");
    // An unauthorised later exclude does not pause.
    let excl = repo.add_issue(NewIssue::new("excl"));
    repo.add_comment_with(
        excl,
        NewComment::new("alice", "/kelos pick-up").created_at(at("2026-01-01T00:00:00Z")),
    );
    repo.add_comment_with(
        excl,
        NewComment::new("mallory", "/kelos needs-input").created_at(at("2026-01-02T00:00:00Z")),
    );
    // A body command needs an authorised item author.
    let body_mallory = repo.add_issue(NewIssue::new("b1").author("mallory").body("/kelos pick-up"));
    let body_alice = repo.add_issue(NewIssue::new("b2").author("alice").body("/kelos pick-up"));

    let items = discover(
        &gh,
        &issues_spec(json!({"commentPolicy": {
            "triggerComment": "/kelos pick-up",
            "excludeComments": ["/kelos needs-input"],
            "allowedUsers": ["alice"]
        }})),
    )
    .await;
    assert_eq!(sorted_ids(&items), vec![by_alice, excl, body_alice]);
    let _ = (by_mallory, body_mallory);
    assert_eq!(gh.count("GET", "/repos/acme/widgets/collaborators"), 0);
}

#[tokio::test]
async fn minimum_permission_via_collaborator_permission() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    repo.set_permission("writer", "write");
    repo.set_permission("admin", "admin");
    repo.set_permission("reader", "read");
    repo.set_permission("triager", "triage");
    let mut expected = Vec::new();
    for (who, ok) in [
        ("writer", true),
        ("admin", true),
        ("reader", false),
        ("triager", false),
        ("stranger", false),
    ] {
        let n = repo.add_issue(NewIssue::new(who));
        repo.add_comment(n, who, "/kelos pick-up");
        repo.add_comment(n, who, "/kelos pick-up"); // cached: one lookup per login
        if ok {
            expected.push(n);
        }
    }
    let items = discover(
        &gh,
        &issues_spec(json!({"commentPolicy": {
            "triggerComment": "/kelos pick-up",
            "minimumPermission": "write"
        }})),
    )
    .await;
    assert_eq!(sorted_ids(&items), expected);
    assert_eq!(
        gh.count_exact("GET", "/repos/acme/widgets/collaborators/writer/permission"),
        1
    );
    assert_eq!(
        gh.count_exact(
            "GET",
            "/repos/acme/widgets/collaborators/stranger/permission"
        ),
        1,
        "404 means not a collaborator"
    );
}

#[tokio::test]
async fn allowed_teams_via_active_membership() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    gh.add_team_member("acme", "platform", "member");
    gh.set_team_membership(
        "acme",
        "platform",
        "pending-user",
        Some(TeamMembership {
            role: "member".into(),
            state: "pending".into(),
        }),
    );
    let mut ok = Vec::new();
    for (who, authorised) in [
        ("member", true),
        ("pending-user", false),
        ("outsider", false),
    ] {
        let n = repo.add_issue(NewIssue::new(who));
        repo.add_comment(n, who, "/kelos pick-up");
        if authorised {
            ok.push(n);
        }
    }
    let items = discover(
        &gh,
        &issues_spec(json!({"commentPolicy": {
            "triggerComment": "/kelos pick-up",
            "allowedTeams": ["acme/platform"]
        }})),
    )
    .await;
    assert_eq!(sorted_ids(&items), ok);
    assert_eq!(gh.count("GET", "/orgs/acme/teams/platform/memberships"), 3);
}

#[tokio::test]
async fn team_check_after_permission_error_and_error_when_nothing_authorises() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    gh.add_team_member("acme", "platform", "member");
    let n = repo.add_issue(NewIssue::new("x"));
    repo.add_comment(n, "member", "/kelos pick-up");
    gh.add_fault(Fault::status(500).path("/repos/acme/widgets/collaborators/*/permission"));
    let spec = issues_spec(json!({"commentPolicy": {
        "triggerComment": "/kelos pick-up",
        "allowedTeams": ["acme/platform"],
        "minimumPermission": "write"
    }}));
    // The permission lookup fails, but team membership authorises: discovery succeeds.
    assert_eq!(sorted_ids(&discover(&gh, &spec).await), vec![n]);

    // Nobody authorises and a lookup failed: the whole discovery fails (not "excluded").
    repo.add_comment(n, "outsider", "/kelos pick-up");
    let m = repo.add_issue(NewIssue::new("y"));
    repo.add_comment(m, "outsider", "/kelos pick-up");
    let err = source(&client(&gh), &spec).discover().await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 500, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn report_comments_and_the_agents_own_triggers_are_ignored() {
    let gh = FakeGitHub::start().await;
    gh.set_authenticated_user("kelos-bot");
    let repo = gh.repo(OWNER, REPO);
    let n = repo.add_issue(NewIssue::new("x"));
    repo.add_comment_with(
        n,
        NewComment::new("alice", "/kelos pick-up").created_at(at("2026-01-01T00:00:00Z")),
    );
    // The spawner's status comment, written with the same token, quoting the command.
    repo.add_comment_with(
        n,
        NewComment::new(
            "someone",
            format!("Task status\n/kelos pick-up\n/kelos needs-input\n{REPORT_MARKER}"),
        )
        .created_at(at("2026-01-02T00:00:00Z")),
    );
    // The agent itself writes the trigger command: never a (re)trigger.
    repo.add_comment_with(
        n,
        NewComment::new("kelos-bot", "/kelos pick-up").created_at(at("2026-01-03T00:00:00Z")),
    );
    let spec = issues_spec(json!({"commentPolicy": {
        "triggerComment": "/kelos pick-up",
        "excludeComments": ["/kelos needs-input"]
    }}));
    let items = discover(&gh, &spec).await;
    assert_eq!(sorted_ids(&items), vec![n]);
    assert_eq!(items[0].trigger_time, Some(at("2026-01-01T00:00:00Z")));
    assert!(
        items[0].comments.contains(REPORT_MARKER),
        "{{.Comments}} keeps every comment"
    );
    assert_eq!(gh.count_exact("GET", "/user"), 1);

    // An exclude command by the agent itself still pauses (agents pause themselves).
    repo.add_comment_with(
        n,
        NewComment::new("kelos-bot", "/kelos needs-input").created_at(at("2026-01-04T00:00:00Z")),
    );
    assert!(discover(&gh, &spec).await.is_empty());

    // The identity can also be configured instead of asked for.
    let client = client_with(config(&gh).agent_login("alice"));
    gh.clear_log();
    let items = source(&client, &spec).discover().await.unwrap();
    assert!(items.is_empty(), "alice's trigger is now the agent's own");
    assert_eq!(gh.count_exact("GET", "/user"), 0);
}

#[tokio::test]
async fn one_hundred_fifty_issues_over_two_pages_are_complete() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let numbers = repo.seed_issues(150);
    let items = discover(&gh, &issues_spec(json!({}))).await;
    assert_eq!(sorted_ids(&items), numbers);
    let pages: Vec<u32> = gh
        .requests()
        .into_iter()
        .filter(|r| r.api_path == "/repos/acme/widgets/issues")
        .map(|r| r.page)
        .collect();
    assert_eq!(pages, vec![1, 2]);
}

#[tokio::test]
async fn recheck_reasons_for_issues() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let spec = issues_spec(json!({
        "labels": ["kelos/work"],
        "excludeLabels": ["wontfix"],
        "commentPolicy": {"excludeComments": ["/kelos needs-input"]}
    }));
    let src = source(&client(&gh), &spec);
    let mk = || repo.add_issue(NewIssue::new("x").label("kelos/work"));
    let no = |reason: &str| Recheck::NoLongerMatches {
        reason: reason.to_string(),
    };

    let fine = mk();
    assert_eq!(
        src.recheck(&fine.to_string()).await.unwrap(),
        Recheck::StillMatches
    );

    let closed = mk();
    repo.close(closed);
    assert_eq!(
        src.recheck(&closed.to_string()).await.unwrap(),
        no(&format!("issue #{closed} was closed"))
    );

    let unlabelled = mk();
    repo.remove_label(unlabelled, "kelos/work");
    assert_eq!(
        src.recheck(&unlabelled.to_string()).await.unwrap(),
        no(&format!(
            "label kelos/work was removed from issue #{unlabelled}"
        ))
    );

    let wontfix = mk();
    repo.add_label(wontfix, "wontfix");
    assert_eq!(
        src.recheck(&wontfix.to_string()).await.unwrap(),
        no(&format!(
            "excluded label wontfix was added to issue #{wontfix}"
        ))
    );

    let paused = mk();
    repo.add_comment(paused, "alice", "/kelos needs-input");
    assert_eq!(
        src.recheck(&paused.to_string()).await.unwrap(),
        no(&format!(
            "exclude comment /kelos needs-input was posted on issue #{paused}"
        ))
    );

    // A deleted (or inaccessible) item cancels nothing: an error.
    let gone = mk();
    repo.delete_issue(gone);
    let err = src.recheck(&gone.to_string()).await.unwrap_err();
    assert!(
        matches!(err, DiscoveryError::Status { status: 404, .. }),
        "{err}"
    );

    // A failed lookup is an error too, never "no longer matches".
    gh.add_fault(Fault::status(502).get(&format!("/repos/acme/widgets/issues/{fine}")));
    assert!(src.recheck(&fine.to_string()).await.is_err());
    assert!(src.recheck("not-a-number").await.is_err());
}

#[tokio::test]
async fn recheck_assignee_author_and_merged_pull_via_issues_source() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    let a = repo.add_issue(NewIssue::new("a").assignee("alice"));
    let src = source(&client(&gh), &issues_spec(json!({"assignee": "alice"})));
    repo.set_assignees(a, ["bob"]);
    assert_eq!(
        src.recheck(&a.to_string()).await.unwrap(),
        Recheck::NoLongerMatches {
            reason: format!("issue #{a} is no longer assigned to alice")
        }
    );

    let pr = repo.add_pull(NewPull::new("pr", "feature"));
    let src = source(&client(&gh), &issues_spec(json!({"types": ["pulls"]})));
    assert_eq!(
        src.recheck(&pr.to_string()).await.unwrap(),
        Recheck::StillMatches
    );
    repo.merge(pr);
    assert_eq!(
        src.recheck(&pr.to_string()).await.unwrap(),
        Recheck::NoLongerMatches {
            reason: format!("pull request #{pr} was merged")
        }
    );
}
