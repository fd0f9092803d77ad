//! Close races on a CLONE_FD fd: a thread in read() or poll() on it while
//! the test closes it.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::thread;

use nix::errno::Errno;

use super::fd_ops::FdChild;
use crate::clonefd::INFO_VER1;
use crate::tests::common::PATIENCE;
use crate::tests::seeded::Rng;

/// How a close race reaches the file.
#[derive(Debug, Clone, Copy)]
pub(super) enum Race {
    /// A thread read()s the fd's number while the test closes it.
    Read,
    /// A thread poll()s the fd's number while the test closes it.
    Poll,
    /// A thread read()s a dup while the test closes the fd.
    ReadDup,
}

impl FdChild {
    /// A thread read()s or poll()s while the fd is closed. The thread gets
    /// the fd's number (or a dup) after a pipe says it runs; the test then
    /// closes the fd and creates no fd until the thread is done, so the
    /// number is never reused under it. A read() that had started
    /// completes (the file lives until it returns) and reports the exit;
    /// one that had not gets EBADF; a poll() sees the exit, or POLLNVAL.
    pub(super) fn close_race(&mut self, race: Race, rng: &mut Rng) -> Result<(), String> {
        let fd = self.fd.take().expect("the fd is open");
        let (ready_rx, ready_tx) = io::pipe().map_err(|err| format!("pipe: {err}"))?;
        let dup = match race {
            Race::ReadDup => Some(fd.try_clone().map_err(|err| format!("dup: {err}"))?),
            _ => None,
        };
        let number = dup.as_ref().unwrap_or(&fd).as_raw_fd();
        let spins = rng.below(20_000);
        let thread = thread::Builder::new()
            .name("close-race".into())
            .spawn(move || {
                let _ = (&ready_tx).write_all(b"r");
                let seen = race_op(race, number);
                drop(dup);
                seen
            })
            .map_err(|err| format!("spawning the race thread: {err}"))?;
        let mut byte = [0u8; 1];
        let ready = (&ready_rx).read_exact(&mut byte);
        for _ in 0..spins {
            std::hint::spin_loop();
        }
        drop(fd);
        let seen = thread
            .join()
            .map_err(|_| "the race thread panicked".to_owned())?;
        ready.map_err(|err| format!("the race thread's pipe: {err}"))?;
        let entry = format!("close race {race:?} after {spins} spins: {seen:?}");
        let judged = self.judge_race(race, &seen);
        self.log.push(entry);
        match judged {
            Ok(()) => Ok(()),
            Err(why) => self.fail(why),
        }
    }

    fn judge_race(&mut self, race: Race, seen: &RaceSeen) -> Result<(), String> {
        match (race, seen) {
            (Race::Poll, RaceSeen::Poll(_, revents)) if *revents == libc::POLLNVAL => Ok(()),
            (Race::Poll, RaceSeen::Poll(1, revents))
                if *revents == libc::POLLIN | libc::POLLHUP =>
            {
                self.exited = true;
                Ok(())
            }
            (Race::Read, RaceSeen::Read(Err(Errno::EBADF), _)) => Ok(()),
            (Race::Read | Race::ReadDup, RaceSeen::Read(Err(Errno::EAGAIN), _))
                if self.nonblock =>
            {
                Ok(())
            }
            (Race::Read | Race::ReadDup, RaceSeen::Read(Ok(0), _)) if self.consumed => Ok(()),
            (Race::Read | Race::ReadDup, RaceSeen::Read(Ok(n), bytes))
                if *n == INFO_VER1 && !self.consumed =>
            {
                self.check_info(bytes)?;
                self.consumed = true;
                self.exited = true;
                Ok(())
            }
            _ => Err(format!("the close race {race:?} saw {seen:?}")),
        }
    }
}

/// What the race thread saw.
#[derive(Debug)]
enum RaceSeen {
    Read(Result<usize, Errno>, Vec<u8>),
    Poll(i32, i16),
}

/// The race thread's one syscall on `number`.
fn race_op(race: Race, number: RawFd) -> RaceSeen {
    match race {
        Race::Read | Race::ReadDup => {
            let mut buf = vec![0u8; INFO_VER1];
            // SAFETY: `buf` is ours; `number` is not reused before the
            // thread is joined (close_race()).
            let ret = unsafe { libc::read(number, buf.as_mut_ptr().cast(), buf.len()) };
            let got = Errno::result(ret).map(|n| n as usize);
            if let Ok(n) = got {
                buf.truncate(n);
            }
            RaceSeen::Read(got, buf)
        }
        Race::Poll => {
            let mut fds = [libc::pollfd {
                fd: number,
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd; the number as above.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, PATIENCE.as_millis() as libc::c_int) };
            RaceSeen::Poll(n, fds[0].revents)
        }
    }
}
