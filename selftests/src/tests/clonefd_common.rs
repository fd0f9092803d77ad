//! Helpers shared by the CLONE_FD tests: children that wait at a gate,
//! what the fd reports, a SIGCHLD counter, /proc, helper processes and
//! passing fds between processes.
//!
//! Once an fd has reported a child's exit, the child is gone at once: the
//! `check_child_*` helpers check the report and then `check_released()`,
//! which looks once, without retrying. `eventually()` is only for what no
//! fd reports (a stop, an exec, a thread that left, a child whose fd was
//! closed).
//!
//! Children are fork-like unless a test says otherwise; the test process
//! is single-threaded when it creates them (the runner forks it from its
//! only thread, and tests start threads only after their children exist).

use std::ffi::{c_int, c_void, CString};
use std::fs;
use std::io::{self, IoSlice, IoSliceMut, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{execv, fork, setresgid, setresuid, ForkResult, Gid, Pid, Uid};

use super::clone4_common::{CHILD_OK, CHILD_WRONG};
use super::common::PATIENCE;
use crate::clonefd::{self, Clonefd, ClonefdInfo, CLONE_FD, INFO_VER1};
use crate::feature::Availability;
use crate::ktap::Failure;
use crate::sys;

/// How long to wait for something that must not happen (a late signal, a
/// kill that must not come) before concluding it did not.
pub const GRACE: Duration = Duration::from_millis(200);
/// The exit code of gated children whose gate closed (the test ended).
pub const GATE_CLOSED: i32 = 1;

/// A pipe at which children wait until the test lets them through.
pub struct Gate {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Gate {
    pub fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Gate { reader, writer })
    }

    /// Another handle on the same pipe (for a thread that must own one).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Gate {
            reader: self.reader.try_clone()?,
            writer: self.writer.try_clone()?,
        })
    }

    /// In a fork-like child (or a thread of one): closes the child's copy
    /// of the write end, so that it sees EOF once the test is gone, then
    /// waits for one byte. Whether it got one.
    pub fn pass(&self) -> bool {
        // SAFETY: only in a process that ends with `_exit()`, where the
        // `PipeWriter` copy is never used or dropped after this.
        unsafe { libc::close(self.writer.as_raw_fd()) };
        let mut byte = [0u8; 1];
        matches!((&self.reader).read(&mut byte), Ok(1))
    }

    /// The read end, for a C child body (`clone4::PipeGate`).
    pub fn read_fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Lets one waiter through.
    pub fn open(&self) -> io::Result<()> {
        (&self.writer).write_all(b"x")
    }

    /// Lets `n` waiters through at once (one write of `n` bytes).
    pub fn open_n(&self, n: usize) -> io::Result<()> {
        (&self.writer).write_all(&vec![b'x'; n])
    }
}

/// Runs `block`, which should block until the child exits, while a helper
/// thread lets the child through `gate` after GRACE. Returns what `block`
/// returned, and whether the gate had been opened by then (false: `block`
/// returned before the child could exit).
pub fn block_while_opening<T: Send>(
    gate: &Gate,
    block: impl FnOnce() -> T,
) -> Result<(T, bool), Failure> {
    let opening = AtomicBool::new(false);
    let (value, opened_before, opened) = thread::scope(|scope| {
        let opener = scope.spawn(|| {
            sleep(GRACE);
            opening.store(true, Ordering::SeqCst);
            gate.open()
        });
        let value = block();
        let opened_before = opening.load(Ordering::SeqCst);
        (value, opened_before, opener.join())
    });
    check_ok!(check_ok!(opened.map_err(|_| "the gate thread panicked")));
    Ok((value, opened_before))
}

/// The exit code of a child that passed `gate`: `code`, or [`GATE_CLOSED`].
pub fn after_gate(gate: &Gate, code: i32) -> i32 {
    if gate.pass() {
        code
    } else {
        GATE_CLOSED
    }
}

/// A CLONE_FD child (flags `CLONE_FD | low`, fd stored through `clonefd`)
/// that waits at `gate`, then exits with `code`.
pub fn spawn_gated(low: u64, gate: &Gate, code: i32) -> nix::Result<Clonefd> {
    // SAFETY: called while the test process is single-threaded (module
    // comment); the child only waits on the pipe and exits.
    unsafe { clonefd::fork_like_fd(CLONE_FD | low, || after_gate(gate, code)) }
}

