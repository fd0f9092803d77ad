//! CLONE_FD: every field of `clonefd_info` against what wait4() reports
//! for the same workload, and every byte read() writes.
//!
//! The man page: `utime` and `stime` are the CPU times of the child and of
//! the children it has waited for, in clock ticks; the fields from
//! `utime_ns` on hold what wait4() would have returned in `ru_utime`,
//! `ru_stime` (in nanoseconds), `ru_maxrss`, `ru_minflt`, `ru_majflt`,
//! `ru_nvcsw` and `ru_nivcsw`. wait4() reports the child's own usage plus
//! that of the children it waited for (RUSAGE_BOTH), and `maxrss` is the
//! larger of the child's and of those children's.
//!
//! Every test SKIPs unless `clonefd_available()`. Each runs one scenario
//! three times, each time in a new child of the test process: once in a
//! fork(2) child reaped with wait4() to warm the caches (so that a code
//! page read from disk for the first time does not count as a major fault
//! in one run only; its usage is dropped), once in a fork(2) child reaped
//! with wait4() (the reference), once in a CLONE_FD child whose fd is
//! read into a 4096-byte buffer filled with 0xA5 first. The read must
//! return 80 (CLONEFD_INFO_SIZE_VER1) and leave bytes 80 to 4095 as they
//! were; `struct clonefd_info` has no padding (`abi_literals.rs`), so all
//! 80 bytes are fields, each of which must have been written (a field
//! still 0xA5... fails with `not written`). Just before it exits, each
//! measured child sends the test what getrusage() says of it then
//! (RUSAGE_SELF plus RUSAGE_CHILDREN, the larger `maxrss`): its last
//! usage.
//!
//! The workload: touch 32 MiB of new anonymous memory page by page, burn
//! 300 ms of user time and 100 ms of system time (getppid() in a loop), each
//! until the process's own getrusage() says so, and sleep 10 ms five times.
//!
//! Three checks for every field, on the wait4() reference and on
//! `clonefd_info` alike (the reference passing them shows they are fair):
//! - Against the child's own last usage, exactly what wait4() adds up:
//!   the field is at least that (the counts only grow) and at most that
//!   plus what exiting may add: 200 ms (20 ticks) of CPU time, 1 MiB of
//!   `maxrss`, 64 faults, 16 context switches of each kind. A field taken
//!   from another one or in the wrong unit, from the wrong task, or
//!   without the waited-for children is off by more.
//! - Against the other report, of the same workload in another child: the
//!   same order of magnitude, `|a - b| <= floor + max(a, b) * k`: for the
//!   CPU times (floor 100 ms or 10 ticks, k 3/4, up to four times as much)
//!   the guest's clock runs on while QEMU's vCPU waits for the host, so
//!   two runs differ by seconds on a busy host; `maxrss` (4 MiB, 1/4) is
//!   mostly the 32 MiB touched; `minflt` (1024, 1/4) the 8192 faults of
//!   that; `majflt` (16, 1/2) 0 with warm caches; `nvcsw` (16, 1/2) the
//!   sleeps and the waits for a grandchild; `nivcsw` (200, 1/2)
//!   preemptions, which depend on the load (about one per scheduler tick
//!   of CPU time at most).
//! - The workload itself, in both: `utime_ns` >= 300 ms, `stime_ns` >=
//!   100 ms, `maxrss` >= 31 MiB, `minflt` >= 8192, `nvcsw` >= 5; and
//!   `utime`, `stime` are `utime_ns`, `stime_ns` in ticks (within one).
//!
//! - `clonefd_info_rusage_matches_wait4`: the child runs the workload.
//! - `clonefd_info_rusage_waited_children_match_wait4`: the child forks a
//!   grandchild that runs the workload, and waits for it: its usage is in
//!   every field, as in wait4()'s (utime including waited-for children).
//! - `clonefd_info_rusage_unwaited_children_excluded`: the child forks a
//!   grandchild that runs the workload, waits until it has exited but
//!   leaves it a zombie (waitid(WNOWAIT)), and exits: the grandchild's
//!   usage is in no field, as in wait4()'s: `utime_ns` < 150 ms, `minflt`
//!   < 4096, `maxrss` < 16 MiB.
//!
//! Each fails with the field, the values and the bound, e.g.
//! `minflt: clonefd_info 0, last seen by the child 8300`, and prints
//! every set of values as diagnostics.

use std::hint::black_box;
use std::mem::zeroed;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};

