//! clone4() fuzzed: a seeded random caller of clone4() and of the
//! operations on its CLONE_FD fd, whose only outcomes may be documented
//! errnos or a correct child.
//!
//! The test SKIPs unless `clone4_available()`. Without CLONE_FD (a
//! diagnostic says why) it fuzzes clone4() alone: CLONE_FD is then an
//! unknown flag (EINVAL).
//!
//! - `clone4_fuzz`: prints `seed: S` (`C4_SEED=S` replays a run) and makes
//!   `C4_FUZZ_CALLS` calls ([`DEFAULT_CALLS`] in `make check`; a longer run
//!   sets more). Each call (`generate.rs`) has random flags (in both
//!   registers, with garbage above the 32 bits the kernel takes), a size
//!   (0, inside a field, 40, 48, up to a page with a zero or nonzero tail,
//!   past a page), args (readable for the size or for fewer bytes before a
//!   PROT_NONE page, read-only, in a PROT_NONE page, NULL, a kernel
//!   address), ptid, ctid and clonefd pointers (a scratch page, a
//!   read-only page, a PROT_NONE page, a kernel address, NULL; clonefd
//!   equal to ptid), stacks, tls, and sometimes RLIMIT_NOFILE lowered so
//!   that no fd is free. A call whose child could harm the test (CLONE_VM,
//!   CLONE_SETTLS, CLONE_PARENT without CLONE_FD, a stack, an exit signal
//!   the test does not block, or CLONE_NEWNET, for its cost) is made only
//!   with a poison that clone4_prepare() refuses for sure (a size past a
//!   page or inside a field, an unknown flag bit, an exit signal above 64,
//!   an unknown CLONEFD_ flag); so is every call once one in
//!   [`CHILD_SHARE`] got through clone4_prepare(), so that the children
//!   stay few. Children exit at once, with a random code.
//!
//!   Per call, fails with the seed, the call number, the input, the
//!   prediction and the outcome, unless (`oracle.rs`, `child.rs`): the
//!   result is a child or an errno of `oracle::DOCUMENTED`; it is what the
//!   order of the checks of clone4_prepare() and copy_process() predicts
//!   where that is certain (every poisoned call fails); a failed call wrote
//!   nothing to the scratch or read-only page and left no fd, and no child
//!   that wait() sees (nor, at the next checkpoint, any other);
//!   a child's pid and fd are where its flags say (the fd returned, or
//!   stored through clonefd and the pid returned; the pid in ptid with
//!   CLONE_PARENT_SETTID) and nothing else was written; the fd is
//!   `anon_inode:[clonefd]`, above the fds open before, with FD_CLOEXEC and
//!   O_NONBLOCK as asked; a child without CLONE_FD exits with its code for
//!   waitpid(__WALL) and sends its exit signal (pid, CLD_EXITED, code) and
//!   nothing else; a CLONE_FD child reports CLD_EXITED and its code through
//!   its fd, then is released (kill(pid, 0) gives ESRCH), waitpid() never
//!   sees it, and it sent no signal.
//!
//!   Half of the CLONE_FD children get random operations on their fd
//!   (`fd_ops.rs`, `fd_ioctl.rs`, `fd_epoll.rs`, `fd_race.rs`), checked
//!   against clone4(2): read() of 0, 1, 23, 24, 25, 79, 80, 81 or 4096
//!   bytes into a valid, read-only, PROT_NONE, NULL, kernel or too short
//!   buffer (the info once, a prefix if short, then 0; EFAULT, the info
//!   kept; EAGAIN when non-blocking before the exit);
//!   ioctl() GETPID and GETPIDFD (EINVAL with an argument, ESRCH once
//!   exited), other 0xC4 and random requests (ENOTTY; never the VFS's own,
//!   `fd_ioctl::VFS_IOCTLS`); poll(), and epoll ADD, MOD, DEL and waits with
//!   EPOLLIN, EPOLLET and EPOLLONESHOT (readable and hung up once exited,
//!   by the edge and one-shot rules); lseek() (ESPIPE), write() (EINVAL),
//!   O_NONBLOCK set and cleared, a dup taking the fd's place; close races
//!   (a thread in read() or poll() on the fd, or on a dup, while the test
//!   closes it: the exit, or EBADF or POLLNVAL). One in twelve is closed
//!   unread (KILL_ON_CLOSE may kill it).
//!
//!   Every [`CHECK_EVERY`] calls and at the end: /proc/self/fd as at the
//!   start, no child of the test (zombies included) and none that wait()
//!   sees, no blocked signal pending; at the end, no child of the runner
//!   but the test (a CLONE_PARENT sibling). Prints `figure: fuzz.calls=N
//!   fuzz.children=M fuzz.errnos=E2BIG:a,EFAULT:b,...`, more counts, and
//!   where the time went (`fuzz.seconds`, `fuzz.child_seconds`, ...).