/// A CLONE_FD child (flags `CLONE_FD | low`) that exits with `code` at once.
pub fn spawn_exiting(low: u64, code: i32) -> nix::Result<Clonefd> {
    // SAFETY: called while the test process is single-threaded (module
    // comment); the child only exits.
    unsafe { clonefd::fork_like_fd(CLONE_FD | low, || code) }
}

/// A CLONE_FD child (flags `CLONE_FD | low`) that exited with `code`, as
/// its fd reported: it has been reaped and released.
pub fn exited_child(low: u64, code: i32) -> Result<Clonefd, Failure> {
    let child = check_ok!(spawn_exiting(low, code));
    check_child_exited(&child, code)?;
    Ok(child)
}

/// Replaces the calling process by `/proc/self/exe --exit-with CODE`,
/// which exits with `code` at once (see `main.rs`). Returns only if
/// execv() failed: `CHILD_WRONG`.
pub fn exec_exit_with(code: i32) -> i32 {
    let code = CString::new(code.to_string()).expect("no NUL in a number");
    let option = CString::new(crate::EXIT_WITH).expect("no NUL in the option");
    let argv = [c"clone4-selftests", option.as_c_str(), code.as_c_str()];
    let _ = execv(c"/proc/self/exe", &argv);
    CHILD_WRONG
}

/// poll(fd, POLLIN, timeout): the revents, empty if it timed out.
pub fn poll_in(fd: BorrowedFd<'_>, timeout: Duration) -> nix::Result<PollFlags> {
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, timeout)?;
    Ok(fds[0].revents().unwrap_or(PollFlags::empty()))
}

/// Waits, for at most PATIENCE, until `fd` is readable (poll).
pub fn await_readable(fd: BorrowedFd<'_>) -> Result<(), Failure> {
    let revents = check_ok!(poll_in(fd, PATIENCE));
    check!(
        revents.contains(PollFlags::POLLIN),
        "not readable after {PATIENCE:?}: revents {revents:?}"
    );
    Ok(())
}

/// Once `fd` is readable, read() gives a whole `clonefd_info` (80 bytes)
/// with this `code` (CLD_*) and `status`.
pub fn check_reported(
    fd: BorrowedFd<'_>,
    code: c_int,
    status: c_int,
) -> Result<ClonefdInfo, Failure> {
    await_readable(fd)?;
    let (len, info) = check_ok!(clonefd::read_info(fd));
    check_eq!(len, INFO_VER1);
    check_eq!((info.code as c_int, info.status as c_int), (code, status));
    Ok(info)
}

/// [`check_reported`] for a child that exited with `status`.
pub fn check_exit_reported(fd: BorrowedFd<'_>, status: c_int) -> Result<ClonefdInfo, Failure> {
    check_reported(fd, libc::CLD_EXITED, status)
}

/// [`check_reported`] on the child's fd, then [`check_released`]: once
/// the fd has reported the exit, the child is gone at once.
pub fn check_child_reported(
    child: &Clonefd,
    code: c_int,
    status: c_int,
) -> Result<ClonefdInfo, Failure> {
    let info = check_reported(child.fd.as_fd(), code, status)?;
    check_released(child.pid)?;
    Ok(info)
}

/// [`check_child_reported`] for a child that exited with `status`.
pub fn check_child_exited(child: &Clonefd, status: c_int) -> Result<ClonefdInfo, Failure> {
    check_child_reported(child, libc::CLD_EXITED, status)
}

/// The fd is not readable now (poll with a zero timeout): no exit yet.
pub fn check_not_readable(fd: BorrowedFd<'_>) -> Result<(), Failure> {
    check_eq!(check_ok!(poll_in(fd, Duration::ZERO)), PollFlags::empty());
    Ok(())
}

/// wait never reports or waits for anything: waitpid(-1, WNOHANG | __WALL)
/// gives ECHILD.
pub fn check_no_waitable_child() -> Result<(), Failure> {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    check_err!(waitpid(None, Some(flags)), Errno::ECHILD);
    Ok(())
}

/// waitpid(pid, WNOHANG | __WALL) gives ECHILD.
pub fn check_not_waitable(pid: Pid) -> Result<(), Failure> {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    check_err!(waitpid(pid, Some(flags)), Errno::ECHILD);
    Ok(())
}

