//! One-line, timestamped narration on stdout.
//!
//! Every line starts with the wall-clock time and the time since kelos-run started:
//!
//! ```text
//! 21:40:01.123 +  0.0s ━━ 1/6 Simulated cluster …            a step
//! 21:40:05.100 +  4.0s    up at https://127.0.0.1:41234 …     a detail
//! 21:40:09.000 +  7.9s    CREATED    Task demo-issues-1 …     a Task event (fixed-width word)
//! ```
//!
//! The Task event words ([`CREATED`], [`RUNNING`], …) are part of the interface: the test of
//! `make run` looks for them.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub const CREATED: &str = "CREATED";
pub const PENDING: &str = "PENDING";
pub const RUNNING: &str = "RUNNING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";
pub const CANCELLED: &str = "CANCELLED";
pub const GITHUB: &str = "GITHUB";
pub const POD: &str = "pod";

#[derive(Clone)]
pub struct Narrator {
    started: Instant,
    color: bool,
}

impl Narrator {
    pub fn new() -> Narrator {
        Narrator {
            started: Instant::now(),
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn prefix(&self) -> String {
        format!(
            "{} +{:5.1}s",
            chrono::Local::now().format("%H:%M:%S%.3f"),
            self.started.elapsed().as_secs_f64()
        )
    }

    fn emit(&self, line: String) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A step heading: `━━ n/total text`.
    pub fn step(&self, n: u32, total: u32, text: &str) {
        let head = self.paint("1", &format!("━━ {n}/{total} {text}"));
        self.emit(format!("{} {head}", self.prefix()));
    }

    /// A heading without a step number.
    pub fn heading(&self, text: &str) {
        let head = self.paint("1", &format!("━━ {text}"));
        self.emit(format!("{} {head}", self.prefix()));
    }

    /// A detail under the current step.
    pub fn info(&self, text: &str) {
        self.emit(format!("{}    {text}", self.prefix()));
    }

    /// A Task (or GitHub) event: a fixed-width upper-case word, then the text.
    pub fn event(&self, word: &str, text: &str) {
        let code = match word {
            SUCCEEDED => "1;32",
            CANCELLED | FAILED => "1;31",
            RUNNING => "1;36",
            GITHUB => "1;35",
            _ => "1;33",
        };
        let word = self.paint(code, &format!("{word:<10}"));
        self.emit(format!("{}    {word} {text}", self.prefix()));
    }

    /// Something about a pod, indented under the Task events.
    pub fn pod(&self, text: &str) {
        let word = self.paint("2", &format!("{POD:<10}"));
        self.emit(format!("{}      {word} {text}", self.prefix()));
    }

    /// A warning (stdout too, so it stays in order with the rest).
    pub fn warn(&self, text: &str) {
        let word = self.paint("1;31", "warning:");
        self.emit(format!("{}    {word} {text}", self.prefix()));
    }

    /// Lines printed verbatim, indented (command output, hints).
    pub fn block(&self, text: &str) {
        for line in text.lines() {
            self.emit(format!("        {line}"));
        }
    }
}
