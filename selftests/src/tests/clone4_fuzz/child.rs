//! After a call: what a failed one must have left alone, where a
//! successful one put the child's pid and fd, the exit signals the test
//! blocks, and a child without CLONE_FD collected with waitpid().

use std::ffi::c_long;
use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::arena::{Arena, Target, PAGE, SENTINEL};
use super::input::*;
use super::oracle::safe_exit_signals;
use crate::sys::{self, SigInfo};
use crate::tests::clonefd_common::poll_in;
use crate::tests::common::{signal_set, PATIENCE};

/// The exit signals the test blocks (all the safe ones but 0), so that
/// each child's can be taken with sigtimedwait() and none can kill it.
pub(super) struct Signals {
    numbers: Vec<i32>,
}

impl Signals {
    pub(super) fn block() -> nix::Result<Self> {
        let numbers: Vec<i32> = safe_exit_signals().into_iter().map(|s| s as i32).collect();
        let set = sigset(&numbers);
        // SAFETY: `set` is an initialized sigset_t; the old mask is not
        // asked for.
        let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
        if err != 0 {
            return Err(Errno::from_raw(err));
        }
        Ok(Signals { numbers })
    }

    /// The blocked signals that are pending.
    pub(super) fn pending(&self) -> Vec<i32> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigpending() fills the set; sigismember() reads it.
        unsafe {
            if libc::sigpending(set.as_mut_ptr()) != 0 {
                return vec![-1];
            }
            let set = set.assume_init();
            self.numbers
                .iter()
                .copied()
                .filter(|&sig| libc::sigismember(&set, sig) == 1)
                .collect()
        }
    }

    /// Takes the pending `sig`, without waiting.
    pub(super) fn take(&self, sig: i32) -> nix::Result<SigInfo> {
        sys::sigtimedwait(&signal_set(sig), Duration::ZERO)
    }

    /// Fails if a blocked signal is pending.
    pub(super) fn check_none(&self) -> Result<(), String> {
        let pending = self.pending();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "signals {pending:?} are pending: no child should have sent them"
            ))
        }
    }
}

fn sigset(numbers: &[i32]) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset() initializes the set, sigaddset() updates it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &sig in numbers {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// The lowest free fd from 3 (where CLONE_FD installs its fd): a dup of
/// `probe` there, closed at once.
pub(super) fn lowest_free_fd(probe: BorrowedFd<'_>) -> Result<RawFd, String> {
    // SAFETY: F_DUPFD makes a new fd, which we close at once.
    let fd = unsafe { libc::fcntl(probe.as_raw_fd(), libc::F_DUPFD, 3) };
    let fd = Errno::result(fd).map_err(|err| format!("F_DUPFD: {err}"))?;
    // SAFETY: `fd` is the new fd, which nothing else knows.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(fd)
}

/// `fd` (the lowest free one before a call) is still free after it: where
/// an fd the call left would be (F_GETFD gives EBADF).
pub(super) fn check_still_free(fd: RawFd) -> Result<(), String> {
    // SAFETY: F_GETFD reads an fd's flags, or fails.
    match Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFD) }) {
        Err(Errno::EBADF) => Ok(()),
        other => Err(format!(
            "fd {fd}, free before the call, is not after it (F_GETFD: {other:?})"
        )),
    }
}

/// What differs in the scratch page from what it should hold: SENTINEL,
/// but for the ints `writes` (offset, value).
fn scratch_diff(arena: &Arena, writes: &[(usize, i32)]) -> Vec<String> {
    let mut actual = arena.scratch_bytes();
    let mut diff = Vec::new();
    for &(offset, value) in writes {
        let slot = &mut actual[offset..offset + 4];
        if *slot != value.to_ne_bytes() {
            diff.push(format!("the int at {offset:#x} is {slot:?}, not {value}"));
        }
        slot.fill(SENTINEL);
    }
    if actual != [SENTINEL; PAGE] {
        diff.extend(
            (0..PAGE)
                .filter(|&i| actual[i] != SENTINEL)
                .take(8)
                .map(|i| format!("byte {i:#x} is {:#x}", actual[i])),
        );
    }
    diff
}

/// What the kernel wrote of the parent's memory is what it should have
/// (`writes`), and nothing else; the read-only page is checked if the call
/// pointed there.
fn check_memory(input: &Input, arena: &Arena, writes: &[(usize, i32)]) -> Result<(), String> {
    let diff = scratch_diff(arena, writes);
    if !diff.is_empty() {
        return Err(format!("the scratch page changed: {}", diff.join(", ")));
    }
    if input.targets_read_only() && !arena.read_only_clean() {
        return Err("the read-only page changed".into());
    }
    Ok(())
}

/// After a failed call: no write to the parent's memory (but where a late
/// failure may follow a write: ENOMEM, EAGAIN), no fd, no child.
pub(super) fn check_failed(
    errno: Errno,
    input: &Input,
    arena: &Arena,
    lowest_free: RawFd,
) -> Result<(), String> {
    if !matches!(errno, Errno::ENOMEM | Errno::EAGAIN) {
        check_memory(input, arena, &[])?;
    }
    check_still_free(lowest_free)?;
    check_no_waitable()
}

/// waitpid(-1, WNOHANG | __WALL) gives ECHILD: no child that wait() can
/// see (a CLONE_FD child is never one).
pub(super) fn check_no_waitable() -> Result<(), String> {
    match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        Err(Errno::ECHILD) => Ok(()),
        other => Err(format!(
            "waitpid(-1, WNOHANG | __WALL) gave {other:?}, not ECHILD"
        )),
    }
}

