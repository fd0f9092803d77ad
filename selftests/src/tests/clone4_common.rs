//! Helpers shared by the clone4() tests: flag constants, reaping, and the
//! memory a child on a stack of its own shares with the test.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_ulong, c_void};
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{fence, AtomicI32, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::common::PATIENCE;
use crate::clone4::{self, c4_child_report, ChildReport, Clone4Args};
use crate::ktap::{Failure, Outcome, TestResult};
use crate::sys::{self, Mapping};
use crate::uapi;

/// The exit code of a fork-like child that saw what it should.
pub const CHILD_OK: i32 = 42;
/// The exit code of a fork-like child that saw something else.
pub const CHILD_WRONG: i32 = 43;

/// The clone flags, as the 64-bit value clone4() splits.
pub const SIGCHLD: u64 = libc::SIGCHLD as u64;
pub const CLONE_VM: u64 = uapi::CLONE_VM as u64;
pub const CLONE_SIGHAND: u64 = uapi::CLONE_SIGHAND as u64;
pub const CLONE_THREAD: u64 = uapi::CLONE_THREAD as u64;
pub const CLONE_PARENT_SETTID: u64 = uapi::CLONE_PARENT_SETTID as u64;
pub const CLONE_CHILD_SETTID: u64 = uapi::CLONE_CHILD_SETTID as u64;
pub const CLONE_CLEAR_SIGHAND: u64 = uapi::CLONE_CLEAR_SIGHAND;

/// The size of a child's own stack.
const STACK_SIZE: usize = 64 * 1024;
/// ctid before the kernel writes it: neither 0 nor a TID.
const CTID_UNSET: i32 = -1;

/// Reaps `pid` (whatever its exit signal) and checks it exited with `code`.
pub fn check_exited(pid: Pid, code: i32) -> Result<(), Failure> {
    let status = check_ok!(waitpid(pid, Some(WaitPidFlag::__WALL)));
    check_eq!(status, WaitStatus::Exited(pid, code));
    Ok(())
}

/// How `clone4_args` gives a child its stack.
#[derive(Debug, Clone, Copy)]
pub enum StackForm {
    /// clone3()'s: `stack_start` is the lowest address, `stack_size` != 0.
    Range,
    /// clone(2)'s: `stack_size` 0, `stack_start` the initial stack
    /// pointer, the 16-byte aligned top of the stack.
    Pointer,
}

/// A TLS block whose first word points to itself, as the x86_64 ABI has
/// it, so `%fs:0` in a child given it by CLONE_SETTLS is its address.
#[repr(C, align(64))]
struct TlsBlock {
    self_ptr: c_ulong,
    _rest: [c_ulong; 7],
}

/// What a child on a stack of its own shares with the test: the stack, the
/// TID words, the child's report, a TLS block.
///
/// Always leaked ([`Shared::leaked`]): when a test fails, a child that
/// misbehaves may still run on that stack or write those words; the test
/// process ends right after the test anyway.
pub struct Shared {
    pub stack: Mapping,
    /// CLONE_PARENT_SETTID's word; 0 until written.
    pub ptid: AtomicI32,
    /// CLONE_CHILD_SETTID's and CLONE_CHILD_CLEARTID's word; -1 until
    /// written.
    pub ctid: AtomicI32,
    report: UnsafeCell<ChildReport>,
    tls: TlsBlock,
}

impl Shared {
    pub fn leaked() -> nix::Result<&'static Shared> {
        let shared = Box::leak(Box::new(Shared {
            stack: Mapping::stack(STACK_SIZE)?,
            ptid: AtomicI32::new(0),
            ctid: AtomicI32::new(CTID_UNSET),
            report: UnsafeCell::new(ChildReport::default()),
            tls: TlsBlock {
                self_ptr: 0,
                _rest: [0; 7],
            },
        }));
        shared.tls.self_ptr = ptr::from_ref(&shared.tls) as c_ulong;
        Ok(shared)
    }

    /// Args with this stack, in `form`, and every pointer set: ptid, ctid,
    /// tls. The flags decide which of them the kernel uses.
    pub fn args(&self, form: StackForm) -> Clone4Args {
        let (stack_start, stack_size) = match form {
            StackForm::Range => (self.stack.addr(), self.stack.size()),
            StackForm::Pointer => (self.stack.end() & !15, 0),
        };
        Clone4Args {
            ptid: self.ptid.as_ptr() as u64,
            ctid: self.ctid.as_ptr() as u64,
            stack_start: stack_start as u64,
            stack_size: stack_size as u64,
            tls: self.tls_addr(),
            clonefd: 0,
        }
    }

    pub fn tls_addr(&self) -> c_ulong {
        self.tls.self_ptr
    }

    /// The `arg` of a `c4_child_report*` child body.
    pub fn report_arg(&self) -> *mut c_void {
        self.report.get().cast()
    }

    /// The child's report. Only once the child is done: reaped, or its
    /// ctid cleared.
    pub fn report(&self) -> ChildReport {
        fence(Ordering::SeqCst);
        // SAFETY: the report is plain data in memory this struct owns; the
        // child that wrote it (through `report_arg`) is done.
        unsafe { ptr::read_volatile(self.report.get()) }
    }

    /// The highest page of the stack, where a child's first frames are
    /// when its stack pointer started at the top.
    pub fn stack_top_page(&self) -> Range<c_ulong> {
        let end = self.stack.end() as c_ulong;
        end - 4096..end
    }
}

/// clone4(flags, args) must fail with EINVAL. The args give a stack of its
/// own (`Range` form) before `customize` changes them, so that a child
/// created by mistake, even with CLONE_VM, runs `c4_child_report` there
/// and exits without harm.
pub fn expect_einval(flags: u64, customize: impl FnOnce(&mut Clone4Args)) -> TestResult {
    let shared = check_ok!(Shared::leaked());
    let mut args = shared.args(StackForm::Range);
    customize(&mut args);
    // SAFETY: everything `args` points to is leaked, so it outlives any
    // child; `c4_child_report` only writes the leaked report.
    let result =
        unsafe { clone4::clone_on_stack(flags, &args, c4_child_report, shared.report_arg()) };
    match result {
        Ok(pid) => fail!("clone4({flags:#x}, {args:?}) created {pid}, expected EINVAL"),
        Err(err) => check_eq!(err, Errno::EINVAL),
    }
    Ok(Outcome::Pass)
}

/// A fork-like child's exit code: [`CHILD_OK`] if `saw` is what it should.
pub fn child_code(saw: bool) -> c_int {
    if saw {
        CHILD_OK
    } else {
        CHILD_WRONG
    }
}

/// Waits until the kernel clears `ctid` (CLONE_CHILD_CLEARTID: the child
/// exited), sleeping in FUTEX_WAIT, for at most PATIENCE.
pub fn wait_cleared(ctid: &AtomicI32) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = ctid.load(Ordering::SeqCst);
        if value == 0 {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            fail!("ctid still {value} after {PATIENCE:?}: never cleared");
        }
        match sys::futex_wait(ctid, value, left) {
            Ok(()) | Err(Errno::EAGAIN | Errno::EINTR | Errno::ETIMEDOUT) => {}
            Err(err) => fail!("FUTEX_WAIT on ctid: {err}"),
        }
    }
}
