//! clone4() selftests: a KTAP runner for Rust tests and C kselftests.
//!
//! Usage: `clone4-selftests [--list] [FILTER]`. FILTER keeps the tests
//! whose name contains it. The exit code follows kselftest (see `ktap`).
//!
//! The runner never starts threads: `ktap` forks every test from it.
//!
//! `clone4-selftests --exit-with CODE` only exits with CODE: a program for
//! tests whose children execve() (see [`EXIT_WITH`]).

#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod ktap;
mod clone4;
mod clonefd;
mod feature;
mod sys;
mod tests;
mod uapi;

use std::io::Write;
use std::process;

const USAGE: &str = "usage: clone4-selftests [--list] [FILTER]";

/// The option that makes this binary exit at once with the code after it,
/// for children that execve() it (`/proc/self/exe --exit-with 7`).
pub const EXIT_WITH: &str = "--exit-with";

/// `--exit-with CODE`: exit with CODE before doing anything else.
fn exit_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [option, code] = args.as_slice() {
        if option == EXIT_WITH {
            process::exit(code.parse().unwrap_or(ktap::KSFT_FAIL));
        }
    }
}

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
    exit_if_asked();
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
