//! clone4(): how `args_size` and `args` are read.
//!
//! Every test SKIPs unless `clone4_available()`. The children are
//! fork-like (no CLONE_VM), exit with 42 (`CHILD_OK`) and are reaped; a
//! child that exited otherwise fails the test with both wait statuses.
//!
//! - `clone4_args_size_0_null`, `clone4_args_size_0_prot_none`: size 0
//!   ignores `args`, NULL or unreadable: a plain fork whose child sees 0
//!   (and exits 42; a child that got a pid would run the parent's checks
//!   instead and not exit 42). Fails if the kernel reads the pointer
//!   (EFAULT: `... failed: EFAULT`) or the child exits otherwise.
//! - `clone4_args_size_{ver0,ver1,ver1_plus_8,page}_sets_ptid`: sizes
//!   40, 48, 56 and 4096 are accepted: CLONE_PARENT_SETTID writes the child's
//!   pid to `ptid` (word 0) and the bytes within the size past it are 0.
//!   Every byte past the size is garbage (12345) that fails the call if read:
//!   a non-zero `stack_size` with `stack_start` 0 or a non-zero `clonefd`
//!   (EINVAL), or a non-zero tail (E2BIG). Fails with that error, or with
//!   `ptid` not the pid (e.g. 0: the struct was ignored).
//! - `clone4_args_nonzero_tail_e2big`: size 56 with a non-zero word past the
//!   struct (E2BIG); `clone4_args_size_page_plus_8_e2big`: 4104 zero bytes
//!   (E2BIG: larger than a page); `clone4_args_clonefd_nonzero_einval`: VER1
//!   with `clonefd` 1 (EINVAL); `clone4_args_null_efault`: NULL with size 40
//!   (EFAULT); `clone4_args_prot_none_efault`: size 40 in a PROT_NONE page
//!   (EFAULT). Each fails if the call succeeds (`succeeded with Pid(..)`) or
//!   gives another error (`left: E2BIG, right: EINVAL` etc.).
//! - `clone4_args_size_inside_field_einval`: every size that ends inside a
//!   field (1 to 39, and 41 to 47: 40 is VER0, 48 VER1) fails with EINVAL,
//!   so the kernel never uses part of a pointer. A zeroed buffer of the
//!   size, whose fields would all be fine. Fails with the size and what the
//!   call did (`created Pid(..)`).

use std::ffi::c_void;
use std::mem::offset_of;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

use super::clone4_common::{check_exited, CHILD_OK, CLONE_PARENT_SETTID, SIGCHLD};
use crate::clone4::{self, Clone4Args};
use crate::feature::clone4_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::sys::Mapping;
use crate::uapi;

/// x86_64's; the only architecture `csupport/raw_clone.c` supports.
const PAGE_SIZE: usize = 4096;
const WORD: usize = 8;
const VER0: usize = uapi::CLONE4_ARGS_SIZE_VER0 as usize;
const VER1: usize = uapi::CLONE4_ARGS_SIZE_VER1 as usize;
/// Garbage for the bytes past the size (see the module comment).
const GARBAGE: u64 = 12345;

const PTID: usize = offset_of!(Clone4Args, ptid) / WORD;
const STACK_START: usize = offset_of!(Clone4Args, stack_start) / WORD;
const CLONEFD: usize = offset_of!(Clone4Args, clonefd) / WORD;

