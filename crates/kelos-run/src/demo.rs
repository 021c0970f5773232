//! The demo's GitHub side: a fake GitHub seeded with `kelos-demo/app`, or a real repository.

use kelos_fake_github::{FakeGitHub, NewIssue, NewPull, RepoHandle};

use crate::watch::Titles;

pub const DEMO_OWNER: &str = "kelos-demo";
pub const DEMO_REPO: &str = "app";
/// The token the fake GitHub requires and the spawners send (`GITHUB_TOKEN`).
pub const DEMO_TOKEN: &str = "ghp_kelos-demo-token";
/// Labels the demo's TaskSpawners select (see `demo/taskspawner.yaml`).
pub const ISSUE_LABEL: &str = "kelos/work";
pub const REVIEW_LABEL: &str = "kelos/review";
/// The TaskSpawners of `demo/taskspawner.yaml`.
pub const ISSUE_SPAWNER: &str = "demo-issues";
pub const REVIEW_SPAWNER: &str = "demo-reviews";
pub const SPAWNERS: [&str; 2] = [ISSUE_SPAWNER, REVIEW_SPAWNER];
pub const NAMESPACE: &str = "kelos-demo";
/// Where `examples/` goes once the demo is done (interactive runs only).
pub const EXAMPLES_NAMESPACE: &str = "kelos-examples";

/// The manifests, applied in this order; embedded so the binary works from any directory (the
/// files live in `crates/kelos-run/demo/`).
pub const MANIFESTS: [(&str, &str); 3] = [
    (
        "crates/kelos-run/demo/agent-runtime.yaml",
        include_str!("../demo/agent-runtime.yaml"),
    ),
    (
        "crates/kelos-run/demo/workspace.yaml",
        include_str!("../demo/workspace.yaml"),
    ),
    (
        "crates/kelos-run/demo/taskspawner.yaml",
        include_str!("../demo/taskspawner.yaml"),
    ),
];

/// Where the spawners find their items.
pub enum GitHub {
    Fake {
        server: FakeGitHub,
        repo: RepoHandle,
        /// The issues labelled for `demo-issues`.
        issues: Vec<u64>,
        /// The pull request `demo-reviews` reviews, closed by the demo.
        pull: u64,
        titles: Titles,
    },
    Real {
        owner: String,
        repo: String,
        token: String,
    },
}

impl GitHub {
    pub fn owner(&self) -> &str {
        match self {
            GitHub::Fake { .. } => DEMO_OWNER,
            GitHub::Real { owner, .. } => owner,
        }
    }

    pub fn repo(&self) -> &str {
        match self {
            GitHub::Fake { .. } => DEMO_REPO,
            GitHub::Real { repo, .. } => repo,
        }
    }

    pub fn token(&self) -> &str {
        match self {
            GitHub::Fake { .. } => DEMO_TOKEN,
            GitHub::Real { token, .. } => token,
        }
    }

    /// `--github-api-base-url` for the spawners: the fake's URL, or none (api.github.com).
    pub fn api_base_url(&self) -> Option<String> {
        match self {
            GitHub::Fake { server, .. } => Some(server.url()),
            GitHub::Real { .. } => None,
        }
    }

    pub fn titles(&self) -> Titles {
        match self {
            GitHub::Fake { titles, .. } => titles.clone(),
            GitHub::Real { .. } => Titles::new(),
        }
    }

    /// A manifest with the demo repository's URL replaced by the real one.
    pub fn render(&self, manifest: &str) -> String {
        manifest.replace(
            &format!("https://github.com/{DEMO_OWNER}/{DEMO_REPO}"),
            &format!("https://github.com/{}/{}", self.owner(), self.repo()),
        )
    }
}

/// What [`fake`] seeded, one line each, for the narration.
pub struct Seeded {
    pub github: GitHub,
    pub lines: Vec<String>,
}

