//! [`Command`]: a process builder in the shape of `std::process::Command`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::backend::Backend;
use crate::child::Child;
use crate::exec_plan::EnvChanges;
use crate::spawn::{self, StdioDefault};
use crate::stdio::Stdio;

/// A process builder, as `std::process::Command`, whose children are file
/// descriptors. Created with `clone4(CLONE_FD | CLONE_VM | CLONE_VFORK)`
/// on the patched kernel, they send no SIGCHLD and are never seen by
/// `waitpid(-1)`; elsewhere they are created with `clone3(CLONE_PIDFD)`
/// (see [`Backend`] for the differences). Either way the crate needs no
/// SIGCHLD handler, reaper thread or other process-wide state.
///
/// ```
/// use clonefd::Command;
///
/// let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
/// let info = child.wait_info()?;
/// assert_eq!(info.status.code(), Some(3));
/// println!("user CPU time: {:?}", info.rusage.user_time);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Everything the child needs (C strings, pointer arrays, pipes, a stack)
/// is prepared before the clone; the child then only makes raw syscalls
/// (dup2, chdir, execve, ...) on its own stack, and if it cannot exec it
/// reports the errno to the parent, whose `spawn` returns it as an
/// [`io::Error`] (e.g. [`io::ErrorKind::NotFound`]). Every descriptor the
/// crate creates is close-on-exec, so a child never inherits another
/// child's pipes or descriptors, even when other threads spawn at the same
/// time.
#[derive(Debug)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) arg0: Option<OsString>,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: EnvChanges,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    /// (descriptor number in the child, our descriptor).
    pub(crate) fds: Vec<(RawFd, OwnedFd)>,
    pub(crate) process_group: Option<libc::pid_t>,
    pub(crate) kill_on_close: bool,
    pub(crate) no_new_privs: bool,
    pub(crate) backend: Option<Backend>,
}

impl Command {
    /// A command to run `program`, searched in PATH (the child's, else
    /// `/bin:/usr/bin`) unless it contains a slash, with no arguments, our
    /// environment and working directory, and the standard streams of
    /// [`spawn`](Command::spawn) inherited. The search follows execvp(3),
    /// except that a file without a `#!` line or a known binary format
    /// (ENOEXEC) is an error, not run with `/bin/sh`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            arg0: None,
            args: Vec::new(),
            env: EnvChanges::default(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            fds: Vec::new(),
            process_group: None,
            kill_on_close: false,
            no_new_privs: false,
            backend: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets `argv[0]` (the program name by default).
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Command {
        self.arg0 = Some(arg0.as_ref().to_owned());
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .vars
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (key, value) in vars {
            self.env(key, value);
        }
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.vars.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child's environment empty, forgetting the variables set
    /// before (as std does): only those set afterwards remain.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env.clear = true;
        self.env.vars.clear();
        self
    }

    /// The child's working directory. A relative program path is then
    /// resolved from it.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input.
    pub fn stdin(&mut self, stdin: impl Into<Stdio>) -> &mut Command {
        self.stdin = Some(stdin.into());
        self
    }

    /// The child's standard output.
    pub fn stdout(&mut self, stdout: impl Into<Stdio>) -> &mut Command {
        self.stdout = Some(stdout.into());
        self
    }

    /// The child's standard error.
    pub fn stderr(&mut self, stderr: impl Into<Stdio>) -> &mut Command {
        self.stderr = Some(stderr.into());
        self
    }

    /// Gives the child a copy of `fd` as its descriptor `child_fd`
    /// (without close-on-exec). Applied after the standard streams, so it
    /// wins over them for 0, 1 and 2; a second call for the same
    /// `child_fd` replaces the first. The `Command` keeps `fd`: each spawn
    /// gives a copy of it.
    ///
    /// ```
    /// use std::io::Read;
    /// use clonefd::Command;
    ///
    /// let (mut reader, writer) = std::io::pipe()?;
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo via fd 5 >&5"]).pass_fd(5, writer);
    /// let mut child = cmd.spawn()?;
    /// drop(cmd); // our copy of the write end
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "via fd 5\n");
    /// assert!(child.wait()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pass_fd(&mut self, child_fd: RawFd, fd: impl Into<OwnedFd>) -> &mut Command {
        self.fds.retain(|(number, _)| *number != child_fd);
        self.fds.push((child_fd, fd.into()));
        self
    }

    /// Puts the child in process group `pgid` (0: a new group whose id is
    /// the child's pid), as `std::os::unix::process::CommandExt`.
    pub fn process_group(&mut self, pgid: libc::pid_t) -> &mut Command {
        self.process_group = Some(pgid);
        self
    }

    /// Kills the child (SIGKILL) when its descriptor is closed, so that it
    /// does not outlive its owner.
    ///
    /// On [`Backend::CloneFd`] this is `CLONEFD_KILL_ON_CLOSE`: the kernel
    /// kills the child on the last close of the descriptor, including when
    /// the owning process exits or crashes. The kernel allows it only to a
    /// caller with `no_new_privs` or `CAP_SYS_ADMIN` (in its user
    /// namespace); otherwise `spawn` fails with
    /// [`io::ErrorKind::PermissionDenied`]: see
    /// [`no_new_privs`](Command::no_new_privs).
    ///
    /// On [`Backend::Pidfd`] it is emulated: dropping the [`Child`] before
    /// it was waited for sends SIGKILL and reaps the child. Nothing kills
    /// it if the owner process dies.
    pub fn kill_on_close(&mut self, kill: bool) -> &mut Command {
        self.kill_on_close = kill;
        self
    }

    /// Sets `no_new_privs` (`prctl(PR_SET_NO_NEW_PRIVS)`) on the calling
    /// thread before spawning, as [`kill_on_close`](Command::kill_on_close)
    /// requires of a caller without `CAP_SYS_ADMIN`.
    ///
    /// This is the one piece of state the crate changes, and only when
    /// asked: it cannot be undone, it applies to the calling thread and to
    /// the threads and children it creates afterwards, and a child with
    /// it gains no privileges through set-user-ID or set-group-ID programs
    /// or file capabilities.
    pub fn no_new_privs(&mut self, set: bool) -> &mut Command {
        self.no_new_privs = set;
        self
    }

    /// Uses this backend instead of [`Backend::detect`]'s choice. Spawning
    /// fails with [`io::ErrorKind::Unsupported`] if the kernel lacks it or
    /// refuses it (a forced [`Backend::CloneFd`] never falls back).
    pub fn backend(&mut self, backend: Backend) -> &mut Command {
        self.backend = Some(backend);
        self
    }

    /// The program.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments (without `argv[0]`).
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// Starts the child. Standard streams not set are inherited.
    pub fn spawn(&mut self) -> io::Result<Child> {
        spawn::spawn(self, [StdioDefault::Inherit; 3])
    }

    /// Runs the child to its end, with inherited standard streams unless
    /// set, and returns its exit status.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// Runs the child to its end and collects its output. Unless set,
    /// stdin is `/dev/null` and stdout and stderr are piped, as std does.
    pub fn output(&mut self) -> io::Result<Output> {
        let defaults = [StdioDefault::Null, StdioDefault::Piped, StdioDefault::Piped];
        spawn::spawn(self, defaults)?.wait_with_output()
    }
}