const SIGCHLD_SLOTS: usize = 64;
static SIGCHLD_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The `si_pid` of the first SIGCHLD_SLOTS SIGCHLDs, in order.
static SIGCHLD_PIDS: [AtomicI32; SIGCHLD_SLOTS] = [const { AtomicI32::new(0) }; SIGCHLD_SLOTS];

extern "C" fn record_sigchld(_: c_int, info: *mut libc::siginfo_t, _: *mut c_void) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t, whose
    // pid member is set for SIGCHLD (and 0 if a process sent it with kill).
    let pid = unsafe { (*info).si_pid() };
    let slot = SIGCHLD_COUNT.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = SIGCHLD_PIDS.get(slot) {
        slot.store(pid, Ordering::SeqCst);
    }
}

/// A SIGCHLD handler (SA_SIGINFO | SA_RESTART) that counts the signals
/// and records who sent them. SIGCHLD is not queued: two sent before the
/// handler runs count once, so tests let a signal they expect arrive
/// before they watch for one that must not come.
pub struct SigchldCounter(());

impl SigchldCounter {
    pub fn install() -> nix::Result<Self> {
        let action = SigAction::new(
            SigHandler::SigAction(record_sigchld),
            SaFlags::SA_SIGINFO | SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only does atomic operations, which are
        // async-signal-safe.
        unsafe { sigaction(Signal::SIGCHLD, &action) }?;
        Ok(SigchldCounter(()))
    }

    pub fn count(&self) -> usize {
        SIGCHLD_COUNT.load(Ordering::SeqCst)
    }

    /// The recorded SIGCHLDs that `pid` caused.
    pub fn from(&self, pid: Pid) -> usize {
        SIGCHLD_PIDS
            .iter()
            .take(self.count())
            .filter(|slot| slot.load(Ordering::SeqCst) == pid.as_raw())
            .count()
    }

    /// After GRACE, the count is still `before`.
    pub fn check_none_since(&self, before: usize) -> Result<(), Failure> {
        sleep(GRACE);
        check_eq!(self.count(), before);
        Ok(())
    }

    /// After GRACE, no SIGCHLD came from `pid`.
    pub fn check_none_from(&self, pid: Pid) -> Result<(), Failure> {
        sleep(GRACE);
        check_eq!(self.from(pid), 0);
        Ok(())
    }
}

/// What /proc/PID/stat says of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    pub ppid: i32,
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(ProcStat { state, ppid })
}

fn read_stat(path: &str) -> io::Result<ProcStat> {
    let text = fs::read_to_string(path)?;
    parse_stat(&text).ok_or_else(|| io::Error::other(format!("{path}: cannot parse {text:?}")))
}

/// /proc/PID/stat.
pub fn proc_stat(pid: Pid) -> io::Result<ProcStat> {
    read_stat(&format!("/proc/{pid}/stat"))
}

/// /proc/PID/task/TID/stat: one thread.
pub fn task_stat(pid: Pid, tid: Pid) -> io::Result<ProcStat> {
    read_stat(&format!("/proc/{pid}/task/{tid}/stat"))
}

/// The number of threads listed in /proc/PID/task.
pub fn task_count(pid: Pid) -> io::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/task"))?.count())
}

/// Repeats `probe` every 10 ms until it holds, for at most PATIENCE.
pub fn eventually(probe: impl FnMut() -> bool) -> bool {
    eventually_within(PATIENCE, probe)
}

/// Repeats `probe` every 10 ms until it holds, for at most `bound`.
pub fn eventually_within(bound: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(10));
    }
}

/// `pid` disappears from /proc (it was reaped) within PATIENCE; fails
/// with what /proc last said (e.g. state 'Z': a zombie nobody reaps).
pub fn check_reaped(pid: Pid) -> Result<(), Failure> {
    let gone = |stat: &io::Result<ProcStat>| matches!(stat, Err(err) if err.kind() == io::ErrorKind::NotFound);
    if !eventually(|| gone(&proc_stat(pid))) {
        fail!(
            "{pid} not reaped after {PATIENCE:?}: /proc/{pid}/stat says {:?}",
            proc_stat(pid)
        );
    }
    Ok(())
}

