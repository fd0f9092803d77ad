//! clone4() selftests: a KTAP runner for Rust tests and C kselftests.
//!
//! Usage: `clone4-selftests [--list] [--strict] [--except NAME]...
//! [FILTER]`. FILTER keeps the tests whose name contains it, `--except`
//! drops the test of that name; `--strict` counts a skipped test as a
//! failure (for a kernel that must have everything). The exit code
//! follows kselftest (see `ktap`).
//!
//! The runner never starts threads: `ktap` forks every test from it.
//!
//! `clone4-selftests --exit-with CODE` only exits with CODE, and
//! `--await-clonefd FD` waits for a CLONE_FD child: programs for tests
//! whose processes execve() (see [`EXIT_WITH`], [`AWAIT_CLONEFD`]).

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

const USAGE: &str = "usage: clone4-selftests [--list] [--strict] [--except NAME]... [FILTER]";

/// The option that makes this binary exit at once with the code after it,
/// for children that execve() it (`/proc/self/exe --exit-with 7`).
pub const EXIT_WITH: &str = "--exit-with";

/// The option that makes this binary read the CLONE_FD file whose number
/// follows, then exit with 0 if no SIGCHLD is pending, 1 if one is, 2 if
/// the read failed: for a process that execve()s it with SIGCHLD blocked
/// while its CLONE_FD child runs.
pub const AWAIT_CLONEFD: &str = "--await-clonefd";

/// `--exit-with CODE` or `--await-clonefd FD`: do that and exit, before
/// doing anything else.
fn exit_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [option, value] = args.as_slice() {
        if option == EXIT_WITH {
            process::exit(value.parse().unwrap_or(ktap::KSFT_FAIL));
        }
        if option == AWAIT_CLONEFD {
            process::exit(await_clonefd(value));
        }
    }
}

fn await_clonefd(fd: &str) -> i32 {
    let Ok(fd) = fd.parse::<std::os::fd::RawFd>() else {
        return 2;
    };
    // SAFETY: the process that execve()d us left this fd open for us, and
    // nothing else here uses it.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if clonefd::read_info(fd).is_err() {
        return 2;
    }
    // SAFETY: sigpending() fills the set it is given.
    let pending = unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGCHLD) == 1
    };
    i32::from(pending)
}

struct Options {
    list: bool,
    strict: bool,
    except: Vec<String>,
    filter: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        list: false,
        strict: false,
        except: Vec::new(),
        filter: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--except" => options
                .except
                .push(args.next().ok_or("--except needs a test name")?),
            "--list" => options.list = true,
            "--strict" => options.strict = true,
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
                && !options.except.iter().any(|name| name == test.name())
        })
        .collect();
    let code = if options.list {
        tests.iter().for_each(|test| println!("{}", test.name()));
        ktap::KSFT_PASS
    } else {
        ktap::run(&tests, options.strict)
    };
    let _ = std::io::stdout().flush();
    process::exit(code);
}
