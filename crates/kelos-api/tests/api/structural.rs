//! Every generated schema is structural (the apiserver refuses CRDs that are not) and
//! documented (`kubectl explain` shows the descriptions).

use serde_json::Value;

use crate::{schema_of, walk_schema};

const KINDS: [&str; 4] = ["Task", "TaskSpawner", "Workspace", "AgentConfig"];

fn flag(node: &Value, key: &str) -> bool {
    node.get(key) == Some(&Value::Bool(true))
}

fn every_node(check: &mut dyn FnMut(&str, &Value) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for kind in KINDS {
        walk_schema(kind, &schema_of(kind), &mut |path, node| {
            if let Some(problem) = check(path, node) {
                problems.push(format!("{path}: {problem}"));
            }
        });
    }
    problems
}

fn is_branch(path: &str) -> bool {
    path.ends_with('>')
}

#[test]
fn every_node_has_a_type() {
    let problems = every_node(&mut |path, node| {
        let exempt = flag(node, "x-kubernetes-int-or-string")
            || flag(node, "x-kubernetes-preserve-unknown-fields")
            || is_branch(path);
        (!exempt && node.get("type").is_none()).then(|| format!("no type in {node}"))
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_empty_nodes() {
    let problems = every_node(&mut |_, node| {
        node.as_object()
            .is_none_or(|o| o.is_empty())
            .then(|| "empty schema {}".to_owned())
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_null_in_enums_and_nothing_nullable() {
    let problems = every_node(&mut |_, node| {
        if let Some(values) = node.get("enum").and_then(Value::as_array)
            && values.iter().any(Value::is_null)
        {
            return Some("null in enum".into());
        }
        node.get("nullable").map(|_| "nullable".into())
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Inside anyOf/oneOf/allOf a branch may only constrain: no types, descriptions or defaults,
/// and no properties the node does not declare itself. The one exception Kubernetes allows is
/// int-or-string's `anyOf: [{type: integer}, {type: string}]`.
#[test]
fn combinator_branches_only_constrain() {
    let problems = every_node(&mut |_, node| {
        let own: Vec<&String> = node
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in node
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let int_or_string = flag(node, "x-kubernetes-int-or-string")
                    && key == "anyOf"
                    && (branch == &serde_json::json!({"type": "integer"})
                        || branch == &serde_json::json!({"type": "string"}));
                if int_or_string {
                    continue;
                }
                for forbidden in ["type", "description", "default", "additionalProperties"] {
                    if branch.get(forbidden).is_some() {
                        return Some(format!("{key} branch sets {forbidden}: {branch}"));
                    }
                }
                let props = branch.get("properties").and_then(Value::as_object);
                if let Some(extra) = props
                    .into_iter()
                    .flat_map(|p| p.keys())
                    .find(|k| !own.contains(k))
                {
                    return Some(format!("{key} branch introduces property {extra}"));
                }
            }
        }
        None
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_property_is_documented() {
    let problems = every_node(&mut |path, node| {
        let is_property = !path.ends_with("[]") && !path.ends_with('}') && !is_branch(path);
        let documented = node
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.trim().len() > 3);
        (is_property && !documented).then(|| "no description".into())
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_cel_rule_has_a_message() {
    let mut rules = 0;
    let problems = every_node(&mut |_, node| {
        for rule in node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rules += 1;
            let message = rule.get("message").and_then(Value::as_str).unwrap_or("");
            if message.is_empty() {
                return Some(format!("rule without message: {rule}"));
            }
        }
        None
    });
    assert!(problems.is_empty(), "{problems:#?}");
    // Task spec + status, TaskSpawner spec (2) + two sources, Workspace remotes.
    assert_eq!(rules, 7);
}
