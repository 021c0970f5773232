//! `dependsOn`: cycle detection, the dependency gate and prompt templating over the
//! dependencies' results (reference §2.3, §2.7).

use std::collections::{BTreeMap, BTreeSet};

use kelos_api::TaskPhase;
use serde_json::json;

use super::model::DepView;

/// Follows `dependsOn` depth-first from `start`, in the order written, and returns the first
/// name met again on the current path (the original's `walkDeps`). Names missing from `graph`
/// (Tasks that do not exist) are skipped.
pub fn detect_cycle(start: &str, graph: &BTreeMap<String, Vec<String>>) -> Option<String> {
    fn walk<'a>(
        name: &'a str,
        graph: &'a BTreeMap<String, Vec<String>>,
        path: &mut BTreeSet<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<String> {
        if path.contains(name) {
            return Some(name.to_owned());
        }
        // A node fully explored without finding a cycle cannot lead to one later; skipping it
        // keeps the walk linear on wide diamonds.
        if done.contains(name) {
            return None;
        }
        let deps = graph.get(name)?;
        path.insert(name);
        for dep in deps {
            if let Some(found) = walk(dep, graph, path, done) {
                return Some(found);
            }
        }
        path.remove(name);
        done.insert(name);
        None
    }
    walk(start, graph, &mut BTreeSet::new(), &mut BTreeSet::new())
}

/// What the dependencies allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    Ready,
    /// Wait; the message and how long until the next poll.
    Wait {
        message: String,
        poll_secs: u64,
    },
    /// Fail the Task with this message.
    Fail {
        message: String,
    },
}

/// The first dependency that is not Succeeded decides (reference `checkDependencies`), with
/// `Cancelled` failing dependents like `Failed` does.
pub fn gate(deps: &[DepView]) -> Gate {
    for dep in deps {
        let name = go_quote(&dep.name);
        match dep.state.as_ref().map(|s| s.phase) {
            None => {
                return Gate::Wait {
                    message: format!("Waiting for dependency {name} to be created"),
                    poll_secs: 5,
                };
            }
            Some(Some(TaskPhase::Succeeded)) => {}
            Some(Some(TaskPhase::Failed)) => {
                return Gate::Fail {
                    message: format!("Dependency {name} failed"),
                };
            }
            Some(Some(TaskPhase::Cancelled)) => {
                return Gate::Fail {
                    message: format!("Dependency {name} was cancelled"),
                };
            }
            Some(_) => {
                return Gate::Wait {
                    message: format!("Waiting for dependency {name}"),
                    poll_secs: 10,
                };
            }
        }
    }
    Gate::Ready
}

/// The prompt with `{{index .Deps "<dep>" "Results" "<key>"}}` and friends filled in. Any parse
/// or execution error (a missing key included) falls back to the raw prompt, as the original
/// does; the error is returned for a log line.
pub fn render_prompt(prompt: &str, deps: &[DepView]) -> (String, Option<String>) {
    if deps.is_empty() {
        return (prompt.to_owned(), None);
    }
    let mut data = serde_json::Map::new();
    for dep in deps {
        let (outputs, results) = dep
            .state
            .as_ref()
            .map(|s| (s.outputs.clone(), s.results.clone()))
            .unwrap_or_default();
        data.insert(
            dep.name.clone(),
            json!({"Outputs": outputs, "Results": results, "Name": dep.name}),
        );
    }
    match kelos_api::template::render(prompt, &json!({ "Deps": data })) {
        Ok(rendered) => (rendered, None),
        Err(e) => (prompt.to_owned(), Some(e.to_string())),
    }
}

/// Go's `%q` for the names and keys that go into messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::model::DepState;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn dep(name: &str, phase: Option<Option<TaskPhase>>) -> DepView {
        DepView {
            name: name.into(),
            state: phase.map(|phase| DepState {
                phase,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn cycles_name_the_task_met_again() {
        let g = graph(&[("a", &["b"]), ("b", &["a"])]);
        assert_eq!(detect_cycle("a", &g).as_deref(), Some("a"));
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["b"])]);
        assert_eq!(detect_cycle("a", &g).as_deref(), Some("b"));
        let g = graph(&[("a", &["a"])]);
        assert_eq!(detect_cycle("a", &g).as_deref(), Some("a"));
    }

    #[test]
    fn diamonds_and_missing_tasks_are_no_cycle() {
        let g = graph(&[("a", &["b", "c"]), ("b", &["d"]), ("c", &["d"]), ("d", &[])]);
        assert_eq!(detect_cycle("a", &g), None);
        let g = graph(&[("a", &["missing"])]);
        assert_eq!(detect_cycle("a", &g), None);
    }

    #[test]
    fn gate_follows_the_first_unready_dependency() {
        assert_eq!(gate(&[]), Gate::Ready);
        assert_eq!(
            gate(&[dep("a", Some(Some(TaskPhase::Succeeded))), dep("b", None)]),
            Gate::Wait {
                message: "Waiting for dependency \"b\" to be created".into(),
                poll_secs: 5
            }
        );
        assert_eq!(
            gate(&[dep("a", Some(Some(TaskPhase::Running)))]),
            Gate::Wait {
                message: "Waiting for dependency \"a\"".into(),
                poll_secs: 10
            }
        );
        assert_eq!(
            gate(&[dep("a", Some(None))]),
            Gate::Wait {
                message: "Waiting for dependency \"a\"".into(),
                poll_secs: 10
            }
        );
        assert_eq!(
            gate(&[dep("a", Some(Some(TaskPhase::Failed)))]),
            Gate::Fail {
                message: "Dependency \"a\" failed".into()
            }
        );
        assert_eq!(
            gate(&[dep("a", Some(Some(TaskPhase::Cancelled)))]),
            Gate::Fail {
                message: "Dependency \"a\" was cancelled".into()
            }
        );
    }

    #[test]
    fn prompt_uses_dependency_results() {
        let deps = vec![DepView {
            name: "scaffold".into(),
            state: Some(DepState {
                phase: Some(TaskPhase::Succeeded),
                outputs: vec!["branch: feat".into(), "pr: 7".into()],
                results: [("branch".to_string(), "feat".to_string())].into(),
            }),
        }];
        let (p, err) = render_prompt(
            r#"Continue on {{index .Deps "scaffold" "Results" "branch"}} ({{index .Deps "scaffold" "Name"}})"#,
            &deps,
        );
        assert_eq!(p, "Continue on feat (scaffold)");
        assert!(err.is_none());
        let (p, _) = render_prompt(r#"{{index .Deps "scaffold" "Outputs"}}"#, &deps);
        assert_eq!(p, "[branch: feat pr: 7]");
    }

    #[test]
    fn prompt_falls_back_to_raw_on_error() {
        let deps = vec![dep("a", Some(Some(TaskPhase::Succeeded)))];
        for raw in [
            r#"{{index .Deps "a" "Results" "missing"}}"#,
            r#"{{index .Deps "nope" "Results"}}"#,
            "{{ broken",
        ] {
            let (p, err) = render_prompt(raw, &deps);
            assert_eq!(p, raw);
            assert!(err.is_some(), "{raw}");
        }
        // No dependencies: the prompt is not a template at all.
        assert_eq!(render_prompt("{{ broken", &[]).0, "{{ broken");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a"), "\"a\"");
        assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
