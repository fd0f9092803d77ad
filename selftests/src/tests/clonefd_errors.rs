//! CLONE_FD: failures leave nothing behind: no fd, no child.
//!
//! Every test SKIPs unless `clonefd_available()`. A child created by these
//! calls writes a byte to a marker pipe and exits with 42 (`CHILD_OK`), so
//! a child created by a call that failed shows up there, as well as in
//! /proc (a process whose parent is the test).
//!
//! - `clonefd_emfile_{stored,returned}`: with RLIMIT_NOFILE lowered and
//!   every fd below it in use, clone4(CLONE_FD) (fd stored through
//!   `clonefd`, or returned) fails with EMFILE, and no child ran or exists.
//!   Fails with `succeeded with ..`, another errno, a marker byte, or the
//!   pids of the children found.
//! - `clonefd_enfile`: with `/proc/sys/fs/file-max` at 0 (at 1, the
//!   kernel's first, approximate count of open files may read 0 and pass)
//!   and CAP_SYS_ADMIN (which the limit spares) dropped, clone4(CLONE_FD)
//!   fails with ENFILE,
//!   leaves /proc/self/fd as it was, and no child ran or exists; file-max
//!   is restored at once. Fails as the EMFILE tests.
//! - `clonefd_efault_clonefd_{prot_none,read_only,kernel_address}`:
//!   `clonefd` (fd stored mode) points to a PROT_NONE page, a read-only
//!   page, or a kernel address: clone4(CLONE_FD) fails with EFAULT, leaves
//!   /proc/self/fd as it was (no fd installed), writes nothing there (the
//!   read-only page still holds 0), and no child ran or exists. Fails as
//!   the EMFILE tests.
//! - `clonefd_getpidfd_{emfile,enfile}`: CLONEFD_IOC_GETPIDFD on a live
//!   child's fd, with every fd below RLIMIT_NOFILE in use, fails with
//!   EMFILE; with file-max at 0 (and CAP_SYS_ADMIN dropped), with ENFILE;
//!   neither leaves an fd. The child is then let go and reported.
//!
//! The fail-nth sweeps are in `clonefd_fail_nth`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{dup, getpid};

use super::clone4_common::CHILD_OK;
use super::clonefd_common::{
    check_exit_reported, children_of, open_fds, poll_in, spawn_gated, Gate, GRACE,
};
use crate::clone4::{self, Clone4Args};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys::{self, CAP_SYS_ADMIN};

/// RLIMIT_NOFILE for the EMFILE tests.
const NOFILE: u64 = 64;
pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_emfile_stored", || emfile(false)),
        Test::new("clonefd_emfile_returned", || emfile(true)),
        Test::new("clonefd_enfile", enfile),
        Test::new("clonefd_efault_clonefd_prot_none", || {
            efault(Unwritable::ProtNone)
        }),
        Test::new("clonefd_efault_clonefd_read_only", || {
            efault(Unwritable::ReadOnly)
        }),
        Test::new("clonefd_efault_clonefd_kernel_address", || {
            efault(Unwritable::Kernel)
        }),
        Test::new("clonefd_getpidfd_emfile", getpidfd_emfile),
        Test::new("clonefd_getpidfd_enfile", getpidfd_enfile),
    ]
}

/// A pipe that every child created here writes one byte to.
pub(super) struct Marker {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Marker {
    pub(super) fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Marker { reader, writer })
    }

    /// In a child: writes the mark; CHILD_OK.
    pub(super) fn mark(&self) -> i32 {
        let _ = (&self.writer).write_all(b"c");
        CHILD_OK
    }

    /// clone4(CLONE_FD), the fd stored or returned; the child marks and
    /// exits with CHILD_OK. The fd.
    pub(super) fn spawn(&self, returned: bool) -> nix::Result<OwnedFd> {
        let child = || self.mark();
        if returned {
            // SAFETY: the test process is single-threaded; no struct; the
            // child writes to a pipe and exits.
            unsafe { clonefd::fork_like_returning_fd(CLONE_FD, 0, ptr::null(), child) }
        } else {
            // SAFETY: as above, with the struct of fork_like_fd().
            unsafe { clonefd::fork_like_fd(CLONE_FD, child) }.map(|child| child.fd)
        }
    }

    /// Nothing marked (poll with `timeout`).
    pub(super) fn check_unmarked(&self, timeout: Duration) -> Result<(), Failure> {
        let revents = check_ok!(poll_in(self.reader.as_fd(), timeout));
        check!(
            !revents.contains(PollFlags::POLLIN),
            "a child ran although clone4() failed"
        );
        Ok(())
    }

    /// Takes the one mark of a child that has exited.
    pub(super) fn check_marked(&self) -> Result<(), Failure> {
        let mut byte = [0u8; 1];
        check_ok!((&self.reader).read_exact(&mut byte));
        Ok(())
    }
}

/// Where an unwritable `clonefd` points.
#[derive(Clone, Copy)]
enum Unwritable {
    /// A PROT_NONE page.
    ProtNone,
    /// A PROT_READ page.
    ReadOnly,
    /// The start of the kernel's half of the address space.
    Kernel,
}

/// The lowest kernel address on x86_64 (4-level paging and 5-level alike
/// reject user accesses there).
const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

