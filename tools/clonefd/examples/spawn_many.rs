//! Spawns and awaits many children (1000 `/bin/true` by default) from a
//! tokio runtime, with no SIGCHLD handler and no reaper thread, and says
//! which kernel path it used.
//!
//! ```text
//! cargo run --release --features tokio --example spawn_many [COUNT [PROGRAM [IN_FLIGHT]]]
//! ```
//!
//! Exits with 1 if a child failed or a child was left behind.

use std::io;
use std::time::{Duration, Instant};

use clonefd::{Backend, Command};
use tokio::task::JoinSet;

/// Whether SIGCHLD still has its default disposition (nobody installed a
/// handler or ignored it).
fn sigchld_is_default() -> bool {
    // SAFETY: reads the disposition only.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_DFL
    }
}

/// Whether any child of ours is left, exited or not (waitid with __WALL,
/// without reaping).
fn children_left() -> bool {
    // SAFETY: looks only (WNOWAIT), does not block (WNOHANG).
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

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(1000, |n| n.parse().expect("COUNT"));
    let program = args.next().unwrap_or_else(|| "/bin/true".into());
    let in_flight: usize = args.next().map_or(64, |n| n.parse().expect("IN_FLIGHT"));

    let backend = Backend::detect();
    println!("path: {backend}");
    println!(
        "SIGCHLD disposition: {}",
        if sigchld_is_default() {
            "default (no handler)"
        } else {
            "CHANGED"
        }
    );

    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut cpu = Duration::ZERO;
    let mut tally = |result: Result<io::Result<clonefd::ExitInfo>, _>| match result {
        Ok(Ok(info)) if info.status.success() => {
            ok += 1;
            cpu += info.rusage.user_time + info.rusage.system_time;
        }
        other => {
            failed += 1;
            eprintln!("child failed: {other:?}");
        }
    };
    for _ in 0..count {
        while tasks.len() >= in_flight {
            tally(tasks.join_next().await.expect("a task"));
        }
        let mut child = Command::new(&program).spawn()?;
        tasks.spawn(async move { child.wait_info_async().await });
    }
    while let Some(result) = tasks.join_next().await {
        tally(result);
    }
    let elapsed = start.elapsed();

    println!(
        "{ok} of {count} children exited 0, {failed} failed, in {:.2?} ({:.0} children/s, \
         {in_flight} in flight, children's CPU {:.2?})",
        elapsed,
        count as f64 / elapsed.as_secs_f64(),
        cpu
    );
    let left = children_left();
    println!(
        "children left to reap: {}",
        if left { "SOME" } else { "none" }
    );
    println!(
        "SIGCHLD disposition after: {}",
        if sigchld_is_default() {
            "default (no handler)"
        } else {
            "CHANGED"
        }
    );
    if failed > 0 || left || ok != count {
        std::process::exit(1);
    }
    Ok(())
}
