//! How a child ended and what it used: [`ExitInfo`] and [`Rusage`], from a
//! `struct clonefd_info` (CLONE_FD) or from waitid(2)'s siginfo and rusage
//! (the pidfd fallback).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::abi::{ClonefdInfo, CLONEFD_INFO_SIZE_VER0, CLONEFD_INFO_SIZE_VER1};

/// The resource usage of a child that has exited, as wait4(2) reports it
/// in `struct rusage` (and GNU `time -v` prints it).
///
/// On the CLONE_FD backend it comes from `struct clonefd_info`; on the
/// pidfd fallback from the `struct rusage` that waitid(2) fills in (its
/// fifth, Linux-only argument). Both hold what the kernel accounted to the
/// child itself and to the children it waited for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rusage {
    /// CPU time spent in user mode.
    pub user_time: Duration,
    /// CPU time spent in the kernel.
    pub system_time: Duration,
    /// Maximum resident set size, in KiB.
    pub max_rss_kib: u64,
    /// Page faults served without I/O.
    pub minor_faults: u64,
    /// Page faults that needed I/O.
    pub major_faults: u64,
    /// Context switches because the child waited (blocked).
    pub voluntary_context_switches: u64,
    /// Context switches because the child was preempted.
    pub involuntary_context_switches: u64,
}

/// How a child ended: its [`ExitStatus`] (as `std::process` gives it) and
/// its [`Rusage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub status: ExitStatus,
    pub rusage: Rusage,
}

/// A wait(2) status from waitid(2)'s `si_code` and `si_status`, which
/// `struct clonefd_info` reports as `code` and `status`.
pub(crate) fn wait_status(code: i32, status: i32) -> io::Result<ExitStatus> {
    let raw = match code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected child exit code {code} (status {status})"),
            ))
        }
    };
    Ok(ExitStatus::from_raw(raw))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz)
}

fn timeval_to_duration(tv: libc::timeval) -> Duration {
    Duration::new(tv.tv_sec.max(0) as u64, (tv.tv_usec.max(0) as u32) * 1000)
}

impl ExitInfo {
    /// From the first `len` bytes read from a CLONE_FD descriptor. A kernel
    /// with the first version of the structure (24 bytes) gives only the
    /// CPU times, in clock ticks; the other figures are then 0.
    pub(crate) fn from_clonefd_info(info: &ClonefdInfo, len: usize) -> io::Result<ExitInfo> {
        if len < CLONEFD_INFO_SIZE_VER0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("short read of struct clonefd_info: {len} bytes"),
            ));
        }
        let status = wait_status(info.code as i32, info.status as i32)?;
        let rusage = if len >= CLONEFD_INFO_SIZE_VER1 {
            Rusage {
                user_time: Duration::from_nanos(info.utime_ns),
                system_time: Duration::from_nanos(info.stime_ns),
                max_rss_kib: info.maxrss,
                minor_faults: info.minflt,
                major_faults: info.majflt,
                voluntary_context_switches: info.nvcsw,
                involuntary_context_switches: info.nivcsw,
            }
        } else {
            Rusage {
                user_time: ticks_to_duration(info.utime),
                system_time: ticks_to_duration(info.stime),
                ..Rusage::default()
            }
        };
        Ok(ExitInfo { status, rusage })
    }

    /// From what waitid(P_PIDFD, WEXITED) filled in.
    pub(crate) fn from_waitid(
        info: &libc::siginfo_t,
        usage: &libc::rusage,
    ) -> io::Result<ExitInfo> {
        // SAFETY: waitid() filled in a SIGCHLD siginfo, whose union holds
        // si_pid/si_uid/si_status.
        let status = unsafe { info.si_status() };
        Ok(ExitInfo {
            status: wait_status(info.si_code, status)?,
            rusage: Rusage {
                user_time: timeval_to_duration(usage.ru_utime),
                system_time: timeval_to_duration(usage.ru_stime),
                max_rss_kib: usage.ru_maxrss.max(0) as u64,
                minor_faults: usage.ru_minflt.max(0) as u64,
                major_faults: usage.ru_majflt.max(0) as u64,
                voluntary_context_switches: usage.ru_nvcsw.max(0) as u64,
                involuntary_context_switches: usage.ru_nivcsw.max(0) as u64,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exited_killed_dumped() {
        let exited = wait_status(libc::CLD_EXITED, 3).unwrap();
        assert_eq!(exited.code(), Some(3));
        assert_eq!(exited.signal(), None);

        let killed = wait_status(libc::CLD_KILLED, libc::SIGKILL).unwrap();
        assert_eq!(killed.code(), None);
        assert_eq!(killed.signal(), Some(libc::SIGKILL));
        assert!(!killed.core_dumped());

        let dumped = wait_status(libc::CLD_DUMPED, libc::SIGSEGV).unwrap();
        assert_eq!(dumped.signal(), Some(libc::SIGSEGV));
        assert!(dumped.core_dumped());

        assert!(wait_status(libc::CLD_STOPPED, 19).is_err());
    }

    #[test]
    fn clonefd_info_versions() {
        let info = ClonefdInfo {
            code: libc::CLD_EXITED as u32,
            status: 255,
            utime: 100,
            stime: 0,
            utime_ns: 1_500_000_000,
            stime_ns: 2,
            maxrss: 1024,
            minflt: 10,
            majflt: 1,
            nvcsw: 5,
            nivcsw: 6,
        };
        let full = ExitInfo::from_clonefd_info(&info, 80).unwrap();
        assert_eq!(full.status.code(), Some(255));
        assert_eq!(full.rusage.user_time, Duration::from_millis(1500));
        assert_eq!(full.rusage.system_time, Duration::from_nanos(2));
        assert_eq!(full.rusage.max_rss_kib, 1024);
        assert_eq!(full.rusage.minor_faults, 10);
        assert_eq!(full.rusage.major_faults, 1);
        assert_eq!(full.rusage.voluntary_context_switches, 5);
        assert_eq!(full.rusage.involuntary_context_switches, 6);

        let ver0 = ExitInfo::from_clonefd_info(&info, 24).unwrap();
        assert_eq!(ver0.rusage.max_rss_kib, 0);
        assert!(ver0.rusage.user_time > Duration::ZERO);

        assert!(ExitInfo::from_clonefd_info(&info, 23).is_err());
    }
}
