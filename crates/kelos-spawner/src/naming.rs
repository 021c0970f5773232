//! Names and identities the spawner stamps on Tasks.
//!
//! Task names are `<spawner>-<item.ID>` like the original, made valid: lower-cased, reduced to
//! DNS-1123 label characters and capped at 63 characters (the Task name becomes a label value on
//! its Job and pods) with a hash suffix, so Jira keys and long IDs work. Replacements of an
//! item's Task get a numbered suffix (`-2`, `-3`, ...). The source-item identity (`issue-12`,
//! `pr-7`, `cron-20260207-0900`) is a label value; Tasks are matched to items through it, never
//! by parsing names.

use sha2::{Digest, Sha256};

use crate::item::{SourceKind, WorkItem};

/// Longest Task name we generate: a label value (`kelos.dev/task` on Jobs and pods).
pub const MAX_NAME_LEN: usize = 63;
/// Hex digits of the hash appended to a shortened name.
const HASH_LEN: usize = 8;

/// Lower-cases `s` and keeps `[a-z0-9-]` (anything else becomes `-`), collapsing runs of `-`
/// and trimming them at both ends.
fn sanitize_dns_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Caps `name` at [`MAX_NAME_LEN`], replacing the tail with a hash of `original` so distinct
/// long inputs stay distinct.
fn cap_with_hash(name: String, original: &str) -> String {
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let keep = MAX_NAME_LEN - HASH_LEN - 1;
    let head = name[..keep].trim_end_matches(['-', '.', '_']);
    format!("{head}-{}", short_hash(original))
}

/// The name of the `ordinal`-th Task for an item: 1 is the original's `<spawner>-<id>`,
/// 2 and up are replacements (`<spawner>-<id>-2`).
pub fn task_name(spawner: &str, item_id: &str, ordinal: u32) -> String {
    let raw = if ordinal <= 1 {
        format!("{spawner}-{item_id}")
    } else {
        format!("{spawner}-{item_id}-{ordinal}")
    };
    let mut name = sanitize_dns_label(&raw);
    if name.is_empty() {
        name = format!("task-{}", short_hash(&raw));
    }
    // Lower-casing alone keeps the original's name (upstream lower-cases too); anything else
    // the sanitizer changed could collide with another item's name, so it gets a hash.
    if name != raw.to_lowercase() && name.len() + HASH_LEN < MAX_NAME_LEN {
        name = format!("{name}-{}", short_hash(&raw));
    }
    cap_with_hash(name, &raw)
}

/// A value valid as a Kubernetes label value: at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric.
fn sanitize_label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches(['-', '.', '_']).to_string();
    cap_with_hash(trimmed, s)
}

/// Which kind of item this is, from the discovery's `source` or, failing that, its fields.
pub fn source_kind(item: &WorkItem) -> SourceKind {
    match item.source {
        // The issues API returns pull requests too (`types: [pulls]`); they are pull requests.
        Some(SourceKind::Issue) if item.kind == "PR" => SourceKind::PullRequest,
        Some(kind) => kind,
        None if !item.schedule.is_empty() => SourceKind::CronTick,
        None if item.kind == "PR" => SourceKind::PullRequest,
        None => SourceKind::Issue,
    }
}

/// The `kelos.dev/source-item` label value identifying an item across cycles.
pub fn source_item_identity(item: &WorkItem) -> String {
    let raw = match source_kind(item) {
        SourceKind::Issue => format!("issue-{}", item.number),
        SourceKind::PullRequest => format!("pr-{}", item.number),
        SourceKind::CronTick => format!("cron-{}", item.id),
        SourceKind::Jira => format!("jira-{}", item.id),
    };
    sanitize_label_value(&raw)
}

/// How the item is named in messages and logs: "issue #12", "pull request #7".
pub fn describe_item(item: &WorkItem) -> String {
    match source_kind(item) {
        SourceKind::Issue => format!("issue #{}", item.number),
        SourceKind::PullRequest => format!("pull request #{}", item.number),
        SourceKind::CronTick => format!("cron tick {}", item.id),
        SourceKind::Jira => format!("Jira issue {}", item.id),
    }
}

/// Whether `name` is a valid DNS-1123 label (what every generated Task name must be).
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_name_scheme() {
        assert_eq!(task_name("spawner", "42", 1), "spawner-42");
        assert_eq!(task_name("spawner", "42", 2), "spawner-42-2");
        assert_eq!(
            task_name("nightly", "20260207-0900", 1),
            "nightly-20260207-0900"
        );
    }

    #[test]
    fn jira_keys_are_lower_cased() {
        assert_eq!(task_name("jira-sp", "PROJ-42", 1), "jira-sp-proj-42");
    }

    #[test]
    fn odd_characters_are_replaced_and_hashed() {
        let a = task_name("sp", "a_b", 1);
        let b = task_name("sp", "a.b", 1);
        assert!(is_dns1123_label(&a), "{a}");
        assert!(is_dns1123_label(&b), "{b}");
        assert_ne!(a, b, "distinct IDs keep distinct names");
    }

    #[test]
    fn long_names_are_capped_with_a_hash() {
        let long_id = "x".repeat(200);
        let a = task_name("spawner", &long_id, 1);
        let b = task_name("spawner", &long_id, 2);
        let c = task_name("spawner", &format!("{long_id}y"), 1);
        for n in [&a, &b, &c] {
            assert!(is_dns1123_label(n), "{n}");
            assert_eq!(n.len(), MAX_NAME_LEN);
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, task_name("spawner", &long_id, 1), "deterministic");
    }

    #[test]
    fn identities_are_label_values() {
        let issue = WorkItem {
            id: "12".into(),
            number: 12,
            source: Some(SourceKind::Issue),
            kind: "Issue".into(),
            ..Default::default()
        };
        assert_eq!(source_item_identity(&issue), "issue-12");
        let pr_via_issues = WorkItem {
            kind: "PR".into(),
            ..issue.clone()
        };
        assert_eq!(source_item_identity(&pr_via_issues), "pr-12");
        let cron = WorkItem {
            id: "20260207-0900".into(),
            source: Some(SourceKind::CronTick),
            ..Default::default()
        };
        assert_eq!(source_item_identity(&cron), "cron-20260207-0900");
        let jira = WorkItem {
            id: "PROJ-42".into(),
            source: Some(SourceKind::Jira),
            ..Default::default()
        };
        assert_eq!(source_item_identity(&jira), "jira-proj-42");
        let long = WorkItem {
            id: "Z".repeat(100),
            source: Some(SourceKind::Jira),
            ..Default::default()
        };
        assert!(source_item_identity(&long).len() <= 63);
    }
}
