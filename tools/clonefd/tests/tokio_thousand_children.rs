//! What a library author gets (issue 13's "done when"): 1000 children
//! spawned and awaited from a tokio runtime, with no SIGCHLD handler
//! installed and no reaper thread, on whatever the kernel offers: the
//! CLONE_FD path on the patched kernel, the clone3 + pidfd fallback on
//! others (the host). The same code as `examples/spawn_many`.
//!
//! `CLONEFD_SPAWN_MANY=N` changes the count (ci/guest-tests.sh sets it for
//! the slow TCG guest). One test in this binary: "no child left" and the
//! SIGCHLD disposition are process-wide.

#![cfg(feature = "tokio")]

#[path = "../examples/spawn_many/fleet.rs"]
mod fleet;

use std::ffi::OsStr;

use clonefd::Backend;

const DEFAULT_COUNT: usize = 1000;

fn count() -> usize {
    std::env::var("CLONEFD_SPAWN_MANY").map_or(DEFAULT_COUNT, |n| {
        n.parse().expect("CLONEFD_SPAWN_MANY: a number")
    })
}

#[test]
fn spawns_and_awaits_1000_children_with_no_sigchld_handler() {
    assert!(fleet::sigchld_is_default(), "SIGCHLD was already handled");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .unwrap();
    let count = count();
    let tally = runtime.block_on(fleet::spawn_and_await(OsStr::new("/bin/true"), count, 64));
    eprintln!(
        "{} children on {}: {} exited 0 in {:.2?}",
        count,
        Backend::detect(),
        tally.succeeded,
        tally.elapsed
    );
    assert!(tally.failures.is_empty(), "{:?}", tally.failures);
    assert_eq!(tally.succeeded, count);
    // Every child was created the way the kernel offers.
    assert_eq!(tally.backends, [Backend::detect()]);
    // Nothing to reap, and nobody touched SIGCHLD: not the crate, not
    // tokio (no `signal` or `process` feature is needed).
    assert!(!fleet::children_left(), "children left to reap");
    assert!(fleet::sigchld_is_default(), "SIGCHLD's disposition changed");
}
