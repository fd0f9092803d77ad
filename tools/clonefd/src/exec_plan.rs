//! The C strings and pointer arrays execve needs, built in the parent before
//! the clone, so that the child allocates nothing.

use std::collections::BTreeMap;
use std::ffi::{c_char, CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::ptr;

/// glibc's execvp(3) search path when PATH is unset.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// How the child's environment differs from ours.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvChanges {
    /// Start from an empty environment instead of ours.
    pub clear: bool,
    /// Variables to set (`Some`) or remove (`None`).
    pub vars: BTreeMap<OsString, Option<OsString>>,
}

impl EnvChanges {
    /// The child's environment: ours (unless cleared) with the changes.
    pub(crate) fn resolve(&self) -> BTreeMap<OsString, OsString> {
        let mut env: BTreeMap<OsString, OsString> = if self.clear {
            BTreeMap::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &self.vars {
            match value {
                Some(value) => env.insert(key.clone(), value.clone()),
                None => env.remove(key),
            };
        }
        env
    }
}

/// argv, envp, the paths to try and the directory, as the child uses them.
/// The pointer arrays point into the `CString`s kept here, whose buffers
/// do not move when the plan does.
pub(crate) struct ExecPlan {
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    candidates: Vec<*const c_char>,
    cwd: Option<CString>,
}

/// What the plan is made of.
pub(crate) struct ExecRequest<'a> {
    pub program: &'a OsStr,
    /// `argv[0]`, if not `program`.
    pub arg0: Option<&'a OsStr>,
    pub args: &'a [OsString],
    pub env: &'a EnvChanges,
    pub cwd: Option<&'a Path>,
}

impl ExecPlan {
    pub(crate) fn new(request: &ExecRequest<'_>) -> io::Result<ExecPlan> {
        let mut strings = Vec::new();
        let mut keep = |s: CString| {
            let ptr = s.as_ptr();
            strings.push(s);
            ptr
        };

        let arg0 = request.arg0.unwrap_or(request.program);
        let mut argv = Vec::with_capacity(request.args.len() + 2);
        argv.push(keep(c_string(arg0.as_bytes())?));
        for arg in request.args {
            argv.push(keep(c_string(arg.as_bytes())?));
        }
        argv.push(ptr::null());

        let env = request.env.resolve();
        let mut envp = Vec::with_capacity(env.len() + 1);
        for (key, value) in &env {
            let mut entry = key.clone().into_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            envp.push(keep(c_string(&entry)?));
        }
        envp.push(ptr::null());

        let path = env.get(OsStr::new("PATH")).map(|p| p.as_bytes());
        let candidates = candidates(request.program.as_bytes(), path)
            .into_iter()
            .map(|candidate| c_string(&candidate).map(&mut keep))
            .collect::<io::Result<Vec<_>>>()?;

        let cwd = request
            .cwd
            .map(|dir| c_string(dir.as_os_str().as_bytes()))
            .transpose()?;

        Ok(ExecPlan {
            _strings: strings,
            argv,
            envp,
            candidates,
            cwd,
        })
    }

    /// NULL-terminated.
    pub(crate) fn argv(&self) -> *const *const c_char {
        self.argv.as_ptr()
    }

    /// NULL-terminated.
    pub(crate) fn envp(&self) -> *const *const c_char {
        self.envp.as_ptr()
    }

    /// The paths to execve, in order.
    pub(crate) fn candidates(&self) -> &[*const c_char] {
        &self.candidates
    }

    /// The directory to change to, or NULL.
    pub(crate) fn cwd(&self) -> *const c_char {
        self.cwd.as_ref().map_or(ptr::null(), |cwd| cwd.as_ptr())
    }
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "nul byte in a program, argument, variable or directory: {:?}",
                String::from_utf8_lossy(bytes)
            ),
        )
    })
}

/// The paths execvp(3) would try for `program`: itself if it contains a
/// slash, else `dir/program` for each directory of `path` (the child's
/// PATH, or glibc's default), an empty one meaning the current directory.
/// None for an empty program (ENOENT).
fn candidates(program: &[u8], path: Option<&[u8]>) -> Vec<Vec<u8>> {
    if program.is_empty() {
        return Vec::new();
    }
    if program.contains(&b'/') {
        return vec![program.to_vec()];
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut candidate = dir.to_vec();
            candidate.push(b'/');
            candidate.extend_from_slice(program);
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: Vec<Vec<u8>>) -> Vec<String> {
        list.into_iter()
            .map(|s| String::from_utf8(s).unwrap())
            .collect()
    }

    #[test]
    fn slash_means_no_search() {
        assert_eq!(strings(candidates(b"./x", Some(b"/a"))), ["./x"]);
        assert_eq!(strings(candidates(b"/bin/true", None)), ["/bin/true"]);
    }

    #[test]
    fn path_search_follows_execvp() {
        assert_eq!(
            strings(candidates(b"ls", Some(b"/a::/b/"))),
            ["/a/ls", "./ls", "/b//ls"]
        );
        assert_eq!(strings(candidates(b"ls", None)), ["/bin/ls", "/usr/bin/ls"]);
        assert!(candidates(b"", Some(b"/a")).is_empty());
    }

    #[test]
    fn env_changes_apply_over_a_cleared_or_inherited_env() {
        let mut changes = EnvChanges {
            clear: true,
            ..EnvChanges::default()
        };
        changes.vars.insert("A".into(), Some("1".into()));
        changes.vars.insert("B".into(), None);
        let env = changes.resolve();
        assert_eq!(env.len(), 1);
        assert_eq!(env[OsStr::new("A")], "1");

        changes.clear = false;
        changes.vars.insert("PATH".into(), None);
        let env = changes.resolve();
        assert!(!env.contains_key(OsStr::new("PATH")));
        assert_eq!(env[OsStr::new("A")], "1");
    }

    #[test]
    fn plan_has_null_terminated_arrays_and_rejects_nul() {
        let env = EnvChanges {
            clear: true,
            ..EnvChanges::default()
        };
        let args = [OsString::from("-c"), OsString::from("true")];
        let request = ExecRequest {
            program: OsStr::new("sh"),
            arg0: None,
            args: &args,
            env: &env,
            cwd: None,
        };
        let plan = ExecPlan::new(&request).unwrap();
        assert_eq!(plan.argv.len(), 4);
        assert!(plan.argv[3].is_null());
        assert_eq!(plan.envp.len(), 1);
        assert!(plan.envp[0].is_null());
        assert_eq!(plan.candidates().len(), 2); // the default PATH
        assert!(plan.cwd().is_null());

        let bad = [OsString::from("a\0b")];
        let request = ExecRequest {
            args: &bad,
            ..request
        };
        let err = ExecPlan::new(&request).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
