//! `c4 bench`: how fast the edit-build-boot loop is on this machine, and
//! what a child costs per way of spawning and reaping it.
//!
//! Compiles run with CCACHE_DISABLE=1 so each figure is real compiler work
//! (a touched file is a ccache hit otherwise).  The spawn benchmark
//! (tools/guest/spawn_bench.c) runs every method interleaved in one boot:
//! under TCG its ratios are the result, not its microseconds.  Figures go
//! to stdout and to build/bench.txt.

use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

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
    text.push_str(&spawn_bench(p)?);
    Ok(text)
}

/// Compile tools/guest/spawn_bench.c against the patched UAPI headers,
/// run it in the guest; its table.
fn spawn_bench(p: &Project) -> Result<String> {
    let exe = p.path("build/bench/spawn_bench");
    std::fs::create_dir_all(exe.parent().unwrap())?;
    run(cmd("cc", &["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg("-isystem")
        .arg(p.uapi_include())
        .arg(p.path("tools/guest/spawn_bench.c")))?;
    step("spawn benchmark in the guest");
    let (e, out) = Vm::new(p)?.run_capture(
        "bench-spawn",
        &format!("{} {SPAWN_ROUNDS}", exe.display()),
        900,
    )?;
    check_ok(e)?;
    let mut text = format!(
        "spawn and reap a child that exits at once ({SPAWN_ROUNDS} per method, \
         interleaved, one boot, TCG):\n  {:<34} {:>10} {:>6}\n",
        "method", "us/child", "ratio"
    );
    for line in out.lines() {
        writeln!(text, "  {line}")?;
    }
    Ok(text)
}

/// Children per method.
const SPAWN_ROUNDS: u32 = 500;

pub fn spawn_only(p: &Project) -> Result<()> {
    crate::kernel::build(p)?;
    let text = spawn_bench(p)?;
    print!("{text}");
    std::fs::write(p.path("build/bench-spawn.txt"), &text)?;
    Ok(())
}

fn check_ok(e: GuestExit) -> Result<()> {
    match e {
        GuestExit::Status(0) => Ok(()),
        other => anyhow::bail!("guest run ended with {other:?}"),
    }
}

pub fn bench(p: &Project, cold: bool) -> Result<()> {
    let text = measure(p, cold)?;
    print!("{text}");
    std::fs::write(p.path("build/bench.txt"), &text)?;
    Ok(())
}
