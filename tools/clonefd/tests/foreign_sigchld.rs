//! The crate touches no process-wide state, and code that does cannot
//! disturb it: this test installs its own SIGCHLD handler and runs
//! "foreign" children (std::process) that a `waitpid(-1)` loop reaps,
//! beside many children of the crate.
//!
//! On CLONE_FD, neither side sees the other: the reaper gets exactly the
//! foreign children, the handler hears only of them, and every crate child
//! reports its own status. On the pidfd fallback, the documented
//! difference: the crate's children send SIGCHLD once exec'ed and the
//! reaper may take some of them; `wait()` then fails with NotFound (never
//! with another process's status), and the reaper still gets all the
//! foreign ones.
//!
//! One test in this binary: the handler and the reaper are process-wide.

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use clonefd::{Backend, Command};

const FOREIGN: usize = 20;
const OURS_PER_THREAD: usize = 15;
const OUR_THREADS: usize = 4;

/// The pids the SIGCHLD handler heard of (si_pid), lock-free.
static HEARD: [AtomicI32; 4096] = [const { AtomicI32::new(0) }; 4096];
static HEARD_COUNT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigchld(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid SIGCHLD siginfo.
    let pid = unsafe { (*info).si_pid() };
    let slot = HEARD_COUNT.fetch_add(1, Ordering::Relaxed);
    if let Some(slot) = HEARD.get(slot) {
        slot.store(pid, Ordering::Relaxed);
    }
}

fn install_sigchld_handler() {
    // SAFETY: a handler that only touches atomics.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigchld as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()),
            0
        );
    }
}

fn heard() -> BTreeSet<i32> {
    let n = HEARD_COUNT.load(Ordering::Relaxed).min(HEARD.len());
    HEARD[..n]
        .iter()
        .map(|p| p.load(Ordering::Relaxed))
        .collect()
}

/// Reaps with waitpid(-1, &status, 0) until told to stop: (pid, status).
fn reaper(stop: &AtomicBool, reaped: &Mutex<Vec<(i32, i32)>>) {
    loop {
        let mut status = 0;
        // SAFETY: waits for any child, as foreign code would.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid > 0 {
            reaped.lock().unwrap().push((pid, status));
            continue;
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // ECHILD: no child to wait for right now.
        if stop.load(Ordering::Relaxed) {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Outcome of one crate child: its pid and what wait() said.
type Outcome = (u32, usize, io::Result<std::process::ExitStatus>);

fn round(backend: Backend) {
    eprintln!("backend: {backend}");
    HEARD_COUNT.store(0, Ordering::Relaxed);
    let stop = AtomicBool::new(false);
    let reaped = Mutex::new(Vec::new());
    let mut foreign_pids = BTreeSet::new();
    let mut outcomes: Vec<Outcome> = Vec::new();

    thread::scope(|s| {
        s.spawn(|| reaper(&stop, &reaped));
        let foreign = s.spawn(|| {
            let mut pids = BTreeSet::new();
            for i in 0..FOREIGN {
                // Not waited for here: the reaper takes it.
                #[allow(clippy::zombie_processes)]
                let child = std::process::Command::new("sh")
                    .args(["-c", &format!("exit {}", i % 100)])
                    .spawn()
                    .unwrap();
                pids.insert(child.id() as i32);
            }
            pids
        });
        let ours: Vec<_> = (0..OUR_THREADS)
            .map(|t| {
                s.spawn(move || {
                    (0..OURS_PER_THREAD)
                        .map(|i| {
                            let code = (t * OURS_PER_THREAD + i) % 200;
                            let mut child = Command::new("sh")
                                .args(["-c", &format!("exit {code}")])
                                .backend(backend)
                                .spawn()
                                .unwrap();
                            (child.id(), code, child.wait())
                        })
                        .collect::<Vec<Outcome>>()
                })
            })
            .collect();
        for handle in ours {
            outcomes.extend(handle.join().unwrap());
        }
        foreign_pids = foreign.join().unwrap();
        // Let the reaper collect the last foreign children, then stop.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let got: BTreeSet<i32> = reaped.lock().unwrap().iter().map(|r| r.0).collect();
            if foreign_pids.is_subset(&got) {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
    });

    let reaped = reaped.into_inner().unwrap();
    let reaped_pids: BTreeSet<i32> = reaped.iter().map(|r| r.0).collect();
    let our_pids: BTreeSet<i32> = outcomes.iter().map(|o| o.0 as i32).collect();
    assert!(
        foreign_pids.is_subset(&reaped_pids),
        "the reaper missed foreign children"
    );
    for (pid, status) in &reaped {
        if foreign_pids.contains(pid) {
            assert!(libc::WIFEXITED(*status));
        }
    }
    let stolen: BTreeSet<i32> = reaped_pids.intersection(&our_pids).copied().collect();
    let heard_ours: BTreeSet<i32> = heard().intersection(&our_pids).copied().collect();
    let mut lost = 0;
    for (pid, code, result) in outcomes {
        match result {
            Ok(status) => assert_eq!(status.code(), Some(code as i32), "pid {pid}"),
            Err(err) => {
                // Only the fallback, only for a child the reaper took.
                assert_eq!(backend, Backend::Pidfd, "pid {pid}: {err}");
                assert_eq!(err.kind(), io::ErrorKind::NotFound, "pid {pid}: {err}");
                assert!(stolen.contains(&(pid as i32)), "pid {pid}: {err}");
                lost += 1;
            }
        }
    }
    eprintln!(
        "foreign_sigchld on {backend}: foreign {}, ours {}, SIGCHLDs heard {} (from ours {}), \
         ours reaped by the foreign loop {}",
        foreign_pids.len(),
        our_pids.len(),
        HEARD_COUNT.load(Ordering::Relaxed),
        heard_ours.len(),
        lost
    );
    assert!(
        HEARD_COUNT.load(Ordering::Relaxed) > 0,
        "no SIGCHLD at all?"
    );
    if backend == Backend::CloneFd {
        assert!(stolen.is_empty(), "the foreign loop reaped crate children");
        assert!(heard_ours.is_empty(), "crate children sent SIGCHLD");
    }
}

#[test]
fn foreign_sigchld_handler_and_reaper_beside_crate_children() {
    install_sigchld_handler();
    for backend in Backend::available() {
        round(backend);
    }
}
