//! What happens to each child: its [`Plan`], drawn at random.

use crate::clonefd::{CLOEXEC, KILL_ON_CLOSE, NONBLOCK};
use crate::tests::clone4_common::CHILD_WRONG;
use crate::tests::clonefd_common::GATE_CLOSED;
use crate::tests::seeded::Rng;

/// What a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    /// Waits at its gate, exits with its code.
    Exit,
    /// Waits at its gate, execs `--exit-with CODE`.
    Exec,
    /// A second thread waits at the gate and exit_group()s; the leader
    /// waits forever.
    MtGroupExit,
    /// A second thread waits at the gate and exit_group()s; the leader
    /// SYS_exits at once.
    MtLeaderFirst,
}

/// How a child ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Its gate opens.
    Gate,
    /// SIGSTOP, SIGCONT, then its gate opens.
    StopCont,
    /// SIGKILL through a pidfd; the gate never opens.
    Sigkill,
    /// The close of its last fd (KILL_ON_CLOSE); the gate never opens.
    KilledByClose,
}

/// How reader threads of the test wait for the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// read() at once (blocking, or poll() again on EAGAIN).
    Read,
    Poll,
    Epoll,
}

/// Who holds the child's fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    /// The test; its epoll thread reads it.
    Keep,
    /// The test and a dup(): with `close_one` the first copy is closed
    /// and the epoll thread reads the dup, else a thread reads the dup.
    Dup { close_one: bool },
    /// That many threads of the test read the same fd.
    Concurrent(u8),
    /// A process forked after the child reads it; the test too, or closes.
    Fork { test_reads: bool },
    /// A process that got it over SCM_RIGHTS reads it; the test too, or
    /// closes.
    Scm { test_reads: bool },
    /// Nobody: closed before the child ends.
    EarlyClose,
}

/// Who traces the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tracer {
    None,
    /// A process seizes, interrupts and detaches.
    DetachProcess,
    /// A thread of the test seizes, interrupts and detaches.
    DetachThread,
    /// A process seizes and waits for the exit.
    Watch,
}

/// What happens to one child.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub(super) body: Body,
    pub(super) ending: Ending,
    pub(super) holder: Holder,
    pub(super) tracer: Tracer,
    pub(super) orphan: bool,
    pub(super) kill_on_close: bool,
    pub(super) nonblock: bool,
    pub(super) cloexec: bool,
    pub(super) code: i32,
}

impl Plan {
    pub(super) fn random(rng: &mut Rng) -> Plan {
        let orphan = rng.one_in(10);
        let kill_on_close = rng.one_in(4);
        let body = rng.pick(&[
            (5, Body::Exit),
            (2, Body::Exec),
            (1, Body::MtGroupExit),
            (1, Body::MtLeaderFirst),
        ]);
        let holder = random_holder(rng, orphan);
        let ending = if holder == Holder::EarlyClose && kill_on_close {
            Ending::KilledByClose
        } else {
            rng.pick(&[
                (6, Ending::Gate),
                (2, Ending::StopCont),
                (2, Ending::Sigkill),
            ])
        };
        let traceable =
            !orphan && ending != Ending::StopCont && matches!(body, Body::Exit | Body::Exec);
        let tracer = if traceable && rng.one_in(5) {
            rng.pick(&[
                (1, Tracer::DetachProcess),
                (1, Tracer::DetachThread),
                (1, Tracer::Watch),
            ])
        } else {
            Tracer::None
        };
        Plan {
            body,
            ending,
            holder,
            tracer,
            orphan,
            kill_on_close,
            nonblock: rng.one_in(3),
            cloexec: rng.one_in(2),
            code: random_code(rng),
        }
    }

    /// The CLONEFD_* flags of its clone4() call.
    pub(super) fn low_flags(&self) -> u64 {
        let mut flags = 0;
        if self.kill_on_close {
            flags |= KILL_ON_CLOSE;
        }
        if self.nonblock {
            flags |= NONBLOCK;
        }
        if self.cloexec {
            flags |= CLOEXEC;
        }
        flags
    }

    /// Whether its fd survives the round's actions somewhere.
    pub(super) fn kept(&self) -> bool {
        self.holder != Holder::EarlyClose
    }

    /// The (code, status) its exit must be reported with.
    pub(super) fn expected(&self) -> (u32, u32) {
        match self.ending {
            Ending::Gate | Ending::StopCont => (libc::CLD_EXITED as u32, self.code as u32),
            Ending::Sigkill | Ending::KilledByClose => {
                (libc::CLD_KILLED as u32, libc::SIGKILL as u32)
            }
        }
    }

    /// Reads by readers in helper processes.
    pub(super) fn helper_reads(&self) -> usize {
        usize::from(matches!(
            self.holder,
            Holder::Fork { .. } | Holder::Scm { .. }
        ))
    }
}

fn random_holder(rng: &mut Rng, orphan: bool) -> Holder {
    let dup = Holder::Dup {
        close_one: rng.one_in(2),
    };
    let concurrent = Holder::Concurrent(2 + rng.below(3) as u8);
    let test_reads = rng.one_in(2);
    if orphan {
        return rng.pick(&[
            (3, Holder::Keep),
            (1, dup),
            (1, concurrent),
            (1, Holder::EarlyClose),
        ]);
    }
    rng.pick(&[
        (4, Holder::Keep),
        (2, dup),
        (2, concurrent),
        (1, Holder::Fork { test_reads }),
        (1, Holder::Scm { test_reads }),
        (2, Holder::EarlyClose),
    ])
}

/// An exit code other than GATE_CLOSED and CHILD_WRONG.
fn random_code(rng: &mut Rng) -> i32 {
    loop {
        let code = rng.below(256) as i32;
        if code != GATE_CLOSED && code != CHILD_WRONG {
            return code;
        }
    }
}

pub(super) fn random_method(rng: &mut Rng) -> Method {
    rng.pick(&[(1, Method::Read), (1, Method::Poll), (1, Method::Epoll)])
}

/// Whether a tracer process reports on this child.
pub(super) fn process_traced(plan: &Plan) -> bool {
    matches!(plan.tracer, Tracer::DetachProcess | Tracer::Watch)
}
