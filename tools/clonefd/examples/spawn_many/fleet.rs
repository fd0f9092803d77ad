//! Spawning and awaiting many children from a tokio runtime, and the two
//! process-wide facts worth checking around it: SIGCHLD still has its
//! default disposition (nobody installed a handler), and no child is left
//! to reap. Shared by the `spawn_many` example and the
//! `tokio_thousand_children` test.

#![allow(dead_code)] // each user needs a different part

use std::ffi::OsStr;
use std::io;
use std::time::{Duration, Instant};

use clonefd::{Backend, Command, ExitInfo};
use tokio::task::JoinSet;

/// How a fleet of children ended.
#[derive(Debug, Default)]
pub struct Tally {
    /// Children that exited with status 0.
    pub succeeded: usize,
    /// Children that failed: spawn or wait errors, or a nonzero status.
    pub failures: Vec<String>,
    /// The backends the children were created with.
    pub backends: Vec<Backend>,
    /// The children's CPU time, user and system, from their exit info.
    pub cpu: Duration,
    pub elapsed: Duration,
}

impl Tally {
    fn record(&mut self, result: io::Result<(Backend, ExitInfo)>) {
        match result {
            Ok((backend, info)) if info.status.success() => {
                self.succeeded += 1;
                self.cpu += info.rusage.user_time + info.rusage.system_time;
                if !self.backends.contains(&backend) {
                    self.backends.push(backend);
                }
            }
            Ok((_, info)) => self.failures.push(format!("{:?}", info.status)),
            Err(err) => self.failures.push(err.to_string()),
        }
    }
}

/// Spawns `count` children running `program`, at most `in_flight` at once,
/// each awaited with `wait_info_async` in a task of its own; the backend is
/// the crate's choice. Call it in a tokio runtime with IO enabled.
pub async fn spawn_and_await(program: &OsStr, count: usize, in_flight: usize) -> Tally {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    let joined = |joined: Result<_, tokio::task::JoinError>| {
        joined.unwrap_or_else(|err| Err(io::Error::other(err)))
    };
    for _ in 0..count {
        while tasks.len() >= in_flight {
            tally.record(joined(tasks.join_next().await.expect("a task")));
        }
        match Command::new(program).spawn() {
            Ok(mut child) => {
                tasks.spawn(async move {
                    let info = child.wait_info_async().await?;
                    Ok((child.backend(), info))
                });
            }
            Err(err) => tally.record(Err(err)),
        }
    }
    while let Some(result) = tasks.join_next().await {
        tally.record(joined(result));
    }
    tally.elapsed = start.elapsed();
    tally
}

/// Whether SIGCHLD still has its default disposition: no handler, not
/// ignored.
pub fn sigchld_is_default() -> bool {
    // SAFETY: reads the disposition only, into a zeroed sigaction.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_DFL
    }
}

/// Whether any child of this process is left, exited or not (waitid with
/// __WALL, without reaping).
pub fn children_left() -> bool {
    // SAFETY: looks only (WNOWAIT), does not block (WNOHANG), writes a
    // zeroed siginfo_t of its size.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        ) == 0
    }
}
