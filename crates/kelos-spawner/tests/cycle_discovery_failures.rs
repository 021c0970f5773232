//! No removal decisions without a complete discovery (contract item 6): whatever goes wrong
//! with GitHub — a status error, a rate limit, a malformed or `null` body, a timeout, a
//! dropped connection, a failure on a later page or on a per-item lookup — no Task is
//! cancelled (or created), the TaskSpawner's DiscoveryFailed condition says why, and the next
//! good cycle carries on. Real apiserver, fake GitHub.

mod cycle_support;

use std::time::Duration;

use cycle_support::*;
use kelos_api::TaskPhase;
use kelos_api::constants::CONDITION_DISCOVERY_FAILED;
use kelos_fake_github::{Fault, NewIssue, NewPull};
use serde_json::json;

const ISSUES: &str = "/repos/acme/widgets/issues";

/// Faults on discovery requests, with the condition reason they must produce.
fn listing_faults() -> Vec<(&'static str, Fault, &'static str)> {
    vec![
        ("500", Fault::status(500).get(ISSUES), "SourceError"),
        ("401", Fault::status(401).get(ISSUES), "SourceError"),
        (
            "403 rate limit",
            Fault::rate_limited().get(ISSUES),
            "RateLimited",
        ),
        (
            "429",
            Fault::secondary_rate_limit(60).get(ISSUES),
            "RateLimited",
        ),
        (
            "malformed JSON",
            Fault::malformed_json().get(ISSUES),
            "MalformedResponse",
        ),
        (
            "null body",
            Fault::null_body().get(ISSUES),
            "MalformedResponse",
        ),
        (
            "timeout",
            Fault::delay(Duration::from_secs(5)).get(ISSUES),
            "TransportError",
        ),
        (
            "dropped connection",
            Fault::drop_connection().get(ISSUES),
            "TransportError",
        ),
        (
            "comments lookup",
            Fault::status(500).get("/repos/acme/widgets/issues/*/comments"),
            "SourceError",
        ),
        (
            "comments lookup null",
            Fault::null_body().get("/repos/acme/widgets/issues/*/comments"),
            "MalformedResponse",
        ),
    ]
}

async fn assert_failed_cycle(env: &Env, what: &str, reason: &str, running: &[&str]) {
    // A fresh process each time: no rate-limit memory from the previous fault.
    let report = env
        .spawner()
        .run_cycle()
        .await
        .expect("the cycle itself runs");
    assert!(report.discovery_error.is_some(), "{what}: {report:?}");
    assert!(
        report.cancelled.is_empty(),
        "{what}: cancelled {:?}",
        report.cancelled
    );
    assert!(
        report.created.is_empty(),
        "{what}: created {:?}",
        report.created
    );
    for name in running {
        assert_eq!(
            env.task(name).await.phase(),
            Some(TaskPhase::Running),
            "{what}"
        );
    }
    let (status, got_reason, message) = condition(&env.status().await, CONDITION_DISCOVERY_FAILED);
    assert_eq!(status, "True", "{what}");
    assert_eq!(got_reason, reason, "{what}: {message}");
    assert!(
        message.contains("no Task was created or cancelled"),
        "{what}: {message}"
    );
}

#[tokio::test]
async fn no_cancellation_when_issue_discovery_fails() {
    let env = env("df-issues").await;
    let closed = env.repo.add_issue(NewIssue::new("Will be closed"));
    let open = env.repo.add_issue(NewIssue::new("Stays open"));
    env.repo
        .add_comment(open, "alice", "a comment, so comments are fetched");
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 2);
    let closed_task = format!("{NAME}-{closed}");
    let open_task = format!("{NAME}-{open}");
    env.set_phase(&closed_task, TaskPhase::Running).await;
    env.set_phase(&open_task, TaskPhase::Running).await;
    let before = env.status().await;
    // A successful discovery now would cancel `closed_task`.
    env.repo.close(closed);

    for (what, fault, reason) in listing_faults() {
        let id = env.gh.add_fault(fault);
        assert_failed_cycle(&env, what, reason, &[&closed_task, &open_task]).await;
        env.gh.remove_fault(id);
        let status = env.status().await;
        assert_eq!(
            status.last_discovery_time, before.last_discovery_time,
            "{what}"
        );
        assert_eq!(
            status.total_tasks_created, before.total_tasks_created,
            "{what}"
        );
    }

    // GitHub is fine again: the spawner carries on and the closed issue's Task goes.
    let report = env.spawner().run_cycle().await.unwrap();
    assert_eq!(report.cancelled.len(), 1, "{report:?}");
    assert_eq!(
        env.task(&closed_task).await.phase(),
        Some(TaskPhase::Cancelled)
    );
    assert_eq!(env.task(&open_task).await.phase(), Some(TaskPhase::Running));
    let (status, _, _) = condition(&env.status().await, CONDITION_DISCOVERY_FAILED);
    assert_eq!(status, "False", "cleared on success");
}

