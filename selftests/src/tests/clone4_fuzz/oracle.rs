//! What a call may give: an errno of the documented set, always; and,
//! from the order of the checks of clone4_prepare() and copy_process(),
//! the exact outcome where it is certain.
//!
//! clone4_prepare() (patches 0001 and 0011) checks, in this order, and
//! fails at the first that holds:
//!
//! 1. `size` > 4096: E2BIG;
//! 2. `size` not 0, 40, or 48 and more: EINVAL;
//! 3. reading `size` bytes at `args` (copy_struct_from_user(): the bytes
//!    past 48 first, word by word, then the 48): EFAULT where a byte is
//!    unreadable, E2BIG where a nonzero byte past 48 comes first;
//! 4. a flag clone4() does not take: EINVAL;
//! 5. with CLONE_FD, a low-byte bit that is no CLONEFD_ flag, CLONE_PARENT,
//!    KILL_ON_CLOSE with CLONE_THREAD, `clonefd` == `ptid` with
//!    CLONE_PARENT_SETTID; without it, a nonzero `clonefd`: EINVAL;
//! 6. an exit signal above 64: EINVAL;
//! 7. CLONE_SIGHAND with CLONE_CLEAR_SIGHAND, CLONE_THREAD or CLONE_PARENT
//!    with an exit signal: EINVAL;
//! 8. a `stack_size` with a `stack_start` of 0 or a range access_ok()
//!    refuses: EINVAL.
//!
//! Then copy_process() refuses, before it allocates anything, CLONE_NEWNS
//! or CLONE_NEWUSER with CLONE_FS, CLONE_THREAD without CLONE_SIGHAND,
//! CLONE_SIGHAND without CLONE_VM, CLONE_THREAD with CLONE_NEWUSER or
//! CLONE_NEWPID: EINVAL. What follows depends on the system too
//! (namespaces, memory, process limits), but some inputs make it fail for
//! sure: CLONE_NEWIPC with CLONE_SYSVSEM (copy_namespaces(): EINVAL), and
//! with CLONE_FD, KILL_ON_CLOSE without the privilege (EPERM), no free fd
//! under RLIMIT_NOFILE (EMFILE), an unwritable `clonefd` (EFAULT).

use std::ffi::c_long;
use std::fmt;

use nix::errno::Errno;

use super::arena::{Arena, KERNEL_ADDRESS, PAGE};
use super::input::*;

/// The errors clone4() may give: clone4(2)'s ERRORS and those of clone(2)
/// that the fuzzer's inputs can reach, with why. Left out: ENOSYS
/// (clone4() was seen working), EACCES, EBUSY and EOPNOTSUPP (only for
/// CLONE_INTO_CGROUP, which clone4() refuses with EINVAL before), EEXIST
/// (`set_tid`, which clone4_args lacks), ERESTARTNOINTR (never returned to
/// user space).
pub(super) const DOCUMENTED: &[(Errno, &str)] = &[
    (
        Errno::E2BIG,
        "clone4(2): size larger than a page, or a nonzero byte past the struct",
    ),
    (
        Errno::EINVAL,
        "clone4(2), clone(2): a flag, exit signal, size, field or combination refused",
    ),
    (
        Errno::EFAULT,
        "clone4(2): args unreadable for size bytes, or clonefd not writable",
    ),
    (Errno::EMFILE, "clone4(2): CLONE_FD at RLIMIT_NOFILE"),
    (
        Errno::ENFILE,
        "clone4(2): CLONE_FD at the system-wide limit of open files",
    ),
    (
        Errno::ENOMEM,
        "clone(2), clone4(2): not enough kernel memory",
    ),
    (
        Errno::EPERM,
        "clone4(2): CLONEFD_KILL_ON_CLOSE without no_new_privs or CAP_SYS_ADMIN; \
         clone(2): a namespace flag without the privilege it needs",
    ),
    (
        Errno::EAGAIN,
        "clone(2): too many processes (RLIMIT_NPROC, threads-max, pids cgroup)",
    ),
    (
        Errno::ENOSPC,
        "clone(2): a namespace flag at a namespace count or depth limit",
    ),
    (
        Errno::EUSERS,
        "clone(2): CLONE_NEWUSER at the nesting limit (before Linux 4.9)",
    ),
];

