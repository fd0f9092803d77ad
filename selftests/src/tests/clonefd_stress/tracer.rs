//! Tracers: a helper process or a thread of the test that seizes,
//! interrupts and detaches, or that watches the exit.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::child::close_all_except;
use super::deadline::waitpid_by;
use super::helpers::Helpers;
use super::plan::{process_traced, Tracer};
use super::record::{Record, Reports, Seen, Source};
use super::roster::Child;
use super::{BOUND, SETUP_ALLOWANCE};
use crate::ktap::Failure;
use crate::tests::clone4_common::CHILD_OK;
use crate::tests::clonefd_common::fork_process;

/// PTRACE_EVENT_STOP: a seized tracee's stop after PTRACE_INTERRUPT.
const PTRACE_EVENT_STOP: i32 = 128;

/// Seizes `pid`, stops it with PTRACE_INTERRUPT and detaches; the stop
/// must come by `deadline` (ETIMEDOUT).
fn seize_interrupt_detach(pid: Pid, deadline: Instant) -> Seen {
    let step = || -> Result<(), i32> {
        let errno = |err: Errno| err as i32;
        ptrace::seize(pid, ptrace::Options::empty()).map_err(errno)?;
        ptrace::interrupt(pid).map_err(errno)?;
        match waitpid_by(Some(pid), deadline) {
            Ok(Some(WaitStatus::PtraceEvent(_, _, PTRACE_EVENT_STOP))) => {}
            Ok(Some(_)) => return Err(1000),
            Ok(None) => return Err(Errno::ETIMEDOUT as i32),
            Err(err) => return Err(err as i32),
        }
        ptrace::detach(pid, None).map_err(errno)
    };
    step().map_or_else(Seen::TracerFailed, |()| Seen::TracerDetached)
}

/// Forks the tracer process of the round, if a child has one, and waits
/// until it has detached from the DetachProcess children and seized the
/// Watch children.
pub(super) fn start_tracer_process(
    children: &[Child],
    reports: &Reports,
    helpers: &mut Helpers,
) -> Result<(), Failure> {
    let tracees: Vec<(u32, Pid, bool)> = children
        .iter()
        .enumerate()
        .filter(|(_, c)| process_traced(&c.plan))
        .map(|(i, c)| (i as u32, c.pid, c.plan.tracer == Tracer::Watch))
        .collect();
    if tracees.is_empty() {
        return Ok(());
    }
    let ready = check_ok!(Reports::new());
    // SAFETY: the test process is single-threaded; the tracer closes its
    // fds, makes ptrace and wait calls, writes to pipes and exits.
    let pid = check_ok!(unsafe { fork_process(|| tracer_process(&tracees, reports, &ready)) });
    helpers.add("tracer", pid);
    ready.await_ready("tracer")
}

/// The tracer process's body: detaches from some, watches the others'
/// exits (continuing them through their stops).
fn tracer_process(tracees: &[(u32, Pid, bool)], reports: &Reports, ready: &Reports) -> i32 {
    close_all_except(&mut [reports.writer.as_raw_fd(), ready.writer.as_raw_fd()]);
    let report = |child: u32, seen: Seen| {
        reports.send(Record {
            child,
            by: Source::TracerProcess,
            seen,
        })
    };
    let deadline = Instant::now() + BOUND;
    let mut watched = BTreeMap::new();
    for &(child, pid, watch) in tracees {
        if !watch {
            report(child, seize_interrupt_detach(pid, deadline));
        } else if let Err(err) = ptrace::seize(pid, ptrace::Options::empty()) {
            report(child, Seen::TracerFailed(err as i32));
        } else {
            watched.insert(pid, child);
        }
    }
    ready.send_ready();
    let deadline = deadline + SETUP_ALLOWANCE;
    while !watched.is_empty() {
        match waitpid_by(None, deadline) {
            Ok(Some(WaitStatus::Exited(pid, code))) => {
                if let Some(child) = watched.remove(&pid) {
                    let (code, status) = (libc::CLD_EXITED as u32, code as u32);
                    report(child, Seen::TracerSaw { code, status });
                }
            }
            Ok(Some(WaitStatus::Signaled(pid, signal, _))) => {
                if let Some(child) = watched.remove(&pid) {
                    let (code, status) = (libc::CLD_KILLED as u32, signal as u32);
                    report(child, Seen::TracerSaw { code, status });
                }
            }
            Ok(Some(WaitStatus::Stopped(pid, Signal::SIGTRAP))) => {
                let _ = ptrace::cont(pid, None);
            }
            Ok(Some(WaitStatus::Stopped(pid, signal))) => {
                let _ = ptrace::cont(pid, signal);
            }
            Ok(Some(WaitStatus::PtraceEvent(pid, _, _))) => {
                let _ = ptrace::cont(pid, None);
            }
            Ok(Some(_)) => {}
            failed => {
                let errno = failed.err().unwrap_or(Errno::ETIMEDOUT) as i32;
                for (_, child) in std::mem::take(&mut watched) {
                    report(child, Seen::TracerFailed(errno));
                }
            }
        }
    }
    CHILD_OK
}

/// The DetachThread children: a thread of the test seizes, interrupts and
/// detaches each. Its records.
pub(super) fn trace_in_thread(children: &[Child]) -> Vec<Vec<(Source, Seen)>> {
    let mut records = vec![Vec::new(); children.len()];
    let tracees: Vec<(usize, Pid)> = children
        .iter()
        .enumerate()
        .filter(|(_, c)| c.plan.tracer == Tracer::DetachThread)
        .map(|(i, c)| (i, c.pid))
        .collect();
    if tracees.is_empty() {
        return records;
    }
    let deadline = Instant::now() + BOUND;
    let traced = thread::scope(|scope| {
        scope
            .spawn(|| {
                tracees
                    .iter()
                    .map(|&(i, pid)| (i, seize_interrupt_detach(pid, deadline)))
                    .collect::<Vec<_>>()
            })
            .join()
    });
    match traced {
        Ok(traced) => {
            for (i, seen) in traced {
                records[i].push((Source::TracerThread, seen));
            }
        }
        Err(_) => {
            for (i, _) in tracees {
                records[i].push((Source::TracerThread, Seen::TracerFailed(-1)));
            }
        }
    }
    records
}
