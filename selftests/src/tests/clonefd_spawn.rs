//! CLONE_FD: how clone4() hands out the fd, and the flags in the low byte.
//!
//! Every test SKIPs unless `clonefd_available()`. Children are fork-like
//! and exit with 42 (`CHILD_OK`); the fd must then report CLD_EXITED 42
//! (`check_exit_reported`: fails with `not readable after 5s` or the
//! (code, status) seen), and where the test knows the child's pid, the
//! child must be gone at that moment (`check_child_exited`, with
//! `check_released`: fails with `kill(pid, None) succeeded` or what /proc
//! still shows).
//!
//! - `clonefd_spawn_returns_fd_{null,size_ver0,clonefd_0}`: `clonefd` 0,
//!   or not given (args NULL with size 0; size 40 with garbage where
//!   `clonefd` would be, which must not be read): clone4() returns an fd
//!   in the parent and 0 in the child. Fails if it returns something else
//!   (`EBADF` reading it) or an error (e.g. `EFAULT`: the garbage was
//!   read). A child that got non-zero would run the test's code instead and
//!   exit 0, failing the status check.
//! - `clonefd_spawn_fd_above_stdio`: with fds 0, 1 and 2 closed, the fd
//!   (returned or stored) is still >= 3. Fails with the number; an fd 0
//!   returned to the parent makes the test process run the child's code
//!   (`exited with status 42 without a result`).
//! - `clonefd_spawn_clonefd_pointer`: `clonefd` pointing to an int: the fd
//!   is stored there and clone4() returns the pid the child sees with
//!   getpid(). Fails on another pid, or if no fd is stored (panic).
//! - `clonefd_spawn_fd_only_in_caller`: the test sends the fd's number to
//!   the child, where fcntl(F_GETFD) on it must fail with EBADF (the fd is
//!   installed in the caller's table only). Fails with status 43.
//! - `clonefd_spawn_flags_{none,cloexec,nonblock,cloexec_nonblock}`:
//!   CLONEFD_CLOEXEC sets FD_CLOEXEC, CLONEFD_NONBLOCK sets O_NONBLOCK,
//!   and without them neither is set. Fails with the flag seen.
//! - `clonefd_spawn_low_byte_{0x08,0x10,0x20,0x40,0x80,sigchld}_einval`:
//!   any other bit in the low byte (an exit signal such as SIGCHLD too) is
//!   EINVAL; `clonefd_spawn_clonefd_without_clone_fd_einval`: a valid
//!   `clonefd` pointer without CLONE_FD is EINVAL. They fail as the
//!   clone4_flags EINVAL tests (`created Pid(..)`, or another errno).
//! - `clonefd_spawn_clonefd_is_ptid_einval`: with CLONE_PARENT_SETTID,
//!   `clonefd` and `ptid` pointing to the same int is EINVAL (the kernel
//!   would store both there), as clone3() does for CLONE_PIDFD.

use std::ffi::c_void;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::ptr;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::unistd::getpid;

use super::clone4_common::{child_code, expect_einval, CHILD_OK, CLONE_PARENT_SETTID, SIGCHLD};
use super::clonefd_common::{
    after_gate, check_child_exited, check_exit_reported, spawn_exiting, Gate, Mailbox,
};
use crate::clone4::Clone4Args;
use crate::clonefd::{self, CLOEXEC, CLONE_FD, NONBLOCK};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};

const VER0: usize = crate::uapi::CLONE4_ARGS_SIZE_VER0 as usize;
/// Where `clonefd` would be, in a struct whose size says it has none.
const GARBAGE: u64 = 12345;

/// (name, size, args): the ways to have clone4() return the fd.
const RETURNED: &[(&str, usize, Option<Clone4Args>)] = &[
    ("null", 0, None),
    (
        "size_ver0",
        VER0,
        Some(Clone4Args {
            ptid: 0,
            ctid: 0,
            stack_start: 0,
            stack_size: 0,
            tls: 0,
            clonefd: GARBAGE,
        }),
    ),
    (
        "clonefd_0",
        size_of::<Clone4Args>(),
        Some(Clone4Args {
            ptid: 0,
            ctid: 0,
            stack_start: 0,
            stack_size: 0,
            tls: 0,
            clonefd: 0,
        }),
    ),
];

/// (name, low byte, FD_CLOEXEC expected, O_NONBLOCK expected).
const FLAGS: &[(&str, u64, bool, bool)] = &[
    ("none", 0, false, false),
    ("cloexec", CLOEXEC, true, false),
    ("nonblock", NONBLOCK, false, true),
    ("cloexec_nonblock", CLOEXEC | NONBLOCK, true, true),
];

/// (name, low byte): invalid with CLONE_FD.
const BAD_LOW_BYTES: &[(&str, u64)] = &[
    ("0x08", 0x08),
    ("0x10", 0x10),
    ("0x20", 0x20),
    ("0x40", 0x40),
    ("0x80", 0x80),
    ("sigchld", SIGCHLD),
];