/// What the running kernel and the test process have.
pub(super) struct Ctx {
    /// CLONE_FD works (else it is an unknown flag: EINVAL).
    pub(super) clonefd: bool,
    /// no_new_privs or CAP_SYS_ADMIN: KILL_ON_CLOSE is allowed.
    pub(super) kill_on_close_allowed: bool,
}

/// The prediction for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
    /// Refused before anything is created: exactly this error, for this.
    Error(Errno, &'static str),
    /// Must fail, for this reason, with one of these.
    Failure(Vec<Errno>, &'static str),
    /// A child, or one of these errors.
    Child(Vec<Errno>),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Error(errno, why) => write!(f, "{errno:?} ({why})"),
            Expect::Failure(errnos, why) => write!(f, "one of {errnos:?} ({why})"),
            Expect::Child(errnos) if errnos.is_empty() => write!(f, "a child"),
            Expect::Child(errnos) => write!(f, "a child, or one of {errnos:?}"),
        }
    }
}

/// The flags clone4() takes: clone(2)'s above the low byte, less
/// CLONE_DETACHED and CLONE_PIDFD, plus CLONE_CLEAR_SIGHAND and CLONE_FD
/// (if the kernel has it).
fn accepted_flags(ctx: &Ctx) -> u64 {
    let legacy = 0xffff_ffff & !CSIGNAL & !(CLONE_DETACHED | CLONE_PIDFD);
    legacy | CLONE_CLEAR_SIGHAND | if ctx.clonefd { CLONE_FD } else { 0 }
}

/// Steps 1 to 8 of the module comment: the error clone4_prepare() gives.
pub(super) fn prepare_error(
    input: &Input,
    ctx: &Ctx,
    arena: &Arena,
) -> Option<(Errno, &'static str)> {
    let size = input.size;
    if size > PAGE as u64 {
        return Some((Errno::E2BIG, "size larger than a page"));
    }
    if size != 0 && size != VER0 && size < VER1 {
        return Some((Errno::EINVAL, "size ends inside a field"));
    }
    if size != 0 {
        if let Some(error) = read_error(input) {
            return Some(error);
        }
    }
    let flags = input.flags();
    let fields = input.effective(arena);
    if flags & !CSIGNAL & !accepted_flags(ctx) != 0 {
        return Some((Errno::EINVAL, "a flag clone4() does not take"));
    }
    if let Some(why) = clonefd_error(input, &fields) {
        return Some((Errno::EINVAL, why));
    }
    let exit_signal = input.exit_signal();
    if exit_signal > 64 {
        return Some((Errno::EINVAL, "an exit signal above 64"));
    }
    if input.has(CLONE_SIGHAND) && input.has(CLONE_CLEAR_SIGHAND) {
        return Some((Errno::EINVAL, "CLONE_SIGHAND with CLONE_CLEAR_SIGHAND"));
    }
    if input.has(CLONE_THREAD | CLONE_PARENT) && exit_signal != 0 {
        return Some((
            Errno::EINVAL,
            "an exit signal with CLONE_THREAD or CLONE_PARENT",
        ));
    }
    if fields.stack_size != 0
        && (fields.stack_start == 0 || !stack_range_ok(fields.stack_start, fields.stack_size))
    {
        return Some((Errno::EINVAL, "a stack_size without a valid stack range"));
    }
    None
}

