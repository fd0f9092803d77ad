//! Spawning, exit statuses, waiting, signals and exec failures, on every
//! backend the kernel has.

mod common;

use std::io::{self, Read};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use clonefd::{Backend, Command, Stdio};
use common::{for_each_backend, sh};

#[test]
fn exit_codes_are_reported() {
    for_each_backend(|backend| {
        for code in [0, 1, 7, 127, 255] {
            let mut child = sh(backend, &format!("exit {code}")).spawn().unwrap();
            assert_eq!(child.backend(), backend);
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(code), "{status:?}");
            assert_eq!(status.success(), code == 0);
        }
    });
}

#[test]
fn death_by_signal_is_reported() {
    for_each_backend(|backend| {
        let status = sh(backend, "kill -TERM $$").status().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert_eq!(status.code(), None);
        assert!(!status.core_dumped());
    });
}

#[test]
fn wait_twice_gives_the_same_status() {
    for_each_backend(|backend| {
        let mut child = sh(backend, "exit 5").spawn().unwrap();
        let first = child.wait_info().unwrap();
        assert_eq!(child.wait_info().unwrap(), first);
        assert_eq!(child.try_wait().unwrap(), Some(first.status));
        assert_eq!(child.exit_info(), Some(first));
    });
}

#[test]
fn try_wait_before_and_after_exit() {
    for_each_backend(|backend| {
        let mut child = sh(backend, "read line; exit 3")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        assert_eq!(child.try_wait_info().unwrap(), None);
        drop(child.stdin.take()); // EOF: `read` returns and the shell exits
        assert!(common::wait_until(Duration::from_secs(30), || child
            .try_wait()
            .unwrap()
            .is_some()));
        assert_eq!(child.wait().unwrap().code(), Some(3));
    });
}

#[test]
fn kill_and_signal_reach_the_child() {
    for_each_backend(|backend| {
        let mut child = Command::new("sleep")
            .arg("60")
            .backend(backend)
            .spawn()
            .unwrap();
        child.signal(libc::SIGTERM).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
        // Exited and reaped: kill() is Ok, as std; signal() says ESRCH.
        child.kill().unwrap();
        let err = child.signal(libc::SIGKILL).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));

        let mut child = Command::new("sleep")
            .arg("60")
            .backend(backend)
            .spawn()
            .unwrap();
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    });
}

