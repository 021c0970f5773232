//! Go `text/template` rendering with `missingkey=error`, shared by the spawner (prompt and
//! branch templates over a work item) and the controller (`dependsOn` prompts over `.Deps`).
//!
//! The original renders with Go's `text/template` and `Option("missingkey=error")`. We render
//! with `gtmpl`, which parses the same syntax (trim markers, `if`/`range`/`with`, `index`,
//! `printf`, ...), and close its two gaps ourselves:
//!
//! * gtmpl prints a missing map key as `<no value>`. All JSON objects are handed to gtmpl as
//!   *objects* (whose missing fields are an error), `index` is replaced by a strict version, and
//!   every printed value goes through a formatter that rejects "no value". So a missing key is
//!   an error naming the key, never `<no value>` in a prompt.
//! * gtmpl prints arrays and maps with Rust's `Debug`. Go prints a `[]string` as `[a b]` and a
//!   map as `map[k:v]`; the formatter does the same.
//!
//! The formatter is attached by rewriting every output action `{{ pipeline }}` into
//! `{{ pipeline | __kelosPrint }}` before parsing (keywords, comments and variable
//! declarations print nothing and are left alone).

use std::collections::HashMap;

use gtmpl::{Context, Func, FuncError, Template, Value};
use gtmpl_value::Number;

/// Why a template could not be rendered. Messages name keys, never values, so a prompt body
/// never ends up in a log through an error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("parsing template: {0}")]
    Parse(String),
    #[error("executing template: {0}")]
    Exec(String),
}

/// Name of the formatter appended to every output action. Not a valid Go identifier a user
/// would pick by accident.
const PRINT_FUNC: &str = "__kelosPrint";

/// Longest error message we pass on; gtmpl may embed whole values in some of its messages.
const MAX_ERROR_LEN: usize = 300;

/// Renders `template` over `data` with Go `text/template` semantics and `missingkey=error`.
pub fn render(template: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
    let mut tmpl = Template::default();
    tmpl.add_func(PRINT_FUNC, go_print as Func);
    // gtmpl's `index` returns "no value" for a missing key of a map; ours fails like a field.
    tmpl.add_func("index", strict_index as Func);
    tmpl.parse(add_print_to_actions(template))
        .map_err(|e| TemplateError::Parse(clip(e.to_string())))?;
    let ctx = Context::from(to_gtmpl(data));
    tmpl.render(&ctx)
        .map_err(|e| TemplateError::Exec(exec_message(e)))
}

fn exec_message(err: gtmpl::error::ExecError) -> String {
    use gtmpl::error::ExecError;
    match err {
        ExecError::NoFiledFor(field, receiver) => {
            let keys = match receiver {
                Value::Object(ref o) | Value::Map(ref o) => {
                    let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
                    keys.sort_unstable();
                    keys.join(", ")
                }
                _ => String::new(),
            };
            clip(format!(
                "map has no entry for key {field:?} (missingkey=error); available keys: {keys}"
            ))
        }
        ExecError::FuncError(FuncError::Generic(msg)) => clip(msg),
        other => clip(other.to_string()),
    }
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// JSON → gtmpl. Objects become `Value::Object`, whose missing fields gtmpl reports as errors.
fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// `index` with `missingkey=error`: a missing key or an out-of-range position is an error.
fn strict_index(args: &[Value]) -> Result<Value, FuncError> {
    if args.len() < 2 {
        return Err(FuncError::AtLeastXArgs("index".into(), 2));
    }
    let mut col = &args[0];
    for key in &args[1..] {
        col = match (col, key) {
            (Value::Object(o) | Value::Map(o), Value::String(k)) => o.get(k).ok_or_else(|| {
                FuncError::Generic(format!(
                    "index: map has no entry for key {k:?} (missingkey=error)"
                ))
            })?,
            (Value::Array(a), Value::Number(n)) => {
                n.as_u64().and_then(|i| a.get(i as usize)).ok_or_else(|| {
                    FuncError::Generic(format!(
                        "index: position {n} out of range for a list of {}",
                        a.len()
                    ))
                })?
            }
            (Value::NoValue | Value::Nil, _) => {
                return Err(FuncError::Generic(
                    "index of a missing or nil value (missingkey=error)".into(),
                ));
            }
            _ => {
                return Err(FuncError::Generic(format!(
                    "index: cannot index {} with {}",
                    kind_name(col),
                    kind_name(key)
                )));
            }
        };
    }
    Ok(col.clone())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::NoValue => "no value",
        Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map",
        Value::Array(_) => "list",
        Value::Function(_) => "function",
        Value::Number(_) => "number",
    }
}

