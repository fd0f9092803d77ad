//! Configure and build the kernel out of tree, with LLVM=1 and ccache.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::project::{cmd, nproc, run, step, succeeds, Project};

/// The guest's options, the fragment every variant starts with.
const GUEST: &str = "ci/kernel.config";
/// The debug options (KASAN, UBSAN, kmemleak, ...) that every booted
/// kernel has, merged after [`GUEST`].
const DEBUG: &str = "ci/kernel-debug.config";

/// `make -s -C linux O=<out> LLVM=1 CC="ccache clang" -jN`.
pub fn make(p: &Project, out: &Path) -> Command {
    make_with(p, out, true)
}

fn make_with(p: &Project, out: &Path, silent: bool) -> Command {
    let jobs = std::env::var("C4_JOBS").unwrap_or_else(|_| (nproc() + 1).to_string());
    let mut c = cmd("make", &[] as &[&str]);
    if silent {
        c.arg("-s");
    }
    c.arg("-C")
        .arg(p.linux())
        .arg(format!("O={}", out.display()))
        .args(["LLVM=1", "CC=ccache clang"])
        .arg(format!("-j{jobs}"))
        // Paths relative to the checkout: another clone hits the cache.
        .env("CCACHE_BASEDIR", &p.root)
        .env("CCACHE_NOHASHDIR", "1");
    c
}

/// A kernel configuration: [`GUEST`] on `make tinyconfig`, [`DEBUG`] if
/// the variant is booted, then an optional overlay fragment whose lines
/// win.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Short name, for messages and the build directory.
    pub name: &'static str,
    /// Fragment merged after the others.
    pub overlay: Option<&'static str>,
    /// Only commits whose `init/Kconfig` has this symbol take this variant.
    pub needs_symbol: Option<&'static str>,
    /// With [`DEBUG`]'s options: the kernel of the main boot (our tests
    /// and the kmemleak scan) and the lint build.
    pub debug: bool,
}

/// The configuration everything is tested and benchmarked with.
pub const MAIN: Variant = Variant {
    name: "main",
    overlay: None,
    needs_symbol: None,
    debug: true,
};

/// The per-patch walk: each commit must build, with CLONE_FD ...
pub const WALK: Variant = Variant {
    name: "walk",
    overlay: None,
    needs_symbol: None,
    debug: false,
};

/// ... and without.  The walk proves that the code compiles and links;
/// without the debug options a fresh machine compiles it in half the
/// time (KASAN's instrumentation doubles the compile time of a file).
/// Its tip is also the CONFIG_CLONEFD=n kernel that is booted: the series
/// without CLONE_FD must still boot and make CLONE_FD fail (clone4()
/// itself is tested on the debug kernel, in the main boot).
pub const WALK_NO_CLONEFD: Variant = Variant {
    name: "walk-no-clonefd",
    overlay: Some("ci/kernel-no-clonefd.config"),
    needs_symbol: Some("config CLONEFD"),
    debug: false,
};

/// The lint build: the main configuration, KUnit and the kernel crate's
/// doctests.  Never booted.
pub const LINT: Variant = Variant {
    name: "lint",
    overlay: Some("ci/kernel-lint.config"),
    needs_symbol: None,
    debug: true,
};

impl Variant {
    /// Its out-of-tree build directory.
    pub fn out(&self, p: &Project) -> std::path::PathBuf {
        if *self == MAIN {
            p.kernel_out()
        } else {
            p.path(&format!("build/kernel-{}", self.name))
        }
    }

    /// The fragments, in merge order.
    pub fn fragments(&self) -> Vec<&'static str> {
        let debug = self.debug.then_some(DEBUG);
        std::iter::once(GUEST)
            .chain(debug)
            .chain(self.overlay)
            .collect()
    }
}

/// The `CONFIG_X=v` and `# CONFIG_X is not set` lines of the fragments
/// that must end up in .config; a later fragment's line for a symbol wins.
fn requested(p: &Project, v: &Variant) -> Result<Vec<String>> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for f in v.fragments() {
        let text = std::fs::read_to_string(p.path(f))?;
        for line in text.lines().map(str::trim) {
            let Some(symbol) = config_symbol(line) else {
                continue;
            };
            wanted.retain(|(s, _)| s != symbol);
            wanted.push((symbol.to_string(), line.to_string()));
        }
    }
    Ok(wanted.into_iter().map(|(_, line)| line).collect())
}

