//! `Child::wait_async()`: waiting in a tokio runtime, through its reactor
//! (`tokio::io::unix::AsyncFd` on the child's descriptor). No SIGCHLD
//! handler, no reaper thread, no blocking thread: the CLONE_FD descriptor
//! (or the fallback's pidfd) becomes readable when the child exits.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::child::Child;
use crate::exit_info::ExitInfo;

/// The child's descriptor as the reactor sees it, without owning it (the
/// `Child` does, and outlives the registration).
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Child {
    /// Waits for the child to exit, without blocking the runtime's thread.
    /// Needs the crate's `tokio` feature and a tokio runtime with IO
    /// enabled. Closes the child's stdin first, as [`Child::wait`].
    ///
    /// Cancellation-safe: dropping the future before it completes loses
    /// nothing (the status is stored in the `Child` in the same step as it
    /// is collected) and removes the descriptor from the reactor; wait
    /// again with this or any other `wait` method.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or in one built without IO
    /// (`enable_io()`), as `tokio::io::unix::AsyncFd` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut child = clonefd::Command::new("true").spawn()?;
    /// assert!(child.wait_async().await?.success());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_async(&mut self) -> io::Result<ExitStatus> {
        Ok(self.wait_info_async().await?.status)
    }

    /// As [`wait_async`](Child::wait_async), with the child's resource
    /// usage.
    pub async fn wait_info_async(&mut self) -> io::Result<ExitInfo> {
        if let Some(info) = self.exit_info() {
            return Ok(info);
        }
        drop(self.stdin.take());
        let fd = Registered(self.as_raw_fd());
        // SAFETY: the descriptor is the Child's, which this function
        // borrows mutably: nothing closes or replaces it before
        // `registered` is dropped, at the latest when this future is.
        let registered = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        loop {
            let mut ready = registered.readable().await?;
            match self.try_wait_info()? {
                Some(info) => return Ok(info),
                None => ready.clear_ready(),
            }
        }
    }
}