pub fn tests() -> Vec<Test> {
    let mut tests: Vec<Test> = RETURNED
        .iter()
        .map(|&(name, size, args)| {
            Test::new(format!("clonefd_spawn_returns_fd_{name}"), move || {
                returns_fd(size, args)
            })
        })
        .collect();
    tests.push(Test::new("clonefd_spawn_fd_above_stdio", fd_above_stdio));
    tests.push(Test::new("clonefd_spawn_clonefd_pointer", clonefd_pointer));
    tests.push(Test::new(
        "clonefd_spawn_fd_only_in_caller",
        fd_only_in_caller,
    ));
    tests.extend(FLAGS.iter().map(|&(name, low, cloexec, nonblock)| {
        Test::new(format!("clonefd_spawn_flags_{name}"), move || {
            fd_flags(low, cloexec, nonblock)
        })
    }));
    tests.extend(BAD_LOW_BYTES.iter().map(|&(name, low)| {
        Test::new(format!("clonefd_spawn_low_byte_{name}_einval"), move || {
            require!(clonefd_available());
            expect_einval(CLONE_FD | low, |_| {})
        })
    }));
    tests.push(Test::new(
        "clonefd_spawn_clonefd_without_clone_fd_einval",
        clonefd_without_clone_fd,
    ));
    tests.push(Test::new("clonefd_spawn_clonefd_is_ptid_einval", || {
        require!(clonefd_available());
        expect_einval(CLONE_FD | CLONE_PARENT_SETTID, |args| {
            args.clonefd = args.ptid
        })
    }));
    tests
}

/// clone4(CLONE_FD, size, args) whose child exits with CHILD_OK.
fn spawn_returning(size: usize, args: Option<&Clone4Args>) -> nix::Result<OwnedFd> {
    let args: *const c_void = args.map_or(ptr::null(), |args| ptr::from_ref(args).cast());
    // SAFETY: no flag makes the kernel use a pointer of the struct (its
    // clonefd is 0 or not within `size`); the test process is
    // single-threaded; the child only exits.
    unsafe { clonefd::fork_like_returning_fd(CLONE_FD, size, args, || CHILD_OK) }
}

fn returns_fd(size: usize, args: Option<Clone4Args>) -> TestResult {
    require!(clonefd_available());
    let fd = check_ok!(spawn_returning(size, args.as_ref()));
    check_ok!(fcntl(fd.as_fd(), FcntlArg::F_GETFD));
    check_exit_reported(fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn fd_above_stdio() -> TestResult {
    require!(clonefd_available());
    for fd in 0..=2 {
        // SAFETY: nothing owns the standard streams' fds as `OwnedFd`s, and
        // they are not used after this: the test reports through its pipe.
        unsafe { libc::close(fd) };
    }
    let returned = check_ok!(spawn_returning(0, None));
    let stored = check_ok!(spawn_exiting(0, CHILD_OK));
    check!(returned.as_raw_fd() >= 3, "returned fd {returned:?}");
    check!(stored.fd.as_raw_fd() >= 3, "stored fd {:?}", stored.fd);
    check_exit_reported(returned.as_fd(), CHILD_OK)?;
    check_exit_reported(stored.fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn clonefd_pointer() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the child writes to a
    // pipe, waits on another and exits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            mailbox.post(getpid().as_raw().into());
            after_gate(&gate, CHILD_OK)
        })
    });
    check_eq!(check_ok!(mailbox.fetch()), i64::from(child.pid.as_raw()));
    check!(
        child.fd.as_raw_fd() != child.pid.as_raw(),
        "the pid {} is also the fd",
        child.pid
    );
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn fd_only_in_caller() -> TestResult {
    require!(clonefd_available());
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the child reads a pipe,
    // calls fcntl() and exits.
    let child = check_ok!(unsafe {
        clonefd::fork_like_fd(CLONE_FD, || {
            child_code(mailbox.fetch().is_ok_and(|fd| fd_is_closed(fd as RawFd)))
        })
    });
    check!(mailbox.post(child.fd.as_raw_fd().into()));
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// fcntl(fd, F_GETFD) fails with EBADF: no such fd here.
fn fd_is_closed(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only looks the number up; no memory is passed.
    let ret = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    ret == -1 && Errno::last() == Errno::EBADF
}

fn fd_flags(low: u64, cloexec: bool, nonblock: bool) -> TestResult {
    require!(clonefd_available());
    let child = check_ok!(spawn_exiting(low, CHILD_OK));
    let fd_flags = FdFlag::from_bits_retain(check_ok!(fcntl(child.fd.as_fd(), FcntlArg::F_GETFD)));
    let fl_flags = OFlag::from_bits_retain(check_ok!(fcntl(child.fd.as_fd(), FcntlArg::F_GETFL)));
    check_eq!(fd_flags.contains(FdFlag::FD_CLOEXEC), cloexec);
    check_eq!(fl_flags.contains(OFlag::O_NONBLOCK), nonblock);
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn clonefd_without_clone_fd() -> TestResult {
    require!(clonefd_available());
    let slot: &'static mut i32 = Box::leak(Box::new(-1));
    let slot = ptr::from_mut(slot) as u64;
    expect_einval(SIGCHLD, |args| args.clonefd = slot)
}