mod arena;
mod child;
mod fd_epoll;
mod fd_ioctl;
mod fd_ops;
mod fd_race;
mod generate;
mod input;
mod oracle;

use std::collections::BTreeMap;
use std::ffi::{c_long, c_void};
use std::fs::File;
use std::os::fd::{AsFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{getpid, getppid};

use super::clonefd_common::{check_no_waitable_child, children_of, eventually, open_fds};
use super::seeded::{env_number, seed_from_env_or_clock, Rng, SEED_ENV};
use crate::clone4;
use crate::feature::{clone4_available, clonefd_available, Unavailable};
use crate::ktap::{self, Failure, Outcome, Test, TestResult};
use crate::sys::{self, CAP_SYS_ADMIN};
use arena::{Arena, KERNEL_ADDRESS};
use child::{check_created, check_failed, collect_process, lowest_free_fd, Signals};
use fd_ops::FdChild;
use input::{ArgsAt, Input, CLONEFD_NONBLOCK, CLONE_FD};
use oracle::{describe, judge, predict, prepare_error, Ctx};

/// The calls when `C4_FUZZ_CALLS` is not set: `make check`'s count.
const DEFAULT_CALLS: u64 = 20_000;
const CALLS_ENV: &str = "C4_FUZZ_CALLS";
/// At most one call in CHILD_SHARE may pass clone4_prepare().
const CHILD_SHARE: u64 = 45;
/// One call in CLEAN_ONE_IN is made to create a child.
const CLEAN_ONE_IN: u64 = 55;
/// One wild call in WILD_PASS_ONE_IN may get through clone4_prepare()
/// (if nothing in it is hazardous); the others are poisoned.
const WILD_PASS_ONE_IN: u64 = 30;
/// The calls between two full checks.
const CHECK_EVERY: u64 = 2500;
/// The runner's time for the test: a base, and per thousand calls.
const TIMEOUT_BASE: Duration = Duration::from_secs(60);
const TIMEOUT_PER_1000_CALLS: Duration = Duration::from_secs(12);

pub fn tests() -> Vec<Test> {
    let calls = env_number(CALLS_ENV).unwrap_or(DEFAULT_CALLS);
    let timeout = TIMEOUT_BASE + TIMEOUT_PER_1000_CALLS * (calls.div_ceil(1000) as u32);
    vec![Test::new("clone4_fuzz", fuzz).with_timeout(timeout)]
}

/// What the run did.
#[derive(Default)]
struct Stats {
    calls: u64,
    children: u64,
    fd_children: u64,
    exercised: u64,
    fd_ops: u64,
    close_races: u64,
    unread: u64,
    poisoned: u64,
    passed_prepare: u64,
    rlimit: u64,
    errnos: BTreeMap<String, u64>,
    /// Where the time went: calls that failed, calls that made a child
    /// (and collecting it), the fd operations among those, the checks.
    failed_time: Duration,
    child_time: Duration,
    fd_op_time: Duration,
    check_time: Duration,
}

impl Stats {
    fn figure(&self, seconds: f64) -> String {
        let errnos: Vec<String> = self
            .errnos
            .iter()
            .map(|(name, count)| format!("{name}:{count}"))
            .collect();
        format!(
            "figure: fuzz.calls={} fuzz.children={} fuzz.errnos={} fuzz.fd_children={} \
             fuzz.fd_exercised={} fuzz.fd_ops={} fuzz.close_races={} fuzz.fd_unread={} \
             fuzz.poisoned={} fuzz.passed_prepare={} fuzz.rlimit={} fuzz.seconds={seconds:.1} \
             fuzz.failed_call_seconds={:.1} fuzz.child_seconds={:.1} fuzz.fd_op_seconds={:.1} \
             fuzz.check_seconds={:.1}",
            self.calls,
            self.children,
            errnos.join(","),
            self.fd_children,
            self.exercised,
            self.fd_ops,
            self.close_races,
            self.unread,
            self.poisoned,
            self.passed_prepare,
            self.rlimit,
            self.failed_time.as_secs_f64(),
            self.child_time.as_secs_f64(),
            self.fd_op_time.as_secs_f64(),
            self.check_time.as_secs_f64(),
        )
    }
}

/// The fuzzer's state.
struct Fuzzer {
    rng: Rng,
    ctx: Ctx,
    arena: Arena,
    signals: Signals,
    /// An fd to dup, to find the lowest free fd.
    probe: File,
    /// The lowest free fd from 3, where CLONE_FD puts its fd: the same
    /// before every call (the test closes what it opens).
    lowest_free: RawFd,
    /// The calls that may get through clone4_prepare().
    max_passes: u64,
    stats: Stats,
}

fn fuzz() -> TestResult {
    require!(clone4_available());
    let clonefd = match clonefd_available() {
        Ok(()) => true,
        Err(Unavailable::Skip(why)) => {
            ktap::diag(&format!(
                "CLONE_FD is not available ({why}): fuzzing clone4() alone, CLONE_FD as an unknown flag"
            ));
            false
        }
        Err(Unavailable::Broken(why)) => fail!("{why}"),
    };
    let seed = seed_from_env_or_clock();
    let calls = env_number(CALLS_ENV).unwrap_or(DEFAULT_CALLS);
    ktap::diag(&format!(
        "seed: {seed} (replay with {SEED_ENV}={seed}); calls: {calls} ({CALLS_ENV})"
    ));
    let mut fuzzer = Fuzzer {
        rng: Rng(seed),
        ctx: Ctx {
            clonefd,
            kill_on_close_allowed: kill_on_close_allowed(),
        },
        arena: check_ok!(Arena::new()),
        signals: check_ok!(Signals::block()),
        probe: check_ok!(File::open("/dev/null")),
        lowest_free: 0,
        max_passes: calls / CHILD_SHARE,
        stats: Stats::default(),
    };
    fuzzer.lowest_free = check_ok!(lowest_free_fd(fuzzer.probe.as_fd()));
    let fds_before = check_ok!(open_fds());
    let start = Instant::now();
    let mut result = Ok(());
    for n in 1..=calls {
        result = fuzzer.call();
        if result.is_ok() && (n % CHECK_EVERY == 0 || n == calls) {
            let start = Instant::now();
            result = fuzzer.checkpoint(&fds_before);
            fuzzer.stats.check_time += start.elapsed();
        }
        if let Err(why) = result {
            result = Err(format!("seed {seed}, call {n} of {calls}: {why}"));
            break;
        }
    }
    ktap::diag(&fuzzer.stats.figure(start.elapsed().as_secs_f64()));
    if let Err(why) = result {
        fail!("{why}");
    }
    check_no_sibling()?;
    Ok(Outcome::Pass)
}

/// no_new_privs or CAP_SYS_ADMIN: what CLONEFD_KILL_ON_CLOSE needs.
fn kill_on_close_allowed() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer.
    let no_new_privs = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
    no_new_privs || sys::has_effective_cap(CAP_SYS_ADMIN).unwrap_or(false)
}

