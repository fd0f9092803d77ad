//! clone4(): the flags, split in two 32-bit registers, and the exit signal
//! in the low byte of `flags_low`.
//!
//! Every test SKIPs unless `clone4_available()`. Fork-like children exit
//! with 42 (`CHILD_OK`) when they saw what they should, 43 (`CHILD_WRONG`)
//! otherwise; a wrong status fails the test with both wait statuses.
//!
//! - `clone4_flags_<name>_einval` (a table): flags clone4() rejects, each
//!   otherwise valid so that only the rule under test can reject it:
//!   CLONE_DETACHED, CLONE_PIDFD, CLONE_INTO_CGROUP, CLONE_THREAD without
//!   CLONE_SIGHAND, CLONE_SIGHAND without CLONE_VM, CLONE_NEWPID with
//!   CLONE_THREAD, CLONE_SIGHAND with CLONE_CLEAR_SIGHAND, CLONE_THREAD or
//!   CLONE_PARENT with an exit signal, exit signals 65 and 255, and
//!   CLONE_NEWTIME (its bit, 0x80, is in the exit signal's byte, or with
//!   CLONE_FD an unknown CLONEFD_ flag: clone4() cannot express it).
//!   `clone4_flags_bit<N>_einval`: each of bits 33 to 63 with SIGCHLD.
//!   The call is made on a stack of its own (`expect_einval`), so a child
//!   created by mistake is harmless; the test then fails with
//!   `clone4(0x..) created Pid(..), expected EINVAL`, or with another errno
//!   (`left: EFAULT, right: EINVAL`).
//! - `clone4_flags_exit_signal_{sigusr1,64}_delivered`: with that exit
//!   signal (blocked), the parent gets it when the fork-like child exits,
//!   with `si_pid` the child and status 42, and no SIGCHLD; the child is
//!   reaped with __WALL. Fails with `sigtimedwait(..) failed: EAGAIN` if
//!   the signal never comes (e.g. SIGCHLD sent instead), or EINVAL if 64
//!   is rejected.
//! - `clone4_flags_clear_sighand_in_flags_high`: CLONE_CLEAR_SIGHAND (bit
//!   32, so only in `flags_high`) resets the parent's SIGUSR1 handler to
//!   SIG_DFL in the child; `clone4_flags_sighand_kept_without_clear`, the
//!   control, keeps it. A lost `flags_high` fails the first (child status
//!   43), a handler reset by mistake the second.
//! - `clone4_flags_low_register_upper_bits_ignored`: the 64-bit value
//!   (1 << 38) | SIGCHLD in the `flags_low` register, `flags_high` 0: the
//!   kernel takes 32 bits of it, so a plain fork. The control, bit 38 (6 of
//!   `flags_high`), gives EINVAL. Fails with `... failed: EINVAL` if the
//!   kernel reads the whole register.
//! - `clone4_flags_high_register_upper_bits_ignored`: 0xffffffff << 32 in
//!   the `flags_high` register: a plain fork; the control, 0xffffffff (flag
//!   bits 32-63), gives EINVAL. Shifting `flags_high` by 32 into a u64 would
//!   drop these bits anyway, so this fails only if the kernel checks the
//!   register's upper half (`... failed: EINVAL`).

use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::clone4_common::{
    check_exited, child_code, expect_einval, CHILD_OK, CLONE_CLEAR_SIGHAND, CLONE_SIGHAND,
    CLONE_THREAD, CLONE_VM, SIGCHLD,
};
use super::common::{signal_set, PATIENCE};
use crate::clone4;
use crate::feature::clone4_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::{self, SigInfo};
use crate::uapi;

const CLONE_DETACHED: u64 = uapi::CLONE_DETACHED as u64;
const CLONE_PIDFD: u64 = uapi::CLONE_PIDFD as u64;
const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;
const CLONE_NEWPID: u64 = uapi::CLONE_NEWPID as u64;
const CLONE_INTO_CGROUP: u64 = uapi::CLONE_INTO_CGROUP;
const CLONE_NEWTIME: u64 = uapi::CLONE_NEWTIME as u64;

/// (name, flags) clone4() must reject with EINVAL.
const REJECTED: &[(&str, u64)] = &[
    ("detached", CLONE_DETACHED | SIGCHLD),
    ("pidfd", CLONE_PIDFD | SIGCHLD),
    ("into_cgroup", CLONE_INTO_CGROUP | SIGCHLD),
    ("thread_without_sighand", CLONE_VM | CLONE_THREAD),
    ("sighand_without_vm", CLONE_SIGHAND | SIGCHLD),
    (
        "newpid_thread",
        CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_NEWPID,
    ),
    (
        "sighand_clear_sighand",
        CLONE_VM | CLONE_SIGHAND | CLONE_CLEAR_SIGHAND | SIGCHLD,
    ),
    (
        "thread_exit_signal",
        CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | SIGCHLD,
    ),
    ("parent_exit_signal", CLONE_PARENT | SIGCHLD),
    ("exit_signal_65", 65),
    ("exit_signal_255", 255),
    // Its bit is in the exit signal's byte: clone4() cannot express it.
    ("newtime", CLONE_NEWTIME | SIGCHLD),
    ("newtime_clone_fd", CLONE_NEWTIME | uapi::CLONE_FD),
];

/// The flag bits clone4() does not take: 33 (CLONE_INTO_CGROUP) and up,
/// but for 37, CLONE_FD (the `clonefd_spawn` tests).
fn unknown_bits() -> impl Iterator<Item = u32> {
    (33..=63).filter(|&bit| 1u64 << bit != uapi::CLONE_FD)
}

