//! A minimal KTAP harness with kselftest conventions.
//!
//! Output (stdout):
//!
//! ```text
//! TAP version 13
//! 1..N
//! # diagnostics of test 1
//! ok 1 name
//! not ok 2 name
//! ok 3 name # SKIP reason
//! not ok 4 name # TIMEOUT 30 seconds
//! # Totals: pass:1 fail:2 xfail:0 xpass:0 skip:1 error:0
//! ```
//!
//! Every test runs in its own forked process (see `isolate`), so a crash,
//! a leaked child or a changed signal mask stays inside that test.
//! The exit code is kselftest's: 0 (KSFT_PASS) if nothing failed and
//! something passed, 1 (KSFT_FAIL) if anything failed, 4 (KSFT_SKIP) if
//! everything was skipped.

#[macro_use]
mod check;
mod isolate;

use std::time::Duration;

pub use check::{Failure, Outcome, TestResult};
use isolate::Verdict;

pub const KSFT_PASS: i32 = 0;
pub const KSFT_FAIL: i32 = 1;
pub const KSFT_SKIP: i32 = 4;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A named test body plus the time it may take.
pub struct Test {
    name: String,
    timeout: Duration,
    body: Box<dyn Fn() -> TestResult>,
    /// The names of the nested KTAP results it prints (a C kselftest's
    /// cases), which `--list` shows as `NAME/CASE`.
    cases: Vec<String>,
}

impl Test {
    pub fn new(name: impl Into<String>, body: impl Fn() -> TestResult + 'static) -> Self {
        Test {
            name: name.into(),
            timeout: DEFAULT_TIMEOUT,
            body: Box::new(body),
            cases: Vec::new(),
        }
    }

    /// The nested results it must print.
    pub fn with_cases(mut self, cases: Vec<String>) -> Self {
        self.cases = cases;
        self
    }

    pub fn cases(&self) -> &[String] {
        &self.cases
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Prints `msg` as KTAP diagnostic lines (`# ...`).
pub fn diag(msg: &str) {
    for line in msg.lines() {
        println!("# {line}");
    }
}

#[derive(Default)]
struct Totals {
    pass: usize,
    fail: usize,
    skip: usize,
}

/// Runs `tests` in order, prints KTAP, returns the kselftest exit code.
/// With `strict`, a skipped test is reported and counted as a failure.
pub fn run(tests: &[Test], strict: bool) -> i32 {
    println!("TAP version 13");
    println!("1..{}", tests.len());
    if let Err(err) = isolate::become_subreaper() {
        diag(&format!("cannot become child subreaper: {err}"));
    }
    let mut totals = Totals::default();
    for (index, test) in tests.iter().enumerate() {
        let number = index + 1;
        match isolate::run_isolated(test) {
            Verdict::Pass => {
                totals.pass += 1;
                println!("ok {number} {}", test.name);
            }
            Verdict::Skip(reason) if strict => {
                totals.fail += 1;
                diag(&format!("skipped, and --strict: {reason}"));
                println!("not ok {number} {}", test.name);
            }
            Verdict::Skip(reason) => {
                totals.skip += 1;
                println!("ok {number} {} # SKIP {}", test.name, one_line(&reason));
            }
            Verdict::Fail(why) => {
                totals.fail += 1;
                diag(&why);
                println!("not ok {number} {}", test.name);
            }
            Verdict::Timeout => {
                totals.fail += 1;
                let secs = test.timeout.as_secs();
                println!("not ok {number} {} # TIMEOUT {secs} seconds", test.name);
            }
        }
    }
    println!(
        "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0",
        totals.pass, totals.fail, totals.skip
    );
    exit_code(&totals)
}

/// A skip reason must stay on the result line.
fn one_line(reason: &str) -> String {
    reason.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn exit_code(totals: &Totals) -> i32 {
    if totals.fail > 0 {
        KSFT_FAIL
    } else if totals.pass > 0 {
        KSFT_PASS
    } else {
        KSFT_SKIP
    }
}
