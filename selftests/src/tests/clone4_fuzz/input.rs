//! One clone4() call of the fuzzer: what it passes, as kinds (where each
//! pointer points) that the arena turns into addresses, and how it prints.

use std::fmt;

use super::arena::{Arena, Target, DATA_PAGES, PAGE};
use crate::clone4::Clone4Args;
use crate::uapi;

/// The sizes of the published structs.
pub(super) const VER0: u64 = uapi::CLONE4_ARGS_SIZE_VER0 as u64;
pub(super) const VER1: u64 = uapi::CLONE4_ARGS_SIZE_VER1 as u64;
/// The fields of `struct clone4_args`, 8 bytes each.
const FIELDS: usize = std::mem::size_of::<Clone4Args>() / 8;

/// The flags, as the 64-bit value clone4() combines.
/// The low byte (`CSIGNAL`, which the UAPI bindings do not include).
pub(super) const CSIGNAL: u64 = 0xff;
pub(super) const CLONE_VM: u64 = uapi::CLONE_VM as u64;
pub(super) const CLONE_FS: u64 = uapi::CLONE_FS as u64;
pub(super) const CLONE_FILES: u64 = uapi::CLONE_FILES as u64;
pub(super) const CLONE_SIGHAND: u64 = uapi::CLONE_SIGHAND as u64;
pub(super) const CLONE_PIDFD: u64 = uapi::CLONE_PIDFD as u64;
pub(super) const CLONE_PTRACE: u64 = uapi::CLONE_PTRACE as u64;
pub(super) const CLONE_VFORK: u64 = uapi::CLONE_VFORK as u64;
pub(super) const CLONE_PARENT: u64 = uapi::CLONE_PARENT as u64;
pub(super) const CLONE_THREAD: u64 = uapi::CLONE_THREAD as u64;
pub(super) const CLONE_NEWNS: u64 = uapi::CLONE_NEWNS as u64;
pub(super) const CLONE_SYSVSEM: u64 = uapi::CLONE_SYSVSEM as u64;
pub(super) const CLONE_SETTLS: u64 = uapi::CLONE_SETTLS as u64;
pub(super) const CLONE_PARENT_SETTID: u64 = uapi::CLONE_PARENT_SETTID as u64;
pub(super) const CLONE_CHILD_CLEARTID: u64 = uapi::CLONE_CHILD_CLEARTID as u64;
pub(super) const CLONE_DETACHED: u64 = uapi::CLONE_DETACHED as u64;
pub(super) const CLONE_UNTRACED: u64 = uapi::CLONE_UNTRACED as u64;
pub(super) const CLONE_CHILD_SETTID: u64 = uapi::CLONE_CHILD_SETTID as u64;
pub(super) const CLONE_NEWCGROUP: u64 = uapi::CLONE_NEWCGROUP as u64;
pub(super) const CLONE_NEWUTS: u64 = uapi::CLONE_NEWUTS as u64;
pub(super) const CLONE_NEWIPC: u64 = uapi::CLONE_NEWIPC as u64;
pub(super) const CLONE_NEWUSER: u64 = uapi::CLONE_NEWUSER as u64;
pub(super) const CLONE_NEWPID: u64 = uapi::CLONE_NEWPID as u64;
pub(super) const CLONE_NEWNET: u64 = uapi::CLONE_NEWNET as u64;
pub(super) const CLONE_IO: u64 = uapi::CLONE_IO as u64;
pub(super) const CLONE_CLEAR_SIGHAND: u64 = uapi::CLONE_CLEAR_SIGHAND;
pub(super) const CLONE_INTO_CGROUP: u64 = uapi::CLONE_INTO_CGROUP;
pub(super) const CLONE_FD: u64 = uapi::CLONE_FD;
pub(super) const CLONEFD_CLOEXEC: u64 = uapi::CLONEFD_CLOEXEC as u64;
pub(super) const CLONEFD_NONBLOCK: u64 = uapi::CLONEFD_NONBLOCK as u64;
pub(super) const CLONEFD_KILL_ON_CLOSE: u64 = uapi::CLONEFD_KILL_ON_CLOSE as u64;
/// The CLONEFD_* flags (the low byte with CLONE_FD).
pub(super) const CLONEFD_FLAGS: u64 = CLONEFD_CLOEXEC | CLONEFD_NONBLOCK | CLONEFD_KILL_ON_CLOSE;
/// The namespace flags.
pub(super) const NAMESPACES: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// The names of flag bits 8 to 37, for messages.
const NAMES: &[(u64, &str)] = &[
    (CLONE_VM, "VM"),
    (CLONE_FS, "FS"),
    (CLONE_FILES, "FILES"),
    (CLONE_SIGHAND, "SIGHAND"),
    (CLONE_PIDFD, "PIDFD"),
    (CLONE_PTRACE, "PTRACE"),
    (CLONE_VFORK, "VFORK"),
    (CLONE_PARENT, "PARENT"),
    (CLONE_THREAD, "THREAD"),
    (CLONE_NEWNS, "NEWNS"),
    (CLONE_SYSVSEM, "SYSVSEM"),
    (CLONE_SETTLS, "SETTLS"),
    (CLONE_PARENT_SETTID, "PARENT_SETTID"),
    (CLONE_CHILD_CLEARTID, "CHILD_CLEARTID"),
    (CLONE_DETACHED, "DETACHED"),
    (CLONE_UNTRACED, "UNTRACED"),
    (CLONE_CHILD_SETTID, "CHILD_SETTID"),
    (CLONE_NEWCGROUP, "NEWCGROUP"),
    (CLONE_NEWUTS, "NEWUTS"),
    (CLONE_NEWIPC, "NEWIPC"),
    (CLONE_NEWUSER, "NEWUSER"),
    (CLONE_NEWPID, "NEWPID"),
    (CLONE_NEWNET, "NEWNET"),
    (CLONE_IO, "IO"),
    (CLONE_CLEAR_SIGHAND, "CLEAR_SIGHAND"),
    (CLONE_INTO_CGROUP, "INTO_CGROUP"),
    (CLONE_FD, "FD"),
];

