//! Judging a round: each child's records, and its release.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::counts::Counts;
use super::plan::Tracer;
use super::record::{Seen, Source};
use super::roster::Child;
use super::BOUND;
use crate::ktap::Failure;
use crate::tests::clonefd_common::proc_stat;

/// Checks every child's records; counts them. The problems, one line per
/// child that has some.
pub(super) fn judge_round(
    children: &[Child],
    records: &[Vec<(Source, Seen)>],
    counts: &mut Counts,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, (child, seen)) in children.iter().zip(records).enumerate() {
        let mut found = child.problems.clone();
        judge_child(child, seen, counts, &mut found);
        if !found.is_empty() {
            problems.push(format!(
                "child {index} (pid {}, {:?}): {}; seen: {seen:?}",
                child.pid,
                child.plan,
                found.join("; ")
            ));
        }
    }
    problems
}

fn judge_child(
    child: &Child,
    seen: &[(Source, Seen)],
    counts: &mut Counts,
    found: &mut Vec<String>,
) {
    let plan = &child.plan;
    let (code, status) = plan.expected();
    let mut reported = 0;
    let mut reads = 0;
    let mut tracer_saw = 0;
    let mut detached = 0;
    for &(by, what) in seen {
        match what {
            Seen::Report {
                code: c,
                status: s,
                released,
                reread,
            } => {
                reported += 1;
                reads += 1;
                if (c, s) != (code, status) {
                    found.push(format!(
                        "{by:?} read ({c}, {s}), expected ({code}, {status})"
                    ));
                }
                if !released {
                    found.push(format!(
                        "{by:?}: GETPID did not give ESRCH after the report"
                    ));
                }
                if reread != 0 {
                    found.push(format!(
                        "{by:?}: the read after the report gave {reread}, not 0"
                    ));
                }
            }
            Seen::Eof => {
                reads += 1;
                counts.eof_reads += 1;
            }
            Seen::TracerSaw { code: c, status: s } => {
                tracer_saw += 1;
                if (c, s) != (code, status) {
                    found.push(format!(
                        "the tracer saw ({c}, {s}), expected ({code}, {status})"
                    ));
                }
            }
            Seen::TracerDetached => detached += 1,
            other => found.push(format!("{by:?}: {other:?}")),
        }
    }
    counts.reads += reads;
    if plan.kept() {
        match reported {
            0 => {
                counts.lost += 1;
                found.push(format!("exit not reported within {BOUND:?}"));
            }
            1 => counts.observed += 1,
            n => {
                counts.doubled += 1;
                found.push(format!("exit reported {n} times"));
            }
        }
    } else if reported != 0 {
        found.push(format!("reported {reported} times without a reader"));
    }
    if reads != child.expected_reads() && found.is_empty() {
        found.push(format!(
            "{reads} reads, expected {}",
            child.expected_reads()
        ));
    }
    let (want_saw, want_detached) = match plan.tracer {
        Tracer::None => (0, 0),
        Tracer::Watch => (1, 0),
        Tracer::DetachProcess | Tracer::DetachThread => (0, 1),
    };
    if (tracer_saw, detached) != (want_saw, want_detached) && found.is_empty() {
        found.push(format!(
            "tracer records: {tracer_saw} exits, {detached} detaches; \
             expected {want_saw}, {want_detached}"
        ));
    }
}

/// pidfd_send_signal(pidfd, 0): Ok while the process exists (a zombie
/// too), ESRCH once it is released.
fn pidfd_probe(pidfd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: signal 0 with a NULL siginfo: no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    Errno::result(ret).map(drop)
}

/// Every child of the round is released (its pidfd says ESRCH) by
/// `deadline`.
pub(super) fn check_released_all(children: &[Child], deadline: Instant) -> Result<(), Failure> {
    for (index, child) in children.iter().enumerate() {
        let Some(pidfd) = child.pidfd.as_ref() else {
            fail!("child {index} (pid {}) has no pidfd", child.pid);
        };
        loop {
            match pidfd_probe(pidfd.as_fd()) {
                Err(Errno::ESRCH) => break,
                Ok(()) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                other => fail!(
                    "child {index} (pid {}, {:?}) not released ({other:?}): /proc says {:?}",
                    child.pid,
                    child.plan,
                    proc_stat(child.pid)
                ),
            }
        }
    }
    Ok(())
}