/// Step 3: reading the struct (the caller checked the size).
fn read_error(input: &Input) -> Option<(Errno, &'static str)> {
    let Some(readable) = input.readable() else {
        return Some((Errno::EFAULT, "args at a kernel address"));
    };
    if input.size > VER1 {
        // The tail first: a nonzero byte before the first unreadable one.
        if let Tail::NonZero { at, .. } = input.tail {
            if at < input.size && at < readable {
                return Some((Errno::E2BIG, "a nonzero byte past the struct"));
            }
        }
    }
    if readable < input.size {
        return Some((Errno::EFAULT, "args not readable for size bytes"));
    }
    None
}

/// Step 5.
fn clonefd_error(input: &Input, fields: &Fields) -> Option<&'static str> {
    if !input.has(CLONE_FD) {
        return (fields.clonefd != 0).then_some("a nonzero clonefd without CLONE_FD");
    }
    if input.low_byte() & !CLONEFD_FLAGS != 0 {
        return Some("a low-byte bit that is no CLONEFD_ flag");
    }
    if input.has(CLONE_PARENT) {
        return Some("CLONE_FD with CLONE_PARENT");
    }
    if input.low_byte() & CLONEFD_KILL_ON_CLOSE != 0 && input.has(CLONE_THREAD) {
        return Some("CLONEFD_KILL_ON_CLOSE with CLONE_THREAD");
    }
    if input.has(CLONE_PARENT_SETTID) && fields.clonefd != 0 && fields.clonefd == fields.ptid {
        return Some("clonefd == ptid with CLONE_PARENT_SETTID");
    }
    None
}

/// access_ok(start, size) on x86_64, for the ranges the fuzzer makes:
/// valid in the lowest 2^47 - 4096 bytes (user space with 4-level paging,
/// the smallest), invalid past 2^63 or wrapping. Panics between: the
/// generator must not make such a range.
pub(super) fn stack_range_ok(start: u64, size: u64) -> bool {
    const USER_CERTAIN: u64 = (1 << 47) - PAGE as u64;
    match start.checked_add(size) {
        None => false,
        Some(end) if start >= KERNEL_ADDRESS || end >= 1 << 63 => false,
        Some(end) if end <= USER_CERTAIN => true,
        Some(_) => panic!("stack range {start:#x}+{size:#x}: access_ok() is not certain"),
    }
}

/// copy_process()'s first checks, before it allocates anything.
fn copy_process_error(flags: u64) -> Option<&'static str> {
    let has = |flag: u64| flags & flag == flag;
    if has(CLONE_NEWNS | CLONE_FS) {
        Some("CLONE_NEWNS with CLONE_FS")
    } else if has(CLONE_NEWUSER | CLONE_FS) {
        Some("CLONE_NEWUSER with CLONE_FS")
    } else if has(CLONE_THREAD) && !has(CLONE_SIGHAND) {
        Some("CLONE_THREAD without CLONE_SIGHAND")
    } else if has(CLONE_SIGHAND) && !has(CLONE_VM) {
        Some("CLONE_SIGHAND without CLONE_VM")
    } else if has(CLONE_THREAD) && flags & (CLONE_NEWUSER | CLONE_NEWPID) != 0 {
        Some("CLONE_THREAD with CLONE_NEWUSER or CLONE_NEWPID")
    } else {
        None
    }
}

