//! Random operations on a CLONE_FD child's fd, each checked against what
//! clone4(2) says the fd does in the state the test knows it is in: the
//! child's exit not seen yet, seen (a read, poll or epoll reported it), or
//! its `clonefd_info` read (later reads give 0).
//!
//! The child exits at once, so before its exit is seen an operation may
//! find it running or exited; an operation that would block waits with
//! poll() first, for at most PATIENCE.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use super::arena::{Arena, Target, KERNEL_ADDRESS};
use super::child::Signals;
use super::fd_race::Race;
use crate::clonefd::INFO_VER1;
use crate::tests::common::PATIENCE;
use crate::tests::seeded::Rng;

/// The read() sizes: around VER0 (24) and VER1 (80), 0, and a page.
const READ_COUNTS: &[usize] = &[0, 1, 23, 24, 25, 79, 80, 81, 4096];
/// What valid read buffers hold before the read.
const FILL: u8 = 0xee;

/// Where a read() or write() buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buf {
    /// A buffer of ours, larger than the count.
    Valid,
    ReadOnly,
    /// The PROT_NONE guard page.
    Guard,
    Null,
    Kernel,
    /// The last `n` bytes before the guard page.
    Straddle(usize),
}

impl Buf {
    fn random(rng: &mut Rng) -> Buf {
        match rng.below(12) {
            0..=5 => Buf::Valid,
            6 => Buf::ReadOnly,
            7 => Buf::Guard,
            8 => Buf::Null,
            9 => Buf::Kernel,
            _ => Buf::Straddle(rng.below(100) as usize),
        }
    }

    /// How many bytes can be written there from its start.
    fn room(self) -> usize {
        match self {
            Buf::Valid => usize::MAX,
            Buf::Straddle(n) => n,
            _ => 0,
        }
    }
}

/// A CLONE_FD child as its fd shows it.
pub(super) struct FdChild {
    pub(super) fd: Option<OwnedFd>,
    pub(super) pid: Option<Pid>,
    pub(super) code: u8,
    pub(super) nonblock: bool,
    /// Its exit was seen.
    pub(super) exited: bool,
    /// read() returned its `clonefd_info`: later reads give 0.
    pub(super) consumed: bool,
    /// The operations and what they gave, for messages.
    pub(super) log: Vec<String>,
    /// Operations done.
    pub(super) ops: u64,
    /// Close races run.
    pub(super) races: u64,
}

impl FdChild {
    pub(super) fn new(fd: OwnedFd, pid: Option<Pid>, code: u8, nonblock: bool) -> Self {
        FdChild {
            fd: Some(fd),
            pid,
            code,
            nonblock,
            exited: false,
            consumed: false,
            log: Vec::new(),
            ops: 0,
            races: 0,
        }
    }

    /// A failure, with what was done on the fd.
    pub(super) fn fail<T>(&self, why: String) -> Result<T, String> {
        Err(format!("{why}\n  fd operations: {}", self.log.join("; ")))
    }

    pub(super) fn raw(&self) -> RawFd {
        self.fd.as_ref().expect("the fd is open").as_raw_fd()
    }

    /// Up to `count` random operations; a close race ends them.
    pub(super) fn exercise(
        &mut self,
        rng: &mut Rng,
        arena: &Arena,
        count: u64,
    ) -> Result<(), String> {
        for _ in 0..count {
            self.ops += 1;
            let done = match rng.below(20) {
                0..=5 => self.read(READ_COUNTS[rng.below(9) as usize], Buf::random(rng), arena),
                6..=9 => self.ioctl(rng),
                10..=11 => self.poll(rng),
                12..=13 => self.epoll(rng),
                14 => self.lseek(rng),
                15 => self.write(READ_COUNTS[rng.below(9) as usize], Buf::random(rng), arena),
                16 => self.set_nonblock(rng.one_in(2)),
                17 => self.dup_swap(),
                _ => {
                    let race = [Race::Read, Race::Poll, Race::ReadDup][rng.below(3) as usize];
                    self.races += 1;
                    return self.close_race(race, rng);
                }
            };
            match done {
                Ok(entry) => self.log.push(entry),
                Err(why) => return self.fail(why),
            }
        }
        Ok(())
    }

