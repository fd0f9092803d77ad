//! Orphans: children made by a helper process that exits first.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Instant;

use nix::unistd::{getpid, Pid};

use super::child::{close_all_except, spawn_child};
use super::deadline::recv_fd_by;
use super::helpers::reap_within;
use super::plan::{Ending, Plan};
use super::roster::Child;
use super::BOUND;
use crate::clonefd;
use crate::ktap::Failure;
use crate::sys;
use crate::tests::clone4_common::{CHILD_OK, CHILD_WRONG};
use crate::tests::clonefd_common::{fork_process, proc_stat, send_fd, unix_pair};
use crate::tests::seeded::Rng;

/// The orphans of the round: a helper process creates them (each at its
/// gate), sends each fd (or a pidfd, if none is to be kept) with its
/// index and pid, and exits, holding its fds to the end.
pub(super) fn make_orphans(children: &mut [Child], rng: &mut Rng) -> Result<(), Failure> {
    let orphans: Vec<(u32, Plan, RawFd)> = children
        .iter()
        .enumerate()
        .filter(|(_, c)| c.plan.orphan)
        .map(|(i, c)| (i as u32, c.plan, c.gate.read_fd()))
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    let (ours, theirs) = check_ok!(unix_pair());
    let sock = theirs.as_fd();
    // SAFETY: the test process is single-threaded; the orphan maker closes
    // its fds, creates children, sends fds and exits.
    let maker = check_ok!(unsafe { fork_process(|| orphan_maker(&orphans, sock)) });
    drop(theirs);
    let deadline = Instant::now() + BOUND;
    for _ in &orphans {
        let (fd, words) = check_ok!(recv_fd_by(ours.as_fd(), deadline));
        check_eq!(words.len(), 2);
        let child = &mut children[words[0] as usize];
        child.pid = Pid::from_raw(words[1] as i32);
        if child.plan.kept() {
            child.pidfd = Some(check_ok!(clonefd::getpidfd(fd.as_fd())));
            check_ok!(child.hold(fd, rng));
        } else {
            child.pidfd = Some(fd);
        }
    }
    reap_within("orphan maker", maker, BOUND)?;
    let me = getpid().as_raw();
    for child in children.iter_mut().filter(|c| c.plan.orphan) {
        if child.plan.ending != Ending::KilledByClose {
            match proc_stat(child.pid) {
                Ok(stat) if stat.ppid == me => {}
                other => child
                    .problems
                    .push(format!("orphan not reparented to the test: {other:?}")),
            }
        }
    }
    Ok(())
}

/// The orphan maker's body.
fn orphan_maker(orphans: &[(u32, Plan, RawFd)], sock: BorrowedFd<'_>) -> i32 {
    let mut keep: Vec<RawFd> = orphans.iter().map(|&(_, _, gate)| gate).collect();
    keep.push(sock.as_raw_fd());
    close_all_except(&mut keep);
    let mut held = Vec::with_capacity(orphans.len());
    for (index, plan, gate) in orphans {
        let Ok(child) = spawn_child(plan, *gate) else {
            return CHILD_WRONG;
        };
        let words = [i64::from(*index), i64::from(child.pid.as_raw())];
        let sent = if plan.kept() {
            send_fd(sock, child.fd.as_fd(), &words)
        } else {
            clonefd::getpidfd(child.fd.as_fd())
                .and_then(|pidfd| send_fd(sock, pidfd.as_fd(), &words))
        };
        if sent.is_err() {
            return CHILD_WRONG;
        }
        held.push(child);
    }
    // Exits holding the fds: the exit drops them (and kills the
    // KILL_ON_CLOSE children of which the test has no copy).
    sys::exit_now(CHILD_OK)
}