/// The prediction for `input`.
pub(super) fn predict(input: &Input, ctx: &Ctx, arena: &Arena) -> Expect {
    if let Some((errno, why)) = prepare_error(input, ctx, arena) {
        return Expect::Error(errno, why);
    }
    if let Some(why) = copy_process_error(input.flags()) {
        return Expect::Error(Errno::EINVAL, why);
    }
    // What the system may refuse, documented, whatever the input.
    let mut may = vec![Errno::ENOMEM, Errno::EAGAIN];
    if input.has(NAMESPACES) {
        may.extend([Errno::ENOSPC, Errno::EPERM, Errno::EUSERS]);
    }
    if input.has(CLONE_FD) {
        may.push(Errno::ENFILE);
    }
    let failure = |first: Errno, why| {
        let mut errnos = vec![first];
        errnos.extend(may.iter().filter(|&&e| e != first));
        Expect::Failure(errnos, why)
    };
    // copy_namespaces(), after the checks of the privilege it needs.
    if input.has(CLONE_NEWIPC) && input.has(CLONE_SYSVSEM) {
        return failure(Errno::EINVAL, "CLONE_NEWIPC with CLONE_SYSVSEM");
    }
    if !input.has(CLONE_FD) {
        return Expect::Child(may);
    }
    if input.low_byte() & CLONEFD_KILL_ON_CLOSE != 0 && !ctx.kill_on_close_allowed {
        return failure(Errno::EPERM, "KILL_ON_CLOSE without the privilege");
    }
    if input.rlimit {
        return failure(Errno::EMFILE, "no free fd under RLIMIT_NOFILE");
    }
    let clonefd = input.effective(arena).clonefd;
    let target = match input.clonefd {
        ClonefdField::At(target) => target,
        ClonefdField::SameAsPtid => input.ptid,
    };
    if clonefd != 0 && !target.writable() {
        return failure(Errno::EFAULT, "clonefd points to unwritable memory");
    }
    Expect::Child(may)
}

/// The safe exit signals besides 0: those the test blocks (SIGCHLD,
/// SIGUSR1, SIGUSR2, SIGURG, SIGWINCH, and the real-time ones that glibc
/// does not reserve).
pub(super) fn safe_exit_signals() -> Vec<u64> {
    let named = [
        libc::SIGCHLD,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGURG,
        libc::SIGWINCH,
    ];
    named
        .into_iter()
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .map(|sig| sig as u64)
        .collect()
}

/// What would make the call harm the test if clone4_prepare() took it:
/// a child that does not resume on a copy of the test's stack and exit at
/// once, an exit signal that is not blocked, a sibling of the test, a
/// slow call.
pub(super) fn hazards(input: &Input, arena: &Arena) -> Vec<&'static str> {
    let mut found = Vec::new();
    if input.has(CLONE_VM) {
        found.push("CLONE_VM: the child would share the test's memory");
    }
    if input.has(CLONE_SETTLS) {
        found.push("CLONE_SETTLS: the child would lose its TLS");
    }
    if input.has(CLONE_PARENT) && !input.has(CLONE_FD) {
        found.push("CLONE_PARENT: a child of the runner");
    }
    if input.has(CLONE_NEWNET) {
        found.push("CLONE_NEWNET: slow");
    }
    if input.effective(arena).stack_start != 0 {
        found.push("a stack: the child would not resume on the test's");
    }
    let signal = input.exit_signal();
    if signal <= 64 && signal != 0 && !safe_exit_signals().contains(&signal) {
        found.push("an exit signal the test does not block");
    }
    found
}

/// The two checks: a documented errno, then the prediction.
pub(super) fn judge(expect: &Expect, result: Result<c_long, Errno>) -> Result<(), String> {
    if let Err(errno) = result {
        if !DOCUMENTED.iter().any(|&(e, _)| e == errno) {
            return Err(format!("{errno:?} is not an error clone4() documents"));
        }
    }
    let ok = match (expect, result) {
        (Expect::Error(errno, _), Err(got)) => *errno == got,
        (Expect::Failure(errnos, _), Err(got)) | (Expect::Child(errnos), Err(got)) => {
            errnos.contains(&got)
        }
        (Expect::Child(_), Ok(_)) => true,
        (_, Ok(_)) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expect}, got {}", describe(result)))
    }
}

/// A result as a message shows it.
pub(super) fn describe(result: Result<c_long, Errno>) -> String {
    match result {
        Ok(ret) => format!("success, returning {ret}"),
        Err(errno) => format!("{errno:?}"),
    }
}
