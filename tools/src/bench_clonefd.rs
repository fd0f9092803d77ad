//! `c4 bench --spawn`: what CLONE_FD costs and saves, against the other
//! ways of spawning and collecting children (tools/guest/bench/).
//!
//! The guest program runs every method interleaved, in one boot of the
//! lean kernel (the debug kernel's KASAN and lockdep would be what is
//! measured), and prints JSON lines.  They go to build/bench/results.json;
//! tools/bench/plot.py (matplotlib, in .venv) turns them into
//! build/bench/table.md and PNG plots; `--save` copies those into
//! tools/bench/results/, the committed copy.  `--on-host` runs the program
//! on this machine instead of a guest (its clone4() methods skip): a check
//! of the program and the rendering, not a result.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::kernel::{self, WALK};
use crate::project::{cmd, output, run, step, succeeds, Project};
use crate::vm::{GuestExit, Vm};

/// The benchmark's sources in tools/guest/bench/, but for the exec target.
const SOURCES: &[&str] = &[
    "main.c",
    "sys.c",
    "stats.c",
    "json.c",
    "cycle.c",
    "herd.c",
    "scaling.c",
    "latency.c",
    "memory.c",
];

/// Seconds the guest may take (under TCG the whole run takes minutes).
const GUEST_TIMEOUT: u32 = 3600;

/// Where the committed copy of the table and plots goes.
const SAVED: &str = "tools/bench/results";

#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Copy table.md and the plots into tools/bench/results/.
    pub save: bool,
    /// Run on this machine, not in a guest.
    pub on_host: bool,
}

impl Options {
    pub fn from_args(args: &[String]) -> Self {
        let flag = |name: &str| args.iter().any(|a| a == name);
        Options {
            save: flag("--save"),
            on_host: flag("--on-host"),
        }
    }
}

fn out_dir(p: &Project) -> PathBuf {
    p.path("build/bench")
}

/// Compile the program and its exec target against the patched UAPI
/// headers in `uapi`; the program's path.
fn compile(p: &Project, uapi: &Path) -> Result<PathBuf> {
    let src = p.path("tools/guest/bench");
    let exe = out_dir(p).join("clonefd_bench");
    std::fs::create_dir_all(out_dir(p))?;
    run(cmd("cc", &["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg("-isystem")
        .arg(uapi)
        .args(SOURCES.iter().map(|s| src.join(s))))?;
    // Next to the program, where it looks for it by default.
    run(cmd(
        "cc",
        &[
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-static",
            "-nostdlib",
            "-o",
        ],
    )
    .arg(out_dir(p).join("clonefd_bench_exit"))
    .arg(src.join("exit_target.c")))?;
    Ok(exe)
}

/// The guest's JSON lines, out of everything else it printed.
fn json_lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{\"kind\": "))
        .collect()
}

fn json_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                o.push('\\');
                o.push(c)
            }
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// results.json: how it ran, and the program's lines as they came.
fn results_json(lines: &[&str], place: &str, command: &str) -> String {
    format!(
        "{{\"run\": {{\"where\": {}, \"command\": {}}},\n\"results\": [\n{}\n]}}\n",
        json_string(place),
        json_string(command),
        lines.join(",\n")
    )
}

/// How the guest ran: what ci/qemu-run chose (C4_VM, or its cached probe).
fn accelerator() -> &'static str {
    match std::env::var("C4_VM").as_deref() {
        Ok("kvm") => return "KVM",
        Ok("tcg") => return "TCG",
        _ => {}
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let home = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_default();
    let probe = home.join(format!("clone4/kvm-boots-{}", release.trim()));
    match std::fs::read_to_string(probe) {
        Ok(s) if s.trim() == "yes" => "KVM",
        _ => "TCG",
    }
}

/// Boot the lean kernel once and run the program there (clone4() must
/// be there: `--clone4 require`); its output.
fn run_in_guest(p: &Project) -> Result<(String, String)> {
    kernel::build_lean(p)?;
    let exe = compile(p, &WALK.out(p).join("usr/include"))?;
    step("CLONE_FD benchmarks in one boot of the lean kernel");
    let (e, out) = Vm::with_kernel(p, WALK.out(p))?.run_capture(
        "bench-clonefd",
        &format!("{} --clone4 require", exe.display()),
        GUEST_TIMEOUT,
    )?;
    if e != GuestExit::Status(0) {
        bail!("the benchmark's guest run ended with {e:?} (its output is above)");
    }
    let place = format!(
        "guest under QEMU {} (2 vCPUs, 2 GiB), lean kernel (ci/kernel.config: lockdep and failslab on, no KASAN, UBSAN or kmemleak)",
        accelerator()
    );
    Ok((out, place))
}