/// What `args` points to.
#[derive(Clone, Copy)]
enum Source {
    Null,
    /// The start of a PROT_NONE page.
    ProtNone,
    /// A zeroed buffer of `size` bytes with these (word index, value) set.
    Zeroed(&'static [(usize, u64)]),
}

/// clone4(SIGCHLD, size, source) and what it must do.
struct Case {
    name: &'static str,
    source: Source,
    size: usize,
    /// Ok: a child exiting with CHILD_OK; Err: that error.
    expect: Result<(), Errno>,
}

const CASES: &[Case] = &[
    Case {
        name: "size_0_null",
        source: Source::Null,
        size: 0,
        expect: Ok(()),
    },
    Case {
        name: "size_0_prot_none",
        source: Source::ProtNone,
        size: 0,
        expect: Ok(()),
    },
    Case {
        name: "nonzero_tail_e2big",
        source: Source::Zeroed(&[(VER1 / WORD, 1)]),
        size: VER1 + WORD,
        expect: Err(Errno::E2BIG),
    },
    Case {
        name: "size_page_plus_8_e2big",
        source: Source::Zeroed(&[]),
        size: PAGE_SIZE + WORD,
        expect: Err(Errno::E2BIG),
    },
    Case {
        name: "clonefd_nonzero_einval",
        source: Source::Zeroed(&[(CLONEFD, 1)]),
        size: VER1,
        expect: Err(Errno::EINVAL),
    },
    Case {
        name: "null_efault",
        source: Source::Null,
        size: VER0,
        expect: Err(Errno::EFAULT),
    },
    Case {
        name: "prot_none_efault",
        source: Source::ProtNone,
        size: VER0,
        expect: Err(Errno::EFAULT),
    },
];

/// Accepted sizes, each with `ptid` set and garbage past it.
const PTID_SIZES: &[(&str, usize)] = &[
    ("ver0", VER0),
    ("ver1", VER1),
    ("ver1_plus_8", VER1 + WORD),
    ("page", PAGE_SIZE),
];

pub fn tests() -> Vec<Test> {
    let cases = CASES
        .iter()
        .map(|case| Test::new(format!("clone4_args_{}", case.name), move || run_case(case)));
    let ptid = PTID_SIZES.iter().map(|&(name, size)| {
        Test::new(format!("clone4_args_size_{name}_sets_ptid"), move || {
            size_sets_ptid(size)
        })
    });
    let inside = Test::new(
        "clone4_args_size_inside_field_einval",
        size_inside_field_einval,
    );
    cases.chain(ptid).chain(std::iter::once(inside)).collect()
}

fn size_inside_field_einval() -> TestResult {
    require!(clone4_available());
    let buffer = zeroed_with(VER1, &[]);
    for size in (1..VER1).filter(|&size| size != VER0) {
        // SAFETY: no flag makes the kernel write through a pointer; the
        // child, if one is created by mistake, only exits.
        let result = unsafe { clone4::fork_like(SIGCHLD, size, buffer.as_ptr().cast(), || 0) };
        match result {
            Err(Errno::EINVAL) => {}
            Err(err) => fail!("size {size}: {err}, not EINVAL"),
            Ok(pid) => {
                let _ = nix::sys::wait::waitpid(pid, None);
                fail!("size {size}: created {pid}, expected EINVAL");
            }
        }
    }
    Ok(Outcome::Pass)
}

fn run_case(case: &Case) -> TestResult {
    require!(clone4_available());
    let prot_none = check_ok!(Mapping::new(PAGE_SIZE, libc::PROT_NONE, 0));
    let buffer: Vec<u64>;
    let args: *const c_void = match case.source {
        Source::Null => ptr::null(),
        Source::ProtNone => prot_none.as_ptr(),
        Source::Zeroed(words) => {
            buffer = zeroed_with(case.size, words);
            buffer.as_ptr().cast()
        }
    };
    // SAFETY: no flag makes the kernel write through a pointer in the
    // struct; the child only exits.
    let result = unsafe { clone4::fork_like(SIGCHLD, case.size, args, || CHILD_OK) };
    match case.expect {
        Ok(()) => check_exited(check_ok!(result), CHILD_OK)?,
        Err(errno) => check_err!(result, errno),
    }
    Ok(Outcome::Pass)
}

/// `size` bytes (whole words) of zeros, with `words` set.
fn zeroed_with(size: usize, words: &[(usize, u64)]) -> Vec<u64> {
    let mut buffer = vec![0; size.div_ceil(WORD)];
    for &(index, value) in words {
        buffer[index] = value;
    }
    buffer
}

/// clone4(CLONE_PARENT_SETTID | SIGCHLD, size, args) with `ptid` set and
/// garbage in every byte past `size`, struct and tail: the kernel reads
/// exactly `size` bytes.
fn size_sets_ptid(size: usize) -> TestResult {
    require!(clone4_available());
    let ptid = AtomicI32::new(0);
    // The whole struct and one word past it, or past `size`.
    let mut buffer = vec![GARBAGE; size.max(VER1) / WORD + 1];
    buffer[..size / WORD].fill(0);
    buffer[PTID] = ptid.as_ptr() as u64;
    if STACK_START >= size / WORD {
        // Keep the garbage stack_size invalid: it is only with stack_start 0.
        buffer[STACK_START] = 0;
    }
    // SAFETY: CLONE_PARENT_SETTID writes an i32 to `ptid`, a live
    // AtomicI32; no other flag uses a pointer; the child only exits.
    let result = unsafe {
        clone4::fork_like(
            CLONE_PARENT_SETTID | SIGCHLD,
            size,
            buffer.as_ptr().cast(),
            || CHILD_OK,
        )
    };
    let pid = check_ok!(result);
    check_eq!(ptid.load(Ordering::SeqCst), pid.as_raw());
    check_exited(pid, CHILD_OK)?;
    Ok(Outcome::Pass)
}
