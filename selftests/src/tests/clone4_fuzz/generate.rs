//! Random calls: wild ones, with every kind of value, and clean ones, made
//! to create a child; and the poison that makes a call that could harm
//! the test (or would exceed the budget of children) fail for sure in
//! clone4_prepare().

use super::arena::Arena;
use super::arena::{Target, DATA_PAGES, KERNEL_ADDRESS, PAGE};
use super::input::*;
use super::oracle::{hazards, prepare_error, safe_exit_signals, Ctx};
use crate::tests::seeded::Rng;

/// Flags of clean calls, each with a chance of 1 in N. CLONE_SIGHAND and
/// CLONE_THREAD are there for copy_process()'s EINVAL.
const CLEAN_FLAGS: &[(u64, u64)] = &[
    (CLONE_FS, 6),
    (CLONE_FILES, 6),
    (CLONE_VFORK, 8),
    (CLONE_PARENT_SETTID, 3),
    (CLONE_CHILD_SETTID, 6),
    (CLONE_CHILD_CLEARTID, 6),
    (CLONE_UNTRACED, 8),
    (CLONE_SYSVSEM, 8),
    (CLONE_IO, 8),
    (CLONE_PTRACE, 16),
    (CLONE_CLEAR_SIGHAND, 6),
    (CLONE_SIGHAND, 40),
    (CLONE_THREAD, 40),
    (CLONE_NEWNS, 80),
    (CLONE_NEWUTS, 80),
    (CLONE_NEWIPC, 80),
    (CLONE_NEWUSER, 80),
    (CLONE_NEWPID, 80),
    (CLONE_NEWCGROUP, 80),
];

/// The flag bits clone4() never takes; CLONE_FD too without CONFIG_CLONEFD.
fn unknown_bits(ctx: &Ctx) -> Vec<u32> {
    let mut bits: Vec<u32> = (33..64).filter(|&bit| 1 << bit != CLONE_FD).collect();
    bits.extend([CLONE_DETACHED, CLONE_PIDFD].map(u64::trailing_zeros));
    if !ctx.clonefd {
        bits.push(CLONE_FD.trailing_zeros());
    }
    bits
}

/// A call, clean or wild.
pub(super) fn input(rng: &mut Rng, ctx: &Ctx, clean: bool) -> Input {
    if clean {
        clean_input(rng, ctx)
    } else {
        wild_input(rng)
    }
}

#[derive(Clone, Copy)]
enum TargetKind {
    Null,
    Scratch,
    ReadOnly,
    Guard,
    Kernel,
}

/// A pointer the kernel may write an int through.
fn target(rng: &mut Rng) -> Target {
    let kind = rng.pick(&[
        (6, TargetKind::Scratch),
        (1, TargetKind::ReadOnly),
        (1, TargetKind::Guard),
        (1, TargetKind::Kernel),
        (1, TargetKind::Null),
    ]);
    let offset = 4 * rng.below((PAGE / 4) as u64) as usize;
    match kind {
        TargetKind::Null => Target::Null,
        TargetKind::Scratch => Target::Scratch(offset),
        TargetKind::ReadOnly => Target::ReadOnly(offset),
        TargetKind::Guard => Target::Guard(offset),
        TargetKind::Kernel => Target::Kernel(rng.below(1 << 46)),
    }
}

/// A register whose low 32 bits are `half`, and sometimes garbage above.
fn register(rng: &mut Rng, half: u32) -> u64 {
    let garbage = if rng.one_in(4) { rng.next() << 32 } else { 0 };
    garbage | u64::from(half)
}

/// The low 32 bits and the high 32 bits of `flags` as registers.
fn registers(rng: &mut Rng, flags: u64) -> (u64, u64) {
    let high = register(rng, (flags >> 32) as u32);
    (high, register(rng, flags as u32))
}

fn safe_signal(rng: &mut Rng) -> u64 {
    let safe = safe_exit_signals();
    match rng.below(10) {
        0..=2 => 0,
        3..=6 => libc::SIGCHLD as u64,
        _ => safe[rng.below(safe.len() as u64) as usize],
    }
}

/// Args where `size` bytes are readable (read-only sometimes).
fn readable_args(rng: &mut Rng, size: u64) -> ArgsAt {
    let room = (DATA_PAGES * PAGE) as u64;
    let size = size.min(room);
    ArgsAt::Region {
        readable: (size + rng.below(room - size + 1)) as usize,
        read_only: rng.one_in(8),
    }
}

