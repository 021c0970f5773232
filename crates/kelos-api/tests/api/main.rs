//! Pure tests of the API types and the generated CRDs: no cluster, no network.

mod defaults;
mod drift;
mod examples;
mod metadata;
mod phases;
mod roundtrip;
mod structural;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The workspace root, from this crate's manifest dir. Read at run time (cargo sets it for the
/// test process): a compile-time path goes stale when cargo reuses this binary from a shared
/// target dir for a checkout elsewhere.
pub fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .ancestors()
        .nth(2)
        .expect("crates/kelos-api sits two levels below the workspace root")
        .to_path_buf()
}

/// Every non-empty document of a (multi-document) YAML file.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    docs.into_iter()
        .flatten()
        .filter(|d| !d.is_null())
        .collect()
}

pub fn from_yaml<T: DeserializeOwned>(text: &str) -> T {
    let value: Value = serde_saphyr::from_str(text).expect("test YAML parses");
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The `openAPIV3Schema` of a kind, as JSON.
pub fn schema_of(kind: &str) -> Value {
    let crd = kelos_api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let version = &crd.spec.versions[0];
    serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema).unwrap()
}

/// What the apiserver does before storing an object: fill in every `default` of the schema
/// whose property is absent from an object that is present.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, child) in properties {
                    if !object.contains_key(name)
                        && let Some(default) = child.get("default")
                    {
                        object.insert(name.clone(), default.clone());
                    }
                    if let Some(present) = object.get_mut(name) {
                        apply_defaults(child, present);
                    }
                }
            }
            if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for present in object.values_mut() {
                    apply_defaults(extra, present);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Calls `visit(path, node)` for every schema node below (and including) `node`.
pub fn walk_schema(path: &str, node: &Value, visit: &mut dyn FnMut(&str, &Value)) {
    visit(path, node);
    for key in ["properties", "patternProperties"] {
        if let Some(children) = node.get(key).and_then(Value::as_object) {
            for (name, child) in children {
                walk_schema(&format!("{path}.{name}"), child, visit);
            }
        }
    }
    if let Some(items) = node.get("items") {
        walk_schema(&format!("{path}[]"), items, visit);
    }
    if let Some(extra) = node.get("additionalProperties").filter(|s| s.is_object()) {
        walk_schema(&format!("{path}{{}}"), extra, visit);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = node.get(key).and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                walk_schema(&format!("{path}<{key}{i}>"), branch, visit);
            }
        }
    }
    if let Some(not) = node.get("not") {
        walk_schema(&format!("{path}<not>"), not, visit);
    }
}
