//! The round's children as the test holds them: their fds, readers,
//! pidfds and gates, and the round's actions that end them.

use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::plan::{random_method, Ending, Holder, Plan};
use super::record::Source;
use super::BOUND;
use crate::sys;
use crate::tests::clonefd_common::{eventually_within, proc_stat, task_stat, Gate};
use crate::tests::seeded::Rng;

/// A copy of a child's fd that the test reads, and how.
pub(super) struct TestReader {
    pub(super) fd: Arc<OwnedFd>,
    pub(super) by: Source,
}

/// One child of the round, as the test holds it.
pub(super) struct Child {
    pub(super) plan: Plan,
    pub(super) pid: Pid,
    pub(super) gate: Gate,
    /// From CLONEFD_IOC_GETPIDFD: to signal it and to see it released.
    pub(super) pidfd: Option<OwnedFd>,
    /// Copies the test closes when the child's turn comes.
    pub(super) close_at_act: Vec<OwnedFd>,
    pub(super) readers: Vec<TestReader>,
    /// Problems seen while setting it up or acting on it.
    pub(super) problems: Vec<String>,
}

impl Child {
    pub(super) fn new(plan: Plan, gate: Gate) -> Child {
        Child {
            plan,
            pid: Pid::from_raw(0),
            gate,
            pidfd: None,
            close_at_act: Vec::new(),
            readers: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Gives the test's copy `fd` to its readers or to `close_at_act`, as
    /// the plan's holder says (the fd of a Fork or Scm holder is handed
    /// on before it may be closed).
    pub(super) fn hold(&mut self, fd: OwnedFd, rng: &mut Rng) -> io::Result<()> {
        let collector = |fd: OwnedFd| TestReader {
            fd: Arc::new(fd),
            by: Source::Collector,
        };
        match self.plan.holder {
            Holder::Keep | Holder::Fork { test_reads: true } | Holder::Scm { test_reads: true } => {
                self.readers.push(collector(fd))
            }
            Holder::Fork { test_reads: false }
            | Holder::Scm { test_reads: false }
            | Holder::EarlyClose => self.close_at_act.push(fd),
            Holder::Dup { close_one } => {
                let dup = fd.try_clone()?;
                if close_one {
                    self.close_at_act.push(fd);
                    self.readers.push(collector(dup));
                } else {
                    self.readers.push(collector(fd));
                    self.readers.push(TestReader {
                        fd: Arc::new(dup),
                        by: Source::Thread(random_method(rng)),
                    });
                }
            }
            Holder::Concurrent(n) => {
                let fd = Arc::new(fd);
                for _ in 0..n {
                    let by = Source::Thread(random_method(rng));
                    let fd = Arc::clone(&fd);
                    self.readers.push(TestReader { fd, by });
                }
            }
        }
        Ok(())
    }

    /// The reads expected over all readers.
    pub(super) fn expected_reads(&self) -> usize {
        self.readers.len() + self.plan.helper_reads()
    }
}

/// The round's actions, in a random order: per child, the closes of the
/// test's copies that are to go, then its ending.
pub(super) fn act(children: &mut [Child], rng: &mut Rng) {
    let mut order: Vec<usize> = (0..children.len()).collect();
    rng.shuffle(&mut order);
    for index in order {
        let child = &mut children[index];
        child.close_at_act.clear();
        if let Err(problem) = end_child(child) {
            child.problems.push(problem);
        }
    }
}

/// Ends `child` as its plan says.
fn end_child(child: &Child) -> Result<(), String> {
    let pidfd = child.pidfd.as_ref().ok_or("no pidfd")?.as_fd();
    let signal =
        |signal| sys::pidfd_send_signal(pidfd, signal).map_err(|err| format!("{signal}: {err}"));
    match child.plan.ending {
        Ending::Gate => {}
        Ending::StopCont => {
            signal(Signal::SIGSTOP)?;
            if !eventually_within(BOUND, || group_stopped(child.pid)) {
                return Err(format!(
                    "not stopped by SIGSTOP: {:?}",
                    proc_stat(child.pid)
                ));
            }
            signal(Signal::SIGCONT)?;
        }
        Ending::Sigkill => return signal(Signal::SIGKILL),
        Ending::KilledByClose => return Ok(()),
    }
    child.gate.open().map_err(|err| format!("gate: {err}"))
}

/// Every live thread of `pid` is stopped ('T'), and at least one is.
fn group_stopped(pid: Pid) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut stopped = false;
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        match task_stat(pid, Pid::from_raw(tid)).map(|stat| stat.state) {
            Ok('T') => stopped = true,
            Ok('Z' | 'X') | Err(_) => {}
            Ok(_) => return false,
        }
    }
    stopped
}
