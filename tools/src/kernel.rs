//! Configure and build the kernel out of tree, with LLVM=1 and ccache.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::project::{cmd, nproc, run, step, succeeds, Project};

const FRAGMENT: &str = "ci/kernel.config";

/// `make -C linux O=<out> LLVM=1 CC="ccache clang" -jN`.
pub fn make(p: &Project, out: &Path) -> Command {
    let jobs = std::env::var("C4_JOBS").unwrap_or_else(|_| (nproc() + 1).to_string());
    let mut c = cmd("make", &["-s", "-C"]);
    c.arg(p.linux())
        .arg(format!("O={}", out.display()))
        .args(["LLVM=1", "CC=ccache clang"])
        .arg(format!("-j{jobs}"))
        // Paths relative to the checkout: another clone hits the cache.
        .env("CCACHE_BASEDIR", &p.root)
        .env("CCACHE_NOHASHDIR", "1");
    c
}

/// The `CONFIG_X=v` lines of the fragment that must end up in .config.
fn requested(p: &Project) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(p.path(FRAGMENT))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("CONFIG_"))
        .map(str::to_string)
        .collect())
}

/// tinyconfig + ci/kernel.config, then check every option took.
pub fn configure(p: &Project, out: &Path) -> Result<()> {
    let config = out.join(".config");
    let fragment = p.path(FRAGMENT);
    let fresh = match (config.metadata(), fragment.metadata()) {
        (Ok(c), Ok(f)) => c.modified()? >= f.modified()?,
        _ => false,
    };
    std::fs::create_dir_all(out)?;
    if !fresh {
        if !succeeds(make(p, out).arg("rustavailable")) {
            bail!("`make LLVM=1 rustavailable` says this toolchain cannot build the kernel's Rust");
        }
        step(&format!(
            "configuring {} (tinyconfig + {FRAGMENT})",
            out.display()
        ));
        run(make(p, out).arg("tinyconfig"))?;
        run(cmd("sh", &[] as &[&str])
            .arg(p.linux().join("scripts/kconfig/merge_config.sh"))
            .args(["-m", "-O"])
            .arg(out)
            .arg(&config)
            .arg(&fragment)
            .stdout(std::process::Stdio::null()))?;
    }
    // New symbols from the series get their defaults.
    run(make(p, out).arg("olddefconfig"))?;
    let have = std::fs::read_to_string(&config)?;
    let missing: Vec<String> = requested(p)?
        .into_iter()
        .filter(|want| !have.lines().any(|l| l == want))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{FRAGMENT} asks for options that the kernel's Kconfig refused: {}",
            missing.join(" ")
        );
    }
    Ok(())
}

/// Build bzImage and the UAPI headers; print how long it took.
pub fn build_in(p: &Project, out: &Path) -> Result<()> {
    configure(p, out)?;
    step(&format!("building the kernel in {}", out.display()));
    let t = Instant::now();
    run(make(p, out).arg("bzImage")).context("kernel build failed")?;
    println!("    kernel build took {:.1} s", t.elapsed().as_secs_f64());
    run(make(p, out).arg("headers"))?;
    Ok(())
}

pub fn build(p: &Project) -> Result<()> {
    build_in(p, &p.kernel_out())
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
