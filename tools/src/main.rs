//! `c4`: the clone4/CLONE_FD workflow.
//!
//! Every subcommand is idempotent: it checks what is already in place and
//! does only what changed.  `make run` and `make check` at the top level are
//! `c4 run` and `c4 check`.

mod base;
mod baseline;
mod bench;
mod bench_clonefd;
mod bisect;
mod check;
mod checkpatch;
mod guest_runs;
mod guest_suites;
mod kernel;
mod kernel_lint;
mod kmemleak;
mod ktap;
mod lints;
mod man_example;
mod man_xref;
mod manpage;
mod pins;
mod project;
mod run;
mod series;
mod setup;
mod stress;
mod tally;
mod testbuild;
mod vm;

use anyhow::{bail, Result};
use project::Project;

const USAGE: &str = "\
usage: c4 <command> [options]

  setup             install what is missing (Debian packages, bindgen-cli,
                    rust-src, virtme-ng in .venv)
  base              import the pinned kernel base into linux/
  apply [--force]   put linux/ on branch clone4 = base + patches/
  format-patches    regenerate patches/ from the branch in linux/
  build             configure (ci/kernel.config + ci/kernel-debug.config) and build the kernel,
                    its UAPI headers and the selftests
  boot [-- CMD]     boot the kernel in virtme-ng, run CMD (default: the demo)
  test              rebuild the tests if needed, boot once and run every
                    guest test (selftests and the kernel's
                    clone3/pidfd/core/pid_namespace suites)
  run               setup + apply + build + boot with the demo (make run)
  check             every check of the project, then a summary (make check)
  lint              only the kernel lints of `check` (rustfmt, clippy, W=1,
                    doctests, sparse, kernel-doc), on the built tree
  baseline          run the kernel's suites on the unpatched base and write
                    ci/upstream-baseline.txt
  bench [--no-cold] measure the build/boot loop, then what --spawn does
  bench --spawn [--save] [--on-host]
                    only the CLONE_FD benchmarks: spawn cycles, event-loop
                    scaling, wake-up latency, kernel memory per child, in one
                    boot of the lean kernel; writes build/bench/results.json,
                    table.md and PNG plots (matplotlib into .venv if missing);
                    --save copies table.md and the plots to
                    tools/bench/results/; --on-host runs on this machine
                    instead (clone4() methods skip: a check, not a result)
  stress [--minutes N]
                    the seeded fuzzer and stress test, long (default 30
                    minutes), in one boot of the debug kernel

environment: C4_VM=auto|kvm|tcg (default auto), C4_JOBS (default nproc+1)
";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("c4: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        print!("{USAGE}");
        bail!("no command given");
    };
    let rest = &args[1..];
    let flag = |name: &str| rest.iter().any(|a| a == name);
    let p = Project::discover()?;
    match cmd.as_str() {
        "setup" => setup::ensure(&p),
        "base" => base::ensure(&p).map(|_| ()),
        "apply" => series::apply(&p, flag("--force")),
        "format-patches" => series::format_patches(&p),
        "build" => {
            kernel::build(&p)?;
            testbuild::build_all(&p)
        }
        "boot" => {
            let guest_cmd = match rest.iter().position(|a| a == "--") {
                Some(i) => rest[i + 1..].join(" "),
                None => run::demo_command(&p),
            };
            let code = vm::Vm::new(&p)?.run("boot", &guest_cmd, vm::DEFAULT_TIMEOUT)?;
            std::process::exit(code.exit_code());
        }
        "test" => {
            // The kernels too: a changed source must not boot a stale bzImage.
            kernel::build(&p)?;
            kernel::build_lean(&p)?;
            testbuild::build_all(&p)?;
            let mut t = tally::Tally::default();
            guest_runs::guest_tests(&p, &mut t)?;
            t.finish()
        }
        "run" => run::main_job(&p),
        "check" => check::all(&p),
        "lint" => {
            let mut t = tally::Tally::default();
            kernel_lint::run(&p, &mut t);
            t.finish()
        }
        "baseline" => baseline::record(&p),
        "bench" if flag("--spawn") => {
            bench::spawn_only(&p, bench_clonefd::Options::from_args(rest))
        }
        "bench" => bench::bench(
            &p,
            !flag("--no-cold"),
            bench_clonefd::Options::from_args(rest),
        ),
        "stress" => stress::run(&p, stress::minutes(rest)?),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            print!("{USAGE}");
            bail!("unknown command {other:?}")
        }
    }
}
