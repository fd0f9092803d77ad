//! clone4(): the clone(2) flags it accepts do what they do for clone(2).
//!
//! Each test comes twice: `clone4_flag_*` makes a fork-like child with
//! exit signal SIGCHLD and reaps it with waitpid(); `clonefd_flag_*` makes
//! it a CLONE_FD child (fd stored through `clonefd`) whose fd must report
//! its exit, the child being released at once. (So the `clone4_` tests,
//! which `make check` also runs on the CONFIG_CLONEFD=n kernel, need no
//! CLONE_FD.) They SKIP unless `clone4_available()` (and
//! `clonefd_available()` for CLONE_FD). Children exit with 42
//! (`CHILD_OK`); a child that saw something wrong exits with 43 or, where
//! a test says so, a code that says what.
//!
//! - `{clone4,clonefd}_flag_vfork`: CLONE_VFORK: the child sleeps
//!   200 ms, writes a byte to a pipe and exits; when clone4() returns in
//!   the parent, the byte is already there (poll with a zero timeout).
//!   Fails with `clone4() returned before the child exited or exec'd`.
//! - `{clone4,clonefd}_flag_vfork_exec`: the same, the child
//!   execve()ing this binary (`--exit-with 7`) after writing the byte: the
//!   parent resumes at the exec; the child's exit (7) is reported.
//! - `clone4_flag_parent`: CLONE_PARENT (without CLONE_FD, which
//!   rejects it): a helper H makes the child, whose parent is the test,
//!   not H: /proc says so, H's waitpid() gives ECHILD, the test gets its
//!   SIGCHLD (H's exit signal) and reaps it (`check_sibling`).
//! - `{clone4,clonefd}_flag_new{ns,uts,ipc,net,pid,cgroup,user}`:
//!   the child posts the inode numbers of its /proc/self/ns/{mnt,uts,ipc,
//!   net,pid,cgroup,user} and its getpid(): the namespace of the flag
//!   differs from the test's, every other one is the same; with
//!   CLONE_NEWPID the child is pid 1, and clone4() returned (and, with
//!   CLONE_FD, CLONEFD_IOC_GETPID gives) its pid in the test's namespace,
//!   which is not 1. Fails with the namespace and both inodes. SKIPs if
//!   clone4() gives EPERM (not root).
//! - `{clone4,clonefd}_flag_ptrace`: CLONE_PTRACE: the test
//!   seizes a helper H (PTRACE_SEIZE, no options); the child H makes with
//!   CLONE_PTRACE is traced by the test too: it stops at once (the test's
//!   waitpid(__WALL) reports the stop, not ECHILD) and /proc gives the
//!   test as its TracerPid; detached, it exits normally and H collects its
//!   exit.
//! - `{clone4,clonefd}_flag_untraced`: CLONE_UNTRACED: the test
//!   seizes H with PTRACE_O_TRACEFORK | TRACEVFORK | TRACECLONE; a child
//!   that H makes with CLONE_UNTRACED is not traced (TracerPid 0, the
//!   test's waitpid() gives ECHILD) and H does not stop; the control, a
//!   child made without it, stops H at PTRACE_EVENT_FORK (in both modes:
//!   a CLONE_FD child is a process, though it has no exit signal) and is
//!   traced by the test.
//! - `{clone4,clonefd}_flag_io`: CLONE_IO shares the I/O context,
//!   which holds the I/O priority: with the test's priority set to
//!   best-effort 4 (which gives it an I/O context), ioprio_set() on a
//!   child made without CLONE_IO (to best-effort 7) leaves the test's
//!   priority at 4, on a child made with CLONE_IO (to best-effort 6) makes
//!   it 6.
//! - `clonefd_flag_files_shares_fd_{stored,returned}`: with
//!   CLONE_FILES, the CLONE_FD child shares the caller's file table, so it
//!   has the fd too (stored through `clonefd`, or returned): told its
//!   number, the child finds it open and CLONEFD_IOC_GETPID on it gives
//!   its own getpid() (without CLONE_FILES: `clonefd_spawn_fd_only_in_caller`).
//! - `{clone4,clonefd}_flag_fs`: CLONE_FS shares the umask (and
//!   cwd): the child sets umask 027; after its exit the test's umask is
//!   027 (it was 077); the control, a child made without CLONE_FS setting
//!   umask 007, leaves it alone.
//! - `{clone4,clonefd}_flag_sysvsem`: CLONE_SYSVSEM shares the
//!   SEM_UNDO list: the child adds 1 to a new System V semaphore with
//!   SEM_UNDO and exits; without CLONE_SYSVSEM (the control) its exit
//!   undoes that (the value is 0 again), with it the undo waits for the
//!   test, the list's last user (the value stays 1).

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::ptr;
use std::thread::sleep;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::ptrace;
use nix::sys::signal::{sigprocmask, SigmaskHow};
use nix::sys::stat::{umask, Mode as FileMode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, Pid};

