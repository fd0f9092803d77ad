//! Install what the workflow needs, only when it is missing.

use anyhow::{bail, Context, Result};

use crate::project::{cmd, output, run, step, Project};

/// Debian packages (besides the pinned linux-source, handled on its own).
const PACKAGES: &[&str] = &[
    // kernel build with LLVM=1 and Rust
    "bc",
    "bison",
    "flex",
    "cpio",
    "kmod",
    "libelf-dev",
    "libssl-dev",
    "clang",
    "lld",
    "llvm",
    "libclang-dev",
    "ccache",
    "xz-utils",
    "sparse",
    // guest: QEMU, and udev on the host so the guest gets /dev/virtio-ports
    "qemu-system-x86",
    "udev",
    "busybox-static",
    "python3-venv",
    // the i386 builds of the C kselftests (gcc -m32: libc6-dev-i386)
    "gcc-multilib",
    // upstream selftests (their `make install` copies with rsync)
    "libcap-dev",
    "rsync",
    // checkpatch.pl's SPDX check
    "python3-ply",
    "python3-git",
    // man page
    "mandoc",
    "groff",
    "man-db",
];

fn installed_version(pkg: &str) -> Option<String> {
    let out = cmd("dpkg-query", &["-W", "-f=${Status}\t${Version}", pkg])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, version) = s.split_once('\t')?;
    status.ends_with(" installed").then(|| version.to_string())
}

fn apt_install(specs: &[String]) -> Result<()> {
    let sudo = if is_root() { None } else { Some("sudo") };
    let apt = |args: &[&str]| {
        let mut c = match sudo {
            Some(s) => cmd(s, &["apt-get"]),
            None => cmd("apt-get", &[] as &[&str]),
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-q"]))?;
    let mut c = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    c.args(specs);
    run(&mut c)
}

fn is_root() -> bool {
    output(&mut cmd("id", &["-u"]))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

fn ensure_packages(p: &Project) -> Result<()> {
    let src = p.pins.get("DEBIAN_PACKAGE");
    let want = p.pins.get("DEBIAN_VERSION");
    let mut missing: Vec<String> = PACKAGES
        .iter()
        .filter(|pkg| installed_version(pkg).is_none())
        .map(|s| s.to_string())
        .collect();
    if installed_version(src).as_deref() != Some(want) {
        missing.push(format!("{src}={want}"));
    }
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    apt_install(&missing).with_context(|| {
        format!(
            "could not install {}; the kernel base is pinned to {src} {want}: \
             if the archive no longer has that version, update ci/pins \
             (DEBIAN_VERSION, TARBALL_SHA256, BASE_COMMIT) deliberately",
            missing.join(" ")
        )
    })?;
    if installed_version(src).as_deref() != Some(want) {
        bail!("{src} {want} is still not installed");
    }
    Ok(())
}

fn ensure_rust_src() -> Result<()> {
    let list = output(&mut cmd("rustup", &["component", "list", "--installed"]))?;
    if !list.lines().any(|l| l.starts_with("rust-src")) {
        step("rustup component add rust-src");
        run(&mut cmd("rustup", &["component", "add", "rust-src"]))?;
    }
    Ok(())
}

fn ensure_bindgen(p: &Project) -> Result<()> {
    let want = p.pins.get("BINDGEN_CLI");
    let have = cmd("bindgen", &["--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(want) {
        step(&format!("cargo install bindgen-cli {want}"));
        run(&mut cmd(
            "cargo",
            &["install", "--locked", "bindgen-cli", "--version", want],
        ))?;
    }
    Ok(())
}

fn ensure_virtme_ng(p: &Project) -> Result<()> {
    let want = p.pins.get("VIRTME_NG");
    let vng = p.path(".venv/bin/vng");
    let have = cmd(vng.to_str().unwrap(), &["--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have.trim() != format!("virtme-ng {want}") {
        step(&format!("virtme-ng {want} into .venv"));
        if !p.path(".venv/bin/pip").exists() {
            run(cmd("python3", &["-m", "venv"]).arg(p.path(".venv")))?;
        }
        run(&mut cmd(
            p.path(".venv/bin/pip").to_str().unwrap(),
            &["install", "-q", &format!("virtme-ng=={want}")],
        ))?;
    }
    Ok(())
}

/// Everything the workflow needs on the host.
pub fn ensure(p: &Project) -> Result<()> {
    ensure_packages(p)?;
    ensure_rust_src()?;
    ensure_bindgen(p)?;
    ensure_virtme_ng(p)
}
