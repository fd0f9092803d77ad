//! `c4 bench`: how fast the edit-build-boot loop is on this machine, then
//! the CLONE_FD benchmarks ([`bench_clonefd`]).
//!
//! Compiles run with CCACHE_DISABLE=1 so each figure is real compiler work
//! (a touched file is a ccache hit otherwise).  The loop's figures go to
//! stdout and to build/bench.txt.

use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::bench_clonefd;
use crate::guest_suites;
use crate::kernel::{configure, make};
use crate::project::{cmd, run, step, Project};
use crate::vm::{GuestExit, Vm};

/// Files touched for the one-file rebuilds: the first that exists.
const C_FILES: &[&str] = &["kernel/fork.c"];
const RS_FILES: &[&str] = &["kernel/clonefd.rs", "rust/kernel/task.rs"];

fn timed(what: &str, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    step(what);
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

fn build(p: &Project, out: &Path) -> Result<()> {
    run(make(p, out).arg("bzImage").env("CCACHE_DISABLE", "1"))
}

fn first_existing<'a>(p: &Project, files: &[&'a str]) -> &'a str {
    files
        .iter()
        .find(|f| p.linux().join(f).exists())
        .copied()
        .unwrap_or(files[files.len() - 1])
}

fn measure(p: &Project, cold: bool) -> Result<String> {
    let mut rows: Vec<(String, f64)> = vec![];
    let main_out = p.kernel_out();
    if cold {
        let out = p.path("build/bench-cold");
        let _ = std::fs::remove_dir_all(&out);
        configure(p, &out, &crate::kernel::MAIN)?;
        rows.push((
            "cold build, no ccache (bzImage)".into(),
            timed("cold build", || build(p, &out))?,
        ));
        let _ = std::fs::remove_dir_all(&out);
    }
    crate::kernel::build(p)?;
    rows.push((
        "no-op rebuild".into(),
        timed("no-op rebuild", || build(p, &main_out))?,
    ));
    for (kind, files) in [("C", C_FILES), ("Rust", RS_FILES)] {
        let f = first_existing(p, files);
        run(cmd("touch", &[] as &[&str]).arg(p.linux().join(f)))?;
        rows.push((
            format!("rebuild after touching {f} ({kind})"),
            timed(&format!("touch {f}"), || build(p, &main_out))?,
        ));
    }
    let vm = Vm::new(p)?;
    rows.push((
        "boot to a shell command and back (`true`)".into(),
        timed("boot", || check_ok(vm.run("bench-boot", "true", 300)?))?,
    ));
    rows.push((
        "boot + all guest tests".into(),
        timed("guest tests", || {
            let all = guest_suites::command(guest_suites::MAIN);
            check_ok(vm.run("bench-tests", &format!("{all} >/dev/null"), 900)?)
        })?,
    ));
    let mut text = String::from("loop benchmark (seconds, this machine):\n");
    for (what, secs) in &rows {
        writeln!(text, "  {secs:8.1}  {what}")?;
    }
    Ok(text)
}

/// The CLONE_FD benchmarks alone (tools/guest/bench/, one boot).
pub fn spawn_only(p: &Project, opts: bench_clonefd::Options) -> Result<()> {
    let text = bench_clonefd::run_all(p, opts)?;
    print!("{text}");
    Ok(())
}

fn check_ok(e: GuestExit) -> Result<()> {
    match e {
        GuestExit::Status(0) => Ok(()),
        other => anyhow::bail!("guest run ended with {other:?}"),
    }
}

pub fn bench(p: &Project, cold: bool, opts: bench_clonefd::Options) -> Result<()> {
    let text = measure(p, cold)?;
    print!("{text}");
    std::fs::write(p.path("build/bench.txt"), &text)?;
    spawn_only(p, opts)
}
