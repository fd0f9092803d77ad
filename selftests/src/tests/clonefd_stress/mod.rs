//! CLONE_FD under stress: thousands of children, each doing at random one
//! of the things the other tests do one at a time, in rounds, seeded.
//!
//! The test SKIPs unless `clonefd_available()`.
//!
//! - `clonefd_stress`: prints `seed: S` (from `C4_SEED=S` to replay a run,
//!   else from the clock) and runs `C4_STRESS_CHILDREN` children
//!   ([`DEFAULT_CHILDREN`]) in rounds of 8 to 40, for at most
//!   `C4_STRESS_SECONDS` ([`DEFAULT_SECONDS`]); stopping at that cap is a
//!   diagnostic, and a failure if fewer than 10% of the children ran.
//!   Each child gets a random [`Plan`](plan::Plan):
//!   - what it runs: it waits at a gate (a pipe of its own) and exits with
//!     a random code, or execs `/proc/self/exe --exit-with CODE`, or starts
//!     a thread that waits and exit_group()s while the leader waits forever
//!     or SYS_exits first;
//!   - how it ends: let through its gate, SIGKILLed (CLONEFD_IOC_GETPIDFD,
//!     pidfd_send_signal()), stopped (SIGSTOP, until /proc says 'T') and
//!     continued (SIGCONT) before its gate opens, or (with
//!     CLONEFD_KILL_ON_CLOSE and no fd kept) never let go, so that only
//!     the close of its last fd ends it;
//!   - who holds its fd: the test (read by one epoll thread), the test
//!     and a dup() (another thread reads the dup, or the first copy is
//!     closed), 2-4 threads of the test on the same file (blocking read(),
//!     poll(), epoll), a process forked after it (which reads; the test
//!     reads too or closes its copy), a process that got it with
//!     SCM_RIGHTS (the same), or nobody (closed early);
//!   - flags: CLONEFD_KILL_ON_CLOSE (no_new_privs is set), NONBLOCK,
//!     CLOEXEC;
//!   - for some: a tracer process or a thread of the test that seizes,
//!     interrupts and detaches (PTRACE_SEIZE, PTRACE_INTERRUPT,
//!     PTRACE_DETACH) before the end, or a tracer process that stays and
//!     must see the exit (waitpid);
//!   - for some (orphans): created by a helper process that sends the fd
//!     (or only a pidfd) to the test and exits first; the test is a child
//!     subreaper, and the orphan must be reparented to it.
//!
//!   Per child, fails (after the round, with the seed, the round, the plan
//!   and what each reader saw) unless: every child whose fd is kept is
//!   reported exactly once over all copies and readers (one 80-byte
//!   `clonefd_info`, every other read 0, and the reporting reader's next
//!   read 0), with CLD_EXITED and its code, or CLD_KILLED and SIGKILL,
//!   within [`BOUND`] of the end of the round's actions; after the read
//!   that reported it, CLONEFD_IOC_GETPID gives ESRCH (released) and every
//!   read poll()s POLLIN | POLLHUP; a watching tracer saw the same status;
//!   every child, kept or not, is released (pidfd_send_signal(0) gives
//!   ESRCH) within [`BOUND`]; wait gives ECHILD and nothing has the test
//!   as parent after each round. Every wait has a deadline
//!   (`deadline.rs`); a helper or thread that waits for nothing ends at
//!   [`SETUP_ALLOWANCE`] past [`BOUND`].
//!   At the end: no process left in the test's process group or session
//!   that started after it, /proc/self/fd as before, /proc/sys/fs/file-nr
//!   within [`FILE_NR_SLOP`](final_checks::FILE_NR_SLOP) of where it was,
//!   the active objects of [`SLAB_CACHES`](final_checks::SLAB_CACHES)
//!   (/proc/slabinfo, after writing 1 to /sys/kernel/slab/CACHE/shrink,
//!   which also empties the KASAN quarantine; retried for
//!   [`SETTLE`](final_checks::SETTLE) for RCU-freed objects) within
//!   [`slab_slop`](final_checks::slab_slop) of the baseline (approximate:
//!   other activity of the system moves them too; SKIPped with a
//!   diagnostic without /proc/slabinfo, i.e. without CONFIG_SLUB_DEBUG,
//!   and per cache when a cache is merged into another and not listed),
//!   and no line of /dev/kmsg since the start containing one of
//!   [`KMSG_BAD`](kmsg::KMSG_BAD) (also printed when a round fails).
//!   Prints `figure: stress.children=N stress.exits_observed=M
//!   stress.exits_lost=L stress.seconds=S` and per-mode counts.
//!
//! Layout: `plan.rs` (what happens to a child), `child.rs` (what a child
//! runs), `roster.rs` (the children as the test holds them, and the
//! round's actions), `readers.rs` (threads and helpers that read the
//! fds), `record.rs` (what they saw, and the pipe from helpers),
//! `helpers.rs` (fork holder, SCM_RIGHTS receiver), `orphans.rs` (the
//! orphan maker), `tracer.rs` (tracers), `deadline.rs` (bounded waits),
//! `judge.rs` (the round's verdict), `counts.rs` (figures),
//! `final_checks.rs` and `kmsg.rs` (the end of the test).