/// A call made to create a child: fork-like flags, a safe exit signal or
/// CLONE_FD, a readable struct, no stack.
fn clean_input(rng: &mut Rng, ctx: &Ctx) -> Input {
    let mut flags = CLEAN_FLAGS
        .iter()
        .filter(|&&(_, one_in)| rng.one_in(one_in))
        .fold(0, |flags, &(flag, _)| flags | flag);
    let clone_fd = if ctx.clonefd {
        rng.one_in(2)
    } else {
        rng.one_in(10)
    };
    flags |= if clone_fd {
        CLONE_FD | rng.below(CLONEFD_FLAGS + 1)
    } else {
        safe_signal(rng)
    };
    // With CLONE_FD, mostly sizes that include clonefd.
    let size = match rng.below(11) + if clone_fd { 2 } else { 0 } {
        0..=2 => 0,
        3..=4 => VER0,
        5..=9 => VER1,
        _ => VER1 + 1 + rng.below(PAGE as u64 - VER1),
    };
    let args = if size == 0 {
        any_args(rng, size)
    } else {
        readable_args(rng, size)
    };
    let clonefd = if clone_fd {
        let offset = 4 * rng.below((PAGE / 4) as u64) as usize;
        match rng.below(20) {
            0..=4 => ClonefdField::At(Target::Null),
            5..=12 => ClonefdField::At(Target::Scratch(offset)),
            13 => ClonefdField::SameAsPtid,
            14..=15 => ClonefdField::At(Target::ReadOnly(offset)),
            16..=17 => ClonefdField::At(Target::Guard(offset)),
            _ => ClonefdField::At(Target::Kernel(rng.below(1 << 46))),
        }
    } else if rng.one_in(20) {
        ClonefdField::At(target(rng))
    } else {
        ClonefdField::At(Target::Null)
    };
    let (high_reg, low_reg) = registers(rng, flags);
    Input {
        high_reg,
        low_reg,
        size,
        args,
        ptid: target(rng),
        ctid: target(rng),
        stack: Stack::None,
        tls: rng.next(),
        clonefd,
        tail: Tail::Zero,
        rlimit: clone_fd && rng.one_in(10),
        code: rng.below(256) as u8,
    }
}

/// Any value of every part.
fn wild_input(rng: &mut Rng) -> Input {
    let flags = (u64::from(wild_high(rng)) << 32) | u64::from(wild_low(rng));
    let size = wild_size(rng);
    let tail = if size > VER1 && size <= PAGE as u64 && rng.one_in(3) {
        Tail::NonZero {
            at: VER1 + rng.below(size - VER1),
            byte: 1 + rng.below(255) as u8,
        }
    } else {
        Tail::Zero
    };
    let args = if rng.one_in(4) {
        any_args(rng, size)
    } else {
        readable_args(rng, size)
    };
    let clonefd = if rng.one_in(10) {
        ClonefdField::SameAsPtid
    } else {
        ClonefdField::At(target(rng))
    };
    let (high_reg, low_reg) = registers(rng, flags);
    Input {
        high_reg,
        low_reg,
        size,
        args,
        ptid: target(rng),
        ctid: target(rng),
        stack: wild_stack(rng),
        tls: rng.next(),
        clonefd,
        tail,
        rlimit: flags & CLONE_FD != 0 && rng.one_in(10),
        code: rng.below(256) as u8,
    }
}

fn wild_high(rng: &mut Rng) -> u32 {
    match rng.below(11) {
        0..=3 => 0,
        4..=7 => [CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP, CLONE_FD]
            .into_iter()
            .filter(|_| rng.one_in(2))
            .fold(0, |high, flag| high | (flag >> 32) as u32),
        8..=9 => 1 << rng.below(32),
        _ => rng.next() as u32,
    }
}

fn wild_low(rng: &mut Rng) -> u32 {
    let upper = if rng.one_in(8) {
        rng.next() as u32
    } else {
        (8..32)
            .filter(|_| rng.one_in(8))
            .fold(0, |low, bit| low | 1 << bit)
    };
    let low_byte = match rng.below(8) {
        0..=1 => rng.below(256),
        2..=3 => safe_signal(rng),
        4 => 65 + rng.below(191),
        5..=6 => rng.below(CLONEFD_FLAGS + 1),
        _ => rng.below(256) | 8 << rng.below(5),
    };
    (upper & !0xff) | low_byte as u32
}

