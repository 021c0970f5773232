//! Outputs and results from the agent's log (reference §2.6): the lines between
//! `---KELOS_OUTPUTS_START---` and `---KELOS_OUTPUTS_END---` in the last 50 lines of the agent
//! container's log.

use std::collections::BTreeMap;

pub const START_MARKER: &str = "---KELOS_OUTPUTS_START---";
pub const END_MARKER: &str = "---KELOS_OUTPUTS_END---";
/// Only this many trailing log lines are read.
pub const TAIL_LINES: i64 = 50;
/// After completion, an empty capture is retried this often ...
pub const RETRY_INTERVAL_SECS: i64 = 5;
/// ... for this long.
pub const RETRY_WINDOW_SECS: i64 = 30;

/// The trimmed, non-empty lines between the first start marker and the first end marker after
/// it; `None` when either is missing.
pub fn parse_outputs(log: &str) -> Option<Vec<String>> {
    let start = log.find(START_MARKER)? + START_MARKER.len();
    let end = start + log[start..].find(END_MARKER)?;
    let lines: Vec<String> = log[start..end]
        .trim()
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Some(lines)
}

/// `key: value` per line; lines without `": "` or with an empty key are skipped, the last
/// duplicate wins. `None` when nothing parses.
pub fn results_from_outputs(outputs: &[String]) -> Option<BTreeMap<String, String>> {
    let results: BTreeMap<String, String> = outputs
        .iter()
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (!results.is_empty()).then_some(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_between_markers() {
        let log = "noise\n---KELOS_OUTPUTS_START---\n  branch: feat \n\npr: https://x/7\nplain\n---KELOS_OUTPUTS_END---\ntrailer";
        let out = parse_outputs(log).unwrap();
        assert_eq!(out, vec!["branch: feat", "pr: https://x/7", "plain"]);
        let results = results_from_outputs(&out).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results["branch"], "feat");
    }

    #[test]
    fn missing_or_misordered_markers_give_nothing() {
        assert_eq!(parse_outputs("no markers"), None);
        assert_eq!(parse_outputs("---KELOS_OUTPUTS_START---\nx: y"), None);
        assert_eq!(
            parse_outputs("---KELOS_OUTPUTS_END---\n---KELOS_OUTPUTS_START---\nx"),
            None
        );
        assert_eq!(
            parse_outputs("---KELOS_OUTPUTS_START------KELOS_OUTPUTS_END---"),
            Some(vec![])
        );
    }

    #[test]
    fn results_skip_bad_lines_and_keep_last_duplicate() {
        let out: Vec<String> = ["a: 1", ": x", "nocolon", "a: 2", "b:c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = results_from_outputs(&out).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r["a"], "2");
        assert_eq!(results_from_outputs(&["x".into()]), None);
    }
}
