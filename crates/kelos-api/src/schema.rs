//! Schema fragments schemars cannot derive in the form the CRD needs.

use schemars::{Schema, SchemaGenerator, json_schema};

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

/// A Go `int` counter: `integer` without a format, as in the original CRD.
pub fn counter(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer" })
}
