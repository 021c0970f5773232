//! `Link` pagination, as GitHub does it.

mod common;

use common::{get, octocrab};
use kelos_fake_github::FakeGitHub;
use octocrab::models::issues::Issue;

/// Parses `<url>; rel="x", …` into (rel, url) pairs.
fn links(header: &str) -> Vec<(String, String)> {
    header
        .split(", ")
        .map(|part| {
            let (url, rel) = part.split_once("; ").unwrap();
            let url = url.trim_start_matches('<').trim_end_matches('>');
            let rel = rel.trim_start_matches("rel=\"").trim_end_matches('"');
            (rel.to_string(), url.to_string())
        })
        .collect()
}

#[tokio::test]
async fn one_hundred_fifty_issues_in_two_pages_raw() {
    let gh = FakeGitHub::start().await;
    gh.repo("acme", "widgets").seed_issues(150);
    let base = format!("{}/repos/acme/widgets/issues", gh.url());

    let first = get(&format!("{base}?per_page=100&state=open")).await;
    assert_eq!(first.status, 200);
    let items: Vec<Issue> = first.parse();
    assert_eq!(items.len(), 100);
    assert_eq!(items[0].number, 150, "newest first");
    let l = links(first.header("link").expect("Link header"));
    assert_eq!(
        l,
        vec![
            (
                "next".into(),
                format!("{base}?per_page=100&state=open&page=2")
            ),
            (
                "last".into(),
                format!("{base}?per_page=100&state=open&page=2")
            ),
        ]
    );

    let second = get(&l[0].1).await;
    let items: Vec<Issue> = second.parse();
    assert_eq!(items.len(), 50);
    assert_eq!(items.last().unwrap().number, 1);
    let l = links(second.header("link").unwrap());
    assert_eq!(
        l,
        vec![
            (
                "prev".into(),
                format!("{base}?per_page=100&state=open&page=1")
            ),
            (
                "first".into(),
                format!("{base}?per_page=100&state=open&page=1")
            ),
        ]
    );

    // Default page size 30; a middle page links all four ways; beyond the end is empty.
    let mid = get(&format!("{base}?page=3")).await;
    assert_eq!(mid.parse::<Vec<Issue>>().len(), 30);
    let rels: Vec<String> = links(mid.header("link").unwrap())
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(rels, ["prev", "next", "last", "first"]);
    assert!(
        mid.header("link")
            .unwrap()
            .contains("page=5>; rel=\"last\"")
    );
    let past = get(&format!("{base}?per_page=100&page=3")).await;
    assert_eq!(past.parse::<Vec<Issue>>().len(), 0);
    // per_page is capped at 100.
    let capped = get(&format!("{base}?per_page=1000")).await;
    assert_eq!(capped.parse::<Vec<Issue>>().len(), 100);
}

#[tokio::test]
async fn octocrab_follows_links_with_prefix() {
    let gh = FakeGitHub::start_with_prefix("/api/v3").await;
    gh.repo("acme", "widgets").seed_issues(150);
    let octo = octocrab(&gh.url());

    let first = octo
        .issues("acme", "widgets")
        .list()
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100);
    assert_eq!(first.number_of_pages(), Some(2));
    let next = first.next.clone().expect("next link");
    assert!(
        next.to_string()
            .starts_with(&format!("{}/repos/acme/widgets/issues?", gh.url())),
        "{next}"
    );
    let second = octo
        .get_page::<Issue>(&first.next)
        .await
        .unwrap()
        .expect("page 2");
    assert_eq!(second.items.len(), 50);
    assert!(second.next.is_none());
    assert!(second.prev.is_some() && second.first.is_some());

    let all = octo.all_pages(first).await.unwrap();
    assert_eq!(all.len(), 150);
    let mut numbers: Vec<u64> = all.iter().map(|i| i.number).collect();
    numbers.dedup();
    assert_eq!(numbers.len(), 150, "no duplicates across pages");

    let pages: Vec<u32> = gh
        .requests()
        .iter()
        .filter(|r| r.api_path == "/repos/acme/widgets/issues")
        .map(|r| r.page)
        .collect();
    assert_eq!(pages, [1, 2, 2]);
    assert!(gh.requests().iter().all(|r| r.path.starts_with("/api/v3/")));
}

#[tokio::test]
async fn comments_and_reviews_paginate_too() {
    let gh = FakeGitHub::start().await;
    let repo = gh.repo("acme", "widgets");
    let n = repo.add_issue(kelos_fake_github::NewIssue::new("chatty"));
    for i in 0..120 {
        repo.add_comment(n, "alice", &format!("comment {i}"));
    }
    let octo = octocrab(&gh.url());
    let page = octo
        .issues("acme", "widgets")
        .list_comments(n)
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 100);
    assert_eq!(
        page.items[0].body.as_deref(),
        Some("comment 0"),
        "oldest first"
    );
    let rest = octo.all_pages(page).await.unwrap();
    assert_eq!(rest.len(), 120);
    assert_eq!(rest[119].body.as_deref(), Some("comment 119"));
}
