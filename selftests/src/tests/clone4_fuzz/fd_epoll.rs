//! poll() and epoll on a CLONE_FD fd: readable and hung up once the
//! child exited, by the level, edge and one-shot rules.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::fd_ops::FdChild;
use crate::tests::common::PATIENCE;
use crate::tests::seeded::Rng;

/// The epoll data of the fd.
const EPOLL_TAG: u64 = 0xc4c4_c4c4;

impl FdChild {
    /// poll() for random events, now or waiting for the exit.
    pub(super) fn poll(&mut self, rng: &mut Rng) -> Result<String, String> {
        let events = [
            libc::POLLIN,
            libc::POLLRDNORM,
            libc::POLLOUT,
            libc::POLLPRI,
            libc::POLLRDHUP,
        ]
        .into_iter()
        .filter(|_| rng.one_in(2))
        .fold(0, |all, event| all | event);
        let wait = !self.exited && rng.one_in(2);
        let mut fds = [libc::pollfd {
            fd: self.raw(),
            events,
            revents: 0,
        }];
        let timeout = if wait {
            PATIENCE.as_millis() as libc::c_int
        } else {
            0
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) };
        let revents = fds[0].revents;
        let entry = format!("poll({events:#x}, {timeout} ms) = {n}, revents {revents:#x}");
        // Readable and hung up once exited; POLLHUP is always reported.
        let exit = (events & (libc::POLLIN | libc::POLLRDNORM)) | libc::POLLHUP;
        let ok = if self.exited || wait {
            n == 1 && revents == exit
        } else {
            (n == 0 && revents == 0) || (n == 1 && revents == exit)
        };
        if !ok {
            return Err(format!("{entry}, expected revents {exit:#x} once exited"));
        }
        self.exited |= n == 1;
        Ok(entry)
    }

    /// An epoll instance on the fd, and a random sequence of ADD, MOD, DEL
    /// and waits, checked against the state of the registration.
    pub(super) fn epoll(&mut self, rng: &mut Rng) -> Result<String, String> {
        // SAFETY: epoll_create1() makes a new fd, owned at once.
        let ep = Errno::result(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
            .map_err(|err| format!("epoll_create1: {err}"))?;
        // SAFETY: the new fd, which nothing else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let mut epoll = EpollModel { reg: None };
        let mut entries = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let step = match rng.below(4) {
                0 => epoll.ctl(ep.as_fd(), self.raw(), libc::EPOLL_CTL_ADD, rng),
                1 => epoll.ctl(ep.as_fd(), self.raw(), libc::EPOLL_CTL_MOD, rng),
                2 => epoll.ctl(ep.as_fd(), self.raw(), libc::EPOLL_CTL_DEL, rng),
                _ => epoll.wait(ep.as_fd(), &mut self.exited, rng),
            };
            match step {
                Ok(entry) => entries.push(entry),
                Err(why) => {
                    entries.push(why);
                    return Err(format!("epoll: {}", entries.join(", ")));
                }
            }
        }
        Ok(format!("epoll: {}", entries.join(", ")))
    }
}

/// The registration of the fd in an epoll instance.
struct Registration {
    edge: bool,
    oneshot: bool,
    /// Not a ONESHOT that already reported.
    armed: bool,
    /// It reported since ADD or MOD.
    reported: bool,
    /// The events it reports once the child exited.
    exit: u32,
}

struct EpollModel {
    reg: Option<Registration>,
}

impl EpollModel {
    fn ctl(
        &mut self,
        ep: BorrowedFd<'_>,
        fd: RawFd,
        op: libc::c_int,
        rng: &mut Rng,
    ) -> Result<String, String> {
        let mut events = [
            libc::EPOLLIN,
            libc::EPOLLRDNORM,
            libc::EPOLLOUT,
            libc::EPOLLET,
            libc::EPOLLONESHOT,
        ]
        .into_iter()
        .filter(|_| rng.one_in(2))
        .fold(0, |all, event| all | event as u32);
        if rng.one_in(4) {
            events |= libc::EPOLLIN as u32;
        }
        let mut event = libc::epoll_event {
            events,
            u64: EPOLL_TAG,
        };
        // SAFETY: a valid epoll_event; the fds are ours.
        let got = Errno::result(unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut event) });
        let name = match op {
            libc::EPOLL_CTL_ADD => "ADD",
            libc::EPOLL_CTL_MOD => "MOD",
            _ => "DEL",
        };
        let entry = format!("{name} {events:#x} = {got:?}");
        let expected = match (op, &self.reg) {
            (libc::EPOLL_CTL_ADD, Some(_)) => Err(Errno::EEXIST),
            (libc::EPOLL_CTL_ADD, None) => Ok(0),
            (_, None) => Err(Errno::ENOENT),
            (_, Some(_)) => Ok(0),
        };
        if got != expected {
            return Err(format!("{entry}, expected {expected:?}"));
        }
        if got.is_ok() {
            self.reg = (op != libc::EPOLL_CTL_DEL).then_some(Registration {
                edge: events & libc::EPOLLET as u32 != 0,
                oneshot: events & libc::EPOLLONESHOT as u32 != 0,
                armed: true,
                reported: false,
                exit: (events & (libc::EPOLLIN | libc::EPOLLRDNORM) as u32) | libc::EPOLLHUP as u32,
            });
        }
        Ok(entry)
    }

    /// epoll_wait(): must report once exited, if armed and level-triggered
    /// or not reported since ADD or MOD; must not when not armed (DEL, or
    /// a ONESHOT that reported); may otherwise.
    fn wait(
        &mut self,
        ep: BorrowedFd<'_>,
        exited: &mut bool,
        rng: &mut Rng,
    ) -> Result<String, String> {
        // Owed: armed, and level-triggered or not reported since ADD or
        // MOD. An edge-triggered one that reported may report again: the
        // exit's wake-up may come after an ADD or MOD that found it exited.
        let (may, owed) = match &self.reg {
            Some(reg) if reg.armed => (true, !(reg.edge && reg.reported)),
            _ => (false, false),
        };
        let must = owed && *exited;
        let wait = owed && !*exited && rng.one_in(2);
        let timeout = if wait {
            PATIENCE.as_millis() as libc::c_int
        } else {
            0
        };
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
        // SAFETY: `events` has room for the 2 events asked for.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 2, timeout) };
        let (got, data) = (events[0].events, events[0].u64);
        let entry = format!("wait({timeout} ms) = {n}, events {got:#x}");
        let exit = self.reg.as_ref().map_or(0, |reg| reg.exit);
        let reported = n == 1 && got == exit && data == EPOLL_TAG;
        let ok = if must || wait {
            reported
        } else if may {
            n == 0 || reported
        } else {
            n == 0
        };
        if !ok {
            return Err(format!(
                "{entry} (data {data:#x}), expected {} events {exit:#x}",
                if must || wait {
                    "the"
                } else if may {
                    "no event or"
                } else {
                    "no"
                }
            ));
        }
        if let (true, Some(reg)) = (reported, self.reg.as_mut()) {
            *exited = true;
            reg.reported = true;
            reg.armed = !reg.oneshot;
        }
        Ok(entry)
    }
}
