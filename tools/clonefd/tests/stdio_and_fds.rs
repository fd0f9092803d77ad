//! Standard streams (inherit, null, piped, a descriptor), passing
//! descriptors at given numbers, and output collection.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use clonefd::{Command, Stdio};
use common::{child_fds, expected_child_fds, for_each_backend, sh};

#[test]
fn piped_stdin_to_piped_stdout() {
    for_each_backend(|backend| {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .backend(backend)
            .spawn()
            .unwrap();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"round trip\n")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout, b"round trip\n");
        assert!(output.stderr.is_empty());
    });
}

#[test]
fn output_defaults_collect_both_streams_and_null_stdin() {
    for_each_backend(|backend| {
        let output = sh(backend, "cat; echo out; echo err >&2; exit 2")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(output.stdout, b"out\n"); // cat read /dev/null
        assert_eq!(output.stderr, b"err\n");
    });
}

#[test]
fn large_output_on_both_pipes_does_not_deadlock() {
    for_each_backend(|backend| {
        // 1 MiB on each pipe, interleaved: far more than a pipe holds.
        let output = sh(
            backend,
            "head -c 1048576 /dev/zero & head -c 1048576 /dev/zero >&2; wait",
        )
        .output()
        .unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout.len(), 1 << 20);
        assert_eq!(output.stderr.len(), 1 << 20);
    });
}

#[test]
fn null_and_inherit() {
    for_each_backend(|backend| {
        let output = sh(backend, "readlink /proc/self/fd/0 /proc/self/fd/2")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"/dev/null\n/dev/null\n");
        // spawn() inherits: the child's stdout is ours.
        let ours = std::fs::read_link("/proc/self/fd/1").unwrap();
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut cmd = sh(backend, "l=$(readlink /proc/$$/fd/1); echo \"$l\" >&3");
        cmd.pass_fd(3, writer);
        assert!(cmd.status().unwrap().success());
        drop(cmd);
        let mut theirs = String::new();
        reader.read_to_string(&mut theirs).unwrap();
        assert_eq!(theirs.trim_end(), ours.to_str().unwrap());
    });
}

#[test]
fn a_file_as_stdout() {
    for_each_backend(|backend| {
        let path = std::env::temp_dir().join(format!("clonefd-test-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let status = sh(backend, "echo to the file")
            .stdout(file)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "to the file\n");
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn pipeline_from_one_child_to_another() {
    for_each_backend(|backend| {
        let mut producer = sh(backend, "echo b; echo a")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Command::new("sort")
            .stdin(producer.stdout.take().unwrap())
            .backend(backend)
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"a\nb\n");
        assert!(producer.wait().unwrap().success());
    });
}

#[test]
fn passed_fds_arrive_at_their_numbers_even_when_numbers_cross() {
    for_each_backend(|backend| {
        let (mut r1, w1) = std::io::pipe().unwrap();
        let (mut r2, w2) = std::io::pipe().unwrap();
        let w1: OwnedFd = w1.into();
        let w2: OwnedFd = w2.into();
        let (n1, n2) = (
            std::os::fd::AsRawFd::as_raw_fd(&w1),
            std::os::fd::AsRawFd::as_raw_fd(&w2),
        );
        // w1 goes to w2's number and w2 to w1's: a naive dup2 order
        // would overwrite one with the other. (Through /proc: dash's `>&N`
        // takes one digit only.)
        let mut cmd = sh(
            backend,
            &format!("echo one >/proc/self/fd/{n2}; echo two >/proc/self/fd/{n1}"),
        );
        cmd.pass_fd(n2, w1).pass_fd(n1, w2);
        let status = cmd.status().unwrap();
        drop(cmd);
        assert!(status.success());
        let (mut a, mut b) = (String::new(), String::new());
        r1.read_to_string(&mut a).unwrap();
        r2.read_to_string(&mut b).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("one\n", "two\n"));
    });
}

#[test]
fn passed_fd_at_stdout_wins_over_stdio() {
    for_each_backend(|backend| {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let mut cmd = sh(backend, "echo passed");
        cmd.stdout(Stdio::null()).pass_fd(1, writer);
        assert!(cmd.status().unwrap().success());
        drop(cmd);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "passed\n");
    });
}

#[test]
fn child_gets_only_its_own_fds() {
    for_each_backend(|backend| {
        let mut cmd = Command::new("sh");
        cmd.backend(backend);
        assert_eq!(child_fds(cmd), expected_child_fds(&[]));

        let (_reader, writer) = std::io::pipe().unwrap();
        let mut cmd = Command::new("sh");
        cmd.backend(backend).pass_fd(9, writer);
        assert_eq!(child_fds(cmd), expected_child_fds(&[9]));
    });
}
