//! Reading a built Job as JSON: its pod spec, the agent container, init containers and env.
#![allow(dead_code)]

use serde_json::Value;

pub fn pod(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

/// The agent container (the pod's only one).
pub fn agent(job: &Value) -> &Value {
    &pod(job)["containers"][0]
}

pub fn init(job: &Value) -> &Vec<Value> {
    pod(job)["initContainers"].as_array().unwrap()
}

/// The names of the init containers, in order.
pub fn init_names(job: &Value) -> Vec<&str> {
    names(init(job))
}

/// The names of the agent's environment variables, in order.
pub fn env_names(job: &Value) -> Vec<&str> {
    names(agent(job)["env"].as_array().unwrap())
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|c| c["name"].as_str().unwrap()).collect()
}
