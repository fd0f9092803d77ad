//! clone4() selftests: a KTAP runner for Rust tests and C kselftests.
//!
//! Usage: `clone4-selftests [--list] [FILTER]`. FILTER keeps the tests
//! whose name contains it. The exit code follows kselftest (see `ktap`).
//!
//! The runner never starts threads: `ktap` forks every test from it.

#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod ktap;
mod clone4;
mod feature;
mod sys;
mod tests;
mod uapi;

use std::io::Write;
use std::process;

const USAGE: &str = "usage: clone4-selftests [--list] [FILTER]";

struct Options {
    list: bool,
    filter: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        list: false,
        filter: None,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--list" => options.list = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                process::exit(ktap::KSFT_PASS);
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if options.filter.is_some() => return Err("only one FILTER allowed".into()),
            _ => options.filter = Some(arg),
        }
    }
    Ok(options)
}

fn main() {
    let options = parse_args().unwrap_or_else(|err| {
        eprintln!("clone4-selftests: {err}\n{USAGE}");
        process::exit(ktap::KSFT_FAIL);
    });
    let tests: Vec<_> = tests::all()
        .into_iter()
        .filter(|test| {
            options
                .filter
                .as_deref()
                .is_none_or(|f| test.name().contains(f))
        })
        .collect();
    let code = if options.list {
        tests.iter().for_each(|test| println!("{}", test.name()));
        ktap::KSFT_PASS
    } else {
        ktap::run(&tests)
    };
    let _ = std::io::stdout().flush();
    process::exit(code);
}