/// Where `args` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArgsAt {
    Null,
    /// KERNEL_ADDRESS plus this.
    Kernel(u64),
    /// This offset into the guard page: nothing readable.
    Guard(usize),
    /// `readable` bytes before the guard page, in pages that are
    /// read-write, or read-only during the call.
    Region {
        readable: usize,
        read_only: bool,
    },
}

/// What `clonefd` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClonefdField {
    /// Where it points (Null: 0).
    At(Target),
    /// The value of `ptid`.
    SameAsPtid,
}

/// What `stack_start` and `stack_size` hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stack {
    /// 0 and 0: the child returns on (a copy of) the caller's stack.
    None,
    /// `stack_size` without `stack_start`: EINVAL.
    SizeOnly(u64),
    /// A range that access_ok() refuses (at a kernel address, or
    /// reaching past 2^63 or wrapping): EINVAL.
    BadRange(u64, u64),
    /// `stack_start` alone: the child's stack pointer.
    Pointer(u64),
    /// The region's data pages: a valid range.
    Range,
}

/// The bytes past the struct, up to `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tail {
    Zero,
    /// One nonzero byte at this offset from `args` (48 or more).
    NonZero {
        at: u64,
        byte: u8,
    },
}

/// The fields as the kernel reads them (0 for those past `size`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Fields {
    pub(super) ptid: u64,
    pub(super) ctid: u64,
    pub(super) stack_start: u64,
    pub(super) stack_size: u64,
    pub(super) tls: u64,
    pub(super) clonefd: u64,
}

/// One clone4() call.
#[derive(Debug, Clone)]
pub(super) struct Input {
    /// The registers of `flags_high` and `flags_low`: the kernel takes
    /// their low 32 bits.
    pub(super) high_reg: u64,
    pub(super) low_reg: u64,
    pub(super) size: u64,
    pub(super) args: ArgsAt,
    pub(super) ptid: Target,
    pub(super) ctid: Target,
    pub(super) stack: Stack,
    pub(super) tls: u64,
    pub(super) clonefd: ClonefdField,
    pub(super) tail: Tail,
    /// RLIMIT_NOFILE is lowered to the lowest free fd (from 3) for the
    /// call: no fd can be allocated.
    pub(super) rlimit: bool,
    /// The child's exit code.
    pub(super) code: u8,
}

impl Input {
    /// The 64 flags the kernel sees.
    pub(super) fn flags(&self) -> u64 {
        (u64::from(self.high_reg as u32) << 32) | u64::from(self.low_reg as u32)
    }

    /// The low byte: the exit signal, or with CLONE_FD the CLONEFD_ flags.
    pub(super) fn low_byte(&self) -> u64 {
        self.flags() & CSIGNAL
    }

    pub(super) fn has(&self, flag: u64) -> bool {
        self.flags() & flag != 0
    }

    /// The exit signal the child would have.
    pub(super) fn exit_signal(&self) -> u64 {
        if self.has(CLONE_FD) {
            0
        } else {
            self.low_byte()
        }
    }