#[tokio::test]
async fn no_cancellation_when_pull_request_lookups_fail() {
    let env = env("df-pulls").await;
    let closed = env
        .repo
        .add_pull(NewPull::new("Closed soon", "a").head_sha("h1"));
    let open = env
        .repo
        .add_pull(NewPull::new("Stays open", "b").head_sha("h2"));
    env.create_spawner(spec(
        json!({"githubPullRequests": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    assert_eq!(env.cycle().await.created.len(), 2);
    let closed_task = format!("{NAME}-{closed}");
    let open_task = format!("{NAME}-{open}");
    env.set_phase(&closed_task, TaskPhase::Running).await;
    env.set_phase(&open_task, TaskPhase::Running).await;
    env.repo.close(closed);

    let faults = [
        (
            "pulls listing 500",
            Fault::status(500).get("/repos/acme/widgets/pulls"),
            "SourceError",
        ),
        (
            "reviews lookup",
            Fault::status(500).get("/repos/acme/widgets/pulls/*/reviews"),
            "SourceError",
        ),
        (
            "reviews lookup malformed",
            Fault::malformed_json().get("/repos/acme/widgets/pulls/*/reviews"),
            "MalformedResponse",
        ),
        (
            "conversation comments lookup",
            Fault::status(502).get("/repos/acme/widgets/issues/*/comments"),
            "SourceError",
        ),
        (
            "inline comments lookup",
            Fault::null_body().get("/repos/acme/widgets/pulls/*/comments"),
            "MalformedResponse",
        ),
    ];
    for (what, fault, reason) in faults {
        let id = env.gh.add_fault(fault);
        assert_failed_cycle(&env, what, reason, &[&closed_task, &open_task]).await;
        env.gh.remove_fault(id);
    }
    assert_eq!(env.spawner().run_cycle().await.unwrap().cancelled.len(), 1);
}

#[tokio::test]
async fn failure_on_page_two_of_three_cancels_nothing() {
    let env = env("df-page2").await;
    let numbers = env.repo.seed_issues(250);
    let spec_v = spec(
        json!({"githubIssues": {}}),
        json!({
            "maxConcurrency": 3,
            "cancellationPolicy": {"onSourceRemoved": "Cancel"}
        }),
    );
    env.create_spawner(spec_v.clone()).await;
    // Newest first, 100 per page: #250 is on page 1, #120 on page 2, #1 on page 3.
    let mut names = Vec::new();
    for n in [numbers[249], numbers[119], numbers[0]] {
        names.push(
            env.seed_task(&spec_v, &issue_item(n), TaskPhase::Running)
                .await
                .metadata
                .name
                .unwrap(),
        );
    }
    let running: Vec<&str> = names.iter().map(String::as_str).collect();
    for (what, fault, reason) in [
        (
            "page 2 500",
            Fault::status(500).get(ISSUES).page(2),
            "SourceError",
        ),
        (
            "page 2 null",
            Fault::null_body().get(ISSUES).page(2),
            "MalformedResponse",
        ),
        (
            "page 3 malformed",
            Fault::malformed_json().get(ISSUES).page(3),
            "MalformedResponse",
        ),
        (
            "page 3 timeout",
            Fault::delay(Duration::from_secs(5)).get(ISSUES).page(3),
            "TransportError",
        ),
    ] {
        let id = env.gh.add_fault(fault);
        assert_failed_cycle(&env, what, reason, &running).await;
        env.gh.remove_fault(id);
    }
    // All three pages answer: every item is found, nothing is cancelled.
    let report = env.cycle().await;
    assert_eq!(report.discovered, Some(250));
    assert!(report.cancelled.is_empty(), "{report:?}");
}

#[tokio::test]
async fn second_page_of_150_issues_is_never_counted_as_removed() {
    let env = env("df-150").await;
    let numbers = env.repo.seed_issues(150);
    let spec_v = spec(
        json!({"githubIssues": {}}),
        json!({"maxConcurrency": 2, "cancellationPolicy": {"onSourceRemoved": "Cancel"}}),
    );
    env.create_spawner(spec_v.clone()).await;
    let first_page = env
        .seed_task(&spec_v, &issue_item(numbers[149]), TaskPhase::Running)
        .await;
    let second_page = env
        .seed_task(&spec_v, &issue_item(numbers[0]), TaskPhase::Running)
        .await;
    for _ in 0..2 {
        let report = env.cycle().await;
        assert_eq!(report.discovered, Some(150));
        assert!(report.cancelled.is_empty(), "{report:?}");
        assert!(report.created.is_empty(), "maxConcurrency 2 is reached");
    }
    assert_eq!(
        env.gh.count_exact("GET", ISSUES),
        4,
        "two pages per cycle, both read"
    );
    for t in [&first_page, &second_page] {
        assert_eq!(
            env.task(t.metadata.name.as_deref().unwrap()).await.phase(),
            Some(TaskPhase::Running)
        );
    }
    // Closing the item on page 2 does cancel its Task: page 2 really is looked at.
    env.repo.close(numbers[0]);
    let report = env.cycle().await;
    assert_eq!(report.cancelled.len(), 1);
    assert_eq!(
        report.cancelled[0].0,
        second_page.metadata.name.clone().unwrap()
    );
}