/// Starts the fake GitHub (127.0.0.1, a free port) and seeds `kelos-demo/app`.
pub fn fake() -> Result<Seeded, String> {
    let server = FakeGitHub::spawn("").map_err(|e| format!("starting the fake GitHub: {e}"))?;
    server.require_token(Some(DEMO_TOKEN));
    let repo = server.repo(DEMO_OWNER, DEMO_REPO);
    repo.define_label(ISSUE_LABEL, "0e8a16", Some("An agent should work on this"));
    repo.define_label(REVIEW_LABEL, "1d76db", Some("An agent should review this"));
    let mut titles = Titles::new();
    let mut lines = Vec::new();
    let mut issues = Vec::new();
    let seeds = [
        (
            "Login redirect drops the query string",
            "After signing in, /login?next=/settings?tab=keys lands on /settings.",
            Some(ISSUE_LABEL),
            "alice",
        ),
        (
            "Add a --dry-run flag to the importer",
            "Print what would be imported without writing anything.",
            Some(ISSUE_LABEL),
            "bob",
        ),
        (
            "Flaky test: cache eviction under load",
            "Fails about once in fifty runs on CI.",
            None,
            "carol",
        ),
    ];
    for (title, body, label, author) in seeds {
        let mut issue = NewIssue::new(title).body(body).author(author);
        if let Some(label) = label {
            issue = issue.label(label);
        }
        let n = repo.add_issue(issue);
        titles.insert(n, title.to_owned());
        match label {
            Some(label) => {
                issues.push(n);
                lines.push(format!("issue #{n} \"{title}\" labelled {label}"));
            }
            None => lines.push(format!("issue #{n} \"{title}\" (no label: no Task)")),
        }
    }
    let title = "Refactor the config loader";
    let pull = repo.add_pull(
        NewPull::new(title, "refactor-config-loader")
            .body("Splits parsing from validation; no behaviour change intended.")
            .author("dave")
            .label(REVIEW_LABEL),
    );
    titles.insert(pull, title.to_owned());
    lines.push(format!(
        "pull request #{pull} \"{title}\" (open, labelled {REVIEW_LABEL})"
    ));
    Ok(Seeded {
        github: GitHub::Fake {
            server,
            repo,
            issues,
            pull,
            titles,
        },
        lines,
    })
}

/// `owner/repo` (or a github.com URL) from `KELOS_RUN_REPO`.
pub fn parse_repo(s: &str) -> Result<(String, String), String> {
    let s = s.trim().trim_end_matches('/').trim_end_matches(".git");
    let s = s
        .strip_prefix("https://github.com/")
        .or_else(|| s.strip_prefix("github.com/"))
        .unwrap_or(s);
    match s.split('/').collect::<Vec<_>>().as_slice() {
        [owner, repo] if !owner.is_empty() && !repo.is_empty() => {
            Ok(((*owner).to_owned(), (*repo).to_owned()))
        }
        _ => Err(format!(
            "KELOS_RUN_REPO must be owner/repo (or https://github.com/owner/repo), not {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_parse() {
        for s in [
            "acme/widgets",
            "https://github.com/acme/widgets",
            "https://github.com/acme/widgets.git",
            "github.com/acme/widgets/",
        ] {
            assert_eq!(
                parse_repo(s).unwrap(),
                ("acme".to_owned(), "widgets".to_owned()),
                "{s}"
            );
        }
        for s in ["", "acme", "acme/", "/widgets", "a/b/c"] {
            assert!(parse_repo(s).is_err(), "{s}");
        }
    }

    #[test]
    fn real_repositories_replace_the_demo_url_only() {
        let gh = GitHub::Real {
            owner: "acme".into(),
            repo: "widgets".into(),
            token: "t".into(),
        };
        let ws = gh.render(MANIFESTS[1].1);
        assert!(ws.contains("repo: https://github.com/acme/widgets\n"));
        assert!(!ws.contains("kelos-demo/app"));
    }

    #[test]
    fn manifests_name_the_spawners_and_labels_used_here() {
        let spawners = MANIFESTS[2].1;
        for name in SPAWNERS {
            assert!(spawners.contains(&format!("name: {name}\n")), "{name}");
        }
        assert!(spawners.contains(&format!("labels: [{ISSUE_LABEL}]")));
        assert!(spawners.contains(&format!("labels: [{REVIEW_LABEL}]")));
        // The agent-runtime policy keys on the review spawner's Task names and the namespace.
        let policy = MANIFESTS[0].1;
        assert!(policy.contains(&format!("startsWith(\"{REVIEW_SPAWNER}-\")")));
        assert!(policy.contains(&format!("kubernetes.io/metadata.name: {NAMESPACE}")));
    }

    #[test]
    fn the_fake_is_seeded() {
        let seeded = fake().unwrap();
        let GitHub::Fake {
            repo, issues, pull, ..
        } = &seeded.github
        else {
            unreachable!()
        };
        assert_eq!(issues.len(), 2);
        let pr = repo.get_issue(*pull).unwrap();
        assert!(pr.pull.is_some());
        assert!(pr.labels.iter().any(|l| l == REVIEW_LABEL));
        assert_eq!(seeded.lines.len(), 4);
    }
}