    /// The fields as written in memory.
    pub(super) fn fields(&self, arena: &Arena) -> Fields {
        let ptid = arena.target(self.ptid);
        let (stack_start, stack_size) = match self.stack {
            Stack::None => (0, 0),
            Stack::SizeOnly(size) => (0, size),
            Stack::BadRange(start, size) => (start, size),
            Stack::Pointer(start) => (start, 0),
            Stack::Range => (arena.region_start() as u64, (DATA_PAGES * PAGE) as u64),
        };
        Fields {
            ptid,
            ctid: arena.target(self.ctid),
            stack_start,
            stack_size,
            tls: self.tls,
            clonefd: match self.clonefd {
                ClonefdField::At(target) => arena.target(target),
                ClonefdField::SameAsPtid => ptid,
            },
        }
    }

    /// The fields the kernel reads with this size (0 past it), if it
    /// reads them.
    pub(super) fn effective(&self, arena: &Arena) -> Fields {
        let words = self.fields(arena).to_words();
        let read = (self.size.min(VER1) / 8) as usize;
        let mut seen = [0; FIELDS];
        seen[..read].copy_from_slice(&words[..read]);
        Fields::from_words(seen)
    }

    /// The bytes of the struct and its tail, as far as the kernel may
    /// read them (`size` bytes, at most a page).
    pub(super) fn image(&self, arena: &Arena) -> Vec<u8> {
        let len = self.size.min(PAGE as u64) as usize;
        let mut bytes: Vec<u8> = self
            .fields(arena)
            .to_words()
            .iter()
            .flat_map(|word| word.to_ne_bytes())
            .collect();
        bytes.resize(len.max(bytes.len()), 0);
        bytes.truncate(len);
        if let Tail::NonZero { at, byte } = self.tail {
            if let Some(slot) = bytes.get_mut(at as usize) {
                *slot = byte;
            }
        }
        bytes
    }

    /// Whether a pointer the kernel may write in the parent (ptid, clonefd)
    /// points to the read-only page.
    pub(super) fn targets_read_only(&self) -> bool {
        let read_only = |target| matches!(target, Target::ReadOnly(_));
        read_only(self.ptid) || matches!(self.clonefd, ClonefdField::At(t) if read_only(t))
    }

    /// How many bytes from `args` are readable (None: access_ok()
    /// refuses the pointer).
    pub(super) fn readable(&self) -> Option<u64> {
        match self.args {
            ArgsAt::Kernel(_) => None,
            ArgsAt::Null | ArgsAt::Guard(_) => Some(0),
            ArgsAt::Region { readable, .. } => Some(readable as u64),
        }
    }
}

impl Fields {
    fn to_words(self) -> [u64; FIELDS] {
        [
            self.ptid,
            self.ctid,
            self.stack_start,
            self.stack_size,
            self.tls,
            self.clonefd,
        ]
    }

    fn from_words(words: [u64; FIELDS]) -> Self {
        let [ptid, ctid, stack_start, stack_size, tls, clonefd] = words;
        Fields {
            ptid,
            ctid,
            stack_start,
            stack_size,
            tls,
            clonefd,
        }
    }
}

/// `flags` as names: `FD|PARENT_SETTID|sig 17|bit 40`.
pub(super) fn flag_names(flags: u64) -> String {
    let mut names: Vec<String> = NAMES
        .iter()
        .filter(|(flag, _)| flags & flag != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let named: u64 = NAMES
        .iter()
        .map(|(flag, _)| flag)
        .fold(CSIGNAL, |a, b| a | b);
    names.extend(
        (0..64)
            .filter(|bit| flags & !named & (1 << bit) != 0)
            .map(|bit| format!("bit {bit}")),
    );
    let low = flags & CSIGNAL;
    if low != 0 {
        names.push(if flags & CLONE_FD != 0 {
            format!("clonefd flags {low:#x}")
        } else {
            format!("sig {low}")
        });
    }
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join("|")
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clone4(flags {:#x} = {}, registers {:#x}/{:#x}, size {}, args {:?}), \
             ptid {:?}, ctid {:?}, stack {:?}, tls {:#x}, clonefd {:?}, tail {:?}, \
             rlimit {}, child code {}",
            self.flags(),
            flag_names(self.flags()),
            self.high_reg,
            self.low_reg,
            self.size,
            self.args,
            self.ptid,
            self.ctid,
            self.stack,
            self.tls,
            self.clonefd,
            self.tail,
            self.rlimit,
            self.code
        )
    }
}
