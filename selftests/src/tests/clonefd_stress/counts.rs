//! What the stress counted, and its figures.

use super::plan::{Body, Ending, Holder, Plan, Tracer};

/// What the stress counted.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) children: usize,
    pub(super) rounds: usize,
    pub(super) observed: usize,
    pub(super) lost: usize,
    pub(super) doubled: usize,
    pub(super) reads: usize,
    pub(super) eof_reads: usize,
    kill_on_close_flag: usize,
    killed_by_close: usize,
    early_close: usize,
    dup: usize,
    concurrent: usize,
    fork_holder: usize,
    scm: usize,
    exec: usize,
    mt_group_exit: usize,
    mt_leader_first: usize,
    sigkill: usize,
    stop_cont: usize,
    orphans: usize,
    detach_process: usize,
    detach_thread: usize,
    watch: usize,
}

impl Counts {
    pub(super) fn add_plan(&mut self, plan: &Plan) {
        self.children += 1;
        let flags = [
            (plan.kill_on_close, &mut self.kill_on_close_flag),
            (
                plan.ending == Ending::KilledByClose,
                &mut self.killed_by_close,
            ),
            (plan.holder == Holder::EarlyClose, &mut self.early_close),
            (matches!(plan.holder, Holder::Dup { .. }), &mut self.dup),
            (
                matches!(plan.holder, Holder::Concurrent(_)),
                &mut self.concurrent,
            ),
            (
                matches!(plan.holder, Holder::Fork { .. }),
                &mut self.fork_holder,
            ),
            (matches!(plan.holder, Holder::Scm { .. }), &mut self.scm),
            (plan.body == Body::Exec, &mut self.exec),
            (plan.body == Body::MtGroupExit, &mut self.mt_group_exit),
            (plan.body == Body::MtLeaderFirst, &mut self.mt_leader_first),
            (plan.ending == Ending::Sigkill, &mut self.sigkill),
            (plan.ending == Ending::StopCont, &mut self.stop_cont),
            (plan.orphan, &mut self.orphans),
            (
                plan.tracer == Tracer::DetachProcess,
                &mut self.detach_process,
            ),
            (plan.tracer == Tracer::DetachThread, &mut self.detach_thread),
            (plan.tracer == Tracer::Watch, &mut self.watch),
        ];
        for (holds, count) in flags {
            *count += usize::from(holds);
        }
    }

    pub(super) fn figure(&self, seconds: f64) -> String {
        format!(
            "figure: stress.children={} stress.exits_observed={} stress.exits_lost={} \
             stress.seconds={seconds:.1} stress.exits_doubled={} stress.rounds={} \
             stress.reads={} stress.eof_reads={} stress.kill_on_close={} \
             stress.kill_on_close_flag={} stress.early_close={} stress.dup={} \
             stress.concurrent={} stress.fork_holder={} stress.scm_rights={} stress.exec={} \
             stress.mt_group_exit={} stress.mt_leader_first={} stress.sigkill={} \
             stress.stop_cont={} stress.orphans={} stress.trace_detach_process={} \
             stress.trace_detach_thread={} stress.trace_watch={}",
            self.children,
            self.observed,
            self.lost,
            self.doubled,
            self.rounds,
            self.reads,
            self.eof_reads,
            self.killed_by_close,
            self.kill_on_close_flag,
            self.early_close,
            self.dup,
            self.concurrent,
            self.fork_holder,
            self.scm,
            self.exec,
            self.mt_group_exit,
            self.mt_leader_first,
            self.sigkill,
            self.stop_cont,
            self.orphans,
            self.detach_process,
            self.detach_thread,
            self.watch,
        )
    }
}
