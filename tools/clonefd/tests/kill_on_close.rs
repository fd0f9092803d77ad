//! kill_on_close: the child dies with its descriptor (CLONE_FD: the
//! kernel, also when the owner process dies; fallback: `Drop` only), and
//! no_new_privs when asked.

mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;

use clonefd::{Backend, Command, Stdio};
use common::{for_each_backend, readable_within, sh};

/// pidfd_open(pid, 0).
/// `sleep 60` with kill_on_close, on `backend`.
fn kill_on_close_sleeper(backend: Backend) -> clonefd::Child {
    Command::new("sleep")
        .arg("60")
        .kill_on_close(true)
        .backend(backend)
        .spawn()
        .unwrap()
}

fn pidfd_open(pid: u32) -> OwnedFd {
    // SAFETY: no pointer.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    assert!(
        fd >= 0,
        "pidfd_open({pid}): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// SIGKILL through a pidfd.
fn kill_through(pidfd: &OwnedFd) {
    // SAFETY: no siginfo pointer.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            0,
            0,
        )
    };
}

#[test]
fn dropping_the_child_kills_it() {
    for_each_backend(|backend| {
        let child = kill_on_close_sleeper(backend);
        let pidfd = child.pidfd().unwrap();
        assert!(!readable_within(pidfd.as_raw_fd(), 50));
        drop(child);
        assert!(readable_within(pidfd.as_raw_fd(), 30_000), "still alive");
    });
}

#[test]
fn without_kill_on_close_the_child_outlives_its_child_value() {
    for_each_backend(|backend| {
        let child = Command::new("sleep")
            .arg("60")
            .backend(backend)
            .spawn()
            .unwrap();
        let pidfd = child.pidfd().unwrap();
        drop(child);
        assert!(!readable_within(pidfd.as_raw_fd(), 200), "died on drop");
        kill_through(&pidfd);
        assert!(readable_within(pidfd.as_raw_fd(), 30_000));
        if backend == Backend::Pidfd {
            // Documented: a dropped fallback child is left for us to reap.
            // SAFETY: waitid on our pidfd.
            unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::syscall(
                    libc::SYS_waitid,
                    3, // P_PIDFD
                    pidfd.as_raw_fd(),
                    &mut info,
                    libc::WEXITED | libc::__WALL,
                    0,
                );
            }
        }
    });
}

#[test]
fn owner_death_kills_the_child_on_clonefd_only() {
    for_each_backend(|backend| {
        // clonefd (the CLI) runs `sh`, which prints its pid and becomes
        // `sleep 60`; then clonefd is SIGKILLed.
        let mut owner = Command::new(env!("CARGO_BIN_EXE_clonefd"))
            .args(["run", "--kill-on-close", "--backend", backend.name(), "--"])
            .args(["sh", "-c", "echo $$; exec sleep 60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(owner.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild = pidfd_open(line.trim().parse().unwrap());
        owner.kill().unwrap();
        owner.wait().unwrap();
        match backend {
            Backend::CloneFd => assert!(
                readable_within(grandchild.as_raw_fd(), 30_000),
                "the command outlived its owner"
            ),
            Backend::Pidfd => {
                // Documented: nothing kills it when the owner dies.
                assert!(!readable_within(grandchild.as_raw_fd(), 300));
                kill_through(&grandchild);
            }
        }
    });
}

#[test]
fn no_new_privs_only_when_asked() {
    for_each_backend(|backend| {
        let flag = |set: bool| {
            thread::scope(|s| {
                // A thread of its own: no_new_privs cannot be undone.
                s.spawn(|| {
                    let output = sh(backend, "grep NoNewPrivs /proc/self/status")
                        .no_new_privs(set)
                        .output()
                        .unwrap();
                    String::from_utf8(output.stdout).unwrap()
                })
                .join()
                .unwrap()
            })
        };
        assert_eq!(flag(true), "NoNewPrivs:\t1\n");
        // This thread and the runner never set it.
        assert_eq!(flag(false), "NoNewPrivs:\t0\n");
    });
}

/// capset(2): drops CAP_SYS_ADMIN from the calling thread's effective set.
fn drop_cap_sys_admin_in_this_thread() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: a v3 header and two data structs.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return false;
        }
        data[0].effective &= !(1 << 21);
        libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) == 0
    }
}

#[test]
#[ignore = "needs CLONE_FD: scripts/run-tests.sh runs it on the patched kernel"]
fn kill_on_close_needs_no_new_privs_without_cap_sys_admin() {
    common::require_clonefd();
    thread::scope(|s| {
        s.spawn(|| {
            // Capabilities are per thread: this one only.
            assert!(drop_cap_sys_admin_in_this_thread());
            let err = Command::new("true")
                .kill_on_close(true)
                .backend(Backend::CloneFd)
                .spawn()
                .unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
            let mut child = Command::new("true")
                .kill_on_close(true)
                .no_new_privs(true)
                .backend(Backend::CloneFd)
                .spawn()
                .unwrap();
            assert!(child.wait().unwrap().success());
        });
    });
}

#[test]
fn dropping_a_child_with_a_nonblocking_descriptor_kills_and_reaps_it() {
    for_each_backend(|backend| {
        let child = kill_on_close_sleeper(backend);
        let pid = child.id();
        // As an event loop that registered the Child (async-io) does.
        // SAFETY: F_GETFL/F_SETFL on the Child's descriptor.
        unsafe {
            let flags = libc::fcntl(child.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(child.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        drop(child);
        // Killed and reaped (the fallback's Drop), or released (CLONE_FD):
        // no process, not even a zombie.
        assert!(
            common::wait_until(std::time::Duration::from_secs(30), || {
                common::proc_state(pid).is_none()
            }),
            "pid {pid} left in state {:?}",
            common::proc_state(pid)
        );
    });
}