use super::clone4_common::{check_exited, child_code, CHILD_OK, CHILD_WRONG, SIGCHLD};
use super::clonefd_common::{
    after_gate, check_child_exited, check_sibling, exec_exit_with, fork_process, poll_in,
    tracer_pid, Gate, Mailbox, GRACE,
};
use super::common::signal_set;
use crate::clone4;
use crate::clonefd::{self, Clonefd, CLONE_FD};
use crate::feature::{clone4_available, clonefd_available, Availability};
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::uapi;

const CLONE_VFORK: u64 = uapi::CLONE_VFORK as u64;
const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;
const CLONE_PTRACE: u64 = uapi::CLONE_PTRACE as u64;
const CLONE_UNTRACED: u64 = uapi::CLONE_UNTRACED as u64;
const CLONE_IO: u64 = uapi::CLONE_IO as u64;
const CLONE_FILES: u64 = uapi::CLONE_FILES as u64;
const CLONE_FS: u64 = uapi::CLONE_FS as u64;
const CLONE_SYSVSEM: u64 = uapi::CLONE_SYSVSEM as u64;
const CLONE_NEWPID: u64 = uapi::CLONE_NEWPID as u64;

/// What the vfork-and-exec child's program exits with.
const EXEC_STATUS: i32 = 7;
/// PTRACE_EVENT_STOP: a seized tracee's stop other than a signal's.
const PTRACE_EVENT_STOP: i32 = 128;

/// (name, flag, the file in /proc/self/ns) of each namespace flag.
const NAMESPACES: [(&str, u64, &str); 7] = [
    ("newns", uapi::CLONE_NEWNS as u64, "mnt"),
    ("newuts", uapi::CLONE_NEWUTS as u64, "uts"),
    ("newipc", uapi::CLONE_NEWIPC as u64, "ipc"),
    ("newnet", uapi::CLONE_NEWNET as u64, "net"),
    ("newpid", CLONE_NEWPID, "pid"),
    ("newcgroup", uapi::CLONE_NEWCGROUP as u64, "cgroup"),
    ("newuser", uapi::CLONE_NEWUSER as u64, "user"),
];

/// How the child reports its exit.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Exit signal SIGCHLD; reaped with waitpid().
    Sigchld,
    /// CLONE_FD, the fd stored through `clonefd`.
    CloneFd,
}

/// Each mode, with the prefix of its tests' names.
const MODES: [(&str, Mode); 2] = [("clone4", Mode::Sigchld), ("clonefd", Mode::CloneFd)];

impl Mode {
    fn available(self) -> Availability {
        match self {
            Mode::Sigchld => clone4_available(),
            Mode::CloneFd => clonefd_available(),
        }
    }
}

/// A fork-like clone4() child, in one of the modes.
enum Child {
    Waited(Pid),
    Fd(Clonefd),
}

impl Child {
    fn pid(&self) -> Pid {
        match self {
            Child::Waited(pid) => *pid,
            Child::Fd(child) => child.pid,
        }
    }

    /// In the test: the child exits with `code`, and is reaped (waitpid)
    /// or reported and released (fd).
    fn check_exit(&self, code: i32) -> Result<(), Failure> {
        match self {
            Child::Waited(pid) => check_exited(*pid, code),
            Child::Fd(child) => check_child_exited(child, code).map(drop),
        }
    }

    /// In a helper: the child's exit code once it exited, if it exited.
    fn exit_code(&self) -> Option<i32> {
        match self {
            Child::Waited(pid) => match waitpid(*pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(_, code)) => Some(code),
                _ => None,
            },
            Child::Fd(child) => match clonefd::read_info(child.fd.as_fd()) {
                Ok((_, info)) if info.code == libc::CLD_EXITED as u32 => Some(info.status as i32),
                _ => None,
            },
        }
    }
}