/// RLIMIT_NOFILE's soft limit, lowered while this lives.
struct NofileLowered {
    soft: u64,
    hard: u64,
}

impl NofileLowered {
    fn to(limit: u64) -> Result<Self, String> {
        let (soft, hard) =
            getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
        setrlimit(Resource::RLIMIT_NOFILE, limit, hard).map_err(|e| format!("setrlimit: {e}"))?;
        Ok(NofileLowered { soft, hard })
    }
}

impl Drop for NofileLowered {
    fn drop(&mut self) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, self.soft, self.hard);
    }
}

impl Fuzzer {
    /// One call: generated, made safe, predicted, made, judged; its child
    /// collected.
    fn call(&mut self) -> Result<(), String> {
        let budget = self.stats.passed_prepare < self.max_passes;
        let clean = budget && self.rng.one_in(CLEAN_ONE_IN);
        let may_pass = budget && (clean || self.rng.one_in(WILD_PASS_ONE_IN));
        let mut input = generate::input(&mut self.rng, &self.ctx, clean);
        let poison =
            generate::make_safe(&mut input, &mut self.rng, &self.ctx, &self.arena, may_pass);
        let expect = predict(&input, &self.ctx, &self.arena);
        self.stats.calls += 1;
        self.stats.poisoned += u64::from(poison.is_some());
        self.stats.passed_prepare +=
            u64::from(prepare_error(&input, &self.ctx, &self.arena).is_none());
        self.stats.rlimit += u64::from(input.rlimit);
        let start = Instant::now();
        let (result, lowest_free) = self.make(&input)?;
        let name = match result {
            Ok(_) => "ok".to_owned(),
            Err(errno) => format!("{errno:?}"),
        };
        *self.stats.errnos.entry(name).or_default() += 1;
        let context = || {
            format!(
                "\n  input: {input}\n  poison: {poison:?}\n  expected: {expect}\n  got: {}",
                describe(result)
            )
        };
        judge(&expect, result).map_err(|why| format!("{why}{}", context()))?;
        // A failed call must leave nothing (a CLONE_FD child, which wait()
        // does not see, shows at the next checkpoint); a child is gone once
        // collected, and sent no other signal than its exit signal.
        let checked = match result {
            Err(errno) => check_failed(errno, &input, &self.arena, lowest_free),
            Ok(ret) => self
                .collect(&input, ret, lowest_free)
                .and_then(|()| child::check_no_waitable())
                .and_then(|()| self.signals.check_none()),
        };
        let checked = checked.map_err(|why| format!("{why}{}", context()));
        let time = match result {
            Ok(_) => &mut self.stats.child_time,
            Err(_) => &mut self.stats.failed_time,
        };
        *time += start.elapsed();
        checked
    }

