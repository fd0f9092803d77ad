//! Test results and the assertion macros that produce them.
//!
//! Every macro `return`s from the enclosing test function, so a test body
//! reads top to bottom and stops at the first broken expectation. Failures
//! carry the `file:line` of the macro call and the values involved.

use std::fmt;

/// How a test that did not fail ended.
#[derive(Debug)]
pub enum Outcome {
    Pass,
    Skip(String),
}

/// A broken expectation: where, and what was seen.
#[derive(Debug)]
pub struct Failure {
    file: &'static str,
    line: u32,
    message: String,
}

pub type TestResult = Result<Outcome, Failure>;

impl Failure {
    pub fn new(file: &'static str, line: u32, message: String) -> Self {
        Failure {
            file,
            line,
            message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Fails the test with a formatted message.
macro_rules! fail {
    ($($arg:tt)+) => {
        return Err($crate::ktap::Failure::new(file!(), line!(), format!($($arg)+)))
    };
}

/// Skips the test with a formatted reason.
macro_rules! skip {
    ($($arg:tt)+) => {
        return Ok($crate::ktap::Outcome::Skip(format!($($arg)+)))
    };
}

/// Skips the test unless a `feature::*_available()` probe succeeded; fails
/// it instead where the probe found the patched kernel broken.
macro_rules! require {
    ($availability:expr) => {
        match $availability {
            Ok(()) => {}
            Err($crate::feature::Unavailable::Skip(reason)) => skip!("{reason}"),
            Err($crate::feature::Unavailable::Broken(reason)) => fail!("{reason}"),
        }
    };
}

/// Fails unless the condition holds; an optional message says more.
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            fail!("check!({}) failed", stringify!($cond));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            fail!("check!({}) failed: {}", stringify!($cond), format!($($arg)+));
        }
    };
}

/// Fails unless both values are equal, printing both.
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => {
                if *left != *right {
                    fail!(
                        "check_eq!({}, {}) failed\n  left: {:?}\n right: {:?}",
                        stringify!($left),
                        stringify!($right),
                        left,
                        right
                    );
                }
            }
        }
    };
}

/// Unwraps an `Ok`, or fails with the error.
macro_rules! check_ok {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(err) => fail!("{} failed: {err}", stringify!($result)),
        }
    };
}

/// Fails unless the expression returns exactly the error `$expected`.
macro_rules! check_err {
    ($result:expr, $expected:expr $(,)?) => {
        match $result {
            Ok(value) => fail!(
                "{} succeeded with {value:?}, expected {:?}",
                stringify!($result),
                $expected
            ),
            Err(err) => check_eq!(err, $expected),
        }
    };
}