    /// poll() until the exit is reported (at most PATIENCE).
    fn await_exit(&mut self) -> Result<(), String> {
        let mut fds = [libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let timeout = PATIENCE.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout) };
        if n != 1 || fds[0].revents & libc::POLLIN == 0 {
            return Err(format!(
                "the exit was not reported within {PATIENCE:?}: poll gave {n}, revents {:#x}",
                fds[0].revents
            ));
        }
        self.exited = true;
        Ok(())
    }

    /// The `clonefd_info` prefix every report starts with: CLD_EXITED and
    /// the code.
    fn expected_prefix(&self) -> [u8; 8] {
        let mut prefix = [0; 8];
        prefix[..4].copy_from_slice(&(libc::CLD_EXITED as u32).to_ne_bytes());
        prefix[4..].copy_from_slice(&u32::from(self.code).to_ne_bytes());
        prefix
    }

    /// Checks the bytes a read returned.
    pub(super) fn check_info(&self, bytes: &[u8]) -> Result<(), String> {
        let prefix = self.expected_prefix();
        let len = bytes.len().min(prefix.len());
        if bytes[..len] != prefix[..len] {
            return Err(format!(
                "read gave {:?}, expected it to start with {:?} (CLD_EXITED, status {})",
                &bytes[..len],
                &prefix[..len],
                self.code
            ));
        }
        Ok(())
    }

    /// What read(count, buf) may give now.
    fn read_outcomes(&self, count: usize, buf: Buf) -> Vec<Result<usize, Errno>> {
        if count == 0 {
            // access_ok() may refuse a kernel address even for 0 bytes.
            return match buf {
                Buf::Kernel => vec![Ok(0), Err(Errno::EFAULT)],
                _ => vec![Ok(0)],
            };
        }
        if buf == Buf::Kernel {
            return vec![Err(Errno::EFAULT)];
        }
        if self.consumed {
            return vec![Ok(0)];
        }
        let needed = count.min(INFO_VER1);
        let exited = if buf.room() >= needed {
            Ok(needed)
        } else {
            Err(Errno::EFAULT)
        };
        if self.exited {
            vec![exited]
        } else {
            vec![Err(Errno::EAGAIN), exited]
        }
    }

    fn read(&mut self, count: usize, buf: Buf, arena: &Arena) -> Result<String, String> {
        let user = buf != Buf::Kernel;
        if count > 0 && user && !self.consumed && !self.exited && !self.nonblock {
            self.await_exit()?;
        }
        let mut valid = vec![FILL; count + 64];
        let at = match buf {
            Buf::Valid => valid.as_mut_ptr(),
            Buf::Straddle(n) => arena.fill_before_guard(n, FILL),
            Buf::ReadOnly => arena.target(Target::ReadOnly(0)) as *mut u8,
            Buf::Guard => arena.target(Target::Guard(0)) as *mut u8,
            Buf::Null => ptr::null_mut(),
            Buf::Kernel => KERNEL_ADDRESS as *mut u8,
        };
        // SAFETY: the kernel writes at most `count` bytes at `at`: our
        // buffer of `count + 64` bytes, the region's last bytes before the
        // guard page (then it faults), or memory it cannot write (EFAULT).
        let ret = unsafe { libc::read(self.raw(), at.cast::<c_void>(), count) };
        let got = Errno::result(ret).map(|n| n as usize);
        let entry = format!("read({count}, {buf:?}) = {got:?}");
        let allowed = self.read_outcomes(count, buf);
        if !allowed.contains(&got) {
            return Err(format!("{entry}, expected one of {allowed:?}"));
        }
        match got {
            Ok(n) if n > 0 => {
                let bytes = match buf {
                    Buf::Straddle(room) => arena.bytes_before_guard(room)[..n].to_vec(),
                    _ => valid[..n].to_vec(),
                };
                self.check_info(&bytes)?;
                if buf == Buf::Valid && valid[n..count].iter().any(|&b| b != FILL) {
                    return Err(format!("{entry} wrote past the {n} bytes it returned"));
                }
                self.consumed = true;
                self.exited = true;
            }
            Err(Errno::EFAULT) if count > 0 && user => self.exited = true,
            _ => {}
        }
        Ok(entry)
    }

    fn write(&mut self, count: usize, buf: Buf, arena: &Arena) -> Result<String, String> {
        let valid = vec![FILL; count + 64];
        let at = match buf {
            Buf::Valid => valid.as_ptr(),
            Buf::Straddle(n) => arena.fill_before_guard(n, FILL).cast_const(),
            Buf::ReadOnly => arena.target(Target::ReadOnly(0)) as *const u8,
            Buf::Guard => arena.target(Target::Guard(0)) as *const u8,
            Buf::Null => ptr::null(),
            Buf::Kernel => KERNEL_ADDRESS as *const u8,
        };
        // SAFETY: write() only reads the buffer (and must not even do
        // that: the fd cannot be written).
        let ret = unsafe { libc::write(self.raw(), at.cast::<c_void>(), count) };
        let got = Errno::result(ret);
        let entry = format!("write({count}, {buf:?}) = {got:?}");
        if got != Err(Errno::EINVAL) {
            return Err(format!("{entry}, expected EINVAL"));
        }
        Ok(entry)
    }

    fn lseek(&mut self, rng: &mut Rng) -> Result<String, String> {
        let offset = rng.next() as i64 >> rng.below(64);
        let whence = rng.below(8) as libc::c_int;
        // SAFETY: lseek() takes no memory.
        let got = Errno::result(unsafe { libc::lseek(self.raw(), offset, whence) });
        let entry = format!("lseek({offset}, {whence}) = {got:?}");
        // lseek(2): EINVAL for a whence past SEEK_HOLE (4), else ESPIPE.
        let expected = if whence > libc::SEEK_HOLE {
            Errno::EINVAL
        } else {
            Errno::ESPIPE
        };
        if got != Err(expected) {
            return Err(format!("{entry}, expected {expected:?}"));
        }
        Ok(entry)
    }

    fn set_nonblock(&mut self, nonblock: bool) -> Result<String, String> {
        let fd = self.raw();
        // SAFETY: fcntl() F_GETFL and F_SETFL on an fd of ours.
        let got = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            let flags = if nonblock {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            Errno::result(libc::fcntl(fd, libc::F_SETFL, flags))
        };
        let entry = format!("F_SETFL O_NONBLOCK {nonblock} = {got:?}");
        if got.is_err() {
            return Err(entry);
        }
        self.nonblock = nonblock;
        Ok(entry)
    }

    /// A dup (from 3) takes the place of the fd, which is closed: the file
    /// stays open, so KILL_ON_CLOSE kills nothing.
    fn dup_swap(&mut self) -> Result<String, String> {
        // SAFETY: F_DUPFD_CLOEXEC makes a new fd, owned at once.
        let dup = unsafe { libc::fcntl(self.raw(), libc::F_DUPFD_CLOEXEC, 3) };
        let dup = Errno::result(dup).map_err(|err| format!("F_DUPFD_CLOEXEC: {err}"))?;
        // SAFETY: the new fd, which nothing else owns.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        let entry = format!(
            "dup {} to {}, closed {}",
            self.raw(),
            dup.as_raw_fd(),
            self.raw()
        );
        self.fd = Some(dup);
        Ok(entry)
    }

    /// Reads the exit if no operation did (poll() first), then closes the
    /// fd; once the exit was read, the child is released: kill(pid, 0)
    /// gives ESRCH, waitpid() never sees it, and it sent no signal.
    pub(super) fn finish(mut self, signals: &Signals) -> Result<(), String> {
        if self.fd.is_some() {
            if !self.consumed && !self.exited {
                if let Err(why) = self.await_exit() {
                    return self.fail(why);
                }
            }
            let mut buf = [0u8; INFO_VER1];
            // SAFETY: `buf` is ours, INFO_VER1 bytes.
            let ret = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
            let got = Errno::result(ret).map(|n| n as usize);
            let expected = if self.consumed { 0 } else { INFO_VER1 };
            if got != Ok(expected) {
                return self.fail(format!(
                    "the last read gave {got:?}, expected {expected} bytes"
                ));
            }
            if !self.consumed {
                if let Err(why) = self.check_info(&buf) {
                    return self.fail(why);
                }
                self.consumed = true;
            }
            self.fd = None;
        }
        if !self.consumed {
            return Ok(());
        }
        if let Some(pid) = self.pid {
            if let Err(why) = check_released(pid) {
                return self.fail(why);
            }
        }
        signals.check_none().or_else(|why| self.fail(why))
    }
}

/// A released child: no pid, and not waitable.
fn check_released(pid: Pid) -> Result<(), String> {
    match kill(pid, None) {
        Err(Errno::ESRCH) => {}
        other => return Err(format!("kill({pid}, 0) after its exit was read: {other:?}")),
    }
    match waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        Err(Errno::ECHILD) => Ok(()),
        other => Err(format!(
            "waitpid({pid}) of a CLONE_FD child: {other:?}, not ECHILD"
        )),
    }
}