/// Run the program here, clone4() skipped unless this is the patched kernel.
fn run_on_host(p: &Project) -> Result<(String, String)> {
    let uapi = [WALK.out(p), p.kernel_out()]
        .into_iter()
        .map(|k| k.join("usr/include"))
        .find(|d| d.join("linux/sched.h").exists())
        .context("no patched UAPI headers: run `make build` first")?;
    let exe = compile(p, &uapi)?;
    step("CLONE_FD benchmarks on this machine (not a result: a check)");
    let out = output(&mut cmd(exe.to_str().unwrap(), &["--clone4", "auto"]))?;
    Ok((
        out,
        "this host, not a guest (a check of the program)".into(),
    ))
}

/// matplotlib in .venv, installed with pip if missing; the python to use.
fn python_with_matplotlib(p: &Project) -> Result<PathBuf> {
    let python = p.path(".venv/bin/python");
    if !python.exists() {
        bail!("{} is missing: run `make setup`", python.display());
    }
    if !succeeds(&mut cmd(
        python.to_str().unwrap(),
        &["-c", "import matplotlib"],
    )) {
        step("matplotlib into .venv");
        run(&mut cmd(
            python.to_str().unwrap(),
            &["-m", "pip", "install", "--quiet", "matplotlib"],
        ))?;
    }
    Ok(python)
}

fn render(p: &Project) -> Result<()> {
    let python = python_with_matplotlib(p)?;
    run(cmd(python.to_str().unwrap(), &[] as &[&str])
        .arg(p.path("tools/bench/plot.py"))
        .arg(out_dir(p).join("results.json"))
        .arg(out_dir(p)))
}

/// Copy table.md and the plots into the committed folder.
fn save(p: &Project) -> Result<()> {
    let dest = p.path(SAVED);
    std::fs::create_dir_all(&dest)?;
    for entry in std::fs::read_dir(out_dir(p))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name == "table.md" || name.ends_with(".png") {
            std::fs::copy(&path, dest.join(&*name))?;
        }
    }
    println!("copied table.md and the plots into {SAVED}/");
    Ok(())
}

/// Measure, write results.json, render table.md and the plots; the table.
pub fn run_all(p: &Project, opts: Options) -> Result<String> {
    let (out, place) = if opts.on_host {
        run_on_host(p)?
    } else {
        run_in_guest(p)?
    };
    let lines = json_lines(&out);
    if !lines.iter().any(|l| l.starts_with("{\"kind\": \"done\"")) {
        bail!("the benchmark did not finish (no \"done\" line in its output)");
    }
    let command = if opts.on_host {
        "make bench ARGS='--spawn --on-host'"
    } else {
        "make bench ARGS=--spawn"
    };
    let results = out_dir(p).join("results.json");
    std::fs::write(&results, results_json(&lines, &place, command))?;
    render(p)?;
    if opts.save {
        save(p)?;
    }
    let table = out_dir(p).join("table.md");
    std::fs::read_to_string(&table).with_context(|| format!("reading {}", table.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_programs_json_lines() {
        let out = "# progress\n{\"kind\": \"meta\"}\nqemu noise\n {\"kind\": \"done\"}\n";
        assert_eq!(
            json_lines(out),
            ["{\"kind\": \"meta\"}", "{\"kind\": \"done\"}"]
        );
    }

    #[test]
    fn results_json_escapes_what_it_adds() {
        let j = results_json(&["{\"kind\": \"done\"}"], "a \"b\"", "c\\d");
        assert!(j.contains("\"where\": \"a \\\"b\\\"\""), "{j}");
        assert!(j.contains("\"command\": \"c\\\\d\""), "{j}");
        assert!(j.contains("\"results\": [\n{\"kind\": \"done\"}\n]"), "{j}");
    }
}
