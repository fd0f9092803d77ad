//! CLONE_FD: the resource usage in `clonefd_info`, what wait4()'s rusage
//! would hold for the child.
//!
//! Every test SKIPs unless `clonefd_available()`. Each child does some
//! measurable work, exits with 42 (`CHILD_OK`), and the test reads the
//! whole info (80 bytes, CLD_EXITED 42) and checks the fields.
//!
//! - `clonefd_info_utime`: a child that burns user CPU until its own
//!   getrusage() says 300 ms: `utime_ns` >= 300 ms, and `utime`/`stime`
//!   (clock ticks) are `utime_ns`/`stime_ns` in ticks (within one). Fails
//!   with the values (e.g. `utime_ns` 0: not filled in).
//! - `clonefd_info_waited_children_utime`: a child that forks a grandchild
//!   burning 300 ms and waits for it: `utime_ns` >= 300 ms (it includes
//!   waited-for children, as wait4() does).
//! - `clonefd_info_maxrss_minflt`: a child that writes every page of 32 MiB
//!   of fresh anonymous memory (no huge pages): `maxrss` >= 31 MiB in KiB
//!   (the kernel's RSS counters may lag a little) and `minflt` >= 8192 (one
//!   fault per page).
//! - `clonefd_info_nvcsw`: a child that sleeps 5 times: `nvcsw` >= 5.
//! - `clonefd_info_added_to_parent_children`: the parent collected the
//!   child's status through read(), so the child's usage goes to the
//!   parent's RUSAGE_CHILDREN as wait() would add it: after a child that
//!   burned 300 ms and slept 5 times, getrusage(RUSAGE_CHILDREN) of the test
//!   grew by the info's `utime_ns` (to the microsecond getrusage() rounds
//!   to), `minflt`, `majflt`, `nvcsw` and `nivcsw`, measured once the
//!   feature probe's child is gone. Fails with the difference (`left: 0`:
//!   the usage was dropped).

use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use nix::sys::mman::{madvise, MmapAdvise};
use nix::sys::resource::{getrusage, Usage, UsageWho};
use nix::sys::time::TimeVal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::getpid;

use super::clone4_common::{child_code, CHILD_OK};
use super::clonefd_common::{check_child_exited, children_of, eventually, fork_process};
use crate::clonefd::{self, ClonefdInfo, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::Mapping;

/// The user CPU time the burning children use.
pub(super) const BURN: Duration = Duration::from_millis(300);
/// The memory the RSS child touches.
pub(super) const TOUCHED_MIB: u64 = 32;
pub(super) const PAGE_SIZE: usize = 4096;
/// What the kernel's per-CPU RSS counters may miss, in KiB.
pub(super) const RSS_SLACK_KIB: u64 = 1024;
pub(super) const SLEEPS: u64 = 5;
pub(super) const NANOS_PER_SEC: u64 = 1_000_000_000;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_info_utime", utime),
        Test::new("clonefd_info_waited_children_utime", waited_children_utime),
        Test::new("clonefd_info_maxrss_minflt", maxrss_minflt),
        Test::new("clonefd_info_nvcsw", nvcsw),
        Test::new(
            "clonefd_info_added_to_parent_children",
            added_to_parent_children,
        ),
    ]
}

/// Repeats `work` until getrusage(RUSAGE_SELF) says `enough`: false if
/// getrusage() failed.
pub(super) fn spin_until(mut work: impl FnMut(), enough: impl Fn(&Usage) -> bool) -> bool {
    loop {
        work();
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) if enough(&usage) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// A `timeval` of getrusage() as a Duration.
pub(super) fn duration(tv: TimeVal) -> Duration {
    Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000)
}

/// Spins until getrusage(RUSAGE_SELF) shows `BURN` of user time.
pub(super) fn burn() -> bool {
    let mut x = 0u64;
    let work = || {
        for i in 0..100_000u64 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    };
    spin_until(work, |usage| duration(usage.user_time()) >= BURN)
}

/// Runs `work` in a CLONE_FD child; the info it reports (CLD_EXITED 42).
fn info_after(work: impl FnOnce() -> bool) -> Result<ClonefdInfo, crate::ktap::Failure> {
    // SAFETY: the test process is single-threaded; the child runs `work`
    // (no threads) and exits.
    let child = check_ok!(unsafe { clonefd::fork_like_fd(CLONE_FD, || child_code(work())) });
    check_child_exited(&child, CHILD_OK)
}

/// `nanos` in clock ticks, as the kernel's nsec_to_clock_t() rounds.
pub(super) fn ticks(nanos: u64) -> u64 {
    // SAFETY: sysconf() takes no pointer.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    nanos / (NANOS_PER_SEC / hz)
}

