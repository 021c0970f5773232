//! Comment policy (spawner-reference §2.3): trigger and exclude commands written as a whole
//! line, who is authorised to give them (allowedUsers, allowedTeams via team membership,
//! minimumPermission via the collaborator permission API), and "latest command wins".
//!
//! Two additions to the original: comments carrying [`REPORT_MARKER`](super::REPORT_MARKER)
//! (the spawner's own status comments) never count as commands, and comments by the agent's
//! own identity never count as *trigger* commands (a Task must not retrigger itself). Exclude
//! commands by the agent still count: agents pause themselves with `/kelos needs-input`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use kelos_api::{GitHubCommentPolicy, MinimumPermission};

use super::REPORT_MARKER;
use super::client::GitHubClient;
use super::model::{CollaboratorPermission, TeamMembership};
use crate::item::DiscoveryError;

/// A resolved comment policy: `commentPolicy`, or the legacy `triggerComment` /
/// `excludeComments` (which authorise everyone).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommentPolicy {
    pub trigger: Option<String>,
    pub excludes: Vec<String>,
    /// Lower-cased logins.
    pub allowed_users: Vec<String>,
    /// `(org, team-slug)`.
    pub allowed_teams: Vec<(String, String)>,
    pub minimum_permission: Option<MinimumPermission>,
}

impl CommentPolicy {
    /// From a source's `commentPolicy` and legacy fields; mixing them is an error, as in the
    /// original's `resolveGitHubCommentPolicy`.
    pub fn resolve(
        policy: Option<&GitHubCommentPolicy>,
        legacy_trigger: Option<&String>,
        legacy_excludes: Option<&Vec<String>>,
    ) -> Result<Self, DiscoveryError> {
        let legacy_trigger = legacy_trigger.map(|s| s.trim()).filter(|s| !s.is_empty());
        let legacy_excludes: Vec<String> = legacy_excludes
            .into_iter()
            .flatten()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let Some(p) = policy else {
            return Ok(CommentPolicy {
                trigger: legacy_trigger.map(str::to_string),
                excludes: legacy_excludes,
                ..CommentPolicy::default()
            });
        };
        if legacy_trigger.is_some() || !legacy_excludes.is_empty() {
            return Err(DiscoveryError::Config(
                "commentPolicy cannot be used with triggerComment or excludeComments".into(),
            ));
        }
        let mut teams = Vec::new();
        for t in p.allowed_teams.iter().flatten() {
            match t.0.split_once('/') {
                Some((org, slug))
                    if !org.trim().is_empty() && !slug.trim().is_empty() && !slug.contains('/') =>
                {
                    teams.push((org.trim().to_string(), slug.trim().to_string()))
                }
                _ => {
                    return Err(DiscoveryError::Config(format!(
                        "invalid team {:?}: expected org/team-slug",
                        t.0
                    )));
                }
            }
        }
        Ok(CommentPolicy {
            trigger: p
                .trigger_comment
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            excludes: p
                .exclude_comments
                .iter()
                .flatten()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            allowed_users: p
                .allowed_users
                .iter()
                .flatten()
                .map(|u| u.trim().to_ascii_lowercase())
                .filter(|u| !u.is_empty())
                .collect(),
            allowed_teams: teams,
            minimum_permission: p.minimum_permission,
        })
    }

    /// Whether comments decide anything (a trigger or an exclude command is configured).
    pub fn needs_comment_filter(&self) -> bool {
        self.trigger.is_some() || !self.excludes.is_empty()
    }

    /// Whether commands need an authorised author (else everyone is authorised).
    pub fn restricts_authors(&self) -> bool {
        !self.allowed_users.is_empty()
            || !self.allowed_teams.is_empty()
            || self.minimum_permission.is_some()
    }
}

/// Whether some line of `body`, trimmed, is exactly `command` (case-sensitive), so
/// "do /kelos pick-up now" does not match `/kelos pick-up`.
pub fn contains_command(body: &str, command: &str) -> bool {
    let command = command.trim();
    !command.is_empty() && body.lines().any(|l| l.trim() == command)
}

/// A comment as the policy sees it: conversation comments, inline review comments and review
/// bodies, in that order (the index breaks time ties).
#[derive(Clone, Debug)]
pub struct PolicyComment {
    pub author: String,
    pub body: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// What the policy says about an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// Discover it; `trigger_time` is the latest authorised trigger comment, if any.
    Allowed { trigger_time: Option<DateTime<Utc>> },
    /// An authorised exclude command is the latest word (`in_body`: it is in the item body).
    Excluded { command: String, in_body: bool },
    /// A trigger command is required and there is no authorised one.
    NoTrigger { command: String },
}

impl PolicyOutcome {
    pub fn is_allowed(&self) -> bool {
        matches!(self, PolicyOutcome::Allowed { .. })
    }
}

