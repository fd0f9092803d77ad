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
//! - `clonefd_getpidfd_fail_nth`: fault injection at the 1st, 2nd, ...
//!   fault point of ioctl(CLONEFD_IOC_GETPIDFD) until a call passes them
//!   all: every failure is ENOMEM and leaves no fd, at least one fault is
//!   injected, and a call that passes gives a pidfd for the child.
//! - `clonefd_fail_nth_{stored,returned}`: fault injection
//!   (/proc/thread-self/fail-nth) at the 1st, 2nd, ... fault point of
//!   clone4(CLONE_FD), fd stored or returned, until a call passes all of
//!   them. Every call that fails (the fault points are printed as a
//!   diagnostic) fails with ENOMEM, leaves the fds of /proc/self/fd as they were and
//!   creates no child; every call that succeeds gives a working fd (its
//!   child's exit is reported). At least one fault must have been
//!   injected, and the kernel's count of open files
//!   (/proc/sys/fs/file-nr, an approximate per-CPU sum: within
//!   FILE_NR_SLOP) must be back where it was after the sweep. So that
//!   GFP_KERNEL allocations can fail, the test sets
//!   `failslab/ignore-gfp-wait` to N in debugfs (mounted in a mount
//!   namespace of its own if needed) and quiets `failslab/verbose`,
//!   restoring both at the end (and quiets the verbose knob of the other
//!   fault attributes the kernel has); failing to set them is a failure.
//!   SKIPs without fail-nth (CONFIG_FAULT_INJECTION); fails if no call
//!   passes within 5000 points.

use std::fs::{self, File, OpenOptions};
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::PollFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{dup, getpid};

use super::clone4_common::CHILD_OK;
use super::clonefd_common::{
    check_exit_reported, check_fdinfo_has, children_of, open_fds, poll_in, spawn_gated, Gate, GRACE,
};
use crate::clone4::{self, Clone4Args};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{self, Failure, Outcome, Test, TestResult};
use crate::sys::{self, CAP_SYS_ADMIN};

/// RLIMIT_NOFILE for the EMFILE tests.
const NOFILE: u64 = 64;
const FAIL_NTH: &str = "/proc/thread-self/fail-nth";
const DEBUGFS: &str = "/sys/kernel/debug";
/// Fault points tried at most.
const MAX_FAULT_POINTS: u32 = 5000;
/// debugfs knobs the fail-nth test needs: (path under DEBUGFS, value).
const KNOBS: &[(&str, &str)] = &[("failslab/ignore-gfp-wait", "N"), ("failslab/verbose", "0")];
/// Knobs set when the kernel has them (CONFIG_FAIL_PAGE_ALLOC,
/// CONFIG_FAULT_INJECTION_USERCOPY), so that their reports stay quiet.
const OPTIONAL_KNOBS: &[(&str, &str)] = &[
    ("fail_page_alloc/verbose", "0"),
    ("fail_usercopy/verbose", "0"),
];
/// How far /proc/sys/fs/file-nr may move with nothing leaked: it reads the
/// per-CPU counter of files without folding the CPUs' pending deltas.
const FILE_NR_SLOP: i64 = 64;

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
        Test::new("clonefd_getpidfd_fail_nth", getpidfd_fail_nth)
            .with_timeout(Duration::from_secs(300)),
        Test::new("clonefd_fail_nth_stored", || fail_nth(false))
            .with_timeout(Duration::from_secs(300)),
        Test::new("clonefd_fail_nth_returned", || fail_nth(true))
            .with_timeout(Duration::from_secs(300)),
    ]
}