/// Whether a Kconfig file of the checked-out tree defines `CONFIG_X`.
fn defined(p: &Project, symbol: &str) -> Result<bool> {
    let name = symbol.strip_prefix("CONFIG_").unwrap_or(symbol);
    let o = p
        .git_linux()
        .args(["grep", "-q", "-E", &format!("^(menu)?config {name}$"), "--"])
        .arg(":(glob)**/Kconfig*")
        .status()?;
    Ok(o.success())
}

/// `CONFIG_X` of `CONFIG_X=v` or `# CONFIG_X is not set`.
fn config_symbol(line: &str) -> Option<&str> {
    if let Some(unset) = line.strip_prefix("# ") {
        return unset.strip_suffix(" is not set");
    }
    line.starts_with("CONFIG_")
        .then(|| line.split('=').next())
        .flatten()
}

/// tinyconfig + the variant's fragments, then check every option took.
/// A .config newer than the fragments is kept; if it lacks an option
/// (e.g. a run stopped between tinyconfig and the merge), it is made
/// again from scratch.
pub fn configure(p: &Project, out: &Path, v: &Variant) -> Result<()> {
    if configure_once(p, out, v, false).is_ok() {
        return Ok(());
    }
    step(&format!(
        "{}: its .config lacks options, configuring again",
        out.display()
    ));
    configure_once(p, out, v, true)
}

