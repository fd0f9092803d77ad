//! clone4(): children on a stack of their own, and the words the kernel
//! writes for them (`ptid`, `ctid`), and their TLS.
//!
//! Every test SKIPs unless `clone4_available()`. The children run
//! `c4_child_report*` from `csupport/raw_clone.c`, which writes the
//! address of a local variable, its TID, `%fs:0` and `ran = 1` into a
//! report in memory shared with the test (CLONE_VM).
//!
//! - `clone4_child_thread_stack_{range,pointer}`: a thread (CLONE_VM |
//!   CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
//!   CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, exit
//!   signal 0) on an mmap'ed stack given as clone3() does (`stack_start` the
//!   lowest address, `stack_size` its size) or as clone(2) does
//!   (`stack_size` 0, `stack_start` the top). The test FUTEX_WAITs on
//!   `ctid` until the kernel clears it (the thread exited), then checks:
//!   `ptid`, the returned TID and the thread's gettid() agree; `%fs:0` in
//!   the thread was the TLS block's address; the thread's local was in the
//!   stack's highest page (its stack pointer started at the top). Fails
//!   with `ctid still -1 after 5s` if CLEARTID is lost, `left: 0` if
//!   `ptid` is not written, a wrong `tls` if CLONE_SETTLS is, or a stack
//!   address outside the page; a thread started at the wrong stack pointer
//!   crashes the test process (`killed by SIGSEGV`).
//! - `clone4_child_settid_clone_vm`: a CLONE_VM | CLONE_CHILD_SETTID process
//!   (SIGCHLD, own stack) writes its TID to `ctid` in the shared memory:
//!   after waitpid() `ctid` and the report hold the pid; `ptid` stays 0 (no
//!   CLONE_PARENT_SETTID). Fails with `left: -1` if SETTID is lost.
//! - `clone4_child_stack_size_without_start_einval`: `stack_size` != 0 with
//!   `stack_start` 0 is EINVAL (fails as the flags module's EINVAL tests).

use std::ffi::c_long;
use std::sync::atomic::Ordering;

use super::clone4_common::{
    check_exited, expect_einval, wait_cleared, Shared, StackForm, CLONE_CHILD_SETTID,
    CLONE_PARENT_SETTID, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, SIGCHLD,
};
use crate::clone4::{self, c4_child_report, c4_child_report_tls};
use crate::feature::clone4_available;
use crate::ktap::{Outcome, Test, TestResult};
use crate::uapi;

/// pthread_create()'s flags, with the exit signal 0.
const THREAD_FLAGS: u64 = CLONE_VM
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_PARENT_SETTID
    | (uapi::CLONE_FS
        | uapi::CLONE_FILES
        | uapi::CLONE_SYSVSEM
        | uapi::CLONE_SETTLS
        | uapi::CLONE_CHILD_CLEARTID) as u64;

const STACK_FORMS: &[(&str, StackForm)] =
    &[("range", StackForm::Range), ("pointer", StackForm::Pointer)];

pub fn tests() -> Vec<Test> {
    let mut tests: Vec<Test> = STACK_FORMS
        .iter()
        .map(|&(name, form)| {
            Test::new(format!("clone4_child_thread_stack_{name}"), move || {
                thread(form)
            })
        })
        .collect();
    tests.push(Test::new("clone4_child_settid_clone_vm", settid_clone_vm));
    tests.push(Test::new(
        "clone4_child_stack_size_without_start_einval",
        stack_size_without_start_einval,
    ));
    tests
}

/// A thread on a stack given in `form`, with its own TLS block.
fn thread(form: StackForm) -> TestResult {
    require!(clone4_available());
    let shared = check_ok!(Shared::leaked());
    let args = shared.args(form);
    // SAFETY: the stack, the TID words, the report and the TLS block are
    // leaked, so they outlive the thread; c4_child_report_tls reads %fs:0
    // (the TLS block's first word) and writes only the report.
    let tid = check_ok!(unsafe {
        clone4::clone_on_stack(
            THREAD_FLAGS,
            &args,
            c4_child_report_tls,
            shared.report_arg(),
        )
    });
    wait_cleared(&shared.ctid)?;
    let report = shared.report();
    check_eq!(report.ran, 1);
    check_eq!(shared.ptid.load(Ordering::SeqCst), tid.as_raw());
    check_eq!(report.tid, c_long::from(tid.as_raw()));
    check_eq!(report.tls, shared.tls_addr());
    let top = shared.stack_top_page();
    check!(
        top.contains(&report.stack_addr),
        "the thread's local at {:#x}, not in {top:#x?}",
        report.stack_addr
    );
    Ok(Outcome::Pass)
}

/// A CLONE_VM process with CLONE_CHILD_SETTID writes its TID to `ctid`.
fn settid_clone_vm() -> TestResult {
    require!(clone4_available());
    let shared = check_ok!(Shared::leaked());
    let flags = CLONE_VM | CLONE_CHILD_SETTID | SIGCHLD;
    // SAFETY: the stack, `ctid` and the report are leaked, so they outlive
    // the child; c4_child_report writes only the report.
    let pid = check_ok!(unsafe {
        clone4::clone_on_stack(
            flags,
            &shared.args(StackForm::Range),
            c4_child_report,
            shared.report_arg(),
        )
    });
    check_exited(pid, 0)?;
    let report = shared.report();
    check_eq!(report.ran, 1);
    check_eq!(shared.ctid.load(Ordering::SeqCst), pid.as_raw());
    check_eq!(report.tid, c_long::from(pid.as_raw()));
    check_eq!(shared.ptid.load(Ordering::SeqCst), 0);
    Ok(Outcome::Pass)
}

/// clone3()'s rule: a stack size needs a stack.
fn stack_size_without_start_einval() -> TestResult {
    require!(clone4_available());
    expect_einval(SIGCHLD, |args| args.stack_start = 0)
}