use super::clone4_common::{child_code, CHILD_OK, CHILD_WRONG};
use super::clonefd_common::{await_readable, check_released, fork_process, Mailbox};
use super::clonefd_rusage::{
    burn, duration, sleep_a_few_times, spin_until, ticks, touch_memory, BURN, PAGE_SIZE,
    RSS_SLACK_KIB, SLEEPS, TOUCHED_MIB,
};
use crate::clonefd::{self, info_from_bytes, ClonefdInfo, CLONE_FD, INFO_VER1};
use crate::feature::clonefd_available;
use crate::ktap::{self, Failure, Outcome, Test, TestResult};

/// The system time the workload burns.
const SYS_BURN: Duration = Duration::from_millis(100);
/// The byte the read buffer is filled with first.
const PATTERN: u8 = 0xA5;
/// The size of that buffer.
const BUFFER: usize = 4096;
const NANOS_PER_MICRO: u64 = 1000;

/// Where the workload runs, as seen from the child that is measured.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// In the child itself.
    Own,
    /// In a grandchild that the child waits for.
    WaitedChild,
    /// In a grandchild that the child leaves a zombie.
    UnwaitedChild,
}

pub fn tests() -> Vec<Test> {
    [
        ("clonefd_info_rusage_matches_wait4", Scenario::Own),
        (
            "clonefd_info_rusage_waited_children_match_wait4",
            Scenario::WaitedChild,
        ),
        (
            "clonefd_info_rusage_unwaited_children_excluded",
            Scenario::UnwaitedChild,
        ),
    ]
    .into_iter()
    .map(|(name, scenario)| {
        Test::new(name, move || compare(scenario)).with_timeout(Duration::from_secs(120))
    })
    .collect()
}

/// The usage fields of `clonefd_info` (after `code` and `status`), in its
/// order and units.
type Usage = [u64; 9];

/// How each field of a [`Usage`] is judged.
struct Field {
    name: &'static str,
    /// The floor and the factor (numerator, denominator) of the allowed
    /// difference between two runs.
    floor: fn() -> u64,
    spread: (u64, u64),
    /// What exiting may add to the child's last usage.
    exit_slack: fn() -> u64,
}

const NS_FLOOR: u64 = 100_000_000;
const NS_EXIT_SLACK: u64 = 200_000_000;

const FIELDS: [Field; 9] = [
    Field {
        name: "utime",
        floor: || ticks(NS_FLOOR),
        spread: (3, 4),
        exit_slack: || ticks(NS_EXIT_SLACK),
    },
    Field {
        name: "stime",
        floor: || ticks(NS_FLOOR),
        spread: (3, 4),
        exit_slack: || ticks(NS_EXIT_SLACK),
    },
    Field {
        name: "utime_ns",
        floor: || NS_FLOOR,
        spread: (3, 4),
        exit_slack: || NS_EXIT_SLACK,
    },
    Field {
        name: "stime_ns",
        floor: || NS_FLOOR,
        spread: (3, 4),
        exit_slack: || NS_EXIT_SLACK,
    },
    Field {
        name: "maxrss",
        floor: || 4096,
        spread: (1, 4),
        exit_slack: || 1024,
    },
    Field {
        name: "minflt",
        floor: || 1024,
        spread: (1, 4),
        exit_slack: || 64,
    },
    Field {
        name: "majflt",
        floor: || 16,
        spread: (1, 2),
        exit_slack: || 64,
    },
    Field {
        name: "nvcsw",
        floor: || 16,
        spread: (1, 2),
        exit_slack: || 16,
    },
    Field {
        name: "nivcsw",
        floor: || 200,
        spread: (1, 2),
        exit_slack: || 16,
    },
];

/// A `clonefd_info`'s usage fields.
fn info_usage(i: &ClonefdInfo) -> Usage {
    [
        i.utime, i.stime, i.utime_ns, i.stime_ns, i.maxrss, i.minflt, i.majflt, i.nvcsw, i.nivcsw,
    ]
}

fn timeval_ns(tv: libc::timeval) -> u64 {
    tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * NANOS_PER_MICRO
}

/// A `struct rusage` as `clonefd_info`'s usage fields.
fn rusage_usage(ru: &libc::rusage) -> Usage {
    let (utime_ns, stime_ns) = (timeval_ns(ru.ru_utime), timeval_ns(ru.ru_stime));
    [
        ticks(utime_ns),
        ticks(stime_ns),
        utime_ns,
        stime_ns,
        ru.ru_maxrss as u64,
        ru.ru_minflt as u64,
        ru.ru_majflt as u64,
        ru.ru_nvcsw as u64,
        ru.ru_nivcsw as u64,
    ]
}

/// getrusage(who) as a `struct rusage`.
fn getrusage_raw(who: libc::c_int) -> Option<libc::rusage> {
    // SAFETY: rusage is plain data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { zeroed() };
    // SAFETY: `ru` is writable for the call.
    (unsafe { libc::getrusage(who, &mut ru) } == 0).then_some(ru)
}