fn efault(target: Unwritable) -> TestResult {
    require!(clonefd_available());
    let marker = check_ok!(Marker::new());
    let page = check_ok!(sys::Mapping::new(
        4096,
        match target {
            Unwritable::ReadOnly => libc::PROT_READ,
            _ => libc::PROT_NONE,
        },
        0
    ));
    let args = Clone4Args {
        clonefd: match target {
            Unwritable::Kernel => KERNEL_ADDRESS,
            _ => page.addr() as u64,
        },
        ..Default::default()
    };
    let fds_before = check_ok!(open_fds());
    // SAFETY: the kernel writes the fd through `clonefd` only if it can
    // (it must not: EFAULT), into memory no Rust reference covers; the
    // test process is single-threaded; the child writes to a pipe and
    // exits.
    let result = unsafe {
        clone4::fork_like(
            CLONE_FD,
            size_of::<Clone4Args>(),
            ptr::from_ref(&args).cast(),
            || marker.mark(),
        )
    };
    check_err!(result, Errno::EFAULT);
    check_eq!(check_ok!(open_fds()), fds_before);
    if let Unwritable::ReadOnly = target {
        // SAFETY: the page is readable; nothing writes it (the kernel did
        // not: EFAULT).
        let word = unsafe { ptr::read_volatile(page.as_ptr().cast::<i32>()) };
        check_eq!(word, 0);
    }
    marker.check_unmarked(GRACE)?;
    check_no_child()?;
    Ok(Outcome::Pass)
}

/// `/proc/sys/fs/file-max`, lowered for as long as this lives.
struct FileMaxLowered {
    file: File,
    saved: String,
}

impl FileMaxLowered {
    fn to(limit: u64) -> io::Result<Self> {
        let mut file = OpenOptions::new().read(true).write(true).open(FILE_MAX)?;
        let mut saved = String::new();
        file.read_to_string(&mut saved)?;
        file.write_all_at(limit.to_string().as_bytes(), 0)?;
        Ok(FileMaxLowered { file, saved })
    }
}

impl Drop for FileMaxLowered {
    fn drop(&mut self) {
        let _ = self.file.write_all_at(self.saved.trim().as_bytes(), 0);
    }
}

const FILE_MAX: &str = "/proc/sys/fs/file-max";

fn enfile() -> TestResult {
    require!(clonefd_available());
    let marker = check_ok!(Marker::new());
    check_ok!(sys::drop_effective_cap(CAP_SYS_ADMIN));
    let fds_before = check_ok!(open_fds());
    let lowered = check_ok!(FileMaxLowered::to(0));
    let result = marker.spawn(true);
    drop(lowered);
    check_err!(result, Errno::ENFILE);
    check_eq!(check_ok!(open_fds()), fds_before);
    marker.check_unmarked(GRACE)?;
    check_no_child()?;
    Ok(Outcome::Pass)
}

/// No process has the test as its parent. Fails with what /proc says of
/// those that do.
pub(super) fn check_no_child() -> Result<(), Failure> {
    let children = check_ok!(children_of(getpid()));
    if !children.is_empty() {
        let described: Vec<String> = children.iter().map(|&pid| describe(pid)).collect();
        fail!("children exist: {}", described.join("; "));
    }
    Ok(())
}

/// A process as /proc/PID/status says: its name, state, parent and
/// threads.
fn describe(pid: nix::unistd::Pid) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let fields: Vec<&str> = status
        .lines()
        .filter(|line| {
            ["Name:", "State:", "PPid:", "TracerPid:", "Threads:"]
                .iter()
                .any(|key| line.starts_with(key))
        })
        .collect();
    format!("{pid} ({})", fields.join(", ").replace('\t', " "))
}

/// Uses every fd below the RLIMIT_NOFILE of the EMFILE tests (lowered to
/// NOFILE); dropping the result frees them.
fn fill_fd_table(like: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, Failure> {
    let (_, hard) = check_ok!(getrlimit(Resource::RLIMIT_NOFILE));
    check_ok!(setrlimit(Resource::RLIMIT_NOFILE, NOFILE.min(hard), hard));
    let mut fillers = Vec::new();
    loop {
        match dup(like) {
            Ok(fd) => fillers.push(fd),
            Err(Errno::EMFILE) => return Ok(fillers),
            Err(err) => fail!("filling the fd table: {err}"),
        }
    }
}

fn getpidfd_emfile() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fillers = fill_fd_table(child.fd.as_fd())?;
    let result = clonefd::getpidfd(child.fd.as_fd());
    drop(fillers);
    check_err!(result, Errno::EMFILE);
    check_ok!(gate.open());
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn getpidfd_enfile() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_ok!(sys::drop_effective_cap(CAP_SYS_ADMIN));
    let fds_before = check_ok!(open_fds());
    let lowered = check_ok!(FileMaxLowered::to(0));
    let result = clonefd::getpidfd(child.fd.as_fd());
    drop(lowered);
    check_err!(result, Errno::ENFILE);
    check_eq!(check_ok!(open_fds()), fds_before);
    check_ok!(gate.open());
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn emfile(returned: bool) -> TestResult {
    require!(clonefd_available());
    let marker = check_ok!(Marker::new());
    let fillers = fill_fd_table(marker.reader.as_fd())?;
    let result = marker.spawn(returned);
    drop(fillers);
    check_err!(result, Errno::EMFILE);
    marker.check_unmarked(GRACE)?;
    check_no_child()?;
    Ok(Outcome::Pass)
}
