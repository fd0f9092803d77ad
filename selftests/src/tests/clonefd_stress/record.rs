//! What the readers and tracers saw, and the pipe on which helper
//! processes send it to the test.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::PollFlags;

use super::plan::Method;
use super::BOUND;
use crate::ktap::Failure;
use crate::tests::clonefd_common::poll_in;

/// Who read or saw what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The test's epoll thread.
    Collector,
    Thread(Method),
    ForkHolder,
    ScmReceiver,
    TracerProcess,
    TracerThread,
}

impl Source {
    fn word(self) -> u32 {
        match self {
            Source::Collector => 0,
            Source::Thread(Method::Read) => 1,
            Source::Thread(Method::Poll) => 2,
            Source::Thread(Method::Epoll) => 3,
            Source::ForkHolder => 4,
            Source::ScmReceiver => 5,
            Source::TracerProcess => 6,
            Source::TracerThread => 7,
        }
    }

    fn from_word(word: u32) -> Source {
        match word {
            0 => Source::Collector,
            1 => Source::Thread(Method::Read),
            2 => Source::Thread(Method::Poll),
            3 => Source::Thread(Method::Epoll),
            4 => Source::ForkHolder,
            5 => Source::ScmReceiver,
            6 => Source::TracerProcess,
            _ => Source::TracerThread,
        }
    }
}

/// What one read (or one tracer) saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// A whole clonefd_info; `released`: GETPID then gave ESRCH;
    /// `reread`: what the next read() gave (bytes, or -errno), which must
    /// be 0.
    Report {
        code: u32,
        status: u32,
        released: bool,
        reread: i32,
    },
    /// read() gave 0.
    Eof,
    /// read() gave another length.
    Short(u32),
    /// read() (or poll, epoll) failed with this errno.
    Failed(i32),
    /// Not readable before the reader's deadline.
    TimedOut,
    /// After the read, poll() did not say POLLIN | POLLHUP: the revents.
    BadPoll(u32),
    /// The watching tracer's waitpid() reported this exit.
    TracerSaw { code: u32, status: u32 },
    /// The tracer seized, stopped and detached.
    TracerDetached,
    /// A ptrace step failed: errno, or 1000 for an unexpected wait status.
    TracerFailed(i32),
}

/// The words of a [`Seen`] in a [`Record`].
const SEEN_WORDS: usize = 5;

impl Seen {
    fn words(self) -> [u32; SEEN_WORDS] {
        match self {
            Seen::Report {
                code,
                status,
                released,
                reread,
            } => [1, code, status, u32::from(released), reread as u32],
            Seen::Eof => [2, 0, 0, 0, 0],
            Seen::Short(len) => [3, len, 0, 0, 0],
            Seen::Failed(errno) => [4, errno as u32, 0, 0, 0],
            Seen::TimedOut => [5, 0, 0, 0, 0],
            Seen::BadPoll(bits) => [6, bits, 0, 0, 0],
            Seen::TracerSaw { code, status } => [7, code, status, 0, 0],
            Seen::TracerDetached => [8, 0, 0, 0, 0],
            Seen::TracerFailed(errno) => [9, errno as u32, 0, 0, 0],
        }
    }

    fn from_words(w: [u32; SEEN_WORDS]) -> Seen {
        match w[0] {
            1 => Seen::Report {
                code: w[1],
                status: w[2],
                released: w[3] != 0,
                reread: w[4] as i32,
            },
            2 => Seen::Eof,
            3 => Seen::Short(w[1]),
            4 => Seen::Failed(w[1] as i32),
            5 => Seen::TimedOut,
            6 => Seen::BadPoll(w[1]),
            7 => Seen::TracerSaw {
                code: w[1],
                status: w[2],
            },
            8 => Seen::TracerDetached,
            _ => Seen::TracerFailed(w[1] as i32),
        }
    }
}

/// One observation of a child of the round (its index in the round).
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    pub(super) child: u32,
    pub(super) by: Source,
    pub(super) seen: Seen,
}

/// Its words: the child, the source, and the [`Seen`].
const RECORD_WORDS: usize = 2 + SEEN_WORDS;
const RECORD_SIZE: usize = 4 * RECORD_WORDS;
/// The child of the record a helper sends once it is ready.
const READY: u32 = u32::MAX;

impl Record {
    fn to_bytes(self) -> [u8; RECORD_SIZE] {
        let mut words = [0u32; RECORD_WORDS];
        words[0] = self.child;
        words[1] = self.by.word();
        words[2..].copy_from_slice(&self.seen.words());
        let mut bytes = [0u8; RECORD_SIZE];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        bytes
    }

    fn from_bytes(bytes: &[u8; RECORD_SIZE]) -> Record {
        let mut words = [0u32; RECORD_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_ne_bytes(chunk.try_into().expect("4 bytes"));
        }
        let seen: [u32; SEEN_WORDS] = words[2..].try_into().expect("the Seen words");
        Record {
            child: words[0],
            by: Source::from_word(words[1]),
            seen: Seen::from_words(seen),
        }
    }
}

/// The pipe on which helper processes send their records (one write of
/// RECORD_SIZE bytes each, atomic below PIPE_BUF).
pub(super) struct Reports {
    reader: PipeReader,
    pub(super) writer: PipeWriter,
}

impl Reports {
    pub(super) fn new() -> io::Result<Self> {
        let (reader, writer) = io::pipe()?;
        Ok(Reports { reader, writer })
    }

    /// In a helper.
    pub(super) fn send(&self, record: Record) {
        let _ = (&self.writer).write_all(&record.to_bytes());
    }

    /// In a helper: says it is ready (a record for no child).
    pub(super) fn send_ready(&self) {
        self.send(Record {
            child: READY,
            by: Source::Collector,
            seen: Seen::Eof,
        })
    }

    /// In the test: waits for [`Reports::send_ready`], for at most BOUND
    /// (the tracer seizes and stops tracees first).
    pub(super) fn await_ready(&self, helper: &str) -> Result<(), Failure> {
        match self.next(Instant::now() + BOUND) {
            Some(record) if record.child == READY => Ok(()),
            other => fail!("the {helper} process did not say it was ready: {other:?}"),
        }
    }

    /// The next record, if one comes before `deadline`.
    pub(super) fn next(&self, deadline: Instant) -> Option<Record> {
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = poll_in(self.reader.as_fd(), left).ok()?;
        if !ready.contains(PollFlags::POLLIN) {
            return None;
        }
        let mut bytes = [0u8; RECORD_SIZE];
        (&self.reader).read_exact(&mut bytes).ok()?;
        Some(Record::from_bytes(&bytes))
    }
}