mod child;
mod counts;
mod deadline;
mod final_checks;
mod helpers;
mod judge;
mod kmsg;
mod orphans;
mod plan;
mod readers;
mod record;
mod roster;
mod tracer;

use std::os::fd::AsFd;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::prctl;
use nix::unistd::getpid;

use self::child::spawn_child;
use self::counts::Counts;
use self::deadline::join_by;
use self::final_checks::{check_final, take_baseline};
use self::helpers::{
    hold_forked_copies, scm_receiver, send_to_receiver, start_fork_holder, Helpers,
};
use self::judge::{check_released_all, judge_round};
use self::kmsg::Kmsg;
use self::orphans::make_orphans;
use self::plan::{process_traced, Holder, Plan};
use self::readers::{collect_helper_records, collect_thread_records, start_readers};
use self::record::{Reports, Source};
use self::roster::{act, Child, TestReader};
use self::tracer::{start_tracer_process, trace_in_thread};
use super::clonefd_common::{
    check_no_waitable_child, children_of, eventually_within, fork_process, unix_pair, Gate,
};
use super::seeded::{env_number, seed_from_env_or_clock, Rng};
use crate::clonefd;
use crate::feature::clonefd_available;
use crate::ktap::{self, Failure, Outcome, Test, TestResult};
/// Children run when `C4_STRESS_CHILDREN` is not set (`make check`):
/// about 120 s in the TCG guest on the debug kernel (KASAN, kmemleak,
/// lockdep), where a round of 8 to 40 children takes about 11 s.
/// `make stress` asks for thousands.
const DEFAULT_CHILDREN: usize = 300;
/// The time cap when `C4_STRESS_SECONDS` is not set.
const DEFAULT_SECONDS: u64 = 150;
/// What the runner allows beyond the time cap: the last round and the
/// final checks.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(150);
/// Children per round.
const ROUND_MIN: usize = 8;
const ROUND_MAX: usize = 40;
/// How long after the round's last action a child's exit may take to be
/// reported, and a child to be released.
const BOUND: Duration = Duration::from_secs(20);
/// What readers in helpers and threads wait beyond BOUND: their deadline
/// is set before the round's set-up and actions, which may be slow in a
/// TCG guest. The test itself stops collecting at BOUND after the
/// actions; this only ends helpers and threads that wait for nothing.
const SETUP_ALLOWANCE: Duration = Duration::from_secs(60);

/// Minimum fraction (1/N) of the requested children that must have run
/// when the time cap stops the test early.
const MIN_FRACTION: usize = 10;

pub fn tests() -> Vec<Test> {
    let cap = Duration::from_secs(env_number("C4_STRESS_SECONDS").unwrap_or(DEFAULT_SECONDS));
    vec![Test::new("clonefd_stress", stress).with_timeout(cap + TIMEOUT_MARGIN)]
}

fn stress() -> TestResult {
    require!(clonefd_available());
    check_ok!(prctl::set_child_subreaper(true));
    check_ok!(prctl::set_no_new_privs());
    let seed = seed_from_env_or_clock();
    let requested = env_number("C4_STRESS_CHILDREN").map_or(DEFAULT_CHILDREN, |n| n as usize);
    let cap = Duration::from_secs(env_number("C4_STRESS_SECONDS").unwrap_or(DEFAULT_SECONDS));
    ktap::diag(&format!(
        "seed: {seed} (replay with C4_SEED={seed}); children: {requested}; time cap: {cap:?}"
    ));
    let mut kmsg = Kmsg::open();
    let reports = check_ok!(Reports::new());
    let baseline = take_baseline()?;
    let start = Instant::now();
    let mut rng = Rng(seed);
    let mut counts = Counts::default();
    let ran = run_rounds(&mut rng, &reports, requested, start + cap, &mut counts);
    let seconds = start.elapsed().as_secs_f64();
    ktap::diag(&counts.figure(seconds));
    if let Err(failure) = ran {
        let kernel = kmsg.as_mut().map(Kmsg::reports_since_open);
        fail!("seed {seed}: {failure}\nkernel reports in /dev/kmsg: {kernel:?}");
    }
    if counts.children < requested {
        ktap::diag(&format!(
            "time cap of {cap:?} reached after {} of {requested} children",
            counts.children
        ));
        check!(
            counts.children * MIN_FRACTION >= requested,
            "only {} of {requested} children ran within {cap:?}",
            counts.children
        );
    }
    check_final(&baseline, start)?;
    if let Some(kmsg) = kmsg.as_mut() {
        let bad = check_ok!(kmsg.reports_since_open());
        check!(bad.is_empty(), "kernel reports in /dev/kmsg: {bad:#?}");
    }
    Ok(Outcome::Pass)
}