fn configure_once(p: &Project, out: &Path, v: &Variant, from_scratch: bool) -> Result<()> {
    let config = out.join(".config");
    let newest_fragment = v
        .fragments()
        .iter()
        .map(|f| p.path(f).metadata().and_then(|m| m.modified()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .max();
    let fresh = match (config.metadata(), newest_fragment) {
        (Ok(c), Some(f)) => !from_scratch && c.modified()? >= f,
        _ => false,
    };
    std::fs::create_dir_all(out)?;
    if !fresh {
        if !succeeds(make(p, out).arg("rustavailable")) {
            bail!("`make LLVM=1 rustavailable` says this toolchain cannot build the kernel's Rust");
        }
        step(&format!(
            "configuring {} (tinyconfig + {})",
            out.display(),
            v.fragments().join(" + ")
        ));
        run(make(p, out).arg("tinyconfig"))?;
        run(cmd("sh", &[] as &[&str])
            .arg(p.linux().join("scripts/kconfig/merge_config.sh"))
            .args(["-m", "-O"])
            .arg(out)
            .arg(&config)
            .args(v.fragments().iter().map(|f| p.path(f)))
            .stdout(std::process::Stdio::null()))?;
    }
    // New symbols from the series get their defaults.
    run(make(p, out).arg("olddefconfig"))?;
    let have = std::fs::read_to_string(&config)?;
    let mut missing = Vec::new();
    for want in requested(p, v)? {
        // Options that the series adds are asked for before they exist.
        if !have.lines().any(|l| l == want) && defined(p, config_symbol(&want).unwrap_or(""))? {
            missing.push(want);
        }
    }
    if !missing.is_empty() {
        bail!(
            "{} asks for options that the kernel's Kconfig refused: {}",
            v.fragments().join(" + "),
            missing.join(" ")
        );
    }
    Ok(())
}

/// What a kernel build makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// bzImage and the UAPI headers: what is booted and tested.
    Bootable,
    /// vmlinux only: proves that a commit builds (the per-patch walk).
    Vmlinux,
}

/// Build `target`; print progress while it runs and how long it took.
pub fn build_target(p: &Project, out: &Path, v: &Variant, target: Target) -> Result<()> {
    configure(p, out, v)?;
    step(&format!("building the kernel in {}", out.display()));
    let t = Instant::now();
    let goal = match target {
        Target::Bootable => "bzImage",
        Target::Vmlinux => "vmlinux",
    };
    run_with_progress(make_verbose(p, out).arg(goal)).context("kernel build failed")?;
    println!("    kernel build took {:.1} s", t.elapsed().as_secs_f64());
    if target == Target::Bootable {
        run(make(p, out).arg("headers"))?;
    }
    Ok(())
}

/// Build bzImage and the UAPI headers; print how long it took.
pub fn build_in(p: &Project, out: &Path, v: &Variant) -> Result<()> {
    build_target(p, out, v, Target::Bootable)
}

/// [`make`] without `-s`: Kbuild prints a line per file it builds
/// (`  CC ...`), which [`run_with_progress`] condenses.
fn make_verbose(p: &Project, out: &Path) -> Command {
    make_with(p, out, false)
}

/// How often a long build reports how far it is.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a Kbuild output line reports a built file (`  CC      x.o`).
fn is_kbuild_step(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let word = rest.split_whitespace().next().unwrap_or("");
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Runs a Kbuild command, printing instead of its per-file lines a count
/// of them every minute (warnings and errors, on stderr, pass through).
fn run_with_progress(c: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let start = Instant::now();
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start make")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (mut steps, mut last) = (0usize, Instant::now());
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if is_kbuild_step(&line) {
            steps += 1;
        } else {
            println!("{line}");
        }
        if last.elapsed() >= PROGRESS_EVERY {
            println!(
                "    ... {steps} files built so far ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    }
    let status = child.wait()?;
    println!("    {steps} files built");
    if !status.success() {
        bail!("make failed ({status})");
    }
    Ok(())
}

pub fn build(p: &Project) -> Result<()> {
    build_in(p, &p.kernel_out(), &MAIN)
}

/// The bootable lean kernel (no debug options) at the branch tip, in the
/// walk's directory: the kernel's own suites run on it.
pub fn build_lean(p: &Project) -> Result<()> {
    build_in(p, &WALK.out(p), &WALK)
}

/// `scripts/checksyscalls.sh` as Kbuild runs it for x86_64: quiet when
/// every i386 syscall (clone4 included) has a number on x86_64 too.
pub fn checksyscalls(p: &Project) -> Result<()> {
    let (src, out) = (p.linux(), p.kernel_out());
    let inc = |base: &Path, rel: &str| format!("-I{}", base.join(rel).display());
    let o = cmd("sh", &[] as &[&str])
        .arg(src.join("scripts/checksyscalls.sh"))
        .args(["clang", "-nostdinc", "-D__KERNEL__"])
        .arg(inc(&src, "arch/x86/include"))
        .arg(inc(&out, "arch/x86/include/generated"))
        .arg(inc(&src, "include"))
        .arg(inc(&out, "include"))
        .arg(inc(&src, "arch/x86/include/uapi"))
        .arg(inc(&out, "arch/x86/include/generated/uapi"))
        .arg(inc(&src, "include/uapi"))
        .arg(inc(&out, "include/generated/uapi"))
        .arg("-include")
        .arg(src.join("include/linux/compiler-version.h"))
        .arg("-include")
        .arg(src.join("include/linux/kconfig.h"))
        .output()?;
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning:")).collect();
    if !warnings.is_empty() {
        bail!("{}", warnings.join("; "));
    }
    if !o.status.success() {
        bail!("checksyscalls.sh failed: {}", text.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::config_symbol;

    #[test]
    fn kbuild_steps_are_recognized() {
        assert!(super::is_kbuild_step("  CC      kernel/fork.o"));
        assert!(super::is_kbuild_step("  RUSTC L rust/kernel.o"));
        assert!(super::is_kbuild_step("  LD [M]  x.ko"));
        assert!(!super::is_kbuild_step("kernel/fork.c:1:2: warning: x"));
        assert!(!super::is_kbuild_step("make[1]: Entering directory"));
        assert!(!super::is_kbuild_step("  "));
    }

    #[test]
    fn config_lines_name_their_symbol() {
        assert_eq!(config_symbol("CONFIG_RUST=y"), Some("CONFIG_RUST"));
        assert_eq!(
            config_symbol("# CONFIG_CLONEFD is not set"),
            Some("CONFIG_CLONEFD")
        );
        assert_eq!(config_symbol("# Rust (comment)"), None);
        assert_eq!(config_symbol(""), None);
    }
}