/// In a measured child: RUSAGE_SELF plus RUSAGE_CHILDREN now, the larger
/// `maxrss` (what wait4() would report if it exited now).
fn last_usage() -> Option<Usage> {
    let own = rusage_usage(&getrusage_raw(libc::RUSAGE_SELF)?);
    let children = getrusage_raw(libc::RUSAGE_CHILDREN)?;
    // The times are added before they become ticks.
    let mut both: Usage = std::array::from_fn(|i| own[i] + rusage_usage(&children)[i]);
    both[4] = own[4].max(children.ru_maxrss as u64);
    both[0] = ticks(both[2]);
    both[1] = ticks(both[3]);
    Some(both)
}

/// In a measured child: runs the scenario, then posts its last usage.
fn run_and_post(scenario: Scenario, mailbox: &Mailbox) -> i32 {
    if !run(scenario) {
        return CHILD_WRONG;
    }
    let Some(usage) = last_usage() else {
        return CHILD_WRONG;
    };
    child_code(usage.iter().all(|&field| mailbox.post(field as i64)))
}

/// The last usage a measured child posted.
fn fetch_usage(mailbox: &Mailbox) -> Result<Usage, Failure> {
    let mut usage = [0; 9];
    for field in &mut usage {
        *field = check_ok!(mailbox.fetch()) as u64;
    }
    Ok(usage)
}

/// Calls getppid() until getrusage(RUSAGE_SELF) shows `SYS_BURN` of
/// system time.
fn burn_sys() -> bool {
    let work = || {
        for _ in 0..1000 {
            // SAFETY: getppid() takes no argument.
            black_box(unsafe { libc::syscall(libc::SYS_getppid) });
        }
    };
    spin_until(work, |usage| duration(usage.system_time()) >= SYS_BURN)
}

fn workload() -> bool {
    touch_memory() && burn() && burn_sys() && sleep_a_few_times()
}

/// In a grandchild forked by the measured child: the workload. Waits for
/// it (reaping it only if `reap`). Whether all went well.
fn workload_in_grandchild(reap: bool) -> bool {
    // SAFETY: the measured child is single-threaded; the grandchild runs
    // the workload and exits.
    let Ok(grandchild) = (unsafe { fork_process(|| child_code(workload())) }) else {
        return false;
    };
    if reap {
        matches!(
            waitpid(grandchild, None),
            Ok(WaitStatus::Exited(_, CHILD_OK))
        )
    } else {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        matches!(
            waitid(Id::Pid(grandchild), flags),
            Ok(WaitStatus::Exited(_, CHILD_OK))
        )
    }
}

/// What the measured child does.
fn run(scenario: Scenario) -> bool {
    match scenario {
        Scenario::Own => workload(),
        Scenario::WaitedChild => workload_in_grandchild(true),
        Scenario::UnwaitedChild => workload_in_grandchild(false),
    }
}

/// Runs the scenario in a fork(2) child and reaps it with wait4(): the
/// usage it reports (the child must exit with 42), and the child's last.
fn wait4_usage(scenario: Scenario) -> Result<(Usage, Usage), Failure> {
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the child runs the
    // scenario (no threads), writes to a pipe and exits.
    let pid = check_ok!(unsafe { fork_process(|| run_and_post(scenario, &mailbox)) });
    // SAFETY: rusage is plain data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { zeroed() };
    let mut status = 0;
    // SAFETY: `status` and `ru` are writable for the call.
    let ret = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut ru) };
    check_eq!(ret, pid.as_raw());
    check!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == CHILD_OK,
        "the wait4() child: status {status:#x}"
    );
    Ok((rusage_usage(&ru), fetch_usage(&mailbox)?))
}

/// Runs the scenario in a CLONE_FD child, reads its fd into a buffer full
/// of PATTERN: checks the length and the bytes past it, and returns the
/// info's usage and the child's last.
fn clonefd_usage(scenario: Scenario) -> Result<(Usage, Usage), Failure> {
    let mailbox = check_ok!(Mailbox::new());
    // SAFETY: the test process is single-threaded; the child runs the
    // scenario (no threads), writes to a pipe and exits.
    let child =
        check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, || run_and_post(scenario, &mailbox)) });
    await_readable(child.fd.as_fd())?;
    check_released(child.pid)?;
    let mut buf = [PATTERN; BUFFER];
    let len = check_ok!(nix::unistd::read(child.fd.as_fd(), &mut buf));
    check_eq!(len, INFO_VER1);
    if let Some(offset) = buf[INFO_VER1..].iter().position(|&b| b != PATTERN) {
        fail!(
            "read() returned {len} but wrote byte {}: {:#x}",
            INFO_VER1 + offset,
            buf[INFO_VER1 + offset]
        );
    }
    let info = info_from_bytes(&buf[..INFO_VER1]);
    check_eq!(
        (info.code, info.status),
        (libc::CLD_EXITED as u32, CHILD_OK as u32)
    );
    let usage = info_usage(&info);
    for (field, value) in FIELDS.iter().zip(usage) {
        check!(
            value != u64::from_ne_bytes([PATTERN; 8]),
            "{}: not written (still {PATTERN:#x} bytes): {info:?}",
            field.name
        );
    }
    Ok((usage, fetch_usage(&mailbox)?))
}

