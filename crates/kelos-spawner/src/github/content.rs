//! Pure helpers that turn GitHub records into work-item fields: comment concatenation under
//! the 64 KiB budget, inline review comments on the head commit, review-state aggregation,
//! label filters and priority ordering.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::model::{Review, ReviewComment, parse_time};
use crate::item::WorkItem;

/// Budget of `{{.Comments}}` and `{{.ReviewComments}}` (the original's `maxCommentBytes`).
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;
/// Separator between concatenated comments.
pub const COMMENT_SEPARATOR: &str = "\n---\n";

/// Joins `bodies` (oldest first) with `"\n---\n"`, dropping the oldest until the result fits in
/// [`MAX_COMMENT_BYTES`]. A single newest body longer than the budget is cut at the budget.
pub fn concat_comment_bodies<S: AsRef<str>>(bodies: &[S]) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut total = 0usize;
    for body in bodies.iter().rev() {
        let body = body.as_ref();
        let extra = body.len()
            + if kept.is_empty() {
                0
            } else {
                COMMENT_SEPARATOR.len()
            };
        if total + extra > MAX_COMMENT_BYTES {
            if kept.is_empty() {
                let mut cut = MAX_COMMENT_BYTES;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                kept.push(&body[..cut]);
            }
            break;
        }
        total += extra;
        kept.push(body);
    }
    kept.reverse();
    kept.join(COMMENT_SEPARATOR)
}

/// Inline review comments on `head_sha`, each `"<path>:<line>\n<body>"` (`path` alone when
/// the line is 0 or absent), blanks skipped, concatenated like comments.
pub fn format_review_comments(comments: &[ReviewComment], head_sha: &str) -> String {
    let parts: Vec<String> = comments
        .iter()
        .filter(|c| c.commit_id.as_deref() == Some(head_sha))
        .filter_map(|c| {
            let body = c.body.as_deref().unwrap_or("").trim();
            if body.is_empty() {
                return None;
            }
            let path = c.path.as_deref().unwrap_or("");
            Some(match c.line {
                Some(line) if line > 0 => format!("{path}:{line}\n{body}"),
                _ => format!("{path}\n{body}"),
            })
        })
        .collect();
    concat_comment_bodies(&parts)
}

/// The aggregated review state of a pull request's current head commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AggregatedReview {
    /// `"approved"`, `"changes_requested"` or `""`.
    pub state: String,
    /// The latest time among the reviews that give `state`.
    pub time: Option<DateTime<Utc>>,
    /// The same, ignoring reviews by `agent_login` (what may retrigger).
    pub trigger_time: Option<DateTime<Utc>>,
}

/// Only APPROVED and CHANGES_REQUESTED reviews of `head_sha` count; each reviewer's latest
/// wins; any changes_requested dominates approved.
pub fn aggregate_reviews(
    reviews: &[Review],
    head_sha: &str,
    agent_login: Option<&str>,
) -> AggregatedReview {
    let mut latest: HashMap<String, (String, DateTime<Utc>)> = HashMap::new();
    for r in reviews {
        let state = r.state.trim().to_ascii_uppercase();
        if state != "APPROVED" && state != "CHANGES_REQUESTED" {
            continue;
        }
        if r.commit_id.as_deref() != Some(head_sha) {
            continue;
        }
        let login = r.author().trim().to_ascii_lowercase();
        if login.is_empty() {
            continue;
        }
        let Some(at) = r.submitted_at.as_deref().and_then(parse_time) else {
            continue;
        };
        match latest.get(&login) {
            Some((_, t)) if *t > at => {}
            _ => {
                latest.insert(login, (state, at));
            }
        }
    }
    let agent = agent_login.map(|a| a.trim().to_ascii_lowercase());
    let pick = |wanted: &str| {
        let of_state = latest.iter().filter(|(_, (s, _))| s == wanted);
        let time = of_state.clone().map(|(_, (_, t))| *t).max();
        let trigger_time = of_state
            .filter(|(login, _)| agent.as_deref() != Some(login.as_str()))
            .map(|(_, (_, t))| *t)
            .max();
        (time, trigger_time)
    };
    for (upper, lower) in [
        ("CHANGES_REQUESTED", "changes_requested"),
        ("APPROVED", "approved"),
    ] {
        let (time, trigger_time) = pick(upper);
        if time.is_some() {
            return AggregatedReview {
                state: lower.to_string(),
                time,
                trigger_time,
            };
        }
    }
    AggregatedReview::default()
}

