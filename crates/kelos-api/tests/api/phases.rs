//! `TaskPhase::is_terminal` is the one definition of "terminal"; everything else derives from it.

use kelos_api::{Task, TaskPhase, TaskSpawnerPhase, TaskStatus};
use serde_json::json;

use crate::schema_of;

/// Exhaustive on purpose: a new phase does not compile until it is classified here.
fn expected_terminal(phase: TaskPhase) -> bool {
    match phase {
        TaskPhase::Pending | TaskPhase::Running | TaskPhase::Waiting => false,
        TaskPhase::Succeeded | TaskPhase::Failed | TaskPhase::Cancelled => true,
    }
}

#[test]
fn is_terminal_for_every_phase() {
    assert_eq!(TaskPhase::ALL.len(), 6);
    for phase in TaskPhase::ALL {
        assert_eq!(phase.is_terminal(), expected_terminal(phase), "{phase}");
    }
    let terminal: Vec<_> = TaskPhase::terminal().collect();
    assert_eq!(
        terminal,
        [
            TaskPhase::Succeeded,
            TaskPhase::Failed,
            TaskPhase::Cancelled
        ]
    );
}

#[test]
fn task_is_terminal_follows_its_phase() {
    let mut task = Task::new("t", serde_json::from_value(minimal_spec()).unwrap());
    assert!(!task.is_terminal(), "no status");
    task.status = Some(TaskStatus::default());
    assert!(!task.is_terminal(), "no phase");
    for phase in TaskPhase::ALL {
        task.status.as_mut().unwrap().phase = Some(phase);
        assert_eq!(task.phase(), Some(phase));
        assert_eq!(task.is_terminal(), phase.is_terminal(), "{phase}");
    }
}

#[test]
fn phases_serialise_as_their_names_and_parse_case_sensitively() {
    for phase in TaskPhase::ALL {
        assert_eq!(serde_json::to_value(phase).unwrap(), json!(phase.as_str()));
        assert_eq!(phase.as_str().parse::<TaskPhase>().unwrap(), phase);
        assert_eq!(phase.to_string(), phase.as_str());
    }
    assert!("cancelled".parse::<TaskPhase>().is_err());
    assert!(serde_json::from_value::<TaskPhase>(json!("cancelled")).is_err());
    for phase in TaskSpawnerPhase::ALL {
        assert_eq!(serde_json::to_value(phase).unwrap(), json!(phase.as_str()));
    }
}

#[test]
fn crd_phase_enums_list_every_phase() {
    let task = schema_of("Task");
    let values = &task["properties"]["status"]["properties"]["phase"]["enum"];
    let names: Vec<_> = TaskPhase::ALL.iter().map(|p| json!(p.as_str())).collect();
    assert_eq!(values, &json!(names));

    let spawner = schema_of("TaskSpawner");
    let values = &spawner["properties"]["status"]["properties"]["phase"]["enum"];
    let names: Vec<_> = TaskSpawnerPhase::ALL
        .iter()
        .map(|p| json!(p.as_str()))
        .collect();
    assert_eq!(values, &json!(names));
}

#[test]
fn terminal_phase_rule_lists_exactly_the_terminal_phases() {
    let task = schema_of("Task");
    let rules = task["properties"]["status"]["x-kubernetes-validations"]
        .as_array()
        .expect("status carries the terminal-phase rule");
    assert_eq!(rules.len(), 1);
    let rule = rules[0]["rule"].as_str().unwrap();
    let list = rule
        .split_once("in [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("the rule tests membership in a list");
    let listed: Vec<TaskPhase> = list
        .split(", ")
        .map(|p| p.trim_matches('\'').parse().unwrap())
        .collect();
    assert_eq!(listed, TaskPhase::terminal().collect::<Vec<_>>());
    assert_eq!(
        rules[0]["message"],
        "a Task in a terminal phase (Succeeded, Failed, Cancelled) cannot change phase"
    );
}

fn minimal_spec() -> serde_json::Value {
    json!({
        "type": "codex",
        "prompt": "p",
        "credentials": {"type": "api-key", "secretRef": {"name": "s"}}
    })
}