/// (name, exit signal): valid exit signals, delivered to the parent.
const EXIT_SIGNALS: &[(&str, c_int)] = &[("sigusr1", libc::SIGUSR1), ("64", 64)];

/// (name, flags, whether the child must see SIGUSR1 at SIG_DFL).
const SIGHAND_CASES: &[(&str, u64, bool)] = &[
    (
        "clear_sighand_in_flags_high",
        CLONE_CLEAR_SIGHAND | SIGCHLD,
        true,
    ),
    ("sighand_kept_without_clear", SIGCHLD, false),
];

/// Raw register values: (flags_high, flags_low) that must fork, and the
/// same garbage moved where it counts, which must give EINVAL.
struct RegisterCase {
    name: &'static str,
    regs: (u64, u64),
    control: (u64, u64),
}

const REGISTER_CASES: &[RegisterCase] = &[
    RegisterCase {
        name: "low",
        regs: (0, (1 << 38) | SIGCHLD),
        control: (1 << (38 - 32), SIGCHLD),
    },
    RegisterCase {
        name: "high",
        regs: (0xffff_ffff << 32, SIGCHLD),
        control: (0xffff_ffff, SIGCHLD),
    },
];

pub fn tests() -> Vec<Test> {
    let mut tests: Vec<Test> = REJECTED
        .iter()
        .map(|&(name, flags)| rejected(format!("clone4_flags_{name}_einval"), flags))
        .collect();
    tests.extend(unknown_bits().map(|bit| {
        rejected(
            format!("clone4_flags_bit{bit}_einval"),
            (1 << bit) | SIGCHLD,
        )
    }));
    tests.extend(EXIT_SIGNALS.iter().map(|&(name, signo)| {
        Test::new(
            format!("clone4_flags_exit_signal_{name}_delivered"),
            move || exit_signal_delivered(signo),
        )
    }));
    tests.extend(SIGHAND_CASES.iter().map(|&(name, flags, reset)| {
        Test::new(format!("clone4_flags_{name}"), move || {
            sighand_in_child(flags, reset)
        })
    }));
    tests.extend(REGISTER_CASES.iter().map(|case| {
        Test::new(
            format!("clone4_flags_{}_register_upper_bits_ignored", case.name),
            move || register_upper_bits_ignored(case),
        )
    }));
    tests
}

fn rejected(name: String, flags: u64) -> Test {
    Test::new(name, move || {
        require!(clone4_available());
        expect_einval(flags, |_| {})
    })
}

/// The exit signal `signo` (blocked) reaches the parent when the child
/// exits, SIGCHLD does not.
fn exit_signal_delivered(signo: c_int) -> TestResult {
    require!(clone4_available());
    let exit_signal = signal_set(signo);
    let chld = signal_set(libc::SIGCHLD);
    check_ok!(exit_signal.thread_block());
    check_ok!(chld.thread_block());
    // SAFETY: no struct, no flag but the exit signal; the child only exits.
    let pid = check_ok!(unsafe { clone4::fork_like(signo as u64, 0, ptr::null(), || CHILD_OK) });
    let info = check_ok!(sys::sigtimedwait(&exit_signal, PATIENCE));
    let expected = SigInfo {
        signo,
        code: libc::CLD_EXITED,
        pid,
        status: CHILD_OK,
    };
    check_eq!(info, expected);
    check_err!(sys::sigtimedwait(&chld, Duration::ZERO), Errno::EAGAIN);
    check_exited(pid, CHILD_OK)?;
    Ok(Outcome::Pass)
}

extern "C" fn ignore_signal(_: c_int) {}

/// With a SIGUSR1 handler in the parent, a fork-like child made with
/// `flags` sees SIGUSR1 at SIG_DFL exactly when `reset`.
fn sighand_in_child(flags: u64, reset: bool) -> TestResult {
    require!(clone4_available());
    let handler = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    check_ok!(unsafe { sigaction(Signal::SIGUSR1, &handler) });
    check!(!sigusr1_is_default(), "the handler was not installed");
    // SAFETY: no struct, no flag that shares memory; the child only calls
    // sigaction() and exits.
    let pid = check_ok!(unsafe {
        clone4::fork_like(flags, 0, ptr::null(), || {
            child_code(sigusr1_is_default() == reset)
        })
    });
    check_exited(pid, CHILD_OK)?;
    Ok(Outcome::Pass)
}

/// Whether SIGUSR1's disposition is SIG_DFL (false if it can't be read).
fn sigusr1_is_default() -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a NULL new action only reads the current one into `current`.
    let ret = unsafe { libc::sigaction(libc::SIGUSR1, ptr::null(), current.as_mut_ptr()) };
    if ret != 0 {
        return false;
    }
    // SAFETY: sigaction() succeeded, so it filled `current`.
    let current = unsafe { current.assume_init() };
    current.sa_sigaction == libc::SIG_DFL
}

/// The kernel takes 32 bits of each flags register.
fn register_upper_bits_ignored(case: &RegisterCase) -> TestResult {
    require!(clone4_available());
    let (high, low) = case.regs;
    // SAFETY: no struct; the flags the kernel reads are SIGCHLD alone; the
    // child only exits.
    let pid = check_ok!(unsafe { clone4::fork_like_regs(high, low, 0, ptr::null(), || CHILD_OK) });
    check_exited(pid, CHILD_OK)?;
    let (high, low) = case.control;
    // SAFETY: as above, with unknown flags that must be rejected.
    let control = unsafe { clone4::fork_like_regs(high, low, 0, ptr::null(), || CHILD_OK) };
    check_err!(control, Errno::EINVAL);
    Ok(Outcome::Pass)
}
