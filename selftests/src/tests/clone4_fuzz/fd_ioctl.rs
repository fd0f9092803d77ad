//! ioctl() on a CLONE_FD fd: its two requests, with and without an
//! argument, before and after the exit, and requests it does not know.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::arena::KERNEL_ADDRESS;
use super::fd_ops::FdChild;
use crate::clonefd::{IOC_GETPID, IOC_GETPIDFD};
use crate::tests::seeded::Rng;

/// `_IOC(dir, type, nr, size)`.
const fn ioc(dir: u32, kind: u32, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | (kind << 8) | nr
}

/// The requests the VFS handles itself (do_vfs_ioctl()) before the file's
/// ioctl(): the fuzzer never sends them (they set fd flags, or belong to
/// files and filesystems, not to this file).
const VFS_IOCTLS: &[(u32, &str)] = &[
    (0x5451, "FIOCLEX"),
    (0x5450, "FIONCLEX"),
    (0x5421, "FIONBIO"),
    (0x5452, "FIOASYNC"),
    (0x5460, "FIOQSIZE"),
    (0x541b, "FIONREAD"),
    (ioc(3, b'X' as u32, 119, 4), "FIFREEZE"),
    (ioc(3, b'X' as u32, 120, 4), "FITHAW"),
    (ioc(3, b'f' as u32, 11, 32), "FS_IOC_FIEMAP"),
    (ioc(0, 0, 2, 0), "FIGETBSZ"),
    (ioc(1, 0x94, 9, 4), "FICLONE"),
    (ioc(1, 0x94, 13, 32), "FICLONERANGE"),
    (ioc(3, 0x94, 54, 24), "FIDEDUPERANGE"),
    (ioc(2, b'f' as u32, 1, 8), "FS_IOC_GETFLAGS"),
    (ioc(1, b'f' as u32, 2, 8), "FS_IOC_SETFLAGS"),
    (ioc(2, b'X' as u32, 31, 28), "FS_IOC_FSGETXATTR"),
    (ioc(1, b'X' as u32, 32, 28), "FS_IOC_FSSETXATTR"),
    (ioc(2, 0x15, 0, 17), "FS_IOC_GETFSUUID"),
    (ioc(2, 0x15, 1, 129), "FS_IOC_GETFSSYSFSPATH"),
];

impl FdChild {
    pub(super) fn ioctl(&mut self, rng: &mut Rng) -> Result<String, String> {
        let request = random_request(rng);
        let cmd = request as u32;
        let arg: u64 = match rng.below(6) {
            0..=2 => 0,
            3 => 1 + rng.below(4096),
            4 => KERNEL_ADDRESS + rng.below(1 << 20),
            _ => rng.next(),
        };
        // SAFETY: the requests the fuzzer sends (VFS_IOCTLS excluded) reach
        // this file's ioctl(), which takes no memory; `arg` is an integer.
        let ret =
            unsafe { libc::ioctl(self.raw(), request as libc::c_ulong, arg as libc::c_ulong) };
        let got = Errno::result(ret);
        let entry = format!("ioctl({request:#x}, {arg:#x}) = {got:?}");
        let ours = cmd as libc::c_ulong == IOC_GETPID || cmd as libc::c_ulong == IOC_GETPIDFD;
        let expected = if !ours {
            Some(Errno::ENOTTY)
        } else if arg != 0 {
            Some(Errno::EINVAL)
        } else if self.exited {
            Some(Errno::ESRCH)
        } else {
            None
        };
        match (expected, got) {
            (Some(errno), Err(got)) if got == errno => Ok(entry),
            (Some(errno), _) => Err(format!("{entry}, expected {errno:?}")),
            (None, Err(Errno::ESRCH)) => Ok(entry),
            (None, Ok(value)) if cmd as libc::c_ulong == IOC_GETPID => {
                let pid = Pid::from_raw(value);
                match self.pid {
                    _ if value <= 0 => Err(format!("{entry}: not a pid")),
                    Some(known) if known != pid => Err(format!("{entry}: the child is {known}")),
                    _ => {
                        self.pid = Some(pid);
                        Ok(entry)
                    }
                }
            }
            (None, Ok(pidfd)) => check_pidfd(pidfd).map(|()| entry),
            (None, Err(_)) => Err(format!("{entry}, expected a result or ESRCH")),
        }
    }
}

/// A pidfd from CLONEFD_IOC_GETPIDFD: close-on-exec; closed here.
fn check_pidfd(pidfd: RawFd) -> Result<(), String> {
    if pidfd < 0 {
        return Err(format!("GETPIDFD returned {pidfd}"));
    }
    // SAFETY: the ioctl made this fd for us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: F_GETFD reads the fd's flags.
    let flags = unsafe { libc::fcntl(pidfd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 || flags & libc::FD_CLOEXEC == 0 {
        return Err(format!(
            "the pidfd's fd flags are {flags:#x}: no FD_CLOEXEC"
        ));
    }
    Ok(())
}

/// An ioctl request: the fd's own (sometimes with garbage above the 32
/// bits the kernel takes), others of its type 0xC4, or any other but the
/// VFS's.
fn random_request(rng: &mut Rng) -> u64 {
    loop {
        let request = match rng.below(10) {
            0..=3 => {
                let ours = if rng.one_in(2) {
                    IOC_GETPID
                } else {
                    IOC_GETPIDFD
                };
                let garbage = if rng.one_in(4) { rng.next() << 32 } else { 0 };
                garbage | ours
            }
            4..=6 => {
                let dir = rng.below(4) as u32;
                let size = rng.below(1 << 14) as u32;
                u64::from(ioc(dir, 0xc4, rng.below(256) as u32, size))
            }
            _ => rng.next() & 0xffff_ffff,
        };
        let cmd = request as u32;
        if !VFS_IOCTLS.iter().any(|&(vfs, _)| vfs == cmd) {
            return request;
        }
    }
}
