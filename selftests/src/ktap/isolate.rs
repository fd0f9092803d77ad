//! Runs one test in a forked process, with a deadline.
//!
//! The test process leads a new process group, runs the test body and
//! writes a short report into a pipe. The runner is a child subreaper, so
//! anything the test leaves behind is reparented to it. When the test
//! process has exited (or its time is up) the runner SIGKILLs the whole
//! group and reaps it before the next test starts.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsFd;
use std::panic::{self, AssertUnwindSafe};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, setpgid, ForkResult, Pid};

use super::{Outcome, Test, TestResult};
use crate::sys;

/// What the runner concluded about one test.
pub(super) enum Verdict {
    Pass,
    Skip(String),
    Fail(String),
    Timeout,
}

/// Far below the pipe capacity, so the test process never blocks on it.
const MAX_REPORT: usize = 16 * 1024;
const MAX_POLL_PAUSE: Duration = Duration::from_millis(20);

pub(super) fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

pub(super) fn run_isolated(test: &Test) -> Verdict {
    // Unflushed output would be printed twice: by the parent and the child.
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    let (reader, writer) = match io::pipe() {
        Ok(pipe) => pipe,
        Err(err) => return Verdict::Fail(format!("pipe: {err}")),
    };
    // SAFETY: the runner is single-threaded, so the child may run any code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(reader);
            run_test_process(test, writer)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(writer);
            supervise(child, reader, test.timeout)
        }
        Err(err) => Verdict::Fail(format!("fork: {err}")),
    }
}

fn run_test_process(test: &Test, mut report: PipeWriter) -> ! {
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    let me = getpid();
    let result = panic::catch_unwind(AssertUnwindSafe(|| (test.body)()));
    // A clone that wrongly returned into the test body must not report.
    if getpid() == me {
        let encoded = encode(result);
        let _ = report.write_all(&encoded.as_bytes()[..encoded.len().min(MAX_REPORT)]);
    }
    let _ = io::stdout().flush();
    sys::exit_now(0)
}

fn encode(result: std::thread::Result<TestResult>) -> String {
    match result {
        Ok(Ok(Outcome::Pass)) => "P".to_owned(),
        Ok(Ok(Outcome::Skip(reason))) => format!("S{reason}"),
        Ok(Err(failure)) => format!("F{failure}"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("Ftest panicked: {message}")
        }
    }
}

fn decode(report: &[u8]) -> Option<Verdict> {
    let text = String::from_utf8_lossy(report);
    let mut chars = text.chars();
    let tag = chars.next()?;
    let rest = chars.as_str().to_owned();
    match tag {
        'P' => Some(Verdict::Pass),
        'S' => Some(Verdict::Skip(rest)),
        'F' => Some(Verdict::Fail(rest)),
        _ => None,
    }
}

fn supervise(child: Pid, reader: PipeReader, timeout: Duration) -> Verdict {
    // The child does the same; whichever runs first, killpg() can't miss it.
    let _ = setpgid(child, child);
    let waited = wait_until(child, Instant::now() + timeout);
    kill_and_reap(child);
    match waited {
        Ok(Some(status)) => verdict(status, &read_available(reader)),
        Ok(None) => Verdict::Timeout,
        Err(err) => Verdict::Fail(format!("waiting for the test process: {err}")),
    }
}

/// Waits for `child` to exit, without reaping it (WNOWAIT): its pid, which
/// is also its process group id, stays reserved. `None` on timeout.
fn wait_until(child: Pid, deadline: Instant) -> nix::Result<Option<WaitStatus>> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match waitid(Id::Pid(child), flags) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(status) => return Ok(Some(status)),
            Err(err) => return Err(err),
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        sleep(pause);
        pause = (pause * 2).min(MAX_POLL_PAUSE);
    }
}

/// Kills the test process and its process group, then reaps them all.
fn kill_and_reap(child: Pid) {
    let _ = kill(child, Signal::SIGKILL);
    let _ = killpg(child, Signal::SIGKILL);
    // As subreaper, the runner inherits the group's orphans: wait for all.
    let group = Pid::from_raw(-child.as_raw());
    while matches!(
        waitpid(group, Some(WaitPidFlag::__WALL)),
        Ok(_) | Err(Errno::EINTR)
    ) {}
    let _ = waitpid(child, Some(WaitPidFlag::__WALL));
    // Orphans that had left the group (e.g. C harness tests) and are dead.
    while matches!(
        waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)),
        Ok(status) if status != WaitStatus::StillAlive
    ) {}
}

/// What is in the pipe now; never blocks on descendants holding it open.
fn read_available(mut reader: PipeReader) -> Vec<u8> {
    let mut report = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1)) {
            return report;
        }
        match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return report,
            Ok(n) => report.extend_from_slice(&chunk[..n]),
        }
    }
}

fn verdict(status: WaitStatus, report: &[u8]) -> Verdict {
    match (status, decode(report)) {
        (WaitStatus::Exited(_, 0), Some(verdict)) => verdict,
        (WaitStatus::Exited(_, code), _) => Verdict::Fail(format!(
            "test process exited with status {code} without a result"
        )),
        (WaitStatus::Signaled(_, signal, core), _) => Verdict::Fail(format!(
            "test process killed by {signal}{}",
            if core { " (core dumped)" } else { "" }
        )),
        (other, _) => Verdict::Fail(format!("unexpected wait status {other:?}")),
    }
}
