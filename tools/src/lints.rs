//! The userspace crates' lints: cargo fmt and clippy -D warnings on
//! tools/, selftests/ and tools/clonefd.

use crate::project::{self, cmd, Project};
use crate::tally::Tally;

pub fn check_crates(p: &Project, t: &mut Tally) {
    for krate in ["tools", "selftests", "tools/clonefd"] {
        let manifest = p.path(&format!("{krate}/Cargo.toml"));
        let mut fmt = cmd("cargo", &["fmt", "--check", "--manifest-path"]);
        fmt.arg(&manifest);
        t.record(
            &format!("cargo fmt --check ({krate})"),
            project::run(&mut fmt),
        );
        let mut clippy = cmd(
            "cargo",
            &[
                "clippy",
                "--quiet",
                "--release",
                "--all-targets",
                "--manifest-path",
            ],
        );
        clippy
            .arg(&manifest)
            .arg("--all-features")
            .args(["--", "-D", "warnings"])
            .env("C4_UAPI_INCLUDE", p.uapi_include());
        t.record(
            &format!("cargo clippy -D warnings ({krate})"),
            project::run(&mut clippy),
        );
    }
    let mut unit = cmd(
        "cargo",
        &["test", "--quiet", "--release", "--manifest-path"],
    );
    unit.arg(p.path("tools/Cargo.toml"));
    t.record("cargo test (tools: KTAP reader)", project::run(&mut unit));
    let mut crate_tests = cmd(
        "cargo",
        &[
            "test",
            "--quiet",
            "--release",
            "--all-features",
            "--manifest-path",
        ],
    );
    crate_tests.arg(p.path("tools/clonefd/Cargo.toml"));
    t.record(
        "cargo test (tools/clonefd on the host: the clone3 + pidfd fallback)",
        project::run(&mut crate_tests),
    );
}