/// Runs rounds until `requested` children ran or `deadline` passed.
fn run_rounds(
    rng: &mut Rng,
    reports: &Reports,
    requested: usize,
    deadline: Instant,
    counts: &mut Counts,
) -> Result<(), Failure> {
    while counts.children < requested && Instant::now() < deadline {
        let size = (ROUND_MIN + rng.below((ROUND_MAX - ROUND_MIN + 1) as u64) as usize)
            .min(requested - counts.children);
        let plans: Vec<Plan> = (0..size).map(|_| Plan::random(rng)).collect();
        plans.iter().for_each(|plan| counts.add_plan(plan));
        counts.rounds += 1;
        let round = counts.rounds;
        run_round(rng, reports, plans, counts).map_err(|failure| {
            Failure::new(file!(), line!(), format!("round {round}: {failure}"))
        })?;
    }
    Ok(())
}

fn run_round(
    rng: &mut Rng,
    reports: &Reports,
    plans: Vec<Plan>,
    counts: &mut Counts,
) -> Result<(), Failure> {
    let mut helpers = Helpers::default();
    let scm_count = plans
        .iter()
        .filter(|p| matches!(p.holder, Holder::Scm { .. }))
        .count();
    let (scm_ours, scm_theirs) = check_ok!(unix_pair());
    if scm_count > 0 {
        let sock = scm_theirs.as_fd();
        // SAFETY: the test process is single-threaded (no thread of the
        // previous round is left); the receiver closes its fds, receives
        // fds, reads them, writes to a pipe and exits.
        let pid = check_ok!(unsafe { fork_process(|| scm_receiver(sock, scm_count, reports)) });
        helpers.add("SCM_RIGHTS receiver", pid);
    }
    drop(scm_theirs);
    let mut children = Vec::with_capacity(plans.len());
    for plan in plans {
        children.push(Child::new(plan, check_ok!(Gate::new())));
    }
    make_orphans(&mut children, rng)?;
    for child in children.iter_mut().filter(|c| !c.plan.orphan) {
        let made = check_ok!(spawn_child(&child.plan, child.gate.read_fd()));
        child.pid = made.pid;
        child.pidfd = Some(check_ok!(clonefd::getpidfd(made.fd.as_fd())));
        let fd = made.fd;
        if matches!(child.plan.holder, Holder::Fork { .. } | Holder::Scm { .. }) {
            // Handed on below; the test's copy is held once that is done.
            child.readers.push(TestReader {
                fd: Arc::new(fd),
                by: Source::Collector,
            });
        } else {
            check_ok!(child.hold(fd, rng));
        }
    }
    start_fork_holder(&children, reports, &mut helpers)?;
    start_tracer_process(&children, reports, &mut helpers)?;
    hold_forked_copies(&mut children, rng)?;
    send_to_receiver(&mut children, scm_ours.as_fd(), rng)?;
    drop(scm_ours);
    let mut records = trace_in_thread(&children);
    let (tx, rx) = mpsc::channel();
    let threads = start_readers(&children, &tx)?;
    drop(tx);
    act(&mut children, rng);
    let acted = Instant::now();
    collect_thread_records(&rx, &children, acted + BOUND, &mut records);
    let from_helpers: usize = children
        .iter()
        .map(|c| c.plan.helper_reads() + usize::from(process_traced(&c.plan)))
        .sum();
    collect_helper_records(reports, from_helpers, acted + BOUND, &mut records);
    let missing = judge_round(&children, &records, counts);
    check!(missing.is_empty(), "{}", missing.join("\n"));
    // Each has sent its record: they end at once.
    join_by(threads, Instant::now() + BOUND)?;
    check_released_all(&children, acted + BOUND)?;
    helpers.reap()?;
    check_no_waitable_child()?;
    let me = getpid();
    let nothing_left = || matches!(children_of(me), Ok(list) if list.is_empty());
    check!(
        eventually_within(BOUND, nothing_left),
        "children of the test after the round: {:?}",
        children_of(me)
    );
    Ok(())
}
