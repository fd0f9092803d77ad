//! Child processes as file descriptors, with `clone4(CLONE_FD)`.
//!
//! A [`Command`] in the shape of `std::process::Command` spawns a child
//! with `clone4(CLONE_FD | CLONE_VM | CLONE_VFORK)` (the clone4/CLONE_FD
//! patch series) and returns a [`Child`] that owns the child's CLONE_FD
//! descriptor. The child sends no SIGCHLD, is never seen by
//! `waitpid(-1, ...)`, is reaped by the kernel as soon as it exits, and
//! its exit status and resource usage are read from the descriptor. So
//! the crate needs nothing from the process: no SIGCHLD handler, no
//! reaper thread, no signalfd, and code elsewhere in the process that
//! reaps every child cannot take this crate's children's statuses.
//!
//! ```
//! use clonefd::{Command, Stdio};
//! use std::io::Read;
//!
//! let mut child = Command::new("sh")
//!     .args(["-c", "echo hi; exit 4"])
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let mut text = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut text)?;
//! let info = child.wait_info()?;
//! assert_eq!(text, "hi\n");
//! assert_eq!(info.status.code(), Some(4));
//! println!("{:?} user, {} KiB max RSS", info.rusage.user_time, info.rusage.max_rss_kib);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Kernels without CLONE_FD
//!
//! Syscall 463 is clone4() only on the patched kernel (mainline has
//! setxattrat(2) there), so the crate calls it only after recognising that
//! kernel by its symbols in `/proc/kallsyms` ([`Backend::detect`]).
//! Elsewhere it falls back to `clone3(CLONE_PIDFD)` with exit signal 0
//! (Linux 5.5 or later), polls the pidfd and reaps with
//! `waitid(P_PIDFD, WEXITED | __WALL)`, whose fifth argument gives the
//! resource usage. It also falls back, spawn by spawn, when the patched
//! kernel refuses clone4() with ENOSYS (a seccomp filter that does not
//! know it) or EINVAL (CLONE_FD not built in), unless
//! [`Command::backend`] forced CLONE_FD; [`Child::backend`] tells which
//! was used. The differences ([`Backend`] has a table):
//!
//! - the child is a zombie from its exit until it is waited for (or
//!   forever if its `Child` is dropped without waiting, as with std);
//! - execve(2) resets the exit signal to SIGCHLD, so an exec'ed child
//!   sends SIGCHLD when it exits, and code elsewhere in the process that
//!   reaps every child (`waitpid(-1, ...)`, SIGCHLD set to SIG_IGN) can
//!   take its status: [`Child::wait`] then fails with
//!   [`std::io::ErrorKind::NotFound`] (the pidfd still makes sure that no
//!   other process is waited for or signalled);
//! - [`Command::kill_on_close`] is emulated by `Drop`, not by the kernel;
//! - [`Child`]'s descriptor is a pidfd, not a CLONE_FD descriptor.
//!
//! # Safety of the child
//!
//! The child shares the parent's memory until it execs (CLONE_VM, as
//! posix_spawn does), and the parent thread waits meanwhile
//! (CLONE_VFORK). It runs on a stack of its own, with every signal handler
//! reset (CLONE_CLEAR_SIGHAND), makes only raw syscalls, allocates
//! nothing, and exits with 127 through a raw `exit` if it cannot exec,
//! after storing the errno for [`Command::spawn`] to return.
//!
//! A signal sent to the spawning thread meanwhile is not handled until
//! the child has exec'ed or exited: the kernel's vfork wait can be
//! interrupted by a fatal signal only, which ends the whole process (the
//! child keeps the shared memory alive until it execs). An interrupted
//! clone is restarted by the kernel (ERESTARTNOINTR). The crate's own
//! waits, polls and reads of the status are retried on EINTR, and a
//! blocking wait also blocks on a descriptor that an event loop made
//! nonblocking (O_NONBLOCK, or CLONEFD_NONBLOCK).
//!
//! # Features
//!
//! - `tokio`: `Child::wait_async()` and `Child::wait_info_async()`,
//!   through `tokio::io::unix::AsyncFd` on the child's descriptor.
//!
//! x86_64 Linux only.

mod abi;
#[cfg(feature = "tokio")]
mod async_wait;
mod backend;
mod child;
mod child_setup;
mod child_stack;
mod clonefd_file;
mod command;
mod exec_plan;
mod exit_info;
mod output;
mod pidfd;
mod raw_syscall;
mod readiness;
mod spawn;
mod stdio;

pub use backend::Backend;
pub use child::Child;
pub use command::Command;
pub use exit_info::{ExitInfo, Rusage};
pub use std::process::{ExitStatus, Output};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout, Stdio};
