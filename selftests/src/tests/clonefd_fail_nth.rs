//! Fault injection: every error path of clone4() and of the CLONE_FD
//! file's operations leaves nothing behind.
//!
//! Each test sweeps one call with `/proc/thread-self/fail-nth`: the call
//! is made with its 1st, 2nd, ... fault point armed until a call passes
//! them all (at most 5000). fail-nth counts the fault points of every
//! fault attribute the kernel has: slab allocations (failslab), page
//! allocations (fail_page_alloc, order 0 included) and copies from and to
//! user space (fail_usercopy). For each sweep:
//!
//! - every call that fails must have had its fault injected (fail-nth
//!   counted down to 0: a failure without one is not an injected error
//!   path) and must fail with one of the sweep's errnos, documented in
//!   clone4(2): ENOMEM for an allocation, EFAULT for a copy;
//! - a call that fails leaves /proc/self/fd as it was and no child: no
//!   process whose parent is the test, no new thread in it, and no child
//!   ran (the children created here write to a marker pipe first);
//! - a call that succeeds gives what it should: the child's exit is
//!   reported once, with its status;
//! - at least one fault is injected, and at the end the kernel's count of
//!   open files (/proc/sys/fs/file-nr, an approximate per-CPU sum: within
//!   FILE_NR_SLOP) is back where it was.
//!
//! Memory the error paths might leak is kmemleak's to find: the debug
//! kernel's scan at the end of the guest run covers these sweeps.
//!
//! So that GFP_KERNEL allocations can fail, a sweep sets `ignore-gfp-wait`
//! to N (and fail_page_alloc's `min-order` to 0) in debugfs, mounted in a
//! mount namespace of its own if needed, and quiets each attribute's
//! `verbose`, restoring them at the end; failing to set failslab's knobs
//! is a failure. Every test SKIPs without fail-nth
//! (CONFIG_FAULT_INJECTION), and the read sweep without fail_usercopy
//! (read() has no other fault point).
//!
//! - `clone4_fail_nth_plain`: clone4() without CLONE_FD (exit signal
//!   SIGCHLD); a child that passed is reaped by waitpid() with its status.
//! - `clonefd_fail_nth_{stored,returned}`: clone4(CLONE_FD), the fd stored
//!   through `clonefd` or returned.
//! - `clonefd_fail_nth_kill_on_close`: clone4(CLONE_FD |
//!   CLONEFD_KILL_ON_CLOSE).
//! - `clonefd_fail_nth_vfork`: clone4(CLONE_FD | CLONE_VM | CLONE_VFORK),
//!   the child on a stack of its own.
//! - `clonefd_fail_nth_thread`: clone4(CLONE_FD | CLONE_THREAD | CLONE_VM |
//!   CLONE_SIGHAND) on a stack of its own: a failure leaves the test with
//!   one thread.
//! - `clonefd_read_fail_nth`: read() of an exited child's fd: every
//!   failure is EFAULT and loses nothing (the fd is still readable), and
//!   the read that passes gives the 80-byte report, after which read()
//!   gives end of file.
//! - `clonefd_getpidfd_fail_nth`: ioctl(CLONEFD_IOC_GETPIDFD) on a live
//!   child's fd: every failure is ENOMEM; the call that passes gives a
//!   pidfd for the child.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::poll::PollFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpid, Pid};

use super::clone4_common::{Shared, StackForm, CHILD_OK};
use super::clonefd_common::{
    check_exit_reported, check_fdinfo_has, open_fds, poll_in, spawn_exiting, spawn_gated,
    task_count, Gate, GRACE,
};
use super::clonefd_errors::{check_no_child, Marker};
use crate::clone4::{self, c4_child_report};
use crate::clonefd::{self, CLONE_FD, INFO_VER1, KILL_ON_CLOSE};
use crate::feature::{clone4_available, clonefd_available};
use crate::ktap::{self, Failure, Outcome, Test, TestResult};

