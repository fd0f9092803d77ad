//! `clonefd run`: spawn the copies, collect them through one epoll loop,
//! report each as it ends.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitStatus;
use std::time::Instant;

use clonefd::{Backend, Child, Command};

use crate::args::RunArgs;
use crate::epoll::Epoll;
use crate::process_state::{block_terminal_interrupts, has_cap_sys_admin};
use crate::report::{self, Finished};

/// Exit status for errors of clonefd itself.
pub const INTERNAL_ERROR: u8 = 125;

/// Runs the copies; returns clonefd's exit status.
pub fn run(args: &RunArgs) -> u8 {
    match run_copies(args) {
        Ok(status) => status,
        Err(err) => {
            complain(format_args!("{err}"));
            INTERNAL_ERROR
        }
    }
}

/// "clonefd: MESSAGE" on stderr, if it can be written: unlike eprintln!,
/// which panics (exit status 101) when stderr fails, for example when it
/// is the report that could not be written there.
pub fn complain(message: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "clonefd: {message}");
}

/// The command of every copy. The backend is forced only with --backend:
/// otherwise the crate may still fall back from the detected CLONE_FD if
/// the kernel refuses clone4(), and each report says what was used.
fn command(args: &RunArgs) -> Command {
    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]);
    if let Some(backend) = args.backend {
        cmd.backend(backend);
    }
    if args.kill_on_close {
        cmd.kill_on_close(true);
        let expected = args.backend.unwrap_or_else(Backend::detect);
        if expected == Backend::CloneFd && !has_cap_sys_admin() {
            cmd.no_new_privs(true);
        }
    }
    cmd
}

fn run_copies(args: &RunArgs) -> io::Result<u8> {
    block_terminal_interrupts();
    let mut cmd = command(args);
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path)?),
        None => Box::new(io::stderr()),
    };
    let epoll = Epoll::new()?;

    let mut running: Vec<Option<(Child, Instant)>> = Vec::with_capacity(args.copies);
    let mut spawn_failure = None;
    for copy in 0..args.copies {
        // The clock starts before the spawn, which returns once the child
        // has exec'ed (CLONE_VFORK): exec is part of the command's time.
        let started = Instant::now();
        match cmd.spawn() {
            Ok(child) => {
                epoll.add(child.as_raw_fd(), copy as u64)?;
                running.push(Some((child, started)));
            }
            Err(err) => {
                complain(format_args!("cannot run {:?}: {err}", args.command[0]));
                spawn_failure = Some(if err.kind() == io::ErrorKind::NotFound {
                    127
                } else {
                    126
                });
                break;
            }
        }
    }

    let mut statuses: Vec<Option<ExitStatus>> = vec![None; running.len()];
    let mut left = running.len();
    while left > 0 {
        for token in epoll.wait()? {
            let copy = token as usize;
            let Some((child, started)) = running[copy].as_mut() else {
                continue;
            };
            let Some(info) = child.try_wait_info()? else {
                continue;
            };
            let done = Finished {
                copy,
                copies: args.copies,
                pid: child.id(),
                backend: child.backend(),
                info,
                elapsed: started.elapsed(),
            };
            epoll.remove(child.as_raw_fd())?;
            running[copy] = None;
            statuses[copy] = Some(info.status);
            left -= 1;
            let text = if args.json {
                report::json(&args.command, &done) + "\n"
            } else {
                report::human(&args.command, &done)
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }

    if let Some(status) = spawn_failure {
        return Ok(status);
    }
    let failed = statuses
        .into_iter()
        .flatten()
        .map(report::shell_status)
        .find(|&status| status != 0);
    Ok(failed.map_or(0, |status| status.clamp(0, 255) as u8))
}
