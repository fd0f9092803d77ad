//! Every test the binary knows, in run order.

mod blocked_child;
mod c_harness;
mod clone3_pidfd;
mod clone3_unchanged;
mod clone4_args;
mod clone4_child;
mod clone4_common;
mod clone4_flag_semantics;
mod clone4_flags;
mod clone4_fuzz;
mod clone4_without_clonefd;
mod clonefd_close;
mod clonefd_common;
mod clonefd_errors;
mod clonefd_fail_nth;
mod clonefd_fdinfo;
mod clonefd_file;
mod clonefd_ioctl;
mod clonefd_jobctl;
mod clonefd_kill_permission;
mod clonefd_kill_setuid;
mod clonefd_orphan;
mod clonefd_parent;
mod clonefd_poll;
mod clonefd_ptrace;
mod clonefd_ptrace_notify;
mod clonefd_read;
mod clonefd_reap;
mod clonefd_release;
mod clonefd_rusage;
mod clonefd_rusage_wait4;
mod clonefd_spawn;
mod clonefd_stress;
mod clonefd_thread_exec;
mod clonefd_threads;
mod common;
mod seeded;

use crate::ktap::Test;

pub fn all() -> Vec<Test> {
    let mut tests = clone3_pidfd::tests();
    tests.extend(clone4_args::tests());
    tests.extend(clone4_flags::tests());
    tests.extend(clone4_child::tests());
    tests.extend(clone4_flag_semantics::tests());
    tests.extend(clone4_without_clonefd::tests());
    tests.extend(clone3_unchanged::tests());
    tests.extend(clonefd_spawn::tests());
    tests.extend(clonefd_reap::tests());
    tests.extend(clonefd_release::tests());
    tests.extend(clonefd_jobctl::tests());
    tests.extend(clonefd_parent::tests());
    tests.extend(clonefd_read::tests());
    tests.extend(clonefd_rusage::tests());
    tests.extend(clonefd_rusage_wait4::tests());
    tests.extend(clonefd_poll::tests());
    tests.extend(clonefd_ioctl::tests());
    tests.extend(clonefd_fdinfo::tests());
    tests.extend(clonefd_file::tests());
    tests.extend(clonefd_close::tests());
    tests.extend(clonefd_kill_permission::tests());
    tests.extend(clonefd_kill_setuid::tests());
    tests.extend(clonefd_ptrace::tests());
    tests.extend(clonefd_ptrace_notify::tests());
    tests.extend(clonefd_threads::tests());
    tests.extend(clonefd_thread_exec::tests());
    tests.extend(clonefd_orphan::tests());
    tests.extend(clonefd_errors::tests());
    tests.extend(clonefd_fail_nth::tests());
    tests.extend(clonefd_stress::tests());
    tests.extend(clone4_fuzz::tests());
    tests.extend(c_harness::tests());
    tests
}
