//! Host-side builds of what the guest runs: the kernel's own selftests for
//! the suites we must not regress, and our Rust selftests crate.

use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::project::{cmd, nproc, run, step, Project};

/// The kernel's suites that the series must not regress.
pub const UPSTREAM_SUITES: &[&str] = &["clone3", "pidfd", "core", "pid_namespace"];

pub fn kselftest_install(p: &Project) -> PathBuf {
    p.path("build/kselftest/install")
}

pub fn build_upstream(p: &Project) -> Result<()> {
    step(&format!(
        "building the kernel's selftests: {}",
        UPSTREAM_SUITES.join(" ")
    ));
    let mut c = cmd("make", &["-s", "-C"]);
    c.arg(p.linux().join("tools/testing/selftests"))
        .arg(format!("-j{}", nproc() + 1))
        .arg(format!("TARGETS={}", UPSTREAM_SUITES.join(" ")))
        .arg(format!("O={}", p.path("build/kselftest").display()))
        .arg(format!(
            "KHDR_INCLUDES=-isystem {}",
            p.uapi_include().display()
        ))
        .arg(format!(
            "KSFT_INSTALL_PATH={}",
            kselftest_install(p).display()
        ))
        .arg("install");
    run(&mut c).context("building the kernel's selftests failed")
}

pub fn build_selftests(p: &Project) -> Result<()> {
    step("building selftests/ (Rust, bindgen over the patched UAPI headers)");
    run(cmd(
        "cargo",
        &["build", "--release", "--quiet", "--manifest-path"],
    )
    .arg(p.path("selftests/Cargo.toml"))
    .env("C4_UAPI_INCLUDE", p.uapi_include()))
    .context("building selftests/ failed")
}

/// tools/clonefd: the crate, its CLI, and its test binaries, which the
/// guest runs without cargo.
pub fn build_clonefd_crate(p: &Project) -> Result<()> {
    step("building tools/clonefd (crate, CLI, test binaries)");
    run(cmd("sh", &[] as &[&str]).arg(p.path("tools/clonefd/scripts/build-tests.sh")))
        .context("building tools/clonefd failed")
}

pub fn build_all(p: &Project) -> Result<()> {
    build_upstream(p)?;
    build_selftests(p)?;
    build_clonefd_crate(p)?;
    crate::man_example::build(p)
}
