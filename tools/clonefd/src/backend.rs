//! Which kernel interface creates and reports the children.
//!
//! Syscall 463 is clone4() only on the patched kernel; on mainline since
//! Linux 6.13 it is setxattrat(2), which does not fail with ENOSYS. So the
//! patched kernel is recognised positively, by its symbols in
//! `/proc/kallsyms` (their names are listed even when the addresses are
//! hidden), before clone4() is ever called.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

/// The clone4() entry point and the CLONE_FD file of the patched kernel.
const CLONE4_SYMBOL: &str = "__x64_sys_clone4";
const CLONEFD_SYMBOL: &str = "clonefd_create";

/// How a child is created, waited for and signalled.
///
/// | | [`Backend::CloneFd`] | [`Backend::Pidfd`] |
/// |---|---|---|
/// | created by | `clone4(CLONE_FD)` | `clone3(CLONE_PIDFD)`, exit signal 0 |
/// | the `Child`'s fd | the CLONE_FD descriptor | a pidfd |
/// | exit reported by | read(2) of `struct clonefd_info` | `waitid(P_PIDFD, WEXITED \| __WALL)` |
/// | resource usage from | `clonefd_info` | waitid's `struct rusage` (its 5th argument) |
/// | zombie | never: the kernel reaps the child at once | from its exit until waited for |
/// | SIGCHLD to the parent | never | once the child has exec'ed |
/// | seen by `waitpid(-1, ...)`, SIGCHLD = SIG_IGN | never | once the child has exec'ed |
/// | `kill_on_close` | kernel: last close of the fd, also when the owner dies | emulated by `Drop` of the `Child` only |
///
/// The fallback creates its children with exit signal 0, but execve(2)
/// resets a process's exit signal to SIGCHLD (`de_thread()` in
/// fs/exec.c), so an exec'ed child does send SIGCHLD at exit and can be
/// reaped by any wait for all children in the process, or automatically
/// if SIGCHLD is ignored. [`Child::wait`](crate::Child::wait) then fails
/// with [`std::io::ErrorKind::NotFound`]; the pidfd guarantees that no
/// other process is waited for or signalled instead. Only the CLONE_FD
/// backend is immune to such code elsewhere in the process.
///
/// Neither needs anything from the process: no SIGCHLD handler, no
/// reaper thread, no signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// clone4() with CLONE_FD: the patched kernel.
    CloneFd,
    /// clone3() with CLONE_PIDFD and no exit signal: the fallback, for
    /// Linux 5.5 and later (CLONE_CLEAR_SIGHAND).
    Pidfd,
}

impl Backend {
    /// The best backend of the running kernel: [`Backend::CloneFd`] if
    /// `/proc/kallsyms` lists `__x64_sys_clone4` and `clonefd_create`,
    /// else [`Backend::Pidfd`]. Computed once per process.
    ///
    /// ```
    /// let backend = clonefd::Backend::detect();
    /// println!("children are created with {backend}");
    /// ```
    pub fn detect() -> Backend {
        static DETECTED: OnceLock<Backend> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            if kernel_has_clonefd() {
                Backend::CloneFd
            } else {
                Backend::Pidfd
            }
        })
    }

    /// Whether the running kernel supports this backend (as far as can be
    /// known without calling it: [`Backend::Pidfd`] is assumed).
    pub fn is_available(self) -> bool {
        match self {
            Backend::CloneFd => Backend::detect() == Backend::CloneFd,
            Backend::Pidfd => true,
        }
    }

    /// Every backend the running kernel supports, the best first.
    pub fn available() -> Vec<Backend> {
        [Backend::CloneFd, Backend::Pidfd]
            .into_iter()
            .filter(|backend| backend.is_available())
            .collect()
    }

    /// A short name: `"clonefd"` or `"pidfd"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::CloneFd => "clonefd",
            Backend::Pidfd => "pidfd",
        }
    }

    /// The backend of that [`name`](Backend::name).
    pub fn from_name(name: &str) -> Option<Backend> {
        match name {
            "clonefd" => Some(Backend::CloneFd),
            "pidfd" => Some(Backend::Pidfd),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::CloneFd => "clone4(CLONE_FD)",
            Backend::Pidfd => "clone3(CLONE_PIDFD) fallback",
        })
    }
}

/// Whether `/proc/kallsyms` lists both symbols of the patched kernel.
fn kernel_has_clonefd() -> bool {
    let Ok(file) = File::open("/proc/kallsyms") else {
        return false;
    };
    let (mut clone4, mut clonefd) = (false, false);
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { return false };
        // "address type name [module]"
        match line.split_ascii_whitespace().nth(2) {
            Some(CLONE4_SYMBOL) => clone4 = true,
            Some(CLONEFD_SYMBOL) => clonefd = true,
            _ => continue,
        }
        if clone4 && clonefd {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in [Backend::CloneFd, Backend::Pidfd] {
            assert_eq!(Backend::from_name(backend.name()), Some(backend));
        }
        assert_eq!(Backend::from_name("fork"), None);
    }

    #[test]
    fn detection_is_stable_and_pidfd_always_available() {
        assert_eq!(Backend::detect(), Backend::detect());
        assert!(Backend::Pidfd.is_available());
        assert_eq!(Backend::available()[0], Backend::detect());
    }
}