/// A successful call's child: its pid if known, its fd with CLONE_FD.
pub(super) struct Created {
    pub(super) pid: Option<Pid>,
    pub(super) fd: Option<OwnedFd>,
}

/// Where the call put the fd (returned, or stored through `clonefd`) and
/// the pid (returned, and in `ptid` with CLONE_PARENT_SETTID), and that
/// it wrote nothing else; the fd's flags.
pub(super) fn check_created(
    input: &Input,
    arena: &Arena,
    ret: c_long,
    lowest_free: RawFd,
) -> Result<Created, String> {
    let scratch = arena.scratch_bytes();
    let word = |offset: usize| {
        i32::from_ne_bytes(scratch[offset..offset + 4].try_into().expect("4 bytes"))
    };
    let fields = input.effective(arena);
    let mut writes = Vec::new();
    let mut pid = None;
    let mut fd = None;
    let positive = |what: &str| match i32::try_from(ret) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!("clone4() returned {ret}, not a {what}")),
    };
    if input.has(CLONE_FD) && fields.clonefd != 0 {
        pid = Some(positive("pid")?);
        let target = match input.clonefd {
            ClonefdField::At(target) => target,
            ClonefdField::SameAsPtid => input.ptid,
        };
        let Target::Scratch(offset) = target else {
            return Err(format!("an fd was stored at {target:?}"));
        };
        fd = Some(word(offset));
        writes.push((offset, word(offset)));
    } else if input.has(CLONE_FD) {
        fd = Some(positive("fd")?);
    } else {
        pid = Some(positive("pid")?);
    }
    // The kernel writes the pid through ptid only if it read the field
    // (a size of 0 or one that ends before it gives it 0).
    let ptid_read = fields.ptid != 0;
    if let (true, Target::Scratch(offset)) =
        (input.has(CLONE_PARENT_SETTID) && ptid_read, input.ptid)
    {
        let tid = word(offset);
        match pid {
            Some(pid) if pid != tid => {
                return Err(format!("ptid holds {tid}, the child is {pid}"));
            }
            None if tid <= 0 => return Err(format!("ptid holds {tid}, not a pid")),
            _ => pid = Some(tid),
        }
        writes.push((offset, tid));
    }
    if let Some(raw) = fd {
        if raw < lowest_free.max(3) {
            return Err(format!(
                "the fd {raw} was open before, or is no fd (the lowest free was {lowest_free})"
            ));
        }
    }
    // SAFETY: clone4() made this fd for us, above the fds open before.
    let fd = fd.map(|raw| unsafe { OwnedFd::from_raw_fd(raw) });
    check_memory(input, arena, &writes)?;
    match &fd {
        Some(owned) => check_fd(owned.as_raw_fd(), input.low_byte())?,
        None => check_still_free(lowest_free)?,
    }
    Ok(Created {
        pid: pid.map(Pid::from_raw),
        fd,
    })
}

/// The fd is a CLONE_FD file with FD_CLOEXEC and O_NONBLOCK as asked.
fn check_fd(fd: RawFd, clonefd_flags: u64) -> Result<(), String> {
    let link = fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|err| format!("readlink /proc/self/fd/{fd}: {err}"))?;
    if link.to_str() != Some("anon_inode:[clonefd]") {
        return Err(format!("fd {fd} is {link:?}, not anon_inode:[clonefd]"));
    }
    // SAFETY: fcntl() F_GETFD and F_GETFL on an fd of ours read flags.
    let (fd_flags, fl_flags) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    };
    let cloexec = fd_flags & libc::FD_CLOEXEC != 0;
    let nonblock = fl_flags & libc::O_NONBLOCK != 0;
    let want = (
        clonefd_flags & CLONEFD_CLOEXEC != 0,
        clonefd_flags & CLONEFD_NONBLOCK != 0,
    );
    if fd_flags < 0 || fl_flags < 0 || (cloexec, nonblock) != want {
        return Err(format!(
            "fd {fd}: FD_CLOEXEC {cloexec}, O_NONBLOCK {nonblock}, asked for {want:?}"
        ));
    }
    Ok(())
}

/// A child without CLONE_FD: it exits with its code, waitpid(__WALL)
/// reaps it, its exit signal (if any) is pending for the test with its
/// pid and status, and no other.
pub(super) fn collect_process(pid: Pid, input: &Input, signals: &Signals) -> Result<(), String> {
    let code = i32::from(input.code);
    let status = wait_exit(pid)?;
    if status != WaitStatus::Exited(pid, code) {
        return Err(format!(
            "the child {pid}: {status:?}, not exited with {code}"
        ));
    }
    let sig = input.exit_signal() as i32;
    if sig != 0 {
        let expected = SigInfo {
            signo: sig,
            code: libc::CLD_EXITED,
            pid,
            status: code,
        };
        match signals.take(sig) {
            Ok(info) if info == expected => {}
            other => {
                return Err(format!(
                    "exit signal {sig}: {other:?}, expected {expected:?}"
                ))
            }
        }
    }
    signals.check_none()
}

/// Reaps `pid` (__WALL) once its pidfd says it exited, waiting at most
/// PATIENCE.
fn wait_exit(pid: Pid) -> Result<WaitStatus, String> {
    let pidfd = sys::pidfd_open(pid).map_err(|err| format!("pidfd_open({pid}): {err}"))?;
    let revents = poll_in(pidfd.as_fd(), PATIENCE).map_err(|err| format!("poll: {err}"))?;
    if !revents.contains(PollFlags::POLLIN) {
        return Err(format!(
            "the child {pid} did not exit within {PATIENCE:?}: {:?}",
            waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL))
        ));
    }
    waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL))
        .map_err(|err| format!("waitpid({pid}, __WALL): {err}"))
}
