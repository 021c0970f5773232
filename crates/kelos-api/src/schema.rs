//! Schema fragments schemars cannot derive in a form the apiserver accepts as structural.

use schemars::{Schema, SchemaGenerator, json_schema};

/// `status.phase`: a plain string enum. Deriving it from `Option<TaskPhase>` would put `null`
/// into the enum list, which the apiserver rejects.
pub fn task_phase(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "enum": ["Pending", "Running", "Succeeded", "Failed", "Waiting", "Cancelled"],
        "description": "Phase of the Task: Pending, Running, Succeeded, Failed, Waiting or Cancelled. Succeeded, Failed and Cancelled are terminal."
    })
}

/// `metav1.Condition` lists are maps keyed by `type`, so server-side apply merges them per type.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        generator.subschema_for::<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema
}
