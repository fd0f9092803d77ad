//! Build script: Rust bindings for the kernel UAPI, and the C kselftests.
//!
//! Input: `C4_UAPI_INCLUDE`, the absolute path of installed UAPI headers
//! (`make headers` output). Default: `<crate>/../build/kernel/usr/include`.
//!
//! Output, in `OUT_DIR`:
//! - `uapi.rs`: bindgen output over `wrapper.h`, included by `src/uapi.rs`;
//! - `c-tests/<name>`: one executable per C kselftest (`c/*.c`, and
//!   `linux/tools/testing/selftests/clone4/*.c` once that directory exists);
//!   the latter also as i386 programs, `c-tests/<name>_i386` (`gcc -m32
//!   -static`: clone4()'s flags arrive as two 32-bit halves there), and
//!   `c/ia32_*.c` only as i386 programs (what those need of the kernel);
//! - `c_tests.rs`: `C_TESTS`, the names of those executables;
//! - `libraw_clone.a`: `csupport/raw_clone.c`, linked into the binary (the
//!   C side of `src/clone4.rs`; not a kselftest).
//!
//! It also compiles `csupport/abi_literals.c` (syntax only), whose static
//! assertions compare the headers' ABI numbers with literals.
//!
//! The executables are also copied to `target/<profile>/c-tests/`, next to
//! the `clone4-selftests` binary, which is where the runner looks for them.

use std::env;
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::process;

const UAPI_ENV: &str = "C4_UAPI_INCLUDE";
const C_TESTS_DIR: &str = "c-tests";

/// Allowlisted UAPI items. Absent ones (the clone4 series) are simply
/// not generated until the headers define them.
const UAPI_TYPES: &str = "clone_args|clone4_args|clonefd_info";
const UAPI_VARS: &[&str] = &[
    "CLONE_.*",
    "CLONE_ARGS_SIZE_VER.*",
    "CLONE4_.*",
    "CLONEFD_.*",
    "__NR_clone3",
    "__NR_clone4",
    "__NR_pidfd_open",
    "__NR_pidfd_send_signal",
    "__NR_pidfd_getfd",
    "P_PIDFD",
];

struct Paths {
    crate_dir: PathBuf,
    /// `linux/tools/testing/selftests`: kselftest_harness.h and clone4/.
    kselftest_dir: PathBuf,
    uapi: PathBuf,
    out: PathBuf,
}

struct CTest {
    name: String,
    source: PathBuf,
    /// Built as an i386 program.
    i386: bool,
}

fn main() {
    let paths = Paths::from_env();
    generate_bindings(&paths);
    check_abi_literals(&paths);
    compile_support(&paths);
    let tests = find_c_tests(&paths);
    let built = paths.out.join(C_TESTS_DIR);
    recreate_dir(&built);
    for test in &tests {
        compile_c_test(&paths, test, &built.join(&test.name));
    }
    let cases: Vec<Vec<String>> = tests
        .iter()
        .map(|test| list_cases(&built.join(&test.name)))
        .collect();
    write_c_test_list(&paths, &tests, &cases);
    install_c_tests(&paths, &built, &tests);
    println!("cargo:rustc-env=C4_C_TESTS_BUILD_DIR={}", built.display());
}

fn fail(msg: impl Display) -> ! {
    eprintln!("error: {msg}");
    process::exit(1);
}

fn env_path(name: &str) -> PathBuf {
    env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| fail(format!("{name} is not set (not run by cargo?)")))
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

impl Paths {
    fn from_env() -> Self {
        let crate_dir = env_path("CARGO_MANIFEST_DIR");
        let kselftest_dir = crate_dir.join("../linux/tools/testing/selftests");
        let uapi = uapi_include_dir(&crate_dir);
        let out = env_path("OUT_DIR");
        Paths {
            crate_dir,
            kselftest_dir,
            uapi,
            out,
        }
    }
}

fn uapi_include_dir(crate_dir: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed={UAPI_ENV}");
    let dir = match env::var_os(UAPI_ENV) {
        Some(value) => {
            let dir = PathBuf::from(value);
            if !dir.is_absolute() {
                fail(format!(
                    "{UAPI_ENV} must be an absolute path, got `{}`",
                    dir.display()
                ));
            }
            dir
        }
        None => crate_dir.join("../build/kernel/usr/include"),
    };
    if !dir.join("linux/sched.h").is_file() {
        fail(format!(
            "kernel UAPI headers not found: `{}/linux/sched.h` does not exist.\n\
             Install them first with `make headers` for the kernel build, e.g.\n    \
             make -C linux O=build/kernel LLVM=1 headers\n\
             (the project tools do this before building the selftests),\n\
             or set {UAPI_ENV} to an absolute `usr/include` directory.",
            dir.display()
        ));
    }
    let dir = dir.canonicalize().unwrap_or_else(|e| fail(e));
    watch(&dir);
    dir
}

