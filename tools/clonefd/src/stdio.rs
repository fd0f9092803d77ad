//! The child's standard streams: what [`Command::stdin`] and friends take
//! ([`Stdio`]) and the parent's ends of piped ones ([`ChildStdin`],
//! [`ChildStdout`], [`ChildStderr`]), as in `std::process`.
//!
//! [`Command::stdin`]: crate::Command::stdin

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// What a standard stream of the child is connected to.
///
/// ```
/// use clonefd::{Command, Stdio};
///
/// let output = Command::new("echo")
///     .arg("hello")
///     .stdout(Stdio::piped())
///     .output()?;
/// assert_eq!(output.stdout, b"hello\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Stdio(pub(crate) StdioKind);

pub(crate) enum StdioKind {
    /// The parent's descriptor, as it is.
    Inherit,
    /// `/dev/null`.
    Null,
    /// A new pipe; the parent gets the other end in the [`crate::Child`].
    Piped,
    /// This descriptor (which the `Command` keeps; the child gets a copy).
    Fd(OwnedFd),
}

impl Stdio {
    /// The parent's stream (the default of [`crate::Command::spawn`]).
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// `/dev/null`.
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A pipe to the parent, whose end is in `Child::stdin`, `stdout` or
    /// `stderr`.
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            StdioKind::Inherit => f.write_str("Stdio::inherit()"),
            StdioKind::Null => f.write_str("Stdio::null()"),
            StdioKind::Piped => f.write_str("Stdio::piped()"),
            StdioKind::Fd(fd) => write!(f, "Stdio::from(fd {})", fd.as_raw_fd()),
        }
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(StdioKind::Fd(fd))
    }
}

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio::from(OwnedFd::from(file))
    }
}

impl From<io::PipeReader> for Stdio {
    fn from(pipe: io::PipeReader) -> Stdio {
        Stdio::from(OwnedFd::from(pipe))
    }
}

impl From<io::PipeWriter> for Stdio {
    fn from(pipe: io::PipeWriter) -> Stdio {
        Stdio::from(OwnedFd::from(pipe))
    }
}

/// Implements the traits every parent end of a pipe has.
macro_rules! pipe_end {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name {
            inner: File,
        }

        impl $name {
            pub(crate) fn new(fd: OwnedFd) -> $name {
                $name { inner: File::from(fd) }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.inner.as_raw_fd())
                    .finish()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl IntoRawFd for $name {
            fn into_raw_fd(self) -> RawFd {
                self.inner.into_raw_fd()
            }
        }

        impl From<$name> for OwnedFd {
            fn from(end: $name) -> OwnedFd {
                end.inner.into()
            }
        }

        /// Connects another child to this pipe (`a | b`).
        impl From<$name> for Stdio {
            fn from(end: $name) -> Stdio {
                Stdio::from(OwnedFd::from(end))
            }
        }

        impl FromRawFd for $name {
            /// # Safety
            ///
            /// `fd` is an open descriptor that nothing else owns.
            unsafe fn from_raw_fd(fd: RawFd) -> $name {
                // SAFETY: the caller's contract.
                $name::new(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        }
    };
}

pipe_end! {
    /// The parent's end of the child's standard input (a pipe).
    ChildStdin
}

pipe_end! {
    /// The parent's end of the child's standard output (a pipe).
    ChildStdout
}

pipe_end! {
    /// The parent's end of the child's standard error (a pipe).
    ChildStderr
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
