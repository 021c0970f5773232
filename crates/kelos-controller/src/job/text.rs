//! Small text helpers that reproduce Go behaviour the original's output depends on: POSIX
//! shell single-quoting, `%q` quoting in error messages, `path.Clean`, and `encoding/json`'s
//! HTML-safe escaping.

/// Single-quotes a value for `sh`: `it's` becomes `'it'"'"'s'`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r#"'"'"'"#))
}

/// Go's `%q` (`strconv.Quote`) for the strings that appear in error messages.
pub fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `path.Clean`: the shortest lexically equivalent slash-separated path.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Escapes `<`, `>`, `&`, U+2028 and U+2029 in serialized JSON the way Go's `json.Marshal`
/// does, so the text is byte-for-byte the original's. These characters only occur inside
/// JSON strings, where the `\uXXXX` forms mean the same.
pub fn go_json_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_quote("\u{1}é"), r#""\x01é""#);
    }

    #[test]
    fn clean() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("a/b/../c", "a/c"),
            ("./a//b/", "a/b"),
            ("..", ".."),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("a/../../b", "../b"),
            ("/a/../..", "/"),
            ("/x", "/x"),
            ("a/./b/.", "a/b"),
        ] {
            assert_eq!(clean_path(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn json_escape() {
        assert_eq!(
            go_json_escape(r#"{"u":"a<b>&c"}"#),
            r#"{"u":"a\u003cb\u003e\u0026c"}"#
        );
    }
}
