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
//! `--await-clonefd FD STATUS` waits for a CLONE_FD child: programs for tests
//! whose processes execve() (see [`EXIT_WITH`], [`AWAIT_CLONEFD`]).

#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[macro_use]
mod ktap;
mod abi_literals;
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
/// follows, expecting the whole `clonefd_info` (80 bytes) of a child that
/// exited with the status after that, then watch for a SIGCHLD (blocked)
/// for [`AWAIT_QUIET`] more: for a process that execve()s it with SIGCHLD
/// blocked while its CLONE_FD child runs. Exits with 0 if all was so, 1 if
/// a SIGCHLD was pending at the end, 2 if the read failed, 3 if it gave
/// another length, code or status.
pub const AWAIT_CLONEFD: &str = "--await-clonefd";

/// How long `--await-clonefd` watches for a late SIGCHLD after the read
/// (the tests' GRACE).
const AWAIT_QUIET: std::time::Duration = std::time::Duration::from_millis(200);

/// `--exit-with CODE` or `--await-clonefd FD STATUS`: do that and exit,
/// before doing anything else.
fn exit_if_asked() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [option, value] if option == EXIT_WITH => {
            process::exit(value.parse().unwrap_or(ktap::KSFT_FAIL));
        }
        [option, fd, status] if option == AWAIT_CLONEFD => {
            process::exit(await_clonefd(fd, status));
        }
        _ => {}
    }
}

fn await_clonefd(fd: &str, status: &str) -> i32 {
    let (Ok(fd), Ok(status)) = (fd.parse::<std::os::fd::RawFd>(), status.parse::<u32>()) else {
        return 2;
    };
    // SAFETY: the process that execve()d us left this fd open for us, and
    // nothing else here uses it.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let Ok((len, info)) = clonefd::read_info(fd) else {
        return 2;
    };
    if len != clonefd::INFO_VER1 || info.code != libc::CLD_EXITED as u32 || info.status != status {
        return 3;
    }
    std::thread::sleep(AWAIT_QUIET);
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
        for test in &tests {
            println!("{}", test.name());
            for case in test.cases() {
                println!("{}/{case}", test.name());
            }
        }
        ktap::KSFT_PASS
    } else {
        ktap::run(&tests, options.strict)
    };
    let _ = std::io::stdout().flush();
    process::exit(code);
}