fn generate_bindings(paths: &Paths) {
    let wrapper = paths.crate_dir.join("wrapper.h");
    watch(&wrapper);
    let bindings = bindgen::Builder::default()
        .header(wrapper.to_string_lossy())
        .clang_args(["-isystem", &paths.uapi.to_string_lossy()])
        .allowlist_type(UAPI_TYPES)
        .allowlist_var(UAPI_VARS.join("|"))
        .derive_default(true)
        .generate()
        .unwrap_or_else(|e| fail(format!("bindgen over {}: {e}", wrapper.display())));
    let out = paths.out.join("uapi.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| fail(format!("writing {}: {e}", out.display())));
}

/// `csupport/abi_literals.c`: the ABI's numbers as literals, checked
/// against the headers under test by the C compiler (`_Static_assert`).
/// Only compiled (`-fsyntax-only`): a failed assertion stops the build.
fn check_abi_literals(paths: &Paths) {
    let source = paths.crate_dir.join("csupport/abi_literals.c");
    watch(&source);
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .warnings(false)
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(["-fsyntax-only", "-std=gnu11", "-isystem"])
        .arg(&paths.uapi)
        .arg(&source);
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(format!("running {cmd:?}: {e}")));
    if !output.status.success() {
        fail(format!(
            "the UAPI headers in {} disagree with the ABI's literal numbers \
             ({}):\n{}",
            paths.uapi.display(),
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

/// The C support library the Rust tests call (children on their own
/// stack). Without a stack protector: its child code may run with a TLS
/// block of a test's making (CLONE_SETTLS), where `%fs:0x28` holds no
/// canary.
fn compile_support(paths: &Paths) {
    let source = paths.crate_dir.join("csupport/raw_clone.c");
    watch(&source);
    cc::Build::new()
        .file(&source)
        .flag("-fno-stack-protector")
        .compile("raw_clone");
}

/// C sources, sorted by name; a name may appear only once.
fn find_c_tests(paths: &Paths) -> Vec<CTest> {
    watch(&paths.kselftest_dir.join("kselftest_harness.h"));
    watch(&paths.kselftest_dir.join("kselftest.h"));
    let own = paths.crate_dir.join("c");
    let kernel = paths.kselftest_dir.join("clone4");
    watch(&own);
    let mut dirs = vec![own];
    if kernel.is_dir() {
        watch(&kernel);
        dirs.push(kernel);
    } else {
        // Notice the directory appearing (cargo scans watched dirs recursively).
        watch(&paths.kselftest_dir);
    }

    let mut tests: Vec<CTest> = c_sources_in(&dirs[0])
        .into_iter()
        .map(|t| CTest {
            i386: t.name.starts_with("ia32_"),
            ..t
        })
        .collect();
    for kernel_test in dirs.iter().skip(1).flat_map(|d| c_sources_in(d)) {
        tests.push(CTest {
            name: format!("{}_i386", kernel_test.name),
            source: kernel_test.source.clone(),
            i386: true,
        });
        tests.push(kernel_test);
    }
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in tests.windows(2) {
        if pair[0].name == pair[1].name {
            fail(format!(
                "two C tests named `{}`: {} and {}",
                pair[0].name,
                pair[0].source.display(),
                pair[1].source.display()
            ));
        }
    }
    tests
}

fn c_sources_in(dir: &Path) -> Vec<CTest> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    entries
        .map(|entry| entry.unwrap_or_else(|e| fail(e)).path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .map(|source| CTest {
            name: source.file_stem().unwrap().to_string_lossy().into_owned(),
            source,
            i386: false,
        })
        .collect()
}

fn compile_c_test(paths: &Paths, test: &CTest, exe: &Path) {
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .warnings(false)
        .get_compiler();
    let mut cmd = compiler.to_command();
    if test.i386 {
        // Static: the guest needs no i386 loader or libc of its own.
        cmd.args(["-m32", "-static"]);
    }
    cmd.args(["-O2", "-Wall", "-pthread", "-I"])
        .arg(&paths.kselftest_dir)
        .arg("-isystem")
        .arg(&paths.uapi)
        .arg("-o")
        .arg(exe)
        .arg(&test.source);
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(format!("running {cmd:?}: {e}")));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        fail(format!(
            "compiling {}:\n{cmd:?}\n{stderr}",
            test.source.display()
        ));
    }
    for line in stderr.lines() {
        println!("cargo:warning={}: {line}", test.name);
    }
}

/// The cases of a kselftest_harness executable, as it names their results
/// (`fixture.test`, `fixture.variant.test`), from its `-l` listing: a
/// header line naming the FIXTURE, VARIANT and TEST columns, then per
/// fixture rows that give its name once, its variants and its tests.
fn list_cases(exe: &Path) -> Vec<String> {
    let output = process::Command::new(exe)
        .arg("-l")
        .output()
        .unwrap_or_else(|e| fail(format!("running {} -l: {e}", exe.display())));
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    parse_case_listing(&text)
        .unwrap_or_else(|why| fail(format!("{} -l: {why}:\n{text}", exe.display())))
}

fn parse_case_listing(text: &str) -> Result<Vec<String>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("no output")?;
    let (Some(variant_col), Some(test_col)) = (header.find("VARIANT"), header.find("TEST")) else {
        return Err("no FIXTURE/VARIANT/TEST header".into());
    };
    let mut fixtures: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for line in lines {
        if line.starts_with("----") {
            continue;
        }
        let column = |from: usize, to: usize| -> Result<String, String> {
            if from > 0 && line.len() > from && !line[..from].ends_with(' ') {
                return Err(format!("a name overflows its column: {line:?}"));
            }
            Ok(line
                .get(from..to.min(line.len()))
                .unwrap_or("")
                .trim()
                .to_string())
        };
        let (fixture, variant, test) = (
            column(0, variant_col)?,
            column(variant_col, test_col)?,
            column(test_col, line.len())?,
        );
        if !fixture.is_empty() {
            fixtures.push((fixture, Vec::new(), Vec::new()));
        }
        let (_, variants, tests) = fixtures.last_mut().ok_or("a row before any fixture")?;
        if !variant.is_empty() {
            variants.push(variant);
        }
        if !test.is_empty() {
            tests.push(test);
        }
    }
    let mut cases = Vec::new();
    for (fixture, variants, tests) in &fixtures {
        if variants.is_empty() {
            cases.extend(tests.iter().map(|t| format!("{fixture}.{t}")));
        } else {
            for v in variants {
                cases.extend(tests.iter().map(|t| format!("{fixture}.{v}.{t}")));
            }
        }
    }
    Ok(cases)
}

fn write_c_test_list(paths: &Paths, tests: &[CTest], cases: &[Vec<String>]) {
    let names: Vec<String> = tests.iter().map(|t| format!("{:?}", t.name)).collect();
    let listed: Vec<String> = tests
        .iter()
        .zip(cases)
        .map(|(t, c)| format!("({:?}, &{:?})", t.name, c))
        .collect();
    let code = format!(
        "/// C kselftest executables built by build.rs.\n\
         pub const C_TESTS: &[&str] = &[{}];\n\
         /// Their cases, from their `-l` listings.\n\
         pub const C_TEST_CASES: &[(&str, &[&str])] = &[{}];\n",
        names.join(", "),
        listed.join(", ")
    );
    let out = paths.out.join("c_tests.rs");
    fs::write(&out, code).unwrap_or_else(|e| fail(format!("{}: {e}", out.display())));
}

/// Copies the executables to `target/<profile>/c-tests/`. `OUT_DIR` is
/// `target/<profile>/build/<pkg>-<hash>/out`, so the profile directory
/// (where the binary goes) is three levels up.
fn install_c_tests(paths: &Paths, built: &Path, tests: &[CTest]) {
    let profile_dir = paths
        .out
        .ancestors()
        .nth(3)
        .filter(|dir| paths.out.starts_with(dir.join("build")))
        .unwrap_or_else(|| {
            fail(format!(
                "unexpected OUT_DIR layout: {}",
                paths.out.display()
            ))
        });
    let dest = profile_dir.join(C_TESTS_DIR);
    recreate_dir(&dest);
    for test in tests {
        fs::copy(built.join(&test.name), dest.join(&test.name)).unwrap_or_else(|e| {
            fail(format!(
                "installing {} into {}: {e}",
                test.name,
                dest.display()
            ))
        });
    }
}

/// Empties `dir` (creating it if needed), so no stale executable survives.
fn recreate_dir(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
    }
    fs::create_dir_all(dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
}
