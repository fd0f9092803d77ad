//! CLONE_FD: read() on the fd: when it blocks, what it returns, and that
//! exactly one read gets the child's `clonefd_info`.
//!
//! Every test SKIPs unless `clonefd_available()`. Children wait at a gate
//! (a pipe) until the test lets them exit with 42 (`CHILD_OK`).
//!
//! - `clonefd_read_blocks_until_exit`: a read() started while the child
//!   runs returns only after a helper thread let the child exit (200 ms
//!   later), with 80 bytes: CLD_EXITED, 42. Fails with `released: false`
//!   if it returned early, or with what it returned.
//! - `clonefd_read_nonblock_eagain_{fcntl,flag}`: with O_NONBLOCK (set
//!   by fcntl, or by CLONEFD_NONBLOCK) read() gives EAGAIN while the child
//!   runs, then the info after its exit. Fails with `succeeded with ..`
//!   (e.g. 0: EOF before the exit), or `left: EINTR` etc.
//! - `clonefd_read_eintr`: a blocked read() interrupted by a SIGALRM whose
//!   handler has no SA_RESTART fails with EINTR; the fd still reports the
//!   exit afterwards.
//! - `clonefd_read_killed_{sigkill,sigterm}`: a child killed by the signal
//!   is reported as CLD_KILLED with the signal's number.
//! - `clonefd_read_dumped`: a child killed by SIGQUIT that dumps core is
//!   CLD_DUMPED, SIGQUIT. Runs in a new directory under /tmp with
//!   RLIMIT_CORE unlimited; SKIPs if a plain fork child that does the same
//!   dumps no core (the wait status says so), as core_pattern may forbid
//!   (its core file is removed before the CLONE_FD child dumps).
//! - `clonefd_read_eof_after_first`: after the read that got the info, the
//!   next reads on the same file description return 0 (EOF).
//! - `clonefd_read_short_{8,ver0}`: read() of 8 bytes gives code and
//!   status, of 24 (CLONEFD_INFO_SIZE_VER0) the VER0 prefix, into a buffer
//!   16 bytes longer and filled with 0xA5, whose bytes past the count must
//!   stay so; that read consumed the info: the next one gives 0. Fails on
//!   another length or values, or with the bytes written past the count.
//! - `clonefd_read_zero_length`: read() of 0 bytes returns 0 and changes
//!   nothing: on a CLONEFD_NONBLOCK fd while the child runs (not EAGAIN),
//!   and after its exit, when the next read() still gets the whole info.
//!   Fails with `left: 0` (the zero-length read consumed the info) or the
//!   error seen.
//! - `clonefd_read_large_buffer`: read() of 4096 bytes returns 80.
//! - `clonefd_read_concurrent_threads`: three threads blocked in read()
//!   when the child exits: one gets the 80 bytes, the two others 0. Fails
//!   with the lengths seen (e.g. `[80, 80, 80]`).
//! - `clonefd_read_concurrent_processes`: the same with the test and two
//!   forked processes sharing the file description (each reader exits with
//!   the length it read, 43 if the info in it was wrong).

use std::ffi::{c_int, CString};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd};
use std::thread;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::resource::{setrlimit, Resource, RLIM_INFINITY};
use nix::sys::signal::{kill, raise, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, getpid};

use super::clone4_common::{CHILD_OK, CHILD_WRONG};
use super::clonefd_common::exited_child;
use super::clonefd_common::{
    await_readable, block_while_opening, check_child_exited, check_child_reported, fork_process,
    spawn_gated, Gate, GRACE,
};
use crate::clonefd::{self, info_from_bytes, CLONE_FD, INFO_VER0, INFO_VER1, NONBLOCK};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};

/// How O_NONBLOCK gets set.
#[derive(Clone, Copy)]
enum Nonblock {
    Fcntl,
    Flag,
}

const KILL_SIGNALS: &[(&str, Signal)] =
    &[("sigkill", Signal::SIGKILL), ("sigterm", Signal::SIGTERM)];
const SHORT_READS: &[(&str, usize)] = &[("8", 8), ("ver0", INFO_VER0)];
/// What the short reads' buffer holds before the read, and how far past
/// the count it goes.
const SHORT_PATTERN: u8 = 0xA5;
const SHORT_TAIL: usize = 16;
const LARGE_BUFFER: usize = 4096;
/// Readers racing for the info.
const READERS: usize = 3;