fn utime() -> TestResult {
    require!(clonefd_available());
    let info = info_after(burn)?;
    check!(
        info.utime_ns >= BURN.as_nanos() as u64,
        "utime_ns {} < {BURN:?}: {info:?}",
        info.utime_ns
    );
    check!(
        info.utime.abs_diff(ticks(info.utime_ns)) <= 1,
        "utime {} ticks for utime_ns {}",
        info.utime,
        info.utime_ns
    );
    check!(
        info.stime.abs_diff(ticks(info.stime_ns)) <= 1,
        "stime {} ticks for stime_ns {}",
        info.stime,
        info.stime_ns
    );
    Ok(Outcome::Pass)
}

/// Forks a grandchild that burns CPU, and waits for it.
fn burn_in_grandchild() -> bool {
    // SAFETY: the CLONE_FD child is single-threaded; the grandchild burns
    // CPU and exits.
    let Ok(grandchild) = (unsafe { fork_process(|| child_code(burn())) }) else {
        return false;
    };
    matches!(
        waitpid(grandchild, None),
        Ok(WaitStatus::Exited(_, CHILD_OK))
    )
}

fn waited_children_utime() -> TestResult {
    require!(clonefd_available());
    let info = info_after(burn_in_grandchild)?;
    check!(
        info.utime_ns >= BURN.as_nanos() as u64,
        "utime_ns {} < {BURN:?} although a waited-for child used that: {info:?}",
        info.utime_ns
    );
    Ok(Outcome::Pass)
}

/// Writes every page of `TOUCHED_MIB` of new anonymous memory.
pub(super) fn touch_memory() -> bool {
    let size = (TOUCHED_MIB << 20) as usize;
    let Ok(mapping) = Mapping::new(size, libc::PROT_READ | libc::PROT_WRITE, 0) else {
        return false;
    };
    let Some(addr) = NonNull::new(mapping.as_ptr()) else {
        return false;
    };
    // SAFETY: advice on a mapping this function owns; a kernel without
    // transparent huge pages may refuse it, which is fine.
    let _ = unsafe { madvise(addr, size, MmapAdvise::MADV_NOHUGEPAGE) };
    let base = mapping.as_ptr().cast::<u8>();
    for offset in (0..size).step_by(PAGE_SIZE) {
        // SAFETY: `offset` is within the writable mapping.
        unsafe { base.add(offset).write_volatile(1) };
    }
    true
}

fn maxrss_minflt() -> TestResult {
    require!(clonefd_available());
    let info = info_after(touch_memory)?;
    let min_rss = TOUCHED_MIB * 1024 - RSS_SLACK_KIB;
    check!(
        info.maxrss >= min_rss,
        "maxrss {} KiB < {min_rss}: {info:?}",
        info.maxrss
    );
    let pages = (TOUCHED_MIB << 20) / PAGE_SIZE as u64;
    check!(
        info.minflt >= pages,
        "minflt {} < {pages}: {info:?}",
        info.minflt
    );
    Ok(Outcome::Pass)
}

pub(super) fn sleep_a_few_times() -> bool {
    for _ in 0..SLEEPS {
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn nvcsw() -> TestResult {
    require!(clonefd_available());
    let info = info_after(sleep_a_few_times)?;
    check!(
        info.nvcsw >= SLEEPS,
        "nvcsw {} < {SLEEPS}: {info:?}",
        info.nvcsw
    );
    Ok(Outcome::Pass)
}

/// A `timeval` of getrusage() in microseconds.
pub(super) fn micros(tv: nix::sys::time::TimeVal) -> i64 {
    tv.tv_sec() * 1_000_000 + tv.tv_usec()
}

fn added_to_parent_children() -> TestResult {
    require!(clonefd_available());
    // The probe's child is released (and counted) whenever it exits:
    // measure once it is gone.
    check!(
        eventually(|| matches!(children_of(getpid()), Ok(c) if c.is_empty())),
        "children left: {:?}",
        children_of(getpid())
    );
    let before = check_ok!(getrusage(UsageWho::RUSAGE_CHILDREN));
    let info = info_after(|| burn() && sleep_a_few_times())?;
    let after = check_ok!(getrusage(UsageWho::RUSAGE_CHILDREN));
    let utime_us = micros(after.user_time()) - micros(before.user_time());
    check!(
        utime_us.abs_diff((info.utime_ns / 1000) as i64) <= 1,
        "RUSAGE_CHILDREN utime grew by {utime_us} us, the child used {} ns",
        info.utime_ns
    );
    let grew =
        |field: fn(&nix::sys::resource::Usage) -> i64| (field(&after) - field(&before)) as u64;
    check_eq!(grew(|u| u.minor_page_faults()), info.minflt);
    check_eq!(grew(|u| u.major_page_faults()), info.majflt);
    check_eq!(grew(|u| u.voluntary_context_switches()), info.nvcsw);
    check_eq!(grew(|u| u.involuntary_context_switches()), info.nivcsw);
    Ok(Outcome::Pass)
}