/// clone4(flags, with SIGCHLD or CLONE_FD as `mode` says): a fork-like
/// child that runs `body` and exits with its result.
///
/// # Safety
///
/// As [`clone4::fork_like`]: `flags` share no memory with the child, and
/// if the caller has other threads `body` only calls async-signal-safe
/// functions.
unsafe fn spawn(mode: Mode, flags: u64, body: impl FnOnce() -> i32) -> nix::Result<Child> {
    match mode {
        Mode::Sigchld => {
            // SAFETY: the caller's contract; no struct.
            let pid = unsafe { clone4::fork_like(flags | SIGCHLD, 0, ptr::null(), body) };
            pid.map(Child::Waited)
        }
        Mode::CloneFd => {
            // SAFETY: the caller's contract.
            let child = unsafe { clonefd::fork_like_fd(flags | CLONE_FD, body) };
            child.map(Child::Fd)
        }
    }
}

/// A gated child (the test process is single-threaded).
fn spawn_gated(mode: Mode, flags: u64, gate: &Gate) -> nix::Result<Child> {
    // SAFETY: the callers' flags share no memory; the test process is
    // single-threaded; the child waits on a pipe and exits.
    unsafe { spawn(mode, flags, || after_gate(gate, CHILD_OK)) }
}

pub fn tests() -> Vec<Test> {
    let mut tests = Vec::new();
    for (prefix, mode) in MODES {
        let name = |what: &str| format!("{prefix}_flag_{what}");
        tests.push(Test::new(name("vfork"), move || vfork(mode, false)));
        tests.push(Test::new(name("vfork_exec"), move || vfork(mode, true)));
        for (ns_name, flag, _) in NAMESPACES {
            tests.push(Test::new(name(ns_name), move || namespace(mode, flag)));
        }
        tests.push(Test::new(name("ptrace"), move || ptrace_flag(mode)));
        tests.push(Test::new(name("untraced"), move || untraced(mode)));
        tests.push(Test::new(name("io"), move || io(mode)));
        tests.push(Test::new(name("fs"), move || fs_flag(mode)));
        tests.push(Test::new(name("sysvsem"), move || sysvsem(mode)));
    }
    tests.push(Test::new("clone4_flag_parent", parent));
    for (name, returned) in [("stored", false), ("returned", true)] {
        tests.push(Test::new(
            format!("clonefd_flag_files_shares_fd_{name}"),
            move || files_shares_clonefd(returned),
        ));
    }
    tests
}

fn vfork(mode: Mode, exec: bool) -> TestResult {
    require!(mode.available());
    let (stamp, stamp_writer) = check_ok!(io::pipe());
    // SAFETY: CLONE_VFORK without CLONE_VM: the child has a copy of the
    // memory; the test process is single-threaded; the child sleeps,
    // writes to a pipe and exits or execs.
    let child = check_ok!(unsafe {
        spawn(mode, CLONE_VFORK, || {
            sleep(GRACE);
            if (&stamp_writer).write_all(b"s").is_err() {
                return CHILD_WRONG;
            }
            if exec {
                exec_exit_with(EXEC_STATUS)
            } else {
                CHILD_OK
            }
        })
    });
    let revents = check_ok!(poll_in(stamp.as_fd(), Duration::ZERO));
    check!(
        revents.contains(PollFlags::POLLIN),
        "clone4() returned before the child exited or exec'd (no byte yet: {revents:?})"
    );
    child.check_exit(if exec { EXEC_STATUS } else { CHILD_OK })?;
    Ok(Outcome::Pass)
}

fn parent() -> TestResult {
    require!(clone4_available());
    check_sibling(|gate| {
        // SAFETY: H is single-threaded; the sibling waits on a pipe and
        // exits.
        unsafe { clone4::fork_like(CLONE_PARENT, 0, ptr::null(), || after_gate(gate, CHILD_OK)) }
            .map_err(|_| CHILD_WRONG)
    })?;
    Ok(Outcome::Pass)
}

/// The inode numbers of /proc/self/ns/*, in NAMESPACES' order.
fn ns_inodes() -> io::Result<[u64; 7]> {
    let mut inodes = [0; 7];
    for (inode, (_, _, file)) in inodes.iter_mut().zip(NAMESPACES) {
        *inode = fs::metadata(format!("/proc/self/ns/{file}"))?.ino();
    }
    Ok(inodes)
}

/// In the child: posts its namespaces' inodes and getpid().
fn post_namespaces(mailbox: &Mailbox) -> bool {
    let Ok(inodes) = ns_inodes() else {
        return false;
    };
    inodes.iter().all(|&inode| mailbox.post(inode as i64)) && mailbox.post(getpid().as_raw().into())
}

