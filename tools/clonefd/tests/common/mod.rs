//! Helpers shared by the integration tests: run each test on every
//! backend the kernel has (both in the patched guest, the pidfd fallback
//! elsewhere), and list a child's descriptors.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use clonefd::{Backend, Command, Stdio};

/// Runs `test` once per available backend.
pub fn for_each_backend(test: impl Fn(Backend)) {
    for backend in Backend::available() {
        eprintln!("backend: {backend}");
        test(backend);
    }
}

/// First call of a test of what only the CLONE_FD backend has. Such a test
/// is `#[ignore]`d, so that on a kernel without CLONE_FD (the host) it is
/// reported as ignored, never as passed; scripts/run-tests.sh runs the
/// ignored tests (`--include-ignored`) where `clonefd backend` says
/// clonefd. Run anywhere else, the test fails here.
pub fn require_clonefd() {
    assert!(
        Backend::CloneFd.is_available(),
        "this test needs the patched kernel's CLONE_FD, which this kernel lacks: \
         run it only with scripts/run-tests.sh, which includes it where CLONE_FD exists"
    );
}

/// `sh -c script` on `backend`.
pub fn sh(backend: Backend, script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).backend(backend);
    cmd
}

/// Our descriptors that a child inherits (not close-on-exec): those the
/// test runner itself inherited, if any.
pub fn inheritable_fds() -> BTreeSet<RawFd> {
    let mut fds = BTreeSet::new();
    for entry in fs::read_dir("/proc/self/fd").unwrap() {
        let fd: RawFd = entry
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // SAFETY: F_GETFD reads a flag; a closed fd (read_dir's own) fails.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            fds.insert(fd);
        }
    }
    fds
}

/// The descriptors a child should have: 0-2, what we pass on anyway, and
/// `extra`; plus the directory that the listing shell opens, which takes
/// the lowest free number (so a leaked descriptor also shows up as a
/// different number there).
pub fn expected_child_fds(extra: &[RawFd]) -> BTreeSet<RawFd> {
    let mut fds: BTreeSet<RawFd> = inheritable_fds();
    fds.extend([0, 1, 2]);
    fds.extend(extra);
    let lowest_free = (0..).find(|fd| !fds.contains(fd)).unwrap();
    fds.insert(lowest_free);
    fds
}

/// The descriptors of a `sh` child (run by `cmd`, whose script is set
/// here): what `echo /proc/self/fd/*` lists.
pub fn child_fds(mut cmd: Command) -> BTreeSet<RawFd> {
    let output = cmd
        .args(["-c", "cd /proc/self/fd && echo *"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(|fd| fd.parse().unwrap())
        .collect()
}

/// Whether a process with this pid exists (kill(pid, 0)).
pub fn pid_exists(pid: u32) -> bool {
    // SAFETY: signal 0 only checks.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// The state letter in /proc/pid/stat (R, S, Z, ...), if the pid exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// Polls `cond` every 5 ms for at most `limit`.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Whether `fd` becomes readable within `timeout_ms`.
pub fn readable_within(fd: RawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) == 1 }
}
