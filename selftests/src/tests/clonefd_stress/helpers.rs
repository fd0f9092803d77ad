//! The helper processes of a round that hold copies of fds: the fork
//! holder and the SCM_RIGHTS receiver; reaping helpers.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::child::close_all_except;
use super::deadline::{recv_fd_by, waitpid_by};
use super::plan::Holder;
use super::readers::read_all;
use super::record::{Record, Reports, Source};
use super::roster::Child;
use super::{BOUND, SETUP_ALLOWANCE};
use crate::ktap::Failure;
use crate::tests::clone4_common::{CHILD_OK, CHILD_WRONG};
use crate::tests::clonefd_common::{fork_process, send_fd};
use crate::tests::seeded::Rng;

/// The helper processes of a round.
#[derive(Default)]
pub(super) struct Helpers {
    list: Vec<(&'static str, Pid)>,
}

impl Helpers {
    pub(super) fn add(&mut self, name: &'static str, pid: Pid) {
        self.list.push((name, pid));
    }

    /// Reaps them all: each must exit with CHILD_OK within BOUND.
    pub(super) fn reap(&self) -> Result<(), Failure> {
        for &(name, pid) in &self.list {
            reap_within(name, pid, BOUND)?;
        }
        Ok(())
    }
}

/// waitpid(pid) with a deadline: it must have exited with CHILD_OK.
pub(super) fn reap_within(name: &str, pid: Pid, bound: Duration) -> Result<(), Failure> {
    match waitpid_by(Some(pid), Instant::now() + bound) {
        Ok(Some(WaitStatus::Exited(_, CHILD_OK))) => Ok(()),
        Ok(None) => fail!("the {name} process {pid} did not exit within {bound:?}"),
        other => fail!("the {name} process {pid} ended with {other:?}"),
    }
}

/// The process that receives `count` fds over SCM_RIGHTS, then reads them.
pub(super) fn scm_receiver(sock: BorrowedFd<'_>, count: usize, reports: &Reports) -> i32 {
    close_all_except(&mut [sock.as_raw_fd(), reports.writer.as_raw_fd()]);
    let deadline = Instant::now() + BOUND + SETUP_ALLOWANCE;
    let mut received = Vec::with_capacity(count);
    for _ in 0..count {
        match recv_fd_by(sock, deadline) {
            Ok((fd, words)) if words.len() == 2 => received.push((words[0] as u32, fd)),
            _ => return CHILD_WRONG,
        }
    }
    let fds: Vec<(u32, BorrowedFd<'_>)> = received.iter().map(|(i, fd)| (*i, fd.as_fd())).collect();
    read_all(&fds, deadline, |child, seen| {
        reports.send(Record {
            child,
            by: Source::ScmReceiver,
            seen,
        })
    });
    CHILD_OK
}

/// Sends the fds of the Scm children to the receiver; then the test's
/// copy goes to its readers or to `close_at_act`.
pub(super) fn send_to_receiver(
    children: &mut [Child],
    sock: BorrowedFd<'_>,
    rng: &mut Rng,
) -> Result<(), Failure> {
    for (index, child) in children.iter_mut().enumerate() {
        if !matches!(child.plan.holder, Holder::Scm { .. }) {
            continue;
        }
        let shared = child.readers.pop().expect("the test's copy");
        let words = [index as i64, i64::from(child.pid.as_raw())];
        check_ok!(send_fd(sock, shared.fd.as_fd(), &words));
        let fd = Arc::into_inner(shared.fd).expect("one owner");
        check_ok!(child.hold(fd, rng));
    }
    Ok(())
}

/// Forks the process that holds the fds of the Fork children (inherited)
/// and reads them; waits until it has closed every other fd. The test's
/// copies then go to its readers or to `close_at_act`.
pub(super) fn start_fork_holder(
    children: &[Child],
    reports: &Reports,
    helpers: &mut Helpers,
) -> Result<(), Failure> {
    let held: Vec<(u32, RawFd)> = children
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.plan.holder, Holder::Fork { .. }))
        .map(|(i, c)| (i as u32, c.readers[0].fd.as_raw_fd()))
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    let ready = check_ok!(Reports::new());
    // SAFETY: the test process is single-threaded; the holder closes its
    // fds, reads some, writes to pipes and exits.
    let pid = check_ok!(unsafe { fork_process(|| fork_holder(&held, reports, &ready)) });
    helpers.add("fork holder", pid);
    ready.await_ready("fork holder")
}

/// The fork holder's body.
fn fork_holder(held: &[(u32, RawFd)], reports: &Reports, ready: &Reports) -> i32 {
    let deadline = Instant::now() + BOUND + SETUP_ALLOWANCE;
    let mut keep: Vec<RawFd> = held.iter().map(|&(_, fd)| fd).collect();
    keep.push(reports.writer.as_raw_fd());
    keep.push(ready.writer.as_raw_fd());
    close_all_except(&mut keep);
    ready.send_ready();
    // SAFETY: the fds were inherited from the test, which owns them there;
    // here nothing else uses or closes them before the exit.
    let fds: Vec<(u32, BorrowedFd<'_>)> = held
        .iter()
        .map(|&(i, fd)| (i, unsafe { BorrowedFd::borrow_raw(fd) }))
        .collect();
    read_all(&fds, deadline, |child, seen| {
        reports.send(Record {
            child,
            by: Source::ForkHolder,
            seen,
        })
    });
    CHILD_OK
}

/// The Fork children's test copies, once the holder has its own: to
/// their readers or to `close_at_act`.
pub(super) fn hold_forked_copies(children: &mut [Child], rng: &mut Rng) -> Result<(), Failure> {
    for child in children.iter_mut() {
        if matches!(child.plan.holder, Holder::Fork { .. }) {
            let shared = child.readers.pop().expect("the test's copy");
            let fd = Arc::into_inner(shared.fd).expect("one owner");
            check_ok!(child.hold(fd, rng));
        }
    }
    Ok(())
}