/// Once the fd has reported `pid`'s exit, it is fully released at once:
/// kill(pid, 0) gives ESRCH and /proc has no entry for it. Fails with what
/// was still there (no second chance: a late release is the bug).
pub fn check_released(pid: Pid) -> Result<(), Failure> {
    check_err!(kill(pid, None), Errno::ESRCH);
    let stat = proc_stat(pid);
    check!(
        matches!(&stat, Err(err) if err.kind() == io::ErrorKind::NotFound),
        "/proc/{pid}/stat after the exit was reported: {stat:?}"
    );
    Ok(())
}

/// The processes whose parent is `parent`, zombies included (a scan of
/// /proc/*/stat).
pub fn children_of(parent: Pid) -> io::Result<Vec<Pid>> {
    let mut children = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let name = entry?.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let pid = Pid::from_raw(pid);
        if matches!(proc_stat(pid), Ok(stat) if stat.ppid == parent.as_raw()) {
            children.push(pid);
        }
    }
    Ok(children)
}

/// The unprivileged user (and group) some tests become: nobody.
pub const NOBODY: u32 = 65534;

/// Becomes user and group NOBODY (real, effective and saved): no
/// capability left. Only in a process forked for it.
pub fn become_nobody() -> nix::Result<()> {
    let gid = Gid::from_raw(NOBODY);
    setresgid(gid, gid, gid)?;
    let uid = Uid::from_raw(NOBODY);
    setresuid(uid, uid, uid)
}

/// unshare(CLONE_NEWPID): the next child starts a new pid namespace.
pub fn new_pidns() -> Availability {
    unshare(CloneFlags::CLONE_NEWPID).map_err(|err| {
        format!("unshare(CLONE_NEWPID): {err} (needs CAP_SYS_ADMIN and PID_NS)").into()
    })
}

/// The lines of /proc/self/fdinfo/FD.
pub fn fdinfo_lines(fd: BorrowedFd<'_>) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// /proc/self/fdinfo/FD has the line `line`.
pub fn check_fdinfo_has(fd: BorrowedFd<'_>, line: &str) -> Result<(), Failure> {
    let lines = check_ok!(fdinfo_lines(fd));
    check!(
        lines.iter().any(|l| l == line),
        "no line {line:?} in fdinfo {lines:?}"
    );
    Ok(())
}

/// The numbers of the open fds (/proc/self/fd), sorted.
pub fn open_fds() -> io::Result<Vec<RawFd>> {
    let mut fds: Vec<RawFd> = fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    Ok(fds)
}

/// fork(2): the child runs `child` and `_exit()`s with its result.
///
/// # Safety
///
/// As after fork(2): if the caller has other threads, `child` may only
/// call async-signal-safe functions.
pub unsafe fn fork_process(child: impl FnOnce() -> i32) -> nix::Result<Pid> {
    // SAFETY: the caller's contract.
    match unsafe { fork() }? {
        ForkResult::Child => sys::exit_now(child()),
        ForkResult::Parent { child } => Ok(child),
    }
}

/// A pipe carrying i64 words from helper processes to the test.
pub struct Mailbox {
    reader: PipeReader,
    writer: PipeWriter,
}

impl Mailbox {
    pub fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Mailbox { reader, writer })
    }

    /// Sends `word` (in a helper); whether it was written.
    pub fn post(&self, word: i64) -> bool {
        (&self.writer).write_all(&word.to_ne_bytes()).is_ok()
    }

    /// The next word, waiting at most PATIENCE for it.
    pub fn fetch(&self) -> io::Result<i64> {
        if !poll_in(self.reader.as_fd(), PATIENCE)?.contains(PollFlags::POLLIN) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no word posted within {PATIENCE:?}"),
            ));
        }
        let mut bytes = [0u8; 8];
        (&self.reader).read_exact(&mut bytes)?;
        Ok(i64::from_ne_bytes(bytes))
    }
}

/// A connected pair of AF_UNIX SOCK_SEQPACKET sockets, for SCM_RIGHTS.
pub fn unix_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

const MAX_WORDS: usize = 4;

/// Sends `fd` (SCM_RIGHTS) and up to four i64 `words` on `sock`.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, words: &[i64]) -> nix::Result<()> {
    assert!(words.len() <= MAX_WORDS);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let iov = [IoSlice::new(&bytes)];
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map(drop)
}