#[test]
fn signal_after_exit_but_before_wait_never_reaches_another_process() {
    for_each_backend(|backend| {
        let mut child = Command::new("true").backend(backend).spawn().unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&child);
        assert!(common::readable_within(fd, 30_000));
        match backend {
            // Reaped at exit: no pidfd can be had, nothing is signalled.
            Backend::CloneFd => {
                let err = child.signal(libc::SIGKILL).unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
            }
            // A zombie until waited for: the pidfd still names it, and
            // signalling a zombie does nothing.
            Backend::Pidfd => child.signal(libc::SIGKILL).unwrap(),
        }
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn id_is_the_childs_pid() {
    for_each_backend(|backend| {
        let mut child = sh(backend, "echo $$")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.trim(), child.id().to_string());
        child.wait().unwrap();
    });
}

#[test]
fn pidfd_names_the_child() {
    for_each_backend(|backend| {
        let mut child = Command::new("sleep")
            .arg("60")
            .backend(backend)
            .spawn()
            .unwrap();
        let pidfd = child.pidfd().unwrap();
        let fdinfo = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            std::os::fd::AsRawFd::as_raw_fd(&pidfd)
        ))
        .unwrap();
        assert!(
            fdinfo.contains(&format!("Pid:\t{}\n", child.id())),
            "{fdinfo}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

/// Some CPU work, and a 2 MB string in the shell's own memory.
const BUSY_AND_BIG: &str = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done
                            x=$(head -c 2000000 /dev/zero | tr '\\0' a)";

#[test]
fn rusage_is_plausible() {
    for_each_backend(|backend| {
        let info = sh(backend, BUSY_AND_BIG)
            .spawn()
            .unwrap()
            .wait_info()
            .unwrap();
        assert!(info.status.success());
        let usage = info.rusage;
        assert!(
            usage.user_time + usage.system_time > Duration::ZERO,
            "{usage:?}"
        );
        // KiB, not pages or bytes: the 2 MB string alone is 1953 KiB.
        assert!(usage.max_rss_kib >= 1900, "{usage:?}");
        assert!(usage.max_rss_kib < 1_000_000, "{usage:?}");
        assert!(usage.minor_faults > 400, "{usage:?}");
        assert!(
            usage.voluntary_context_switches + usage.involuntary_context_switches > 0,
            "{usage:?}"
        );
        assert!(usage.user_time < Duration::from_secs(600), "{usage:?}");
    });
}

/// struct clonefd_info and wait4-style rusage (waitid's) agree on the same
/// command, when the kernel has both backends.
#[test]
#[ignore = "needs CLONE_FD: scripts/run-tests.sh runs it on the patched kernel"]
fn rusage_agrees_between_backends() {
    common::require_clonefd();
    let run = |backend| {
        sh(backend, BUSY_AND_BIG)
            .spawn()
            .unwrap()
            .wait_info()
            .unwrap()
            .rusage
    };
    let (clonefd, pidfd) = (run(Backend::CloneFd), run(Backend::Pidfd));
    eprintln!("clonefd_info: {clonefd:?}\nwaitid:       {pidfd:?}");
    let close = |a: u64, b: u64| a * 2 >= b && b * 2 >= a;
    assert!(close(clonefd.max_rss_kib, pidfd.max_rss_kib));
    assert!(close(clonefd.minor_faults, pidfd.minor_faults));
    let cpu = |u: clonefd::Rusage| (u.user_time + u.system_time).as_secs_f64();
    assert!(cpu(clonefd) < cpu(pidfd) * 4.0 && cpu(pidfd) < cpu(clonefd) * 4.0);
}

#[test]
fn exec_failures_are_errors() {
    for_each_backend(|backend| {
        let err = Command::new("/nonexistent/program")
            .backend(backend)
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

        let err = Command::new("no-such-program-in-path-xyz")
            .backend(backend)
            .spawn()
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

        // Not executable.
        let err = Command::new("/etc/passwd")
            .backend(backend)
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);

        // A directory that does not exist: chdir fails in the child.
        let err = Command::new("true")
            .current_dir("/nonexistent/dir")
            .backend(backend)
            .spawn()
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));

        let err = Command::new("").backend(backend).spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn args_arg0_env_and_dir() {
    for_each_backend(|backend| {
        // With -c, the arguments after the script are $0, $1, ...; argv[0]
        // is the first string of /proc/PID/cmdline.
        let script = "a0=$(tr '\\0' '\\n' </proc/$$/cmdline | head -n 1)
                      echo \"$a0|$0|$1|$FOO|${HOME-unset}|$(pwd)\"";
        let output = sh(backend, script)
            .arg("one two")
            .arg("")
            .arg0("name0")
            .env("FOO", "bar")
            .env_remove("HOME")
            .current_dir("/tmp")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            "name0|one two||bar|unset|/tmp\n"
        );

        let output = Command::new("/usr/bin/env")
            .env("LOST", "1")
            .env_clear()
            .env("ONLY", "this")
            .backend(backend)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(output.stdout).unwrap(), "ONLY=this\n");
    });
}

#[test]
fn path_search_uses_the_childs_path() {
    for_each_backend(|backend| {
        let output = Command::new("env")
            .env_clear()
            .env("PATH", "/nonexistent:/usr/bin:/bin")
            .backend(backend)
            .output()
            .unwrap();
        assert!(output.status.success());
        // Without PATH: glibc's default, /bin:/usr/bin.
        let status = Command::new("true")
            .env_clear()
            .backend(backend)
            .status()
            .unwrap();
        assert!(status.success());
        let err = Command::new("true")
            .env("PATH", "/nonexistent")
            .backend(backend)
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn process_group() {
    for_each_backend(|backend| {
        // Fields 1 and 5 of /proc/PID/stat: pid and process group.
        let output = sh(backend, "set -- $(cat /proc/$$/stat); echo $1 $5")
            .process_group(0)
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields.len(), 2, "{text}");
        assert_eq!(fields[0], fields[1], "{text}");
    });
}

/// A forced backend is used if the kernel has it (the guest: CLONE_FD),
/// and is an Unsupported error, not a fallback, if not (the host).
#[test]
fn a_forced_backend_is_used_or_unsupported() {
    let result = Command::new("true").backend(Backend::CloneFd).spawn();
    if Backend::CloneFd.is_available() {
        let mut child = result.unwrap();
        assert_eq!(child.backend(), Backend::CloneFd);
        assert!(child.wait().unwrap().success());
    } else {
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Unsupported);
    }
    let mut child = Command::new("true")
        .backend(Backend::Pidfd)
        .spawn()
        .unwrap();
    assert_eq!(child.backend(), Backend::Pidfd);
    assert!(child.wait().unwrap().success());
}

#[test]
fn signal_handlers_and_mask_are_not_inherited() {
    for_each_backend(|backend| {
        // A mask and a handler in this thread: the child starts with an
        // empty mask and default dispositions, SIGPIPE included.
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: blocks SIGUSR1 in this thread only.
                unsafe {
                    let mut set: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut set);
                    libc::sigaddset(&mut set, libc::SIGUSR1);
                    libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                }
                let output = sh(backend, "grep -E '^Sig(Blk|Ign|Cgt)' /proc/self/status")
                    .output()
                    .unwrap();
                let text = String::from_utf8(output.stdout).unwrap();
                assert!(text.contains("SigBlk:\t0000000000000000"), "{text}");
                // Rust ignores SIGPIPE (bit 13): not in the child.
                let ign = text.lines().find(|l| l.starts_with("SigIgn")).unwrap();
                let ign = u64::from_str_radix(ign.split_whitespace().nth(1).unwrap(), 16).unwrap();
                assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0, "{text}");
            });
        });
    });
}

/// Sets O_NONBLOCK on the open file description of `fd`, as an event loop
/// does to a source it registers (async-io's `Async::new(&child)`, or on
/// the fallback `Async::new(child.pidfd()?)`, a duplicate of the same
/// description); a CLONEFD_NONBLOCK descriptor given to `from_clonefd` is
/// the same case.
fn set_nonblocking(fd: std::os::fd::RawFd) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we hold.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert!(flags >= 0);
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
    }
}

#[test]
fn blocking_wait_blocks_even_on_a_nonblocking_descriptor() {
    use std::os::fd::AsRawFd;
    for_each_backend(|backend| {
        // The Child's own descriptor.
        let mut child = sh(backend, "sleep 0.2; exit 6").spawn().unwrap();
        set_nonblocking(child.as_raw_fd());
        assert_eq!(child.wait().unwrap().code(), Some(6));

        // A pidfd from Child::pidfd() (on the fallback: the same open file
        // description as the Child's).
        let mut child = sh(backend, "sleep 0.2; exit 7").spawn().unwrap();
        let pidfd = child.pidfd().unwrap();
        set_nonblocking(pidfd.as_raw_fd());
        assert_eq!(child.wait_info().unwrap().status.code(), Some(7));
        assert_eq!(child.try_wait().unwrap().and_then(|s| s.code()), Some(7));
    });
}
