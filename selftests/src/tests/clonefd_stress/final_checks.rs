//! The baseline before the stress and the checks after it: processes,
//! fds, file-nr and slab caches.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::RawFd;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::unistd::{getpid, Pid};

use crate::ktap::{self, Failure};
use crate::tests::clonefd_common::{children_of, open_fds, proc_stat};

/// How long the final checks retry for deferred frees (RCU, fput, the
/// KASAN quarantine), slow in a TCG guest.
pub(super) const SETTLE: Duration = Duration::from_secs(20);

/// How far /proc/sys/fs/file-nr may move with nothing leaked: it reads the
/// per-CPU counter of files without folding the CPUs' pending deltas.
pub(super) const FILE_NR_SLOP: i64 = 64;
/// The slab caches a child uses.
pub(super) const SLAB_CACHES: &[&str] = &[
    "task_struct",
    "pid",
    "signal_cache",
    "sighand_cache",
    "files_cache",
    "filp",
    "mm_struct",
];

/// What the test saw of the system before the stress.
pub(super) struct Baseline {
    fds: Vec<RawFd>,
    file_nr: Option<i64>,
    slabs: Option<BTreeMap<String, i64>>,
}

/// The first number of /proc/sys/fs/file-nr: the files allocated.
fn file_nr() -> Option<i64> {
    let text = fs::read_to_string("/proc/sys/fs/file-nr").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Writes 1 to /sys/kernel/slab/CACHE/shrink where it exists: frees the
/// per-CPU slabs and (with KASAN) the quarantine of the cache.
fn shrink_caches() {
    for cache in SLAB_CACHES {
        let _ = fs::write(format!("/sys/kernel/slab/{cache}/shrink"), "1");
    }
}

/// The active objects of SLAB_CACHES, as /proc/slabinfo lists them
/// (None without it; a merged cache is not listed).
fn slab_counts() -> Option<BTreeMap<String, i64>> {
    let text = fs::read_to_string("/proc/slabinfo").ok()?;
    let mut counts = BTreeMap::new();
    for line in text.lines().skip(2) {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(active)) = (fields.next(), fields.next()) else {
            continue;
        };
        if SLAB_CACHES.contains(&name) {
            if let Ok(active) = active.parse() {
                counts.insert(name.to_owned(), active);
            }
        }
    }
    Some(counts)
}

/// How far a cache's active objects may be above the baseline with
/// nothing leaked: 64, and 1/32 of the baseline for the caches the rest
/// of the system uses all the time (filp). A leak of one object per child
/// is far above it.
pub(super) fn slab_slop(baseline: i64) -> i64 {
    64 + baseline / 32
}

pub(super) fn take_baseline() -> Result<Baseline, Failure> {
    shrink_caches();
    let slabs = slab_counts();
    match &slabs {
        None => ktap::diag("slab counts: SKIP: no /proc/slabinfo (CONFIG_SLUB_DEBUG)"),
        Some(found) => {
            let missing: Vec<&&str> = SLAB_CACHES
                .iter()
                .filter(|c| !found.contains_key(**c))
                .collect();
            if !missing.is_empty() {
                ktap::diag(&format!("slab counts: not listed (merged?): {missing:?}"));
            }
        }
    }
    Ok(Baseline {
        fds: check_ok!(open_fds()),
        file_nr: file_nr(),
        slabs,
    })
}

/// The end-of-test checks: nothing left of what the test started.
pub(super) fn check_final(baseline: &Baseline, start: Instant) -> Result<(), Failure> {
    let me = getpid();
    check_eq!(check_ok!(children_of(me)), Vec::<Pid>::new());
    let left = check_ok!(started_in_group_or_session());
    check!(
        left.is_empty(),
        "processes left in the test's group or session: {left:?}"
    );
    check_eq!(check_ok!(open_fds()), baseline.fds);
    let settle = Instant::now() + SETTLE;
    if let Some(before) = baseline.file_nr {
        let within = || file_nr().is_some_and(|now| now <= before + FILE_NR_SLOP);
        while !within() && Instant::now() < settle {
            sleep(Duration::from_millis(100));
        }
        check!(
            within(),
            "file-nr {:?}, was {before} (slop {FILE_NR_SLOP})",
            file_nr()
        );
    }
    if let Some(before) = &baseline.slabs {
        check_slabs(before, settle)?;
    }
    ktap::diag(&format!(
        "final checks done at {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The slab caches back within slab_slop() of `before`, retrying until
/// `settle` (RCU-freed objects).
fn check_slabs(before: &BTreeMap<String, i64>, settle: Instant) -> Result<(), Failure> {
    let above = || -> Vec<String> {
        shrink_caches();
        let now = slab_counts().unwrap_or_default();
        before
            .iter()
            .filter_map(|(cache, &was)| match now.get(cache) {
                None => Some(format!("{cache}: no longer in /proc/slabinfo")),
                Some(&is) => {
                    (is > was + slab_slop(was)).then(|| format!("{cache}: {is}, was {was}"))
                }
            })
            .collect()
    };
    let mut grown = above();
    while !grown.is_empty() && Instant::now() < settle {
        sleep(Duration::from_millis(200));
        grown = above();
    }
    check!(
        grown.is_empty(),
        "slab caches above their baseline: {grown:?}"
    );
    let now = slab_counts().unwrap_or_default();
    let figures: Vec<String> = before
        .iter()
        .map(|(cache, was)| format!("slab.{cache}={}", now.get(cache).map_or(0, |is| is - was)))
        .collect();
    ktap::diag(&format!("figure: {}", figures.join(" ")));
    Ok(())
}

/// (pgrp, session, starttime) of a process, from /proc/PID/stat.
fn group_session_start(pid: &str) -> Option<(i32, i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        fields.get(2)?.parse().ok()?,
        fields.get(3)?.parse().ok()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// The processes other than the test in its process group or session
/// that started when it did or later.
fn started_in_group_or_session() -> io::Result<Vec<String>> {
    let me = getpid().to_string();
    let (group, session, start) =
        group_session_start(&me).ok_or_else(|| io::Error::other("cannot parse /proc/self/stat"))?;
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((g, s, t)) = group_session_start(&name) {
            if (g == group || s == session) && t >= start {
                found.push(format!(
                    "{name}: {:?}",
                    proc_stat(Pid::from_raw(name.parse().unwrap_or(0)))
                ));
            }
        }
    }
    Ok(found)
}
