//! What differs between the backends, checked on each available one:
//! the CLONE_FD child is reaped at exit and invisible to every wait; the
//! fallback's child is a zombie until waited for, and visible to plain
//! waits once it has exec'ed (execve resets the exit signal to SIGCHLD).
//! And the CLONE_FD descriptor itself.

mod common;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;

use clonefd::{Backend, Child, Command};
use common::{for_each_backend, pid_exists, proc_state, readable_within, wait_until};

/// waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT | extra): whether it
/// sees the exited child (without reaping it).
fn waitid_sees(pid: u32, extra: i32) -> bool {
    // SAFETY: looks only (WNOWAIT), does not block (WNOHANG).
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ret = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | extra,
        );
        ret == 0 && info.si_pid() == pid as libc::pid_t
    }
}

#[test]
fn exited_child_is_reaped_or_a_zombie_as_documented() {
    for_each_backend(|backend| {
        let mut child = Command::new("true").backend(backend).spawn().unwrap();
        let pid = child.id();
        assert!(readable_within(child.as_raw_fd(), 30_000));
        match backend {
            Backend::CloneFd => {
                // Readable means released: the pid is gone, no wait sees it.
                assert!(!pid_exists(pid));
                assert_eq!(proc_state(pid), None);
                assert!(!waitid_sees(pid, libc::__WALL));
            }
            Backend::Pidfd => {
                // A zombie until waited for. Created with exit signal 0,
                // but execve() reset that to SIGCHLD (fs/exec.c,
                // de_thread()): plain waits see it too, not only __WALL.
                assert!(wait_until(Duration::from_secs(10), || proc_state(pid) == Some('Z')));
                assert!(waitid_sees(pid, 0));
                assert!(waitid_sees(pid, libc::__WALL));
            }
        }
        assert!(child.wait().unwrap().success());
        assert!(!pid_exists(pid));
    });
}

#[test]
#[ignore = "needs CLONE_FD: scripts/run-tests.sh runs it on the patched kernel"]
fn clonefd_descriptor_reads_info_once_then_eof() {
    common::require_clonefd();
    let child = common::sh(Backend::CloneFd, "exit 3").spawn().unwrap();
    // SAFETY: into_raw_fd gives us the only owner.
    let mut file = unsafe { File::from_raw_fd(child.into_raw_fd()) };
    assert!(readable_within(file.as_raw_fd(), 30_000));
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1);
    assert_eq!(
        pfd.revents & (libc::POLLIN | libc::POLLHUP),
        libc::POLLIN | libc::POLLHUP
    );
    let mut info = [0u8; 80];
    assert_eq!(file.read(&mut info).unwrap(), 80);
    let code = u32::from_ne_bytes(info[0..4].try_into().unwrap());
    let status = u32::from_ne_bytes(info[4..8].try_into().unwrap());
    assert_eq!((code, status), (libc::CLD_EXITED as u32, 3));
    assert_eq!(file.read(&mut info).unwrap(), 0);
}

#[test]
#[ignore = "needs CLONE_FD: scripts/run-tests.sh runs it on the patched kernel"]
fn child_from_a_clonefd_descriptor() {
    common::require_clonefd();
    let child = Command::new("sleep")
        .arg("60")
        .backend(Backend::CloneFd)
        .spawn()
        .unwrap();
    let pid = child.id();
    // SAFETY: into_raw_fd gives us the only owner.
    let fd = unsafe { OwnedFd::from_raw_fd(child.into_raw_fd()) };
    let dup = fd.try_clone().unwrap();
    let mut child = Child::from_clonefd(fd).unwrap();
    assert_eq!(child.id(), pid);
    child.kill().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.wait().unwrap()),
        Some(libc::SIGKILL)
    );
    // The status was read through the same open file description.
    let err = Child::from_clonefd(dup).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
}

#[test]
#[ignore = "needs CLONE_FD: scripts/run-tests.sh runs it on the patched kernel"]
fn status_read_elsewhere_is_an_error_not_a_hang() {
    common::require_clonefd();
    let mut child = Command::new("true")
        .backend(Backend::CloneFd)
        .spawn()
        .unwrap();
    let mut other = File::from(
        std::os::fd::AsFd::as_fd(&child)
            .try_clone_to_owned()
            .unwrap(),
    );
    let mut buf = [0u8; 80];
    assert_eq!(other.read(&mut buf).unwrap(), 80);
    let err = child.wait().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other, "{err}");
}

#[test]
fn from_clonefd_rejects_other_descriptors() {
    let child = Command::new("true")
        .backend(Backend::Pidfd)
        .spawn()
        .unwrap();
    let pidfd = child.pidfd().unwrap();
    assert!(Child::from_clonefd(pidfd).is_err());
    let mut child = child;
    child.wait().unwrap();
    let file: OwnedFd = File::open("/dev/null").unwrap().into();
    assert_eq!(
        Child::from_clonefd(file).unwrap_err().raw_os_error(),
        Some(libc::ENOTTY)
    );
}

#[test]
fn descriptor_becomes_readable_at_exit_only() {
    for_each_backend(|backend| {
        let mut child = common::sh(backend, "read x; exit 0")
            .stdin(clonefd::Stdio::piped())
            .spawn()
            .unwrap();
        assert!(!readable_within(child.as_raw_fd(), 100));
        drop(child.stdin.take());
        assert!(readable_within(child.as_raw_fd(), 30_000));
        assert!(child.wait().unwrap().success());
    });
}
