//! CLONE_FD: poll(), select() and epoll on the fd.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`).
//!
//! - `clonefd_poll_running_nothing`: while the child runs, poll() for
//!   every event with a zero timeout returns 0 with no revents. Fails with
//!   the revents (e.g. `POLLOUT`).
//! - `clonefd_poll_exited_in_rdnorm_hup`: once the child has exited,
//!   poll() for every event gives exactly POLLIN | POLLRDNORM | POLLHUP.
//! - `clonefd_poll_wakes_on_exit`: a poll() for POLLIN | POLLRDNORM
//!   started while the child runs returns when a helper thread lets it exit
//!   (200 ms later), not before (`released: false`) and not only at its
//!   5 s timeout, with POLLIN | POLLRDNORM | POLLHUP.
//! - `clonefd_select`: select() with read, write and except sets and a
//!   zero timeout returns 0 while the child runs; after its exit the fd is
//!   in the read set only.
//! - `clonefd_epoll_level_triggered`: EPOLLIN | EPOLLRDNORM registered:
//!   epoll_wait() gives nothing while the child runs, then EPOLLIN |
//!   EPOLLRDNORM | EPOLLHUP after its exit, again on the next call.
//! - `clonefd_epoll_edge_triggered`: with EPOLLET, one event after the
//!   exit, none on a call 200 ms later (the level-triggered test makes
//!   the same call and gets the event again).
//! - `clonefd_epoll_wakes_on_exit`: an epoll_wait() started while the
//!   child runs returns with the event when it exits.
//! - `clonefd_poll_after_eof`: after the read that got the info, three
//!   times: poll() for every event still gives exactly POLLIN |
//!   POLLRDNORM | POLLHUP and read() gives 0; then select() has the fd in
//!   the read set and a new epoll instance gets EPOLLIN | EPOLLRDNORM |
//!   EPOLLHUP at once.
//! - `clonefd_poll_race_threads`: 64 children, each with a thread of the
//!   test blocked in poll(POLLIN | POLLRDNORM) on its fd (RACE_PATIENCE); 50 ms later one
//!   write lets all 64 exit at once. Every poll() must return the exit
//!   (POLLIN | POLLRDNORM | POLLHUP): a poll() that times out is a lost
//!   wake-up. Three rounds; then each fd reports 42 and the child is
//!   released. Fails with the round, the child and `(0, PollFlags(0x0))`.
//! - `clonefd_poll_race_one_poll`: the same with one thread polling all 64
//!   fds at once (RACE_PATIENCE), again and again on those not yet
//!   reported, while another thread lets the children go: every poll()
//!   returns at least one, exactly those it says are ready (POLLIN |
//!   POLLRDNORM | POLLHUP), until all are; a poll() that times out fails.

use std::os::fd::{AsFd, BorrowedFd};
use std::thread;

use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::select::{select, FdSet};
use nix::sys::time::{TimeVal, TimeValLike};

use super::clone4_common::CHILD_OK;
use super::clonefd_common::{
    await_readable, block_while_opening, check_child_exited, spawn_gated, Gate, GRACE,
};
use super::common::PATIENCE;
use crate::clonefd::{self, Clonefd};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};

/// Every event poll() can be asked for.
const ALL_EVENTS: PollFlags = PollFlags::POLLIN
    .union(PollFlags::POLLPRI)
    .union(PollFlags::POLLOUT)
    .union(PollFlags::POLLRDNORM)
    .union(PollFlags::POLLRDBAND)
    .union(PollFlags::POLLWRNORM)
    .union(PollFlags::POLLWRBAND);
/// What an exited child's fd reports.
const EXITED: PollFlags = PollFlags::POLLIN
    .union(PollFlags::POLLRDNORM)
    .union(PollFlags::POLLHUP);
const EPOLL_EXITED: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLRDNORM)
    .union(EpollFlags::EPOLLHUP);

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_poll_running_nothing", running_nothing),
        Test::new("clonefd_poll_exited_in_rdnorm_hup", exited_in_rdnorm_hup),
        Test::new("clonefd_poll_wakes_on_exit", poll_wakes_on_exit),
        Test::new("clonefd_select", select_sets),
        Test::new("clonefd_epoll_level_triggered", || epoll_repeats(false)),
        Test::new("clonefd_epoll_edge_triggered", || epoll_repeats(true)),
        Test::new("clonefd_epoll_wakes_on_exit", epoll_wakes_on_exit),
        Test::new("clonefd_poll_after_eof", poll_after_eof),
        Test::new("clonefd_poll_race_threads", race_threads).with_timeout(Duration::from_secs(120)),
        Test::new("clonefd_poll_race_one_poll", race_one_poll)
            .with_timeout(Duration::from_secs(120)),
    ]
}