    /// Writes the struct, lowers RLIMIT_NOFILE if asked, makes the call;
    /// a child exits at once. The result and the lowest free fd before.
    fn make(&mut self, input: &Input) -> Result<(Result<c_long, Errno>, RawFd), String> {
        self.arena.reset_scratch();
        let args = match input.args {
            ArgsAt::Null => 0,
            ArgsAt::Kernel(offset) => KERNEL_ADDRESS + offset,
            ArgsAt::Guard(offset) => (self.arena.guard() + offset) as u64,
            ArgsAt::Region {
                readable,
                read_only,
            } => {
                let image = input.image(&self.arena);
                self.arena.place(&image, readable, read_only)
            }
        };
        let lowest_free = self.lowest_free;
        let lowered = if input.rlimit {
            Some(NofileLowered::to(lowest_free as u64)?)
        } else {
            None
        };
        // SAFETY: make_safe() let through only calls whose child resumes
        // here on a copy of our stack and memory (no CLONE_VM, no
        // CLONE_SETTLS, no stack) and exits at once, whose exit signal is
        // blocked, and which are no sibling of ours; the kernel reads the
        // region or faults, and writes only the scratch page (ptid,
        // clonefd) or faults (read-only, PROT_NONE, kernel, NULL).
        let result = unsafe {
            clone4::clone4_syscall(
                input.high_reg,
                input.low_reg,
                input.size as usize,
                args as *const c_void,
            )
        };
        if result == Ok(0) {
            sys::exit_now(i32::from(input.code));
        }
        drop(lowered);
        self.arena.release();
        Ok((result, lowest_free))
    }

    /// A successful call: where its pid and fd went; the child collected
    /// as its flags say.
    fn collect(&mut self, input: &Input, ret: c_long, lowest_free: RawFd) -> Result<(), String> {
        self.stats.children += 1;
        let created = check_created(input, &self.arena, ret, lowest_free)?;
        let Some(fd) = created.fd else {
            let pid = created.pid.expect("a pid without CLONE_FD");
            return collect_process(pid, input, &self.signals);
        };
        debug_assert!(input.has(CLONE_FD));
        self.stats.fd_children += 1;
        let nonblock = input.low_byte() & CLONEFD_NONBLOCK != 0;
        let mut child = FdChild::new(fd, created.pid, input.code, nonblock);
        if self.rng.one_in(2) {
            self.stats.exercised += 1;
            let count = 1 + self.rng.below(8);
            let start = Instant::now();
            let done = child.exercise(&mut self.rng, &self.arena, count);
            self.stats.fd_op_time += start.elapsed();
            self.stats.fd_ops += child.ops;
            self.stats.close_races += child.races;
            done?;
        }
        if self.rng.one_in(12) {
            self.stats.unread += 1;
            return Ok(());
        }
        child.finish(&self.signals)
    }

    /// The checks of the whole state: fds, children, signals.
    fn checkpoint(&mut self, fds_before: &[RawFd]) -> Result<(), String> {
        let lowest_free = lowest_free_fd(self.probe.as_fd())?;
        if lowest_free != self.lowest_free {
            return Err(format!(
                "the lowest free fd is {lowest_free}, it was {}",
                self.lowest_free
            ));
        }
        let fds = open_fds().map_err(|err| format!("/proc/self/fd: {err}"))?;
        if fds != fds_before {
            return Err(format!("open fds {fds:?}, at the start {fds_before:?}"));
        }
        let me = getpid();
        if !eventually(|| children_of(me).is_ok_and(|children| children.is_empty())) {
            return Err(format!("children left: {:?}", children_of(me)));
        }
        check_no_waitable_child().map_err(|failure| failure.to_string())?;
        self.signals.check_none()?;
        if !self.arena.read_only_clean() {
            return Err("the read-only page changed".into());
        }
        Ok(())
    }
}

/// The runner has no child but the test: no call made a sibling
/// (CLONE_PARENT), not even a zombie.
fn check_no_sibling() -> Result<(), Failure> {
    let runner = getppid();
    let me = getpid();
    let others = check_ok!(children_of(runner));
    let others: Vec<_> = others.into_iter().filter(|&pid| pid != me).collect();
    check!(
        others.is_empty(),
        "the runner {runner} has other children: {others:?}"
    );
    Ok(())
}