pub fn tests() -> Vec<Test> {
    let mut tests = vec![
        Test::new("clonefd_read_blocks_until_exit", blocks_until_exit),
        Test::new("clonefd_read_nonblock_eagain_fcntl", || {
            nonblock_eagain(Nonblock::Fcntl)
        }),
        Test::new("clonefd_read_nonblock_eagain_flag", || {
            nonblock_eagain(Nonblock::Flag)
        }),
        Test::new("clonefd_read_eintr", eintr),
    ];
    tests.extend(KILL_SIGNALS.iter().map(|&(name, signal)| {
        Test::new(format!("clonefd_read_killed_{name}"), move || {
            killed(signal)
        })
    }));
    tests.push(Test::new("clonefd_read_dumped", dumped));
    tests.push(Test::new("clonefd_read_eof_after_first", eof_after_first));
    tests.extend(SHORT_READS.iter().map(|&(name, len)| {
        Test::new(format!("clonefd_read_short_{name}"), move || {
            short_read(len)
        })
    }));
    tests.push(Test::new("clonefd_read_zero_length", zero_length));
    tests.push(Test::new("clonefd_read_large_buffer", large_buffer));
    tests.push(Test::new(
        "clonefd_read_concurrent_threads",
        concurrent_threads,
    ));
    tests.push(Test::new(
        "clonefd_read_concurrent_processes",
        concurrent_processes,
    ));
    tests
}

fn blocks_until_exit() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let (read, released) = block_while_opening(&gate, || clonefd::read_info(child.fd.as_fd()))?;
    let (len, info) = check_ok!(read);
    check!(
        released,
        "read() returned {len} bytes before the child was let go"
    );
    check_eq!(len, INFO_VER1);
    check_eq!(
        (info.code as c_int, info.status as c_int),
        (libc::CLD_EXITED, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

fn nonblock_eagain(how: Nonblock) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let low = match how {
        Nonblock::Fcntl => 0,
        Nonblock::Flag => NONBLOCK,
    };
    let child = check_ok!(spawn_gated(low, &gate, CHILD_OK));
    if let Nonblock::Fcntl = how {
        check_ok!(fcntl(
            child.fd.as_fd(),
            FcntlArg::F_SETFL(OFlag::O_NONBLOCK)
        ));
    }
    check_err!(clonefd::read_info(child.fd.as_fd()), Errno::EAGAIN);
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

extern "C" fn interrupt(_: c_int) {}

fn eintr() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let action = SigAction::new(
        SigHandler::Handler(interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    check_ok!(unsafe { sigaction(Signal::SIGALRM, &action) });
    // SAFETY: alarm() takes no pointer.
    unsafe { libc::alarm(1) };
    check_err!(clonefd::read_info(child.fd.as_fd()), Errno::EINTR);
    check_ok!(gate.open());
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn killed(signal: Signal) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    check_ok!(kill(child.pid, signal));
    check_child_reported(&child, libc::CLD_KILLED, signal as c_int)?;
    Ok(Outcome::Pass)
}

/// Kills the calling process with SIGQUIT (default action: core dump).
fn quit() -> i32 {
    let _ = raise(Signal::SIGQUIT);
    CHILD_WRONG
}

fn dumped() -> TestResult {
    require!(clonefd_available());
    let dir = format!("/tmp/clonefd-core-{}", getpid());
    if let Err(err) = fs::create_dir(&dir) {
        skip!("cannot create {dir} for core dumps: {err}");
    }
    let result = dumped_in(&dir);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn dumped_in(dir: &str) -> TestResult {
    check_ok!(chdir(CString::new(dir).unwrap().as_c_str()));
    check_ok!(setrlimit(
        Resource::RLIMIT_CORE,
        RLIM_INFINITY,
        RLIM_INFINITY
    ));
    // SAFETY: the test process is single-threaded; the child kills itself.
    let control = check_ok!(unsafe { fork_process(quit) });
    match check_ok!(waitpid(control, None)) {
        WaitStatus::Signaled(_, Signal::SIGQUIT, true) => {}
        WaitStatus::Signaled(_, Signal::SIGQUIT, false) => skip!(
            "a plain child killed by SIGQUIT dumps no core here (see \
             /proc/sys/kernel/core_pattern), so CLD_DUMPED cannot happen"
        ),
        other => fail!("the control child: {other:?}, not killed by SIGQUIT"),
    }
    for entry in check_ok!(fs::read_dir(dir)) {
        check_ok!(fs::remove_file(check_ok!(entry).path()));
    }
    // SAFETY: the test process is single-threaded; the child kills itself.
    let child = check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, quit) });
    check_child_reported(&child, libc::CLD_DUMPED, libc::SIGQUIT)?;
    Ok(Outcome::Pass)
}

fn eof_after_first() -> TestResult {
    require!(clonefd_available());
    let child = exited_child(0, CHILD_OK)?;
    for _ in 0..2 {
        check_eq!(check_ok!(clonefd::read_info(child.fd.as_fd())).0, 0);
    }
    Ok(Outcome::Pass)
}

/// Lets the child exit, and waits until the fd says so.
fn let_exit(gate: &Gate, fd: BorrowedFd<'_>) -> TestResult {
    check_ok!(gate.open());
    await_readable(fd)?;
    Ok(Outcome::Pass)
}

fn short_read(len: usize) -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let_exit(&gate, child.fd.as_fd())?;
    // A buffer longer than the count, filled with a pattern: read() must
    // write the `len` bytes and nothing past them.
    let mut buf = vec![SHORT_PATTERN; len + SHORT_TAIL];
    let got = check_ok!(nix::unistd::read(child.fd.as_fd(), &mut buf[..len]));
    check_eq!(got, len);
    check!(
        buf[len..].iter().all(|&b| b == SHORT_PATTERN),
        "read({len}) wrote past the count: {:x?}",
        &buf[len..]
    );
    let bytes = &buf[..len];
    let info = info_from_bytes(bytes);
    check_eq!(
        (info.code as c_int, info.status as c_int),
        (libc::CLD_EXITED, CHILD_OK)
    );
    check_eq!(check_ok!(clonefd::read_info(child.fd.as_fd())).0, 0);
    Ok(Outcome::Pass)
}