fn poll_after_eof() -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    for _ in 0..3 {
        let polled = check_ok!(poll_one(child.fd.as_fd(), ALL_EVENTS, PollTimeout::ZERO));
        check_eq!(polled, (1, EXITED));
        check_eq!(check_ok!(clonefd::read_info(child.fd.as_fd())).0, 0);
    }
    check_eq!(
        check_ok!(select_now(child.fd.as_fd())),
        (1, [true, false, false])
    );
    let epoll = epoll_on(
        child.fd.as_fd(),
        EpollFlags::EPOLLIN | EpollFlags::EPOLLRDNORM,
    )?;
    check_eq!(
        check_ok!(epoll_events(&epoll, EpollTimeout::ZERO)),
        [(EPOLL_EXITED, 7)]
    );
    Ok(Outcome::Pass)
}

/// Children exiting at once in the race tests, and rounds of them.
const RACERS: usize = 64;
const RACE_ROUNDS: usize = 3;
/// How long the pollers get to block before the children go.
const RACE_HEAD_START: Duration = Duration::from_millis(50);
/// How long a racing poll() waits: 64 exits at once took over 5 s (the
/// tests' PATIENCE) on the debug kernel under TCG once; a lost wake-up
/// blocks forever, which this still tells from a slow exit.
const RACE_PATIENCE: Duration = Duration::from_secs(30);

/// RACERS children waiting at one gate.
fn racers(gate: &Gate) -> Result<Vec<Clonefd>, Failure> {
    let mut children = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        children.push(check_ok!(spawn_gated(0, gate, CHILD_OK)));
    }
    Ok(children)
}

/// Every child reported CLD_EXITED 42 and is released.
fn check_racers_reported(children: &[Clonefd]) -> Result<(), Failure> {
    for child in children {
        check_child_exited(child, CHILD_OK)?;
    }
    Ok(())
}

fn race_threads() -> TestResult {
    require!(clonefd_available());
    for round in 0..RACE_ROUNDS {
        let gate = check_ok!(Gate::new());
        let children = racers(&gate)?;
        let timeout = check_ok!(PollTimeout::try_from(RACE_PATIENCE));
        let (opened, polled) = thread::scope(|scope| {
            let pollers: Vec<_> = children
                .iter()
                .map(|child| {
                    let fd = child.fd.as_fd();
                    scope.spawn(move || {
                        poll_one(fd, PollFlags::POLLIN | PollFlags::POLLRDNORM, timeout)
                    })
                })
                .collect();
            thread::sleep(RACE_HEAD_START);
            let opened = gate.open_n(RACERS);
            let polled: Vec<_> = pollers.into_iter().map(|p| p.join()).collect();
            (opened, polled)
        });
        check_ok!(opened);
        for (child, result) in children.iter().zip(polled) {
            let polled = check_ok!(check_ok!(result.map_err(|_| "a poller panicked")));
            if polled != (1, EXITED) {
                // Readable now, after a timeout: the wake-up was lost.
                let now = poll_one(child.fd.as_fd(), PollFlags::POLLIN, PollTimeout::ZERO);
                fail!(
                    "round {round}: poll() on the fd of {} gave {polled:?} (0: timed out \
                     after {RACE_PATIENCE:?}); a poll() right after: {now:?}",
                    child.pid
                );
            }
        }
        check_racers_reported(&children)?;
    }
    Ok(Outcome::Pass)
}

fn race_one_poll() -> TestResult {
    require!(clonefd_available());
    let timeout = check_ok!(PollTimeout::try_from(RACE_PATIENCE));
    for round in 0..RACE_ROUNDS {
        let gate = check_ok!(Gate::new());
        let children = racers(&gate)?;
        let opener = thread::scope(|scope| -> Result<(), Failure> {
            let opener = scope.spawn(|| {
                thread::sleep(RACE_HEAD_START);
                gate.open_n(RACERS)
            });
            let mut pending: Vec<&Clonefd> = children.iter().collect();
            while !pending.is_empty() {
                let mut fds: Vec<PollFd> = pending
                    .iter()
                    .map(|child| {
                        PollFd::new(child.fd.as_fd(), PollFlags::POLLIN | PollFlags::POLLRDNORM)
                    })
                    .collect();
                let n = check_ok!(poll(&mut fds, timeout));
                check!(
                    n > 0,
                    "round {round}: poll() on {} fds timed out after {RACE_PATIENCE:?}",
                    fds.len()
                );
                let ready: Vec<bool> = fds
                    .iter()
                    .map(|fd| fd.revents().unwrap_or(PollFlags::empty()) == EXITED)
                    .collect();
                check_eq!(ready.iter().filter(|&&r| r).count(), n as usize);
                let mut ready = ready.into_iter();
                pending.retain(|_| !ready.next().unwrap_or(false));
            }
            check_ok!(check_ok!(opener.join().map_err(|_| "the opener panicked")));
            Ok(())
        });
        opener?;
        check_racers_reported(&children)?;
    }
    Ok(Outcome::Pass)
}

/// A gated child, and its gate.
fn gated() -> Result<(Gate, Clonefd), Failure> {
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    Ok((gate, child))
}

