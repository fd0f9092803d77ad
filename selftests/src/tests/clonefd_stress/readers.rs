//! Reading the fds: one read per copy, by read(), poll() or epoll, in
//! threads of the test and in helper processes.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::plan::Method;
use super::record::{Record, Reports, Seen, Source};
use super::roster::Child;
use super::{BOUND, SETUP_ALLOWANCE};
use crate::clonefd::{self, INFO_VER1};
use crate::ktap::Failure;
use crate::tests::clonefd_common::poll_in;

/// After a read of `fd` that gave `seen`: poll() must say POLLIN |
/// POLLHUP.
fn check_poll_after(fd: BorrowedFd<'_>, seen: Seen) -> Seen {
    match poll_in(fd, Duration::ZERO) {
        Ok(revents) if revents.contains(PollFlags::POLLIN | PollFlags::POLLHUP) => seen,
        Ok(revents) => Seen::BadPoll(revents.bits() as u32),
        Err(err) => Seen::Failed(err as i32),
    }
}

/// One read() of `fd`, which should not block (it is readable); what it
/// gave.
fn read_ready(fd: BorrowedFd<'_>) -> Result<Seen, Errno> {
    let (len, info) = clonefd::read_info(fd)?;
    let seen = match len {
        0 => Seen::Eof,
        INFO_VER1 => Seen::Report {
            code: info.code,
            status: info.status,
            released: clonefd::getpid(fd) == Err(Errno::ESRCH),
            reread: clonefd::read_info(fd).map_or_else(|err| -(err as i32), |(n, _)| n as i32),
        },
        len => Seen::Short(len as u32),
    };
    Ok(check_poll_after(fd, seen))
}

/// Waits until `fd` is readable with `method`, then reads it once.
fn read_once(fd: BorrowedFd<'_>, method: Method, deadline: Instant) -> Seen {
    let left = || deadline.saturating_duration_since(Instant::now());
    let readable = match method {
        Method::Read => Ok(true),
        Method::Poll => poll_in(fd, left()).map(|r| r.contains(PollFlags::POLLIN)),
        Method::Epoll => epoll_once(fd, left()),
    };
    match readable {
        Ok(true) => {}
        Ok(false) => return Seen::TimedOut,
        Err(err) => return Seen::Failed(err as i32),
    }
    loop {
        match read_ready(fd) {
            Ok(seen) => return seen,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => match poll_in(fd, left()) {
                Ok(r) if r.contains(PollFlags::POLLIN) => {}
                Ok(_) => return Seen::TimedOut,
                Err(err) => return Seen::Failed(err as i32),
            },
            Err(err) => return Seen::Failed(err as i32),
        }
    }
}

/// A new epoll instance with `fd`: whether it said EPOLLIN within `left`.
fn epoll_once(fd: BorrowedFd<'_>, left: Duration) -> nix::Result<bool> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, 0))?;
    let mut events = [EpollEvent::empty()];
    let timeout = EpollTimeout::try_from(left).unwrap_or(EpollTimeout::MAX);
    loop {
        match epoll.wait(&mut events, timeout) {
            Ok(n) => return Ok(n == 1 && events[0].events().contains(EpollFlags::EPOLLIN)),
            Err(Errno::EINTR) => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads each of `fds` once, as it becomes readable (one epoll instance
/// for all), until all are read or `deadline`; `sink` gets what each
/// read gave (TimedOut for those never readable).
pub(super) fn read_all(
    fds: &[(u32, BorrowedFd<'_>)],
    deadline: Instant,
    mut sink: impl FnMut(u32, Seen),
) {
    let epoll = match Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
        Ok(epoll) => epoll,
        Err(err) => {
            return fds
                .iter()
                .for_each(|&(i, _)| sink(i, Seen::Failed(err as i32)))
        }
    };
    let mut pending = 0;
    let mut done = vec![false; fds.len()];
    for (slot, &(child, fd)) in fds.iter().enumerate() {
        match epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, slot as u64)) {
            Ok(()) => pending += 1,
            Err(err) => {
                sink(child, Seen::Failed(err as i32));
                done[slot] = true;
            }
        }
    }
    let mut events = vec![EpollEvent::empty(); fds.len().max(1)];
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let timeout = EpollTimeout::try_from(left).unwrap_or(EpollTimeout::MAX);
        let n = match epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        };
        for event in &events[..n] {
            let slot = event.data() as usize;
            let (child, fd) = fds[slot];
            let seen = loop {
                match read_ready(fd) {
                    Err(Errno::EINTR) => {}
                    Ok(seen) => break seen,
                    Err(err) => break Seen::Failed(err as i32),
                }
            };
            sink(child, seen);
            let _ = epoll.delete(fd);
            done[slot] = true;
            pending -= 1;
        }
    }
    for (slot, &(child, _)) in fds.iter().enumerate() {
        if !done[slot] {
            sink(child, Seen::TimedOut);
        }
    }
}

/// Starts the test's reader threads: one epoll thread for the Collector
/// copies, one thread per other copy. Each sends what it read on `tx`.
pub(super) fn start_readers(
    children: &[Child],
    tx: &Sender<Record>,
) -> Result<Vec<JoinHandle<()>>, Failure> {
    let deadline = Instant::now() + BOUND + SETUP_ALLOWANCE;
    let mut collected = Vec::new();
    let mut threads = Vec::new();
    for (index, child) in children.iter().enumerate() {
        for reader in &child.readers {
            let fd = Arc::clone(&reader.fd);
            let child = index as u32;
            let Source::Thread(method) = reader.by else {
                collected.push((child, fd));
                continue;
            };
            let tx = tx.clone();
            let read = move || {
                let seen = read_once(fd.as_fd(), method, deadline);
                let _ = tx.send(Record {
                    child,
                    by: Source::Thread(method),
                    seen,
                });
            };
            threads.push(check_ok!(thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(read)));
        }
    }
    let tx = tx.clone();
    let collect = move || {
        let fds: Vec<(u32, BorrowedFd<'_>)> =
            collected.iter().map(|(i, fd)| (*i, fd.as_fd())).collect();
        read_all(&fds, deadline, |child, seen| {
            let _ = tx.send(Record {
                child,
                by: Source::Collector,
                seen,
            });
        });
    };
    threads.push(check_ok!(thread::Builder::new().spawn(collect)));
    Ok(threads)
}

/// Gathers the records of the test's reader threads until each reader has
/// sent one or `deadline`.
pub(super) fn collect_thread_records(
    rx: &Receiver<Record>,
    children: &[Child],
    deadline: Instant,
    records: &mut [Vec<(Source, Seen)>],
) {
    let mut left: usize = children.iter().map(|c| c.readers.len()).sum();
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(record) => {
                records[record.child as usize].push((record.by, record.seen));
                left -= 1;
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Gathers `count` records of the helper processes, until `deadline`.
pub(super) fn collect_helper_records(
    reports: &Reports,
    count: usize,
    deadline: Instant,
    records: &mut [Vec<(Source, Seen)>],
) {
    for _ in 0..count {
        let Some(record) = reports.next(deadline) else {
            return;
        };
        if let Some(list) = records.get_mut(record.child as usize) {
            list.push((record.by, record.seen));
        }
    }
}