fn zero_length() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(NONBLOCK, &gate, CHILD_OK));
    check_eq!(check_ok!(clonefd::read_bytes(child.fd.as_fd(), 0)).len(), 0);
    let_exit(&gate, child.fd.as_fd())?;
    check_eq!(check_ok!(clonefd::read_bytes(child.fd.as_fd(), 0)).len(), 0);
    check_child_exited(&child, CHILD_OK)?;
    Ok(Outcome::Pass)
}

fn large_buffer() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let_exit(&gate, child.fd.as_fd())?;
    let bytes = check_ok!(clonefd::read_bytes(child.fd.as_fd(), LARGE_BUFFER));
    check_eq!(bytes.len(), INFO_VER1);
    let info = info_from_bytes(&bytes);
    check_eq!(
        (info.code as c_int, info.status as c_int),
        (libc::CLD_EXITED, CHILD_OK)
    );
    Ok(Outcome::Pass)
}

/// What one racing reader got: its length, if the info in it was right.
fn race_read(fd: BorrowedFd<'_>) -> nix::Result<Option<usize>> {
    let bytes = clonefd::read_bytes(fd, INFO_VER1)?;
    let info = info_from_bytes(&bytes);
    let right = bytes.is_empty()
        || (info.code as c_int == libc::CLD_EXITED && info.status as c_int == CHILD_OK);
    Ok(right.then_some(bytes.len()))
}

fn concurrent_threads() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fd = child.fd.as_fd();
    let results = thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| scope.spawn(move || race_read(fd)))
            .collect();
        thread::sleep(GRACE);
        let opened = gate.open();
        let results: Vec<_> = readers.into_iter().map(|r| r.join()).collect();
        (opened, results)
    });
    check_ok!(results.0);
    let mut lens = Vec::new();
    for result in results.1 {
        let read = check_ok!(result.map_err(|_| "a reader thread panicked"));
        match check_ok!(read) {
            Some(len) => lens.push(len),
            None => fail!("a reader got a wrong clonefd_info"),
        }
    }
    lens.sort_unstable();
    check_eq!(lens, [0, 0, INFO_VER1]);
    Ok(Outcome::Pass)
}

fn concurrent_processes() -> TestResult {
    require!(clonefd_available());
    let gate = check_ok!(Gate::new());
    let child = check_ok!(spawn_gated(0, &gate, CHILD_OK));
    let fd = child.fd.as_fd();
    let mut readers = Vec::new();
    for _ in 1..READERS {
        // SAFETY: the test process is single-threaded; the reader reads
        // the fd and exits.
        let reader = check_ok!(unsafe {
            fork_process(|| match race_read(fd) {
                Ok(Some(len)) => len as i32,
                _ => CHILD_WRONG,
            })
        });
        readers.push(reader);
    }
    thread::sleep(GRACE);
    check_ok!(gate.open());
    let mut lens = vec![match check_ok!(race_read(fd)) {
        Some(len) => len,
        None => fail!("the test read a wrong clonefd_info"),
    }];
    for reader in readers {
        match check_ok!(waitpid(reader, None)) {
            WaitStatus::Exited(_, code) if code != CHILD_WRONG => lens.push(code as usize),
            other => fail!("reader {reader}: {other:?}"),
        }
    }
    lens.sort_unstable();
    check_eq!(lens, [0, 0, INFO_VER1]);
    Ok(Outcome::Pass)
}
