//! Reading a child's stdout and stderr pipes to their ends at the same
//! time (a child that fills one pipe while we block on the other would
//! never finish), with poll(2).

use std::io::{self, Read};
use std::os::fd::AsRawFd;

use crate::stdio::{ChildStderr, ChildStdout};

/// Reads both pipes (those present) to end of file.
pub(crate) fn read_to_end_both(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    match (stdout, stderr) {
        (None, None) => {}
        (Some(mut stdout), None) => {
            stdout.read_to_end(&mut out)?;
        }
        (None, Some(mut stderr)) => {
            stderr.read_to_end(&mut err)?;
        }
        (Some(mut stdout), Some(mut stderr)) => {
            let mut open = [true, true];
            while open[0] || open[1] {
                let mut pfds = [
                    pollfd(stdout.as_raw_fd(), open[0]),
                    pollfd(stderr.as_raw_fd(), open[1]),
                ];
                // SAFETY: two pollfds, valid for the call.
                if unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) } < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                if pfds[0].revents != 0 {
                    open[0] = read_some(&mut stdout, &mut out)?;
                }
                if pfds[1].revents != 0 {
                    open[1] = read_some(&mut stderr, &mut err)?;
                }
            }
        }
    }
    Ok((out, err))
}

/// A pollfd for reading `fd`, or one that poll ignores.
fn pollfd(fd: i32, open: bool) -> libc::pollfd {
    libc::pollfd {
        fd: if open { fd } else { -1 },
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One read (poll said it won't block) appended to `buf`: whether the pipe
/// is still open.
fn read_some(pipe: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