/// A pipe that every child created here writes one byte to.
struct Marker {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Marker {
    fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Marker { reader, writer })
    }

    /// In a child: writes the mark; CHILD_OK.
    fn mark(&self) -> i32 {
        let _ = (&self.writer).write_all(b"c");
        CHILD_OK
    }

    /// clone4(CLONE_FD), the fd stored or returned; the child marks and
    /// exits with CHILD_OK. The fd.
    fn spawn(&self, returned: bool) -> nix::Result<OwnedFd> {
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
    fn check_unmarked(&self, timeout: Duration) -> Result<(), Failure> {
        let revents = check_ok!(poll_in(self.reader.as_fd(), timeout));
        check!(
            !revents.contains(PollFlags::POLLIN),
            "a child ran although clone4() failed"
        );
        Ok(())
    }

    /// Takes the one mark of a child that has exited.
    fn check_marked(&self) -> Result<(), Failure> {
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
fn check_no_child() -> Result<(), Failure> {
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

fn getpidfd_fail_nth() -> TestResult {
    require!(clonefd_available());
    let Some(mut fail_nth) = FailNth::open()? else {
        skip!("{FAIL_NTH} does not exist (kernel without CONFIG_FAULT_INJECTION)");
    };
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let sweep = fail_nth.sweep(
        || clonefd::getpidfd(child.fd.as_fd()),
        || Ok(()),
        |_| Ok(()),
    )?;
    sweep.report("ioctl(CLONEFD_IOC_GETPIDFD)");
    let all_enomem = sweep.failed.iter().all(|&(_, e)| e == Errno::ENOMEM);
    check!(
        all_enomem,
        "not every failure was ENOMEM: {:?}",
        sweep.failed
    );
    check_fdinfo_has(sweep.passed.as_fd(), &format!("Pid:\t{}", child.pid))?;
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

/// The debugfs knobs changed, restored when dropped.
struct Knobs {
    saved: Vec<(String, String)>,
}

impl Knobs {
    /// Sets KNOBS, and those of OPTIONAL_KNOBS whose attribute exists.
    fn set() -> Result<Knobs, String> {
        let mut knobs = Knobs { saved: Vec::new() };
        mount_debugfs().map_err(|err| format!("mounting debugfs: {err}"))?;
        let present = OPTIONAL_KNOBS.iter().filter(|(name, _)| {
            let attr = name.split('/').next().unwrap_or(name);
            Path::new(DEBUGFS).join(attr).is_dir()
        });
        for &(name, value) in KNOBS.iter().chain(present) {
            let path = format!("{DEBUGFS}/{name}");
            let old = fs::read_to_string(&path).and_then(|old| {
                fs::write(&path, value)?;
                Ok(old)
            });
            match old {
                Ok(old) => knobs.saved.push((path, old.trim().to_owned())),
                Err(err) => return Err(format!("setting {path} to {value}: {err}")),
            }
        }
        Ok(knobs)
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        for (path, old) in &self.saved {
            let _ = fs::write(path, old);
        }
    }
}

/// debugfs at DEBUGFS, mounted in a private mount namespace if it is not
/// there already.
fn mount_debugfs() -> nix::Result<()> {
    if Path::new(DEBUGFS).join("failslab").exists() {
        return Ok(());
    }
    unshare(CloneFlags::CLONE_NEWNS)?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>)?;
    mount(
        Some("debugfs"),
        DEBUGFS,
        Some("debugfs"),
        MsFlags::empty(),
        None::<&str>,
    )
}

/// This thread's fail-nth, with the knobs that let GFP_KERNEL allocations
/// fail set (restored when dropped).
struct FailNth {
    file: File,
    _knobs: Knobs,
}

impl FailNth {
    /// None if the kernel has no fail-nth; a failure if it cannot be set up.
    fn open() -> Result<Option<Self>, Failure> {
        if !Path::new(FAIL_NTH).exists() {
            return Ok(None);
        }
        let knobs = match Knobs::set() {
            Ok(knobs) => knobs,
            Err(why) => fail!("fail-nth cannot make GFP_KERNEL allocations fail: {why}"),
        };
        let file = check_ok!(OpenOptions::new().read(true).write(true).open(FAIL_NTH));
        Ok(Some(FailNth {
            file,
            _knobs: knobs,
        }))
    }

    /// Arms it for the `n`th fault point from now.
    fn arm(&mut self, n: u32) -> io::Result<()> {
        self.file.write_all(n.to_string().as_bytes())
    }

    /// Whether the armed fault was injected (fail-nth counted down to 0),
    /// then disarms it. A read that itself hits the last fault point
    /// fails: not injected before.
    fn injected_then_disarm(&mut self) -> bool {
        let mut buf = [0u8; 16];
        let injected = match self.file.read_at(&mut buf, 0) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).trim() == "0",
            Err(_) => false,
        };
        // Its own copy from user space may consume the last count: either
        // way fail-nth is 0 afterwards.
        let _ = self.file.write_all(b"0");
        injected
    }

    /// Makes `call` with its 1st, 2nd, ... fault point armed, until a call
    /// passes them all. Every call that fails must leave /proc/self/fd as
    /// it was and pass `after_error` (its errno is recorded, for the test
    /// to check); every one that succeeds is given to `after_success`.
    /// Fails unless a fault was injected at least once.
    fn sweep<T>(
        &mut self,
        mut call: impl FnMut() -> nix::Result<T>,
        mut after_error: impl FnMut() -> Result<(), Failure>,
        mut after_success: impl FnMut(&T) -> Result<(), Failure>,
    ) -> Result<Sweep<T>, Failure> {
        let mut failed = Vec::new();
        for n in 1..=MAX_FAULT_POINTS {
            let fds_before = check_ok!(open_fds());
            check_ok!(self.arm(n));
            let result = call();
            let injected = self.injected_then_disarm();
            match result {
                Err(errno) => {
                    failed.push((n, errno));
                    check_eq!(check_ok!(open_fds()), fds_before);
                    after_error()?;
                }
                Ok(value) => {
                    after_success(&value)?;
                    if !injected {
                        check!(
                            !failed.is_empty(),
                            "no fault was injected: {} fault points passed and none failed",
                            n - 1
                        );
                        return Ok(Sweep {
                            passed: value,
                            points: n - 1,
                            failed,
                        });
                    }
                }
            }
        }
        fail!("the call still hit fault point {MAX_FAULT_POINTS}")
    }
}

/// How a fail-nth sweep ended.
struct Sweep<T> {
    /// What the call that passed every fault point returned.
    passed: T,
    /// The fault points it passed.
    points: u32,
    /// The fault points at which the call failed, with its errno.
    failed: Vec<(u32, Errno)>,
}

impl<T> Sweep<T> {
    fn report(&self, what: &str) {
        let failed: Vec<String> = self.failed.iter().map(|(n, _)| n.to_string()).collect();
        ktap::diag(&format!(
            "fail-nth: {what} passed {} fault points; failed at {} of them: {}",
            self.points,
            self.failed.len(),
            failed.join(" ")
        ));
    }
}

/// The kernel's count of allocated files, the first field of
/// /proc/sys/fs/file-nr.
fn files_allocated() -> io::Result<i64> {
    let text = fs::read_to_string("/proc/sys/fs/file-nr")?;
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("/proc/sys/fs/file-nr: {text:?}")))
}

fn fail_nth(returned: bool) -> TestResult {
    require!(clonefd_available());
    let Some(mut fail_nth) = FailNth::open()? else {
        skip!("{FAIL_NTH} does not exist (kernel without CONFIG_FAULT_INJECTION)");
    };
    let marker = check_ok!(Marker::new());
    let files_before = check_ok!(files_allocated());
    let sweep = fail_nth.sweep(
        || marker.spawn(returned),
        || {
            marker.check_unmarked(Duration::ZERO)?;
            check_no_child()
        },
        |fd| {
            check_exit_reported(fd.as_fd(), CHILD_OK)?;
            marker.check_marked()
        },
    )?;
    sweep.report("clone4(CLONE_FD)");
    let all_enomem = sweep.failed.iter().all(|&(_, e)| e == Errno::ENOMEM);
    check!(
        all_enomem,
        "not every failure was ENOMEM: {:?}",
        sweep.failed
    );
    drop(sweep);
    marker.check_unmarked(GRACE)?;
    check_no_child()?;
    let files_after = check_ok!(files_allocated());
    check!(
        files_after - files_before <= FILE_NR_SLOP,
        "open files went from {files_before} to {files_after} over the sweep"
    );
    Ok(Outcome::Pass)
}
