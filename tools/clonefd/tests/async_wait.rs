//! `wait_async()` in tokio runtimes, with no SIGCHLD handler and no
//! reaper thread: through the reactor, on each available backend.

#![cfg(feature = "tokio")]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use clonefd::{Backend, Command, Stdio};
use common::sh;
use tokio::task::JoinSet;

/// Spawns `count` children (`exit i % 7`), at most `in_flight` at once,
/// each awaited in a task of its own; checks every status.
async fn spawn_and_await(backend: Backend, count: usize, in_flight: usize) {
    let mut tasks = JoinSet::new();
    for i in 0..count {
        while tasks.len() >= in_flight {
            tasks.join_next().await.unwrap().unwrap();
        }
        let mut child = sh(backend, &format!("exit {}", i % 7)).spawn().unwrap();
        tasks.spawn(async move {
            let info = child.wait_info_async().await.unwrap();
            assert_eq!(info.status.code(), Some((i % 7) as i32));
            assert!(info.rusage.max_rss_kib > 0);
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
}

#[test]
fn many_children_on_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    for backend in Backend::available() {
        rt.block_on(spawn_and_await(backend, 30, 16));
    }
}

#[test]
fn many_children_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .unwrap();
    for backend in Backend::available() {
        rt.block_on(spawn_and_await(backend, 60, 32));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn killed_child_and_a_cancelled_wait() {
    for backend in Backend::available() {
        let mut child = Command::new("sleep")
            .arg("60")
            .backend(backend)
            .spawn()
            .unwrap();
        // A wait that times out is dropped: its registration goes away.
        let timed_out = tokio::time::timeout(Duration::from_millis(100), child.wait_async()).await;
        assert!(timed_out.is_err());
        child.kill().unwrap();
        let status = child.wait_async().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // Already waited: the same status at once.
        assert_eq!(child.wait_async().await.unwrap(), status);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn wait_closes_stdin_first() {
    for backend in Backend::available() {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .backend(backend)
            .spawn()
            .unwrap();
        assert!(child.wait_async().await.unwrap().success());
    }
}