/// Receives an fd and the words sent with it by [`send_fd`].
pub fn recv_fd(sock: BorrowedFd<'_>) -> nix::Result<(OwnedFd, Vec<i64>)> {
    let mut bytes = [0u8; 8 * MAX_WORDS];
    let mut iov = [IoSliceMut::new(&mut bytes)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut received = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for raw in fds {
                // SAFETY: SCM_RIGHTS installed `raw` as a new fd in this
                // process; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                received.get_or_insert(fd);
            }
        }
    }
    let len = msg.bytes;
    let fd = received.ok_or(Errno::EBADMSG)?;
    let words = bytes[..len]
        .chunks_exact(8)
        .map(|chunk| i64::from_ne_bytes(chunk.try_into().unwrap()))
        .collect();
    Ok((fd, words))
}

/// The exit code of a [`check_sibling`] helper whose sibling's parent it
/// could wait for (it should be the test's child, not the helper's).
pub const SIBLING_WAITABLE: i32 = 3;

/// CLONE_PARENT seen from the test: a helper process H forked by the test
/// runs `make_sibling`, which creates a process with CLONE_PARENT that
/// waits at the gate it is given and then exits with CHILD_OK, and returns
/// its pid (or the exit code H should end with). H posts the pid, checks
/// that it cannot wait for it (ECHILD), and exits with CHILD_OK
/// ([`SIBLING_WAITABLE`] if it could). The test then checks that /proc
/// gives it as the sibling's parent, lets the sibling exit, gets a SIGCHLD
/// from it (the sibling has H's exit signal, SIGCHLD) and reaps it with
/// waitpid() without __WALL.
pub fn check_sibling(make_sibling: impl FnOnce(&Gate) -> Result<Pid, i32>) -> Result<(), Failure> {
    let chld = super::common::signal_set(libc::SIGCHLD);
    check_ok!(chld.thread_block());
    let mailbox = check_ok!(Mailbox::new());
    let gate = check_ok!(Gate::new());
    let helper = || {
        let sibling = match make_sibling(&gate) {
            Ok(pid) => pid,
            Err(code) => return code,
        };
        mailbox.post(sibling.as_raw().into());
        let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
        if waitpid(sibling, Some(flags)) != Err(Errno::ECHILD) {
            return SIBLING_WAITABLE;
        }
        CHILD_OK
    };
    // SAFETY: the test process is single-threaded; H makes clone calls
    // whose children wait on a pipe and exit.
    let h = check_ok!(unsafe { fork_process(helper) });
    let sibling = match mailbox.fetch() {
        Ok(pid) => Pid::from_raw(pid as i32),
        Err(err) => fail!("no sibling posted ({err}); H: {:?}", waitpid(h, None)),
    };
    check_eq!(
        check_ok!(waitpid(h, None)),
        nix::sys::wait::WaitStatus::Exited(h, CHILD_OK)
    );
    let stat = check_ok!(proc_stat(sibling));
    check_eq!(stat.ppid, nix::unistd::getpid().as_raw());
    // H's SIGCHLD, still pending, would swallow the sibling's: SIGCHLD is
    // not queued twice.
    let mut seen = Vec::new();
    while let Ok(info) = sys::sigtimedwait(&chld, Duration::ZERO) {
        seen.push(info);
    }
    check_ok!(gate.open());
    loop {
        match sys::sigtimedwait(&chld, PATIENCE) {
            Ok(info) if info.pid == sibling => {
                check_eq!((info.code, info.status), (libc::CLD_EXITED, CHILD_OK));
                break;
            }
            Ok(info) => seen.push(info),
            Err(err) => fail!("no SIGCHLD from the sibling {sibling} ({err}); seen: {seen:?}"),
        }
    }
    check_eq!(
        check_ok!(waitpid(sibling, None)),
        nix::sys::wait::WaitStatus::Exited(sibling, CHILD_OK)
    );
    Ok(())
}

/// The value of the line `key` (e.g. "Uid:") in /proc/PID/status,
/// trimmed.
pub fn status_field(pid: Pid, key: &str) -> io::Result<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .map(|value| value.trim().to_owned())
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// TracerPid: in /proc/PID/status.
pub fn tracer_pid(pid: Pid) -> io::Result<i32> {
    status_field(pid, "TracerPid:")?
        .parse()
        .map_err(|_| io::Error::other(format!("TracerPid: of {pid} is not a number")))
}