fn namespace(mode: Mode, flag: u64) -> TestResult {
    require!(mode.available());
    let ours = check_ok!(ns_inodes());
    let mailbox = check_ok!(Mailbox::new());
    let gate = check_ok!(Gate::new());
    // SAFETY: the test process is single-threaded; the child reads /proc,
    // writes to a pipe, waits on another and exits.
    let spawned = unsafe {
        spawn(mode, flag, || {
            if !post_namespaces(&mailbox) {
                return CHILD_WRONG;
            }
            after_gate(&gate, CHILD_OK)
        })
    };
    let child = match spawned {
        Err(Errno::EPERM) => skip!("clone4({flag:#x}) gave EPERM: not privileged"),
        other => check_ok!(other),
    };
    let mut theirs = [0; 7];
    for inode in &mut theirs {
        *inode = check_ok!(mailbox.fetch()) as u64;
    }
    let their_pid = check_ok!(mailbox.fetch());
    for ((name, ns_flag, file), (ours, theirs)) in NAMESPACES.iter().zip(ours.iter().zip(theirs)) {
        let new = *ns_flag == flag;
        check!(
            (*ours != theirs) == new,
            "{file} namespace: the test's {ours}, the child's {theirs}: {} for clone4({name})",
            if new { "the same" } else { "another" }
        );
    }
    if flag == CLONE_NEWPID {
        check_eq!(their_pid, 1);
        check!(child.pid().as_raw() != 1, "clone4() returned pid 1");
    } else {
        check_eq!(their_pid, i64::from(child.pid().as_raw()));
    }
    if let Child::Fd(child) = &child {
        check_eq!(check_ok!(clonefd::getpid(child.fd.as_fd())), child.pid);
    }
    check_ok!(gate.open());
    child.check_exit(CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// The helper of the ptrace tests, H, traced by the test. With SIGCHLD
/// blocked (so that no signal stops it), for each of `flags` and the gate
/// of `gos` beside it: waits at that gate, makes a child with those flags
/// that waits at `gate`, and posts its pid. Then
/// collects every child's exit: CHILD_OK if each exited with CHILD_OK, 2
/// if a clone4() failed, 3 if a child ended otherwise.
fn traced_helper(mode: Mode, flags: &[u64], gos: &[Gate], gate: &Gate, mailbox: &Mailbox) -> i32 {
    let chld = signal_set(libc::SIGCHLD);
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None).is_err() {
        return CHILD_WRONG;
    }
    let mut children = Vec::new();
    for (&flags, go) in flags.iter().zip(gos) {
        if !go.pass() {
            return CHILD_WRONG;
        }
        match spawn_gated(mode, flags, gate) {
            Ok(child) => {
                mailbox.post(child.pid().as_raw().into());
                children.push(child);
            }
            Err(err) => {
                mailbox.post(-(err as i64));
                return 2;
            }
        }
    }
    if children
        .iter()
        .all(|child| child.exit_code() == Some(CHILD_OK))
    {
        CHILD_OK
    } else {
        3
    }
}

/// The pid H posted for its next child.
fn fetch_child(mailbox: &Mailbox, h: Pid) -> Result<Pid, Failure> {
    match mailbox.fetch() {
        Ok(word) if word > 0 => Ok(Pid::from_raw(word as i32)),
        Ok(word) => fail!("H's clone4() failed: {}", Errno::from_raw(-word as i32)),
        Err(err) => fail!(
            "H posted no child ({err}); H: {:?}",
            waitpid(h, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL))
        ),
    }
}

/// `child` is traced by the test: the test's waitpid() reports its first
/// stop, /proc says who traces it. Then the test detaches.
fn check_traced_then_detach(child: Pid) -> Result<(), Failure> {
    let status = check_ok!(waitpid(child, Some(WaitPidFlag::__WALL)));
    check!(
        matches!(
            status,
            WaitStatus::PtraceEvent(pid, _, PTRACE_EVENT_STOP) | WaitStatus::Stopped(pid, _)
                if pid == child
        ),
        "the child's first report to the test: {status:?}, not a stop"
    );
    check_eq!(check_ok!(tracer_pid(child)), getpid().as_raw());
    check_ok!(ptrace::detach(child, None));
    Ok(())
}

