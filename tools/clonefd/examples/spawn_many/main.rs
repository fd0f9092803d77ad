//! Spawns and awaits many children (1000 `/bin/true` by default) from a
//! tokio runtime, with no SIGCHLD handler and no reaper thread, and says
//! which kernel path it used. The same program runs on the patched kernel
//! (clone4(CLONE_FD)) and on others (the clone3 + pidfd fallback).
//!
//! ```text
//! cargo run --release --features tokio --example spawn_many [COUNT [PROGRAM [IN_FLIGHT]]]
//! ```
//!
//! Exits with 1 if a child failed, a child was left behind or SIGCHLD's
//! disposition changed. `tests/tokio_thousand_children.rs` runs the same
//! code as a test.

mod fleet;

use std::ffi::OsString;
use std::process::ExitCode;

use clonefd::Backend;

fn disposition() -> &'static str {
    if fleet::sigchld_is_default() {
        "default (no handler)"
    } else {
        "CHANGED"
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let count: usize = args.next().map_or(1000, |n| {
        n.to_str().and_then(|n| n.parse().ok()).expect("COUNT")
    });
    let program = args.next().unwrap_or_else(|| OsString::from("/bin/true"));
    let in_flight: usize = args.next().map_or(64, |n| {
        n.to_str().and_then(|n| n.parse().ok()).expect("IN_FLIGHT")
    });

    println!("path: {}", Backend::detect());
    println!("SIGCHLD disposition: {}", disposition());
    let tally = fleet::spawn_and_await(&program, count, in_flight).await;
    for failure in &tally.failures {
        eprintln!("child failed: {failure}");
    }
    println!(
        "{} of {count} children exited 0, {} failed, in {:.2?} ({:.0} children/s, \
         {in_flight} in flight, children's CPU {:.2?}), created with {:?}",
        tally.succeeded,
        tally.failures.len(),
        tally.elapsed,
        count as f64 / tally.elapsed.as_secs_f64(),
        tally.cpu,
        tally.backends,
    );
    let left = fleet::children_left();
    println!(
        "children left to reap: {}",
        if left { "SOME" } else { "none" }
    );
    println!("SIGCHLD disposition after: {}", disposition());
    if tally.succeeded != count || left || !fleet::sigchld_is_default() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