/// The absolute values the scenario must show, in the info and in the
/// reference alike.
fn check_workload_seen(scenario: Scenario, who: &str, usage: &Usage) -> Result<(), Failure> {
    let [_, _, utime_ns, stime_ns, maxrss, minflt, _, nvcsw, _] = *usage;
    let burn = BURN.as_nanos() as u64;
    let pages = (TOUCHED_MIB << 20) / PAGE_SIZE as u64;
    let touched_kib = TOUCHED_MIB * 1024;
    match scenario {
        Scenario::Own | Scenario::WaitedChild => {
            check!(utime_ns >= burn, "{who}: utime_ns {utime_ns} < {burn}");
            let sys = SYS_BURN.as_nanos() as u64;
            check!(stime_ns >= sys, "{who}: stime_ns {stime_ns} < {sys}");
            let rss = touched_kib - RSS_SLACK_KIB;
            check!(maxrss >= rss, "{who}: maxrss {maxrss} KiB < {rss}");
            check!(minflt >= pages, "{who}: minflt {minflt} < {pages}");
            check!(nvcsw >= SLEEPS, "{who}: nvcsw {nvcsw} < {SLEEPS}");
        }
        Scenario::UnwaitedChild => {
            check!(
                utime_ns < burn / 2,
                "{who}: utime_ns {utime_ns} >= {}: the unwaited grandchild's time is in it",
                burn / 2
            );
            check!(
                minflt < pages / 2,
                "{who}: minflt {minflt} >= {}: the unwaited grandchild's faults are in it",
                pages / 2
            );
            check!(
                maxrss < touched_kib / 2,
                "{who}: maxrss {maxrss} KiB >= {}: the unwaited grandchild's RSS is in it",
                touched_kib / 2
            );
        }
    }
    for (name, in_ticks, ns) in [("utime", usage[0], utime_ns), ("stime", usage[1], stime_ns)] {
        check!(
            in_ticks.abs_diff(ticks(ns)) <= 1,
            "{who}: {name} {in_ticks} ticks for {name}_ns {ns} ({} ticks)",
            ticks(ns)
        );
    }
    Ok(())
}

/// `usage` is what the child last saw, plus at most what exiting adds.
fn check_last_seen(who: &str, usage: &Usage, last: &Usage) -> Result<(), Failure> {
    for ((field, &value), &last) in FIELDS.iter().zip(usage).zip(last) {
        let most = last + (field.exit_slack)();
        check!(
            (last..=most).contains(&value),
            "{}: {who} {value}, last seen by the child {last}: not in {last}..={most}",
            field.name
        );
    }
    Ok(())
}

fn compare(scenario: Scenario) -> TestResult {
    require!(clonefd_available());
    wait4_usage(scenario)?;
    let (reference, reference_last) = wait4_usage(scenario)?;
    let (info, info_last) = clonefd_usage(scenario)?;
    let names: Vec<&str> = FIELDS.iter().map(|field| field.name).collect();
    ktap::diag(&format!("{scenario:?}: fields {names:?}"));
    ktap::diag(&format!(
        "wait4 {reference:?}, last seen {reference_last:?}"
    ));
    ktap::diag(&format!("clonefd_info {info:?}, last seen {info_last:?}"));
    check_last_seen("wait4", &reference, &reference_last)?;
    check_last_seen("clonefd_info", &info, &info_last)?;
    check_workload_seen(scenario, "wait4", &reference)?;
    check_workload_seen(scenario, "clonefd_info", &info)?;
    for ((field, &ours), &theirs) in FIELDS.iter().zip(&info).zip(&reference) {
        let (k_num, k_den) = field.spread;
        let bound = (field.floor)() + ours.max(theirs) * k_num / k_den;
        check!(
            ours.abs_diff(theirs) <= bound,
            "{}: clonefd_info {ours}, wait4 {theirs}: differ by more than {bound}",
            field.name
        );
    }
    Ok(Outcome::Pass)
}
