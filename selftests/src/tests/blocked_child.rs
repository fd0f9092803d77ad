//! A clone3(CLONE_PIDFD) child that blocks until the test releases it.
//!
//! The child waits for one byte on a pipe, then exits with the requested
//! code. If the test ends without releasing it, the pipe reaches EOF and
//! the child exits with status 1 on its own.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitPidFlag;
use nix::unistd::Pid;

use crate::sys::{self, Forked, SigInfo};
use crate::uapi;

pub struct BlockedChild {
    pub pid: Pid,
    pidfd: OwnedFd,
    release: PipeWriter,
}

impl BlockedChild {
    /// Spawns the child; its parent gets `exit_signal` when it exits.
    pub fn spawn(exit_code: u8, exit_signal: Signal) -> io::Result<Self> {
        let (wait_end, release) = io::pipe()?;
        let mut pidfd: libc::c_int = -1;
        let mut args = uapi::clone_args {
            flags: uapi::CLONE_PIDFD.into(),
            pidfd: ptr_to_u64(&mut pidfd),
            exit_signal: exit_signal as u64,
            ..Default::default()
        };
        // SAFETY: CLONE_PIDFD makes the kernel store an int at `args.pidfd`,
        // which points to `pidfd`, alive across the call. Test processes are
        // single-threaded (ktap forks each from its single-threaded runner),
        // so the child may run code like a fork(2) child.
        match unsafe { sys::clone3(&mut args, size_of::<uapi::clone_args>()) }? {
            Forked::Child => {
                drop(release);
                wait_then_exit(wait_end, exit_code)
            }
            Forked::Parent(pid) => Ok(BlockedChild {
                pid,
                // SAFETY: clone3() succeeded, so `pidfd` is a new open fd
                // that nothing else owns.
                pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
                release,
            }),
        }
    }

    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Lets the child exit.
    pub fn release(&mut self) -> io::Result<()> {
        self.release.write_all(b"x")
    }

    /// Reaps the child through its pidfd, whatever its exit signal.
    pub fn reap(&self) -> nix::Result<SigInfo> {
        sys::waitid_pidfd(self.pidfd(), WaitPidFlag::WEXITED | WaitPidFlag::__WALL)
    }
}

fn ptr_to_u64(int: &mut libc::c_int) -> u64 {
    std::ptr::from_mut(int) as usize as u64
}

fn wait_then_exit(mut wait_end: PipeReader, exit_code: u8) -> ! {
    let mut byte = [0u8; 1];
    let code = match wait_end.read(&mut byte) {
        Ok(1) => i32::from(exit_code),
        _ => 1,
    };
    sys::exit_now(code)
}
