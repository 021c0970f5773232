//! Host, owner and repository from a git URL, exactly as the original parses them
//! (`parseGitHubRepo`, reference §3.3), bugs included: a repository name is cut at its first
//! `.` (`https://github.com/o/my.repo` gives `my`).

use std::sync::LazyLock;

use regex::Regex;

static HTTPS_REPO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"https?://([^/]+)/([^/]+)/([^/.]+)").expect("valid regex"));
static SSH_REPO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"git@([^:]+):([^/]+)/([^/.]+)").expect("valid regex"));

/// `(host, owner, repo)` of a repository URL.
///
/// A `.git` suffix is trimmed; then `https?://HOST/OWNER/REPO` and `git@HOST:OWNER/REPO` are
/// tried (unanchored, `REPO` stops at the first `/` or `.`); otherwise the last two
/// `/`-separated segments are owner and repo with an empty host (`owner/repo` shorthand). A
/// URL with no `/` at all gives `("", "", "unknown-repo-<url>")`.
pub fn parse_github_repo(url: &str) -> (String, String, String) {
    let url = url.strip_suffix(".git").unwrap_or(url);
    for re in [&*HTTPS_REPO, &*SSH_REPO] {
        if let Some(c) = re.captures(url) {
            return (c[1].to_string(), c[2].to_string(), c[3].to_string());
        }
    }
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.len() >= 2 {
        return (
            String::new(),
            parts[parts.len() - 2].to_string(),
            parts[parts.len() - 1].to_string(),
        );
    }
    (String::new(), String::new(), format!("unknown-repo-{url}"))
}

/// Whether a host parsed by [`parse_github_repo`] is a GitHub Enterprise host: neither empty
/// nor `github.com`.
pub fn is_enterprise_host(host: &str) -> bool {
    !host.is_empty() && host != "github.com"
}

/// The REST API base URL for a repository host: `https://api.github.com` for github.com (or
/// an unknown host), `https://<host>/api/v3` for GitHub Enterprise.
pub fn github_api_base_url(host: &str) -> String {
    if is_enterprise_host(host) {
        format!("https://{host}/api/v3")
    } else {
        crate::github_app::DEFAULT_API_BASE_URL.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str) -> (String, String, String) {
        parse_github_repo(url)
    }

    fn t(h: &str, o: &str, r: &str) -> (String, String, String) {
        (h.into(), o.into(), r.into())
    }

    #[test]
    fn https_and_ssh() {
        assert_eq!(p("https://github.com/o/r.git"), t("github.com", "o", "r"));
        assert_eq!(p("https://github.com/o/r"), t("github.com", "o", "r"));
        assert_eq!(p("http://ghe.corp:8443/o/r/"), t("ghe.corp:8443", "o", "r"));
        assert_eq!(p("git@github.com:o/r.git"), t("github.com", "o", "r"));
        assert_eq!(p("git@ghe.corp:team/proj"), t("ghe.corp", "team", "proj"));
    }

    #[test]
    fn dot_cuts_the_repo_name() {
        assert_eq!(
            p("https://github.com/o/my.repo.git"),
            t("github.com", "o", "my")
        );
        assert_eq!(p("git@github.com:o/a.b"), t("github.com", "o", "a"));
    }

    #[test]
    fn fallback_and_unknown() {
        assert_eq!(p("owner/repo"), t("", "owner", "repo"));
        assert_eq!(p("ssh://git@host/o/r"), t("", "o", "r"));
        assert_eq!(p("https://github.com/o"), t("", "github.com", "o"));
        assert_eq!(p("nothing"), t("", "", "unknown-repo-nothing"));
    }

    #[test]
    fn api_base() {
        assert_eq!(github_api_base_url("github.com"), "https://api.github.com");
        assert_eq!(github_api_base_url(""), "https://api.github.com");
        assert_eq!(github_api_base_url("ghe.corp"), "https://ghe.corp/api/v3");
    }
}
