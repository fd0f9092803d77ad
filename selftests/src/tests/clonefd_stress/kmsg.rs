//! Kernel reports in /dev/kmsg since the test started.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::unistd::{lseek, Whence};

use crate::ktap;

/// What a kernel report in /dev/kmsg contains.
const KMSG_BAD: &[&str] = &[
    "BUG:",
    "kernel BUG at",
    "WARNING:",
    "Oops",
    "general protection fault",
    "refcount_t:",
    "KASAN",
    "UBSAN",
    "ODEBUG",
    "circular locking",
    "possible recursive",
];

/// /dev/kmsg, read from where it was when the test started.
pub(super) struct Kmsg(File);

impl Kmsg {
    /// None (with a diagnostic) if it cannot be read.
    pub(super) fn open() -> Option<Kmsg> {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/kmsg");
        match opened {
            Ok(file) => match lseek(file.as_fd(), 0, Whence::SeekEnd) {
                Ok(_) => Some(Kmsg(file)),
                Err(err) => {
                    ktap::diag(&format!("dmesg check: SKIP: lseek(/dev/kmsg): {err}"));
                    None
                }
            },
            Err(err) => {
                ktap::diag(&format!("dmesg check: SKIP: /dev/kmsg: {err}"));
                None
            }
        }
    }

    /// The messages since the open that contain one of KMSG_BAD.
    pub(super) fn reports_since_open(&mut self) -> io::Result<Vec<String>> {
        let mut bad = Vec::new();
        let mut record = vec![0u8; 8192];
        loop {
            match self.0.read(&mut record) {
                Ok(0) => return Ok(bad),
                Ok(n) => {
                    let text = String::from_utf8_lossy(&record[..n]);
                    let message = text.split_once(';').map_or(&*text, |(_, m)| m);
                    let first = message.lines().next().unwrap_or("");
                    if KMSG_BAD.iter().any(|pattern| first.contains(pattern)) {
                        bad.push(first.to_owned());
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(bad),
                // EPIPE: records were overwritten; the read goes on after them.
                Err(err) if err.raw_os_error() == Some(libc::EPIPE) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}