/// Forks H (see [`traced_helper`]) and seizes it with `options`.
fn seized_helper(
    mode: Mode,
    flags: &'static [u64],
    options: ptrace::Options,
    gos: &[Gate],
    gate: &Gate,
    mailbox: &Mailbox,
) -> Result<Pid, Failure> {
    // SAFETY: the test process is single-threaded; H makes gated children
    // and waits for them.
    let h = check_ok!(unsafe { fork_process(|| traced_helper(mode, flags, gos, gate, mailbox)) });
    check_ok!(ptrace::seize(h, options));
    Ok(h)
}

fn ptrace_flag(mode: Mode) -> TestResult {
    require!(mode.available());
    let (go, gate, mailbox) = (
        check_ok!(Gate::new()),
        check_ok!(Gate::new()),
        check_ok!(Mailbox::new()),
    );
    let gos = [go];
    let h = seized_helper(
        mode,
        &[CLONE_PTRACE],
        ptrace::Options::empty(),
        &gos,
        &gate,
        &mailbox,
    )?;
    check_ok!(gos[0].open());
    let child = fetch_child(&mailbox, h)?;
    check_traced_then_detach(child)?;
    check_ok!(gate.open());
    check_eq!(
        check_ok!(waitpid(h, Some(WaitPidFlag::__WALL))),
        WaitStatus::Exited(h, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

fn untraced(mode: Mode) -> TestResult {
    require!(mode.available());
    let gos = [check_ok!(Gate::new()), check_ok!(Gate::new())];
    let (gate, mailbox) = (check_ok!(Gate::new()), check_ok!(Mailbox::new()));
    let options = ptrace::Options::PTRACE_O_TRACEFORK
        | ptrace::Options::PTRACE_O_TRACEVFORK
        | ptrace::Options::PTRACE_O_TRACECLONE;
    let h = seized_helper(mode, &[CLONE_UNTRACED, 0], options, &gos, &gate, &mailbox)?;
    check_ok!(gos[0].open());
    let untraced = fetch_child(&mailbox, h)?;
    check_eq!(check_ok!(tracer_pid(untraced)), 0);
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    check_err!(waitpid(untraced, Some(flags)), Errno::ECHILD);
    // The control: without CLONE_UNTRACED, H stops at the event and its
    // child is traced.
    check_ok!(gos[1].open());
    // A CLONE_FD child is a process: a fork, though it has no exit signal.
    check_eq!(
        check_ok!(waitpid(h, Some(WaitPidFlag::__WALL))),
        WaitStatus::PtraceEvent(
            h,
            nix::sys::signal::Signal::SIGTRAP,
            libc::PTRACE_EVENT_FORK
        )
    );
    check_ok!(ptrace::cont(h, None));
    let traced = fetch_child(&mailbox, h)?;
    check_traced_then_detach(traced)?;
    check_ok!(gate.open());
    check_ok!(gate.open());
    check_eq!(
        check_ok!(waitpid(h, Some(WaitPidFlag::__WALL))),
        WaitStatus::Exited(h, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

const IOPRIO_CLASS_BE: i32 = 2;
const IOPRIO_CLASS_SHIFT: i32 = 13;
const IOPRIO_WHO_PROCESS: i32 = 1;

fn best_effort(level: i32) -> i32 {
    (IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT) | level
}

/// ioprio_set(IOPRIO_WHO_PROCESS, pid, prio); pid 0 is the caller.
fn ioprio_set(pid: Pid, prio: i32) -> nix::Result<()> {
    // SAFETY: no memory is passed.
    let ret =
        unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, pid.as_raw(), prio) };
    Errno::result(ret).map(drop)
}

/// ioprio_get(IOPRIO_WHO_PROCESS, 0): the caller's I/O priority.
fn ioprio_own() -> nix::Result<i32> {
    // SAFETY: no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    Errno::result(ret).map(|prio| prio as i32)
}

fn io(mode: Mode) -> TestResult {
    require!(mode.available());
    let gate = check_ok!(Gate::new());
    check_ok!(ioprio_set(Pid::from_raw(0), best_effort(4)));
    check_eq!(check_ok!(ioprio_own()), best_effort(4));
    let control = check_ok!(spawn_gated(mode, 0, &gate));
    check_ok!(ioprio_set(control.pid(), best_effort(7)));
    check_eq!(check_ok!(ioprio_own()), best_effort(4));
    let shared = check_ok!(spawn_gated(mode, CLONE_IO, &gate));
    check_ok!(ioprio_set(shared.pid(), best_effort(6)));
    check_eq!(check_ok!(ioprio_own()), best_effort(6));
    check_ok!(gate.open());
    check_ok!(gate.open());
    control.check_exit(CHILD_OK)?;
    shared.check_exit(CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// In a CLONE_FILES child: the fd whose number it is told is open and is
/// its own CLONE_FD file.
fn finds_own_fd(mailbox: &Mailbox) -> i32 {
    let Ok(fd) = mailbox.fetch() else {
        return CHILD_WRONG;
    };
    // SAFETY: the number is of an fd of the file table this child shares
    // with the test, which keeps it open while the child runs; the
    // BorrowedFd is only used for the ioctl.
    let fd = unsafe { BorrowedFd::borrow_raw(fd as RawFd) };
    child_code(clonefd::getpid(fd) == Ok(getpid()))
}

fn files_shares_clonefd(returned: bool) -> TestResult {
    require!(clonefd_available());
    let mailbox = check_ok!(Mailbox::new());
    let child = || finds_own_fd(&mailbox);
    let flags = CLONE_FD | CLONE_FILES;
    let child = if returned {
        // SAFETY: CLONE_FILES shares no memory; the test process is
        // single-threaded; no struct; the child reads a pipe, makes an
        // ioctl and exits.
        let fd =
            check_ok!(unsafe { clonefd::fork_like_returning_fd(flags, 0, ptr::null(), child) });
        let pid = check_ok!(clonefd::getpid(fd.as_fd()));
        Clonefd { fd, pid }
    } else {
        // SAFETY: as above, with the struct of fork_like_fd().
        check_ok!(unsafe { clonefd::fork_like_fd(flags, child) })
    };
    check!(mailbox.post(child.fd.as_raw_fd().into()));
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// In a child: sets `mask` as its umask.
fn set_umask(mask: u32) -> i32 {
    umask(FileMode::from_bits_truncate(mask));
    CHILD_OK
}

fn fs_flag(mode: Mode) -> TestResult {
    require!(mode.available());
    umask(FileMode::from_bits_truncate(0o077));
    // SAFETY: the test process is single-threaded; the child sets its
    // umask and exits.
    let control = check_ok!(unsafe { spawn(mode, 0, || set_umask(0o007)) });
    control.check_exit(CHILD_OK)?;
    check_eq!(umask(FileMode::from_bits_truncate(0o077)).bits(), 0o077);
    // SAFETY: as above; CLONE_FS shares no memory.
    let shared = check_ok!(unsafe { spawn(mode, CLONE_FS, || set_umask(0o027)) });
    shared.check_exit(CHILD_OK)?;
    check_eq!(umask(FileMode::from_bits_truncate(0o077)).bits(), 0o027);
    Ok(Outcome::Pass)
}

/// A private System V semaphore set of one, removed when dropped.
struct Semaphore(i32);

impl Semaphore {
    fn new() -> nix::Result<Self> {
        // SAFETY: no memory is passed.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        Errno::result(id).map(Semaphore)
    }

    /// semop(+1, SEM_UNDO).
    fn up_with_undo(&self) -> nix::Result<()> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: 1,
            sem_flg: libc::SEM_UNDO as i16,
        };
        // SAFETY: one sembuf, valid for the call.
        Errno::result(unsafe { libc::semop(self.0, &mut op, 1) }).map(drop)
    }

    fn value(&self) -> nix::Result<i32> {
        // SAFETY: GETVAL takes no fourth argument.
        Errno::result(unsafe { libc::semctl(self.0, 0, libc::GETVAL) })
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no fourth argument.
        unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
    }
}

fn sysvsem(mode: Mode) -> TestResult {
    require!(mode.available());
    let sem = check_ok!(Semaphore::new());
    let up = || child_code(sem.up_with_undo().is_ok());
    // SAFETY: the test process is single-threaded; the child makes one
    // semop() and exits.
    let control = check_ok!(unsafe { spawn(mode, 0, up) });
    control.check_exit(CHILD_OK)?;
    check_eq!(check_ok!(sem.value()), 0);
    // SAFETY: as above; CLONE_SYSVSEM shares no memory.
    let shared = check_ok!(unsafe { spawn(mode, CLONE_SYSVSEM, up) });
    shared.check_exit(CHILD_OK)?;
    check_eq!(check_ok!(sem.value()), 1);
    Ok(Outcome::Pass)
}