/// Authorisation decisions for one discovery (errors are not cached).
pub struct Authorizer<'a> {
    client: &'a GitHubClient,
    policy: &'a CommentPolicy,
    cache: Mutex<HashMap<String, bool>>,
}

impl<'a> Authorizer<'a> {
    pub fn new(client: &'a GitHubClient, policy: &'a CommentPolicy) -> Self {
        Authorizer {
            client,
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `login` may give commands.
    pub async fn is_authorized(&self, login: &str) -> Result<bool, DiscoveryError> {
        if !self.policy.restricts_authors() {
            return Ok(true);
        }
        let login = login.trim().to_ascii_lowercase();
        if login.is_empty() {
            return Ok(false);
        }
        if self.policy.allowed_users.contains(&login) {
            return Ok(true);
        }
        if let Some(v) = self.cache.lock().unwrap().get(&login) {
            return Ok(*v);
        }
        let decision = self.authorize(&login).await?;
        self.cache.lock().unwrap().insert(login, decision);
        Ok(decision)
    }

    async fn authorize(&self, login: &str) -> Result<bool, DiscoveryError> {
        let mut first_error = None;
        if let Some(min) = self.policy.minimum_permission {
            let url = self.client.repo_url(&format!(
                "/collaborators/{}/permission",
                path_segment(login)
            ));
            match self
                .client
                .get_json_or_404::<CollaboratorPermission>(&url)
                .await
            {
                Ok(Some(p)) => {
                    let rank = p
                        .role_name
                        .as_deref()
                        .and_then(permission_rank)
                        .or_else(|| p.permission.as_deref().and_then(permission_rank))
                        .unwrap_or(0);
                    if rank >= minimum_rank(min) {
                        return Ok(true);
                    }
                }
                Ok(None) => {}
                Err(e) => first_error = Some(e),
            }
        }
        for (org, slug) in &self.policy.allowed_teams {
            let url = self.client.api_url(&format!(
                "/orgs/{}/teams/{}/memberships/{}",
                path_segment(org),
                path_segment(slug),
                path_segment(login)
            ));
            match self.client.get_json_or_404::<TeamMembership>(&url).await {
                Ok(Some(m)) if m.state.eq_ignore_ascii_case("active") => return Ok(true),
                Ok(_) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }
}

fn permission_rank(p: &str) -> Option<u8> {
    match p.trim().to_ascii_lowercase().as_str() {
        "read" | "pull" => Some(1),
        "triage" => Some(2),
        "write" | "push" => Some(3),
        "maintain" => Some(4),
        "admin" => Some(5),
        _ => None,
    }
}

fn minimum_rank(m: MinimumPermission) -> u8 {
    match m {
        MinimumPermission::Read => 1,
        MinimumPermission::Triage => 2,
        MinimumPermission::Write => 3,
        MinimumPermission::Maintain => 4,
        MinimumPermission::Admin => 5,
    }
}

/// Percent-encodes one URL path segment.
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `a` is later than `b`: by time when both have one and they differ, else by index.
fn later(a: (Option<DateTime<Utc>>, usize), b: (Option<DateTime<Utc>>, usize)) -> bool {
    match (a.0, b.0) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a.1 > b.1,
    }
}

/// A matching, authorised comment: `(created_at, index, command)`.
type Match = (Option<DateTime<Utc>>, usize, String);

/// Evaluates the policy for one item.
///
/// `agent_login`: the agent's identity, whose comments never trigger.
pub async fn evaluate(
    policy: &CommentPolicy,
    authz: &Authorizer<'_>,
    item_author: &str,
    item_body: &str,
    comments: &[PolicyComment],
    agent_login: Option<&str>,
) -> Result<PolicyOutcome, DiscoveryError> {
    if !policy.needs_comment_filter() {
        return Ok(PolicyOutcome::Allowed { trigger_time: None });
    }
    let is_agent = |login: &str| {
        agent_login.is_some_and(|a| !a.is_empty() && a.trim().eq_ignore_ascii_case(login.trim()))
    };
    let usable: Vec<(usize, &PolicyComment)> = comments
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.body.contains(REPORT_MARKER))
        .collect();

    // Latest authorised match among `candidates` (each: created_at, index, command, author).
    async fn latest(
        authz: &Authorizer<'_>,
        mut candidates: Vec<(Option<DateTime<Utc>>, usize, String, String)>,
    ) -> Result<Option<Match>, DiscoveryError> {
        while !candidates.is_empty() {
            let mut best = 0;
            for i in 1..candidates.len() {
                if later(
                    (candidates[i].0, candidates[i].1),
                    (candidates[best].0, candidates[best].1),
                ) {
                    best = i;
                }
            }
            let (t, idx, cmd, author) = candidates.swap_remove(best);
            if authz.is_authorized(&author).await? {
                return Ok(Some((t, idx, cmd)));
            }
        }
        Ok(None)
    }

    let trigger_match = match &policy.trigger {
        Some(cmd) => {
            let cands = usable
                .iter()
                .filter(|(_, c)| !is_agent(&c.author) && contains_command(&c.body, cmd))
                .map(|(i, c)| (c.created_at, *i, cmd.clone(), c.author.clone()))
                .collect();
            latest(authz, cands).await?
        }
        None => None,
    };
    let exclude_match = if policy.excludes.is_empty() {
        None
    } else {
        let cands = usable
            .iter()
            .filter_map(|(i, c)| {
                policy
                    .excludes
                    .iter()
                    .find(|cmd| contains_command(&c.body, cmd))
                    .map(|cmd| (c.created_at, *i, cmd.clone(), c.author.clone()))
            })
            .collect();
        latest(authz, cands).await?
    };

    // Commands in the item body count only when its author is authorised; no timestamp.
    let body_exclude = move || async move {
        match policy
            .excludes
            .iter()
            .find(|c| contains_command(item_body, c))
        {
            Some(cmd) if authz.is_authorized(item_author).await? => {
                Ok::<_, DiscoveryError>(Some(cmd.clone()))
            }
            _ => Ok(None),
        }
    };
    let body_trigger = move || async move {
        match &policy.trigger {
            Some(cmd) if contains_command(item_body, cmd) => authz.is_authorized(item_author).await,
            _ => Ok(false),
        }
    };
    let no_trigger = || PolicyOutcome::NoTrigger {
        command: policy.trigger.clone().unwrap_or_default(),
    };
    let excluded = |command: String, in_body: bool| PolicyOutcome::Excluded { command, in_body };
    let allowed = |trigger_time| PolicyOutcome::Allowed { trigger_time };

    let outcome = match (policy.trigger.is_some(), policy.excludes.is_empty()) {
        // Trigger only.
        (true, true) => {
            if let Some((t, _, _)) = trigger_match {
                allowed(t)
            } else if body_trigger().await? {
                allowed(None)
            } else {
                no_trigger()
            }
        }
        // Exclude only.
        (false, false) => {
            if let Some((_, _, cmd)) = exclude_match {
                excluded(cmd, false)
            } else if let Some(cmd) = body_exclude().await? {
                excluded(cmd, true)
            } else {
                allowed(None)
            }
        }
        // Both: the latest command wins.
        (true, false) => match (trigger_match, exclude_match) {
            (Some(t), Some(e)) => {
                if later((t.0, t.1), (e.0, e.1)) {
                    allowed(t.0)
                } else {
                    excluded(e.2, false)
                }
            }
            (Some(t), None) => allowed(t.0),
            (None, Some(e)) => excluded(e.2, false),
            (None, None) => {
                if let Some(cmd) = body_exclude().await? {
                    excluded(cmd, true)
                } else if body_trigger().await? {
                    allowed(None)
                } else {
                    no_trigger()
                }
            }
        },
        (false, true) => allowed(None),
    };
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_line_commands() {
        assert!(contains_command("/kelos pick-up", "/kelos pick-up"));
        assert!(contains_command(
            "thanks\n  /kelos pick-up  \nbye",
            "/kelos pick-up"
        ));
        assert!(contains_command(
            "a\r\n/kelos pick-up\r\n",
            "/kelos pick-up"
        ));
        assert!(!contains_command("do /kelos pick-up now", "/kelos pick-up"));
        assert!(!contains_command("/Kelos pick-up", "/kelos pick-up"));
        assert!(!contains_command("anything", ""));
    }

    #[test]
    fn resolve_rejects_mixing_and_bad_teams() {
        let p = GitHubCommentPolicy {
            trigger_comment: Some("/go".into()),
            ..Default::default()
        };
        assert!(CommentPolicy::resolve(Some(&p), Some(&"/x".into()), None).is_err());
        assert!(CommentPolicy::resolve(Some(&p), None, Some(&vec!["/y".into()])).is_err());
        let legacy =
            CommentPolicy::resolve(None, Some(&"/x".into()), Some(&vec!["/y".into()])).unwrap();
        assert_eq!(legacy.trigger.as_deref(), Some("/x"));
        assert!(!legacy.restricts_authors());
        let bad = GitHubCommentPolicy {
            allowed_teams: Some(vec![kelos_api::GitHubTeamRef("noslash".into())]),
            ..Default::default()
        };
        let err = CommentPolicy::resolve(Some(&bad), None, None).unwrap_err();
        assert!(err.to_string().contains("expected org/team-slug"), "{err}");
    }

    #[test]
    fn ordering_by_time_then_index() {
        let t1 = Some(DateTime::from_timestamp(100, 0).unwrap());
        let t2 = Some(DateTime::from_timestamp(200, 0).unwrap());
        assert!(later((t2, 0), (t1, 5)));
        assert!(later((t1, 5), (t1, 4)));
        assert!(later((None, 5), (t2, 4)));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("kelos-bot[bot]"), "kelos-bot%5Bbot%5D");
        assert_eq!(path_segment("alice"), "alice");
    }
}