/// The formatter every output action ends in: Go's `fmt.Sprint` for the values JSON has.
fn go_print(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .last()
        .ok_or(FuncError::ExactlyXArgs(PRINT_FUNC.into(), 1))?;
    match v {
        // Go with missingkey=error never prints "<no value>" for a missing key; a present
        // key holding null would print it, which no prompt should contain either.
        Value::NoValue | Value::Nil => Err(FuncError::Generic(
            "a value in the template is missing or null (missingkey=error)".into(),
        )),
        other => Ok(Value::String(go_format(other))),
    }
}

fn go_format(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => format_number(n),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_format).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(o) | Value::Map(o) => {
            // Go prints maps with sorted keys.
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_format(&o[k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Function(_) => "<func>".into(),
    }
}

fn format_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    format_go_float(f)
}

/// `fmt.Sprint(float64)`: shortest representation, `%e` style when the exponent is < -4 or
/// >= 21 (the precision `%v` uses for that decision).
fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        return format!("{f}");
    }
    // Rust's `{:e}` gives the shortest digits as `1.5e-7`; Go writes `1.5e-07`.
    let s = format!("{f:e}");
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", e.abs())
}

/// Rewrites every output action so its value passes through [`go_print`].
fn add_print_to_actions(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after_open = &rest[start + 2..];
        let Some(close) = find_action_end(after_open) else {
            // Unterminated: leave it to the parser to report.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after_open[..close];
        out.push_str("{{");
        out.push_str(&rewrite_action(inner));
        out.push_str("}}");
        rest = &after_open[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Position of the `}}` closing an action, skipping quoted strings, raw strings, characters
/// and comments.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    // A comment action: `/* ... */` possibly after a trim marker.
    let trimmed_start = s.strip_prefix("- ").map(|t| s.len() - t.len()).unwrap_or(0);
    let lead = s[trimmed_start..].len() - s[trimmed_start..].trim_start().len();
    if s[trimmed_start + lead..].starts_with("/*") {
        let from = trimmed_start + lead + 2;
        let end = s[from..].find("*/")? + from + 2;
        return s[end..].find("}}").map(|p| p + end);
    }
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i += 1;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => i += 1,
        }
    }
    None
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn rewrite_action(inner: &str) -> String {
    // Split off trim markers: `- ` at the start, ` -` at the end.
    let (lead, body) = match inner.strip_prefix('-') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_whitespace()) => ("-", rest),
        _ => ("", inner),
    };
    let (body, trail) = match body.strip_suffix('-') {
        Some(rest) if rest.ends_with(|c: char| c.is_ascii_whitespace()) => (rest, "-"),
        _ => (body, ""),
    };
    let t = body.trim();
    let first_word = t
        .split(|c: char| c.is_ascii_whitespace() || c == '(' || c == ')')
        .next()
        .unwrap_or("");
    let is_declaration = t.starts_with('$') && {
        let after_var = t[1..].trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
        let after_var = after_var.trim_start();
        after_var.starts_with(":=") || (after_var.starts_with('=') && !after_var.starts_with("=="))
    };
    if t.is_empty() || t.starts_with("/*") || KEYWORDS.contains(&first_word) || is_declaration {
        return inner.to_string();
    }
    format!("{lead}{body} | {PRINT_FUNC} {trail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The original's default prompt (`internal/source/prompt.go`).
    const DEFAULT_PROMPT: &str = "{{.Kind}} #{{.Number}}: {{.Title}}\n\n{{.Body}}\n{{- if .Comments}}\n\nComments:\n{{.Comments}}\n{{- end}}\n";

    fn item(comments: &str) -> serde_json::Value {
        json!({
            "ID": "42", "Number": 42, "Title": "Fix the flake", "Body": "It fails sometimes.",
            "URL": "https://github.com/o/r/issues/42", "Labels": "bug, ci",
            "Comments": comments, "Kind": "Issue", "Branch": "", "ReviewState": "",
            "ReviewComments": "", "Time": "", "Schedule": ""
        })
    }

    #[test]
    fn default_prompt_without_comments() {
        let out = render(DEFAULT_PROMPT, &item("")).unwrap();
        assert_eq!(out, "Issue #42: Fix the flake\n\nIt fails sometimes.\n");
    }

    #[test]
    fn default_prompt_with_comments() {
        let out = render(DEFAULT_PROMPT, &item("first\n---\nsecond")).unwrap();
        assert_eq!(
            out,
            "Issue #42: Fix the flake\n\nIt fails sometimes.\n\nComments:\nfirst\n---\nsecond\n"
        );
    }

    #[test]
    fn branch_template() {
        assert_eq!(
            render("kelos-task-{{.Number}}", &item("")).unwrap(),
            "kelos-task-42"
        );
        assert_eq!(
            render("feature/my-branch", &item("")).unwrap(),
            "feature/my-branch"
        );
    }

    #[test]
    fn missing_key_is_an_error_naming_the_key() {
        let err = render("Fix {{.Nmber}}", &item("")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"Nmber\""), "{msg}");
        assert!(msg.contains("Number"), "lists the available keys: {msg}");
        assert!(
            !msg.contains("It fails sometimes"),
            "no values in errors: {msg}"
        );
    }

    #[test]
    fn missing_key_inside_if_is_an_error() {
        assert!(render("{{if .Nope}}x{{end}}", &item("")).is_err());
    }

    #[test]
    fn nested_missing_key_is_an_error() {
        let data = json!({"Deps": {"a": {"Results": {"k": "v"}}}});
        assert!(render("{{.Deps.b.Results}}", &data).is_err());
    }

    #[test]
    fn index_into_deps() {
        let data = json!({"Deps": {"a": {"Results": {"branch": "feat-1"}, "Outputs": ["x", "y"]}}});
        assert_eq!(
            render(r#"on {{index .Deps "a" "Results" "branch"}}"#, &data).unwrap(),
            "on feat-1"
        );
        let err = render(r#"{{index .Deps "a" "Results" "pr"}}"#, &data).unwrap_err();
        assert!(err.to_string().contains("\"pr\""), "{err}");
    }

    #[test]
    fn prints_lists_and_maps_like_go() {
        let data = json!({"L": ["a", "b"], "M": {"z": 1, "a": "x"}, "E": [], "N": [1, [2, 3]]});
        assert_eq!(render("{{.L}}", &data).unwrap(), "[a b]");
        assert_eq!(render("{{.M}}", &data).unwrap(), "map[a:x z:1]");
        assert_eq!(render("{{.E}}", &data).unwrap(), "[]");
        assert_eq!(render("{{.N}}", &data).unwrap(), "[1 [2 3]]");
        assert_eq!(
            render(r#"{{index .L 1}}{{range .L}}<{{.}}>{{end}}"#, &data).unwrap(),
            "b<a><b>"
        );
    }

    #[test]
    fn null_value_is_an_error_not_no_value() {
        let data = json!({"X": null});
        let err = render("{{.X}}", &data).unwrap_err();
        assert!(matches!(err, TemplateError::Exec(_)));
        // but it is falsy in conditions, as in Go
        assert_eq!(render("{{if .X}}y{{else}}n{{end}}", &data).unwrap(), "n");
    }

    #[test]
    fn parse_error() {
        let err = render("{{if .Title}}unclosed", &item("")).unwrap_err();
        assert!(matches!(err, TemplateError::Parse(_)), "{err:?}");
        let err = render("{{.Title", &item("")).unwrap_err();
        assert!(matches!(err, TemplateError::Parse(_)), "{err:?}");
    }

    #[test]
    fn trim_markers_variables_comments_and_builtins() {
        let d = item("");
        assert_eq!(render("a  {{- .ID -}}  b", &d).unwrap(), "a42b");
        assert_eq!(render("{{$n := .Number}}#{{$n}}", &d).unwrap(), "#42");
        assert_eq!(render("x{{/* note }} */}}y", &d).unwrap(), "xy");
        assert_eq!(render("x{{- /* c */ -}} y", &d).unwrap(), "xy");
        assert_eq!(
            render(r#"{{printf "%s-%d" .Kind .Number}}"#, &d).unwrap(),
            "Issue-42"
        );
        assert_eq!(render(r#"{{"}}"}}"#, &d).unwrap(), "}}");
        assert_eq!(
            render(
                r#"{{if eq .Kind "Issue"}}i{{else if eq .Kind "PR"}}p{{end}}"#,
                &d
            )
            .unwrap(),
            "i"
        );
        assert_eq!(
            render("{{with .Title}}[{{.}}]{{end}}", &d).unwrap(),
            "[Fix the flake]"
        );
        assert_eq!(render("{{len .Title}}", &d).unwrap(), "13");
    }

    #[test]
    fn body_containing_template_syntax_is_not_interpreted() {
        let mut d = item("");
        d["Body"] = json!("{{.Secret}} <no value>");
        assert_eq!(render("{{.Body}}", &d).unwrap(), "{{.Secret}} <no value>");
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_go_float(1.5), "1.5");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1e20), "100000000000000000000");
        assert_eq!(format_go_float(0.00001), "1e-05");
        assert_eq!(format_go_float(0.0001), "0.0001");
    }
}