const FAIL_NTH: &str = "/proc/thread-self/fail-nth";
const DEBUGFS: &str = "/sys/kernel/debug";
/// Fault points tried at most.
const MAX_FAULT_POINTS: u32 = 5000;
/// debugfs knobs every sweep needs: (path under DEBUGFS, value).
const KNOBS: &[(&str, &str)] = &[("failslab/ignore-gfp-wait", "N"), ("failslab/verbose", "0")];
/// Knobs set when the kernel has their attribute (CONFIG_FAIL_PAGE_ALLOC,
/// CONFIG_FAULT_INJECTION_USERCOPY): page allocations of any order and
/// with __GFP_DIRECT_RECLAIM fail too, and no attribute prints a report
/// for each fault.
const OPTIONAL_KNOBS: &[(&str, &str)] = &[
    ("fail_page_alloc/ignore-gfp-wait", "N"),
    ("fail_page_alloc/min-order", "0"),
    ("fail_page_alloc/verbose", "0"),
    ("fail_usercopy/verbose", "0"),
];
/// How far /proc/sys/fs/file-nr may move with nothing leaked: it reads the
/// per-CPU counter of files without folding the CPUs' pending deltas.
const FILE_NR_SLOP: i64 = 64;
/// The errnos of an allocation that failed and of a copy that failed.
const ALLOC_OR_COPY: &[Errno] = &[Errno::ENOMEM, Errno::EFAULT];
const THREAD: u64 = CLONE_FD | libc::CLONE_THREAD as u64 | VM_SIGHAND;
const VM_SIGHAND: u64 = (libc::CLONE_VM | libc::CLONE_SIGHAND) as u64;
const VFORK: u64 = CLONE_FD | (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
/// The timeout of a sweep: some thousand calls, under TCG.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(300);

pub fn tests() -> Vec<Test> {
    let sweep =
        |name: &str, body: fn() -> TestResult| Test::new(name, body).with_timeout(SWEEP_TIMEOUT);
    vec![
        sweep("clone4_fail_nth_plain", || spawn_sweep(Spawn::Plain)),
        sweep("clonefd_fail_nth_stored", || spawn_sweep(Spawn::Stored)),
        sweep("clonefd_fail_nth_returned", || spawn_sweep(Spawn::Returned)),
        sweep("clonefd_fail_nth_kill_on_close", || {
            spawn_sweep(Spawn::KillOnClose)
        }),
        sweep("clonefd_fail_nth_vfork", || spawn_sweep(Spawn::Vfork)),
        sweep("clonefd_fail_nth_thread", || spawn_sweep(Spawn::Thread)),
        sweep("clonefd_read_fail_nth", read_fail_nth),
        sweep("clonefd_getpidfd_fail_nth", getpidfd_fail_nth),
    ]
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
        let present = OPTIONAL_KNOBS
            .iter()
            .filter(|(name, _)| has_attribute(name));
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

/// Whether debugfs has the fault attribute of `knob` (`ATTR/NAME`).
fn has_attribute(knob: &str) -> bool {
    let attr = knob.split('/').next().unwrap_or(knob);
    Path::new(DEBUGFS).join(attr).is_dir()
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
    /// passes them all. Every call that fails must have had its fault
    /// injected, fail with one of `errnos`, leave /proc/self/fd as it was
    /// and pass `after_error`; every one that succeeds is given to
    /// `after_success`. `call` must make no system call but the one swept.
    /// Fails unless a fault was injected at least once.
    fn sweep<T>(
        &mut self,
        errnos: &[Errno],
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
                    check!(
                        injected,
                        "the call failed with {errno} at fault point {n}, which was not reached"
                    );
                    check!(
                        errnos.contains(&errno),
                        "the call failed with {errno} at fault point {n}; expected one of {errnos:?}"
                    );
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
    /// Whether an injected fault made the call fail with `errno`.
    fn gave(&self, errno: Errno) -> bool {
        self.failed.iter().any(|&(_, e)| e == errno)
    }

    /// The fault points as a diagnostic, and as a figure for README.
    fn report(&self, what: &str, key: &str) {
        let failed: Vec<String> = self
            .failed
            .iter()
            .map(|(n, e)| format!("{n}:{e}"))
            .collect();
        ktap::diag(&format!(
            "fail-nth: {what} passed {} fault points; failed at {} of them: {}",
            self.points,
            self.failed.len(),
            failed.join(" ")
        ));
        ktap::diag(&format!(
            "figure: fail_nth.{key}.points={} fail_nth.{key}.injected={}",
            self.points,
            self.failed.len()
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

/// Fails unless the count of open files is back near `before`.
fn check_files_back(before: i64) -> Result<(), Failure> {
    let after = check_ok!(files_allocated());
    check!(
        after - before <= FILE_NR_SLOP,
        "open files went from {before} to {after} over the sweep"
    );
    Ok(())
}

/// The clone4() calls swept.
#[derive(Clone, Copy)]
enum Spawn {
    Plain,
    Stored,
    Returned,
    KillOnClose,
    Vfork,
    Thread,
}

/// What a clone4() call that passed gave.
enum Spawned {
    /// A child without CLONE_FD, to reap.
    Process(Pid),
    /// A fork-like CLONE_FD child, which marks and exits with CHILD_OK.
    MarkingFd(OwnedFd),
    /// A CLONE_FD child on a stack of its own, which exits with 0.
    OnStackFd(OwnedFd),
}

impl Spawn {
    /// A name for diagnostics and figures.
    fn key(self) -> &'static str {
        match self {
            Spawn::Plain => "clone4",
            Spawn::Stored => "clonefd_stored",
            Spawn::Returned => "clonefd_returned",
            Spawn::KillOnClose => "kill_on_close",
            Spawn::Vfork => "vfork",
            Spawn::Thread => "thread",
        }
    }

    /// One clone4() call: the child marks `marker` (fork-like) or runs
    /// `c4_child_report` on `shared`'s stack (CLONE_VM).
    fn call(self, marker: &Marker, shared: &'static Shared) -> nix::Result<Spawned> {
        let on_stack = |flags| {
            // SAFETY: the stack and report are leaked, so they outlive the
            // child; c4_child_report only writes the report. The previous
            // child on that stack has exited: its fd reported it.
            unsafe {
                clonefd::on_stack_fd(
                    flags,
                    &shared.args(StackForm::Range),
                    c4_child_report,
                    shared.report_arg(),
                )
            }
            .map(|child| Spawned::OnStackFd(child.fd))
        };
        match self {
            Spawn::Plain => {
                // SAFETY: the test process is single-threaded; no struct;
                // the child writes to a pipe and exits.
                unsafe { clone4::fork_like(libc::SIGCHLD as u64, 0, ptr::null(), || marker.mark()) }
                    .map(Spawned::Process)
            }
            Spawn::Stored => marker.spawn(false).map(Spawned::MarkingFd),
            Spawn::Returned => marker.spawn(true).map(Spawned::MarkingFd),
            Spawn::KillOnClose => {
                // SAFETY: as Plain.
                unsafe {
                    clonefd::fork_like_returning_fd(
                        CLONE_FD | KILL_ON_CLOSE,
                        0,
                        ptr::null(),
                        || marker.mark(),
                    )
                }
                .map(Spawned::MarkingFd)
            }
            Spawn::Vfork => on_stack(VFORK),
            Spawn::Thread => on_stack(THREAD),
        }
    }

    /// After a failed call: nothing ran, no child or thread exists.
    fn check_nothing_left(self, marker: &Marker) -> Result<(), Failure> {
        match self {
            Spawn::Thread => check_eq!(check_ok!(task_count(getpid())), 1),
            Spawn::Vfork => check_no_child()?,
            _ => {
                marker.check_unmarked(Duration::ZERO)?;
                check_no_child()?;
            }
        }
        Ok(())
    }
}

/// After a call that passed: the child's exit is reported, once.
fn check_spawned(spawned: &Spawned, marker: &Marker) -> Result<(), Failure> {
    match spawned {
        Spawned::Process(pid) => {
            check_eq!(
                check_ok!(waitpid(*pid, None)),
                WaitStatus::Exited(*pid, CHILD_OK)
            );
            marker.check_marked()
        }
        Spawned::MarkingFd(fd) => {
            check_exit_reported(fd.as_fd(), CHILD_OK)?;
            marker.check_marked()
        }
        Spawned::OnStackFd(fd) => check_exit_reported(fd.as_fd(), 0).map(drop),
    }
}

fn spawn_sweep(spawn: Spawn) -> TestResult {
    match spawn {
        Spawn::Plain => require!(clone4_available()),
        _ => require!(clonefd_available()),
    }
    let Some(mut fail_nth) = FailNth::open()? else {
        skip!("{FAIL_NTH} does not exist (kernel without CONFIG_FAULT_INJECTION)");
    };
    let marker = check_ok!(Marker::new());
    let shared = check_ok!(Shared::leaked());
    let files_before = check_ok!(files_allocated());
    let sweep = fail_nth.sweep(
        ALLOC_OR_COPY,
        || spawn.call(&marker, shared),
        || spawn.check_nothing_left(&marker),
        |spawned| check_spawned(spawned, &marker),
    )?;
    sweep.report(&format!("clone4 ({})", spawn.key()), spawn.key());
    // Its allocations (of the child, and of the fd's file) can fail.
    check!(sweep.gave(Errno::ENOMEM), "no fault made clone4() fail");
    drop(sweep);
    if !matches!(spawn, Spawn::Vfork | Spawn::Thread) {
        marker.check_unmarked(GRACE)?;
    }
    check_no_child()?;
    check_files_back(files_before)?;
    Ok(Outcome::Pass)
}

fn read_fail_nth() -> TestResult {
    require!(clonefd_available());
    let Some(mut fail_nth) = FailNth::open()? else {
        skip!("{FAIL_NTH} does not exist (kernel without CONFIG_FAULT_INJECTION)");
    };
    if !has_attribute("fail_usercopy") {
        skip!("no fail_usercopy in {DEBUGFS} (kernel without CONFIG_FAULT_INJECTION_USERCOPY)");
    }
    let child = check_ok!(spawn_exiting(0, CHILD_OK));
    let fd = child.fd.as_fd();
    check!(
        check_ok!(poll_in(fd, Duration::from_secs(10))).contains(PollFlags::POLLIN),
        "the child's exit was not reported"
    );
    let files_before = check_ok!(files_allocated());
    // Allocated before the sweep: the swept call is read() alone.
    let mut buf = vec![0u8; INFO_VER1];
    let sweep = fail_nth.sweep(
        &[Errno::EFAULT],
        || nix::unistd::read(fd, &mut buf),
        || {
            let revents = check_ok!(poll_in(fd, Duration::ZERO));
            check!(
                revents.contains(PollFlags::POLLIN),
                "the report was lost with the failed read: revents {revents:?}"
            );
            Ok(())
        },
        |&len| {
            check_eq!(len, INFO_VER1);
            Ok(())
        },
    )?;
    sweep.report("read()", "read");
    check!(sweep.gave(Errno::EFAULT), "no fault made read() fail");
    let info = clonefd::info_from_bytes(&buf);
    check_eq!(
        (info.code as i32, info.status as i32),
        (libc::CLD_EXITED, CHILD_OK)
    );
    check_eq!(check_ok!(nix::unistd::read(fd, &mut buf)), 0);
    check_files_back(files_before)?;
    Ok(Outcome::Pass)
}

fn getpidfd_fail_nth() -> TestResult {
    require!(clonefd_available());
    let Some(mut fail_nth) = FailNth::open()? else {
        skip!("{FAIL_NTH} does not exist (kernel without CONFIG_FAULT_INJECTION)");
    };
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let files_before = check_ok!(files_allocated());
    let sweep = fail_nth.sweep(
        &[Errno::ENOMEM],
        || clonefd::getpidfd(child.fd.as_fd()),
        || Ok(()),
        |_| Ok(()),
    )?;
    sweep.report("ioctl(CLONEFD_IOC_GETPIDFD)", "getpidfd");
    check!(sweep.gave(Errno::ENOMEM), "no fault made GETPIDFD fail");
    check_fdinfo_has(sweep.passed.as_fd(), &format!("Pid:\t{}", child.pid))?;
    drop(sweep);
    check_ok!(gate.open());
    check_exit_reported(child.fd.as_fd(), CHILD_OK)?;
    check_files_back(files_before)?;
    Ok(Outcome::Pass)
}