fn wild_size(rng: &mut Rng) -> u64 {
    match rng.below(16) {
        0..=1 => 0,
        2 => 1 + rng.below(VER0 - 1),
        3 => VER0 + 1 + rng.below(VER1 - VER0 - 1),
        4..=5 => VER0,
        6..=8 => VER1,
        9..=11 => VER1 + 1 + rng.below(PAGE as u64 - VER1),
        12 => PAGE as u64,
        13 => PAGE as u64 + 1 + rng.below(PAGE as u64),
        14 => PAGE as u64 + 1 + rng.next() % (u64::MAX - PAGE as u64),
        _ => u64::MAX,
    }
}

/// Args anywhere: NULL, a kernel address, the guard page, or the region
/// with any number of readable bytes.
fn any_args(rng: &mut Rng, size: u64) -> ArgsAt {
    match rng.below(5) {
        0 => ArgsAt::Null,
        1 => ArgsAt::Kernel(rng.below(1 << 46)),
        2 => {
            let room = PAGE as u64 - size.min(PAGE as u64);
            ArgsAt::Guard(8 * rng.below(room / 8 + 1) as usize)
        }
        _ => ArgsAt::Region {
            readable: rng.below((DATA_PAGES * PAGE) as u64 + 1) as usize,
            read_only: rng.one_in(8),
        },
    }
}

fn wild_stack(rng: &mut Rng) -> Stack {
    match rng.below(10) {
        0..=4 => Stack::None,
        5 => Stack::SizeOnly(1 + rng.below(u64::MAX)),
        6 => Stack::BadRange(KERNEL_ADDRESS + rng.below(1 << 46), 1 + rng.below(1 << 20)),
        7 => {
            let start = 1 + rng.below(1 << 46);
            if rng.one_in(2) {
                Stack::BadRange(start, (1 << 63) + rng.below(1 << 62))
            } else {
                // Wraps past 2^64.
                Stack::BadRange(start, u64::MAX - start + 1 + rng.below(1 << 20))
            }
        }
        8 => Stack::Pointer(match rng.below(3) {
            0 => 1 + rng.below(1 << 46),
            1 => KERNEL_ADDRESS + rng.below(1 << 46),
            _ => 16 * (1 + rng.below(1 << 20)),
        }),
        _ => Stack::Range,
    }
}

/// A poison: what makes clone4_prepare() refuse a call for sure.
#[derive(Debug, Clone, Copy)]
pub(super) enum Poison {
    /// E2BIG.
    Oversize,
    /// EINVAL.
    InsideField,
    /// EINVAL.
    UnknownBit,
    /// EINVAL (without CLONE_FD).
    BadSignal,
    /// EINVAL (with CLONE_FD).
    BadClonefdFlag,
}

/// If clone4_prepare() would take `input` and it is hazardous (or
/// `may_pass` is false: no more children), adds a poison. Returns it.
pub(super) fn make_safe(
    input: &mut Input,
    rng: &mut Rng,
    ctx: &Ctx,
    arena: &Arena,
    may_pass: bool,
) -> Option<Poison> {
    if prepare_error(input, ctx, arena).is_some() {
        return None;
    }
    if may_pass && hazards(input, arena).is_empty() {
        return None;
    }
    let mut poisons = vec![Poison::Oversize, Poison::InsideField, Poison::UnknownBit];
    poisons.push(if input.has(CLONE_FD) {
        Poison::BadClonefdFlag
    } else {
        Poison::BadSignal
    });
    let poison = poisons[rng.below(poisons.len() as u64) as usize];
    match poison {
        Poison::Oversize => input.size = PAGE as u64 + 1 + rng.below(1 << 40),
        Poison::InsideField => {
            input.size = if rng.one_in(2) {
                1 + rng.below(VER0 - 1)
            } else {
                VER0 + 1 + rng.below(VER1 - VER0 - 1)
            }
        }
        Poison::UnknownBit => {
            let bits = unknown_bits(ctx);
            let bit = bits[rng.below(bits.len() as u64) as usize];
            if bit >= 32 {
                input.high_reg |= 1 << (bit - 32);
            } else {
                input.low_reg |= 1 << bit;
            }
        }
        Poison::BadSignal => input.low_reg = (input.low_reg & !0xff) | (65 + rng.below(191)),
        Poison::BadClonefdFlag => input.low_reg |= 8 << rng.below(5),
    }
    assert!(
        prepare_error(input, ctx, arena).is_some(),
        "the poison {poison:?} leaves the call possible: {input}"
    );
    Some(poison)
}