/// Whether `labels` has `wanted` (GitHub label names are case-insensitive).
pub fn has_label(labels: &[String], wanted: &str) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(wanted.trim()))
}

/// Stable sort by the best (smallest) index of any of an item's labels in `priority`; items
/// without a match sort last (the original's `SortByLabelPriority`).
pub fn sort_by_label_priority(items: &mut [WorkItem], priority: &[String]) {
    if priority.is_empty() {
        return;
    }
    items.sort_by_key(|item| {
        priority
            .iter()
            .position(|p| has_label(&item.labels, p))
            .unwrap_or(priority.len())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::model::User;

    #[test]
    fn concat_keeps_newest_within_budget() {
        assert_eq!(concat_comment_bodies(&["a", "b", "c"]), "a\n---\nb\n---\nc");
        assert_eq!(concat_comment_bodies::<&str>(&[]), "");
        let big = "x".repeat(40 * 1024);
        let out = concat_comment_bodies(&["old".to_string(), big.clone(), big.clone()]);
        assert_eq!(out, big, "only the newest 40 KiB body fits");
        let huge = "y".repeat(70 * 1024);
        assert_eq!(concat_comment_bodies(&[huge]).len(), MAX_COMMENT_BYTES);
    }

    fn review(user: &str, state: &str, sha: &str, at: &str) -> Review {
        Review {
            id: 1,
            user: Some(User { login: user.into() }),
            body: None,
            state: state.into(),
            commit_id: Some(sha.into()),
            submitted_at: Some(at.into()),
        }
    }

    #[test]
    fn aggregation_on_head_only_latest_per_reviewer() {
        let rs = vec![
            review("alice", "CHANGES_REQUESTED", "head", "2026-01-01T00:00:00Z"),
            review("Alice", "APPROVED", "head", "2026-01-02T00:00:00Z"),
            review("bob", "CHANGES_REQUESTED", "old", "2026-01-03T00:00:00Z"),
            review("carol", "COMMENTED", "head", "2026-01-04T00:00:00Z"),
        ];
        let a = aggregate_reviews(&rs, "head", None);
        assert_eq!(a.state, "approved");
        assert_eq!(a.time, parse_time("2026-01-02T00:00:00Z"));
        assert_eq!(
            aggregate_reviews(&rs, "new-head", None),
            AggregatedReview::default()
        );

        let mut rs2 = rs.clone();
        rs2.push(review(
            "dave",
            "CHANGES_REQUESTED",
            "head",
            "2026-01-01T12:00:00Z",
        ));
        let a = aggregate_reviews(&rs2, "head", Some("DAVE"));
        assert_eq!(a.state, "changes_requested");
        assert_eq!(a.time, parse_time("2026-01-01T12:00:00Z"));
        assert_eq!(
            a.trigger_time, None,
            "the agent's own review never triggers"
        );
    }

    #[test]
    fn priority_sort_is_stable_and_unmatched_last() {
        let item = |id: &str, labels: &[&str]| WorkItem {
            id: id.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut items = vec![
            item("1", &["backlog"]),
            item("2", &[]),
            item("3", &["important", "critical"]),
            item("4", &["Critical"]),
            item("5", &["important"]),
        ];
        let prio = vec!["critical".to_string(), "important".into(), "backlog".into()];
        sort_by_label_priority(&mut items, &prio);
        let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["3", "4", "5", "1", "2"]);
    }
}
