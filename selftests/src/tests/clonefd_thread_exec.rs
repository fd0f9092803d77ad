//! CLONE_FD: a CLONE_THREAD | CLONE_FD thread that execs takes its
//! leader's PID (de_thread() exchanges them), and its fd follows it.
//!
//! SKIPs unless `clonefd_available()`.
//!
//! - `clonefd_thread_exec_follows`: a helper process H creates a
//!   CLONE_THREAD | CLONE_FD thread on a stack of its own and sends its fd
//!   to the test (SCM_RIGHTS); the thread then execve()s `/bin/sleep 30`,
//!   which makes it H's only thread, with H's PID. Once /proc/H/comm says
//!   `sleep`: GETPID gives H's PID, fdinfo says `Pid:` H, and GETPIDFD
//!   gives a pidfd on which SIGKILL kills it; once the test has reaped H,
//!   the fd reports CLD_KILLED, SIGKILL, and GETPID gives ESRCH. Fails
//!   with `ESRCH` when the fd still names the thread's old PID, which went
//!   with the old leader.
//! - `clonefd_thread_exec_pid_never_gone`: GETPID (and GETPIDFD), called
//!   in a loop while the thread execs (de_thread() moves it to the
//!   leader's PID and releases the leader with the PID the thread had),
//!   always name the thread, by its TID or by H's PID, never ESRCH; 300
//!   rounds. A race test: a kernel that looks the pid up once fails it
//!   with high, not certain, probability.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::clone4_common::{Shared, StackForm, CHILD_WRONG, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM};
use super::clonefd_common::{
    check_fdinfo_has, check_reported, eventually, fork_process, recv_fd, send_fd, unix_pair, Gate,
};
use crate::clone4::{c4_child_wait_exec, ExecGate};
use crate::clonefd::{self, CLONE_FD};
use crate::feature::clonefd_available;
use crate::ktap::{Failure, Outcome, Test, TestResult};
use crate::sys;

const THREAD_FLAGS: u64 = CLONE_THREAD | CLONE_VM | CLONE_SIGHAND | CLONE_FD;

pub fn tests() -> Vec<Test> {
    vec![
        Test::new("clonefd_thread_exec_follows", exec_follows),
        // 300 execs: 5-7 s under TCG, over 30 s on the debug kernel.
        Test::new("clonefd_thread_exec_pid_never_gone", exec_pid_never_gone)
            .with_timeout(Duration::from_secs(240)),
    ]
}

/// In H: creates the thread, sends its fd on `sock`, lets it exec (at
/// once, or once a byte comes back on `sock` when `wait_for_go`), and
/// waits for the exec to end this thread.
fn create_thread_then_exec(sock: BorrowedFd<'_>, wait_for_go: bool) -> i32 {
    let (Ok(gate), Ok(shared)) = (Gate::new(), Shared::leaked()) else {
        return CHILD_WRONG;
    };
    let argv: &'static [*const std::ffi::c_char; 3] =
        Box::leak(Box::new([c"sleep".as_ptr(), c"30".as_ptr(), ptr::null()]));
    let envp: &'static [*const std::ffi::c_char; 1] = Box::leak(Box::new([ptr::null()]));
    let arg: &'static mut ExecGate = Box::leak(Box::new(ExecGate {
        fd: gate.read_fd(),
        path: c"/bin/sleep".as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
    }));
    // SAFETY: the stack, `arg` and what it points to are leaked, so they
    // outlive the thread; c4_child_wait_exec reads the pipe and execs.
    let thread = unsafe {
        clonefd::on_stack_fd(
            THREAD_FLAGS,
            &shared.args(StackForm::Range),
            c4_child_wait_exec,
            ptr::from_mut(arg).cast(),
        )
    };
    let Ok(thread) = thread else {
        return CHILD_WRONG;
    };
    if send_fd(sock, thread.fd.as_fd(), &[]).is_err()
        || (wait_for_go && nix::unistd::read(sock, &mut [0u8; 1]) != Ok(1))
        || gate.open().is_err()
    {
        return CHILD_WRONG;
    }
    // The exec kills this thread; if it never comes, the test's timeout
    // and its checks tell.
    loop {
        std::thread::park();
    }
}

fn exec_follows() -> TestResult {
    require!(clonefd_available());
    let (ours, theirs) = check_ok!(unix_pair());
    // SAFETY: the test process is single-threaded; H creates a thread,
    // sends an fd and waits.
    let h = check_ok!(unsafe { fork_process(|| create_thread_then_exec(theirs.as_fd(), false)) });
    drop(theirs);
    let (fd, _) = check_ok!(recv_fd(ours.as_fd()));
    let comm = format!("/proc/{h}/comm");
    if !eventually(|| matches!(fs::read_to_string(&comm), Ok(c) if c.trim() == "sleep")) {
        fail!(
            "the thread did not exec sleep: {:?}",
            fs::read_to_string(&comm)
        );
    }
    check_eq!(check_ok!(clonefd::getpid(fd.as_fd())), h);
    check_fdinfo_has(fd.as_fd(), &format!("Pid:\t{h}"))?;
    let pidfd = check_ok!(clonefd::getpidfd(fd.as_fd()));
    check_ok!(sys::pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL));
    check_eq!(
        check_ok!(waitpid(h, None)),
        WaitStatus::Signaled(h, Signal::SIGKILL, false)
    );
    check_reported(fd.as_fd(), libc::CLD_KILLED, libc::SIGKILL)?;
    check_err!(clonefd::getpid(fd.as_fd()), nix::errno::Errno::ESRCH);
    Ok(Outcome::Pass)
}

const EXEC_RACE_ROUNDS: usize = 300;

/// Calls GETPID (and GETPIDFD if `with_pidfd`) until GETPID gives `h`:
/// how many calls said ESRCH meanwhile.
fn count_gone_during_exec(fd: BorrowedFd<'_>, h: Pid, with_pidfd: bool) -> Result<usize, Failure> {
    let mut gone = 0;
    for _ in 0..1_000_000 {
        if with_pidfd && matches!(clonefd::getpidfd(fd), Err(Errno::ESRCH)) {
            gone += 1;
        }
        match clonefd::getpid(fd) {
            Ok(pid) if pid == h => return Ok(gone),
            Err(Errno::ESRCH) => gone += 1,
            _ => {}
        }
    }
    fail!("GETPID did not give H's pid {h} after the exec")
}

fn exec_pid_never_gone() -> TestResult {
    require!(clonefd_available());
    let mut gone = 0;
    for round in 0..EXEC_RACE_ROUNDS {
        let (ours, theirs) = check_ok!(unix_pair());
        // SAFETY: the test process is single-threaded; H creates a
        // thread, sends an fd and waits.
        let h =
            check_ok!(unsafe { fork_process(|| create_thread_then_exec(theirs.as_fd(), true)) });
        drop(theirs);
        let (fd, _) = check_ok!(recv_fd(ours.as_fd()));
        check_ok!(nix::unistd::write(&ours, b"g"));
        let counted = count_gone_during_exec(fd.as_fd(), h, round % 4 == 3);
        check_ok!(nix::sys::signal::kill(h, Signal::SIGKILL));
        check_ok!(waitpid(h, None));
        gone += counted?;
    }
    check!(
        gone == 0,
        "GETPID or GETPIDFD said ESRCH {gone} times during the execs"
    );
    Ok(Outcome::Pass)
}