/// poll(fd, events, timeout): (the number returned, the revents).
fn poll_one(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    timeout: PollTimeout,
) -> nix::Result<(i32, PollFlags)> {
    let mut fds = [PollFd::new(fd, events)];
    let n = poll(&mut fds, timeout)?;
    Ok((n, fds[0].revents().unwrap_or(PollFlags::empty())))
}

fn running_nothing() -> TestResult {
    require!(clonefd_available());
    let (_gate, child) = gated()?;
    let polled = check_ok!(poll_one(child.fd.as_fd(), ALL_EVENTS, PollTimeout::ZERO));
    check_eq!(polled, (0, PollFlags::empty()));
    Ok(Outcome::Pass)
}

fn exited_in_rdnorm_hup() -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    check_ok!(gate.open());
    await_readable(child.fd.as_fd())?;
    let polled = check_ok!(poll_one(child.fd.as_fd(), ALL_EVENTS, PollTimeout::ZERO));
    check_eq!(polled, (1, EXITED));
    Ok(Outcome::Pass)
}

fn poll_wakes_on_exit() -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    let timeout = check_ok!(PollTimeout::try_from(PATIENCE));
    let fd = child.fd.as_fd();
    let events = PollFlags::POLLIN | PollFlags::POLLRDNORM;
    let (polled, released) = block_while_opening(&gate, || poll_one(fd, events, timeout))?;
    let polled = check_ok!(polled);
    check!(
        released,
        "poll() returned {polled:?} before the child was let go"
    );
    check_eq!(polled, (1, EXITED));
    Ok(Outcome::Pass)
}

/// select() on `fd` in all three sets with a zero timeout: the number
/// returned and whether `fd` is in the read, write and except sets.
fn select_now(fd: BorrowedFd<'_>) -> nix::Result<(i32, [bool; 3])> {
    let mut sets = [FdSet::new(), FdSet::new(), FdSet::new()];
    for set in &mut sets {
        set.insert(fd);
    }
    let [read, write, except] = &mut sets;
    let mut timeout = TimeVal::zero();
    let n = select(None, read, write, except, &mut timeout)?;
    Ok((n, sets.map(|set| set.contains(fd))))
}

fn select_sets() -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    let fd = child.fd.as_fd();
    check_eq!(check_ok!(select_now(fd)), (0, [false; 3]));
    check_ok!(gate.open());
    await_readable(fd)?;
    check_eq!(check_ok!(select_now(fd)), (1, [true, false, false]));
    Ok(Outcome::Pass)
}

/// An epoll instance watching `fd` for `flags`.
fn epoll_on(fd: BorrowedFd<'_>, flags: EpollFlags) -> Result<Epoll, Failure> {
    let epoll = check_ok!(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC));
    check_ok!(epoll.add(fd, EpollEvent::new(flags, 7)));
    Ok(epoll)
}

/// epoll_wait(): the events reported, as (flags, data).
fn epoll_events(epoll: &Epoll, timeout: EpollTimeout) -> nix::Result<Vec<(EpollFlags, u64)>> {
    let mut events = [EpollEvent::empty(); 4];
    let n = epoll.wait(&mut events, timeout)?;
    Ok(events[..n].iter().map(|e| (e.events(), e.data())).collect())
}

fn epoll_repeats(edge: bool) -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    let mut flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDNORM;
    if edge {
        flags |= EpollFlags::EPOLLET;
    }
    let epoll = epoll_on(child.fd.as_fd(), flags)?;
    check_eq!(check_ok!(epoll_events(&epoll, EpollTimeout::ZERO)), []);
    check_ok!(gate.open());
    let timeout = check_ok!(EpollTimeout::try_from(PATIENCE));
    check_eq!(
        check_ok!(epoll_events(&epoll, timeout)),
        [(EPOLL_EXITED, 7)]
    );
    // Time for any later wake-up, which would make EPOLLET report again.
    thread::sleep(GRACE);
    let again = check_ok!(epoll_events(&epoll, EpollTimeout::ZERO));
    if edge {
        check_eq!(again, []);
    } else {
        check_eq!(again, [(EPOLL_EXITED, 7)]);
    }
    Ok(Outcome::Pass)
}

fn epoll_wakes_on_exit() -> TestResult {
    require!(clonefd_available());
    let (gate, child) = gated()?;
    let epoll = epoll_on(
        child.fd.as_fd(),
        EpollFlags::EPOLLIN | EpollFlags::EPOLLRDNORM,
    )?;
    let timeout = check_ok!(EpollTimeout::try_from(PATIENCE));
    let (events, released) = block_while_opening(&gate, || epoll_events(&epoll, timeout))?;
    let events = check_ok!(events);
    check!(
        released,
        "epoll_wait() returned {events:?} before the child was let go"
    );
    check_eq!(events, [(EPOLL_EXITED, 7)]);
    Ok(Outcome::Pass)
}
