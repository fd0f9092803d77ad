//! Lints of the series' kernel code that a maintainer runs: rustfmt,
//! clippy and W=1 over the Rust and the C files the series touches.
//!
//! Clippy and W=1 change the compiler command line, which would make
//! Kbuild rebuild those objects in the main build directory twice: they
//! build in `build/kernel-lint`, where only the objects they need exist.

use anyhow::{bail, Result};

use crate::kernel::{self, MAIN};
use crate::project::{step, Project};
use crate::tally::Tally;

/// The objects whose sources the series adds or changes.
const OBJECTS: &[&str] = &[
    "kernel/clonefd.o",
    "kernel/fork.o",
    "kernel/exit.o",
    "kernel/signal.o",
    "fs/file.o",
];

pub fn run(p: &Project, t: &mut Tally) {
    t.record("make rustfmtcheck", rustfmtcheck(p));
    t.record(
        "make CLIPPY=1 W=1 (the series' Rust and C objects)",
        clippy_w1(p),
    );
}

fn rustfmtcheck(p: &Project) -> Result<()> {
    let o = kernel::make(p, &p.kernel_out())
        .arg("rustfmtcheck")
        .output()?;
    if !o.status.success() {
        bail!(
            "rustfmt would change:\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    Ok(())
}

/// Diagnostics in a Kbuild log: Rust's start a line, C's follow the
/// `file:line:col:` of their source.
fn diagnostics(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.starts_with("warning:")
                || l.starts_with("error:")
                || l.contains(": warning:")
                || l.contains(": error:")
        })
        .collect()
}

fn clippy_w1(p: &Project) -> Result<()> {
    let out = p.path("build/kernel-lint");
    kernel::configure(p, &out, &MAIN)?;
    step("clippy and W=1 over the series' objects (build/kernel-lint)");
    let o = kernel::make(p, &out)
        .args(["CLIPPY=1", "W=1"])
        .args(OBJECTS)
        .output()?;
    let log = String::from_utf8_lossy(&o.stderr);
    let found = diagnostics(&log);
    if !o.status.success() || !found.is_empty() {
        print!("{log}");
        bail!("{} diagnostics: {}", found.len(), found.join(" | "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::diagnostics;

    #[test]
    fn finds_rust_and_c_diagnostics() {
        let log = "warning: unused import\n  --> kernel/clonefd.rs:1:5\n\
                   kernel/fork.c:10:2: warning: no previous prototype\n\
                   note: something\n";
        assert_eq!(diagnostics(log).len(), 2);
        assert!(diagnostics("  CC kernel/fork.o\n").is_empty());
    }
}
