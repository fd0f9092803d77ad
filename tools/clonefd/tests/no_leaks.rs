//! Nothing leaks: no descriptor into children (also while other threads
//! spawn children with pipes), no descriptor or zombie in the parent after
//! failed spawns. One test, so that no other test of this binary opens or
//! closes descriptors meanwhile.

mod common;

use std::fs;
use std::io::Write;
use std::thread;

use clonefd::{Backend, Command, Stdio};
use common::{child_fds, expected_child_fds};

/// Our descriptors, as (number, what it is).
fn our_fds() -> Vec<(String, String)> {
    let mut fds: Vec<(String, String)> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = fs::read_link(entry.path()).ok()?;
            Some((
                entry.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    fds.sort();
    // read_dir's own directory descriptor.
    fds.retain(|(_, target)| !target.starts_with("/proc/"));
    fds
}

fn failed_spawns_leave_nothing(backend: Backend) {
    let before = our_fds();
    for _ in 0..20 {
        Command::new("/nonexistent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .backend(backend)
            .spawn()
            .unwrap_err();
    }
    assert_eq!(our_fds(), before);
    assert_no_child_left();
}

fn waited_children_leave_nothing(backend: Backend) {
    let before = our_fds();
    for _ in 0..20 {
        let output = Command::new("true")
            .stdin(Stdio::piped())
            .backend(backend)
            .output()
            .unwrap();
        assert!(output.status.success());
    }
    assert_eq!(our_fds(), before);
    assert_no_child_left();
}

/// No child of ours is left, not even a zombie: waitid(P_ALL, __WALL)
/// finds none.
fn assert_no_child_left() {
    // SAFETY: a WNOHANG wait that only looks (WNOWAIT).
    let (ret, errno) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let ret = libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        );
        (ret, *libc::__errno_location())
    };
    assert_eq!((ret, errno), (-1, libc::ECHILD));
}

/// While 4 threads spawn children with pipes, each child still sees only
/// its own descriptors.
fn concurrent_spawns_do_not_leak_into_each_other(backend: Backend) {
    let expected = expected_child_fds(&[]);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..8 {
                    let mut cmd = Command::new("sh");
                    cmd.backend(backend)
                        .stdin(Stdio::piped())
                        .stderr(Stdio::piped());
                    assert_eq!(child_fds(cmd), expected);
                    let mut child = Command::new("cat")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .backend(backend)
                        .spawn()
                        .unwrap();
                    child.stdin.as_mut().unwrap().write_all(b"x").unwrap();
                    assert!(child.wait().unwrap().success());
                }
            });
        }
    });
}

#[test]
fn nothing_leaks() {
    for backend in Backend::available() {
        eprintln!("backend: {backend}");
        failed_spawns_leave_nothing(backend);
        waited_children_leave_nothing(backend);
        concurrent_spawns_do_not_leak_into_each_other(backend);
        assert_no_child_left();
    }
}
