//! The stack the child runs on until it execs: mapped by the parent before
//! the clone, with a guard page below it, and unmapped once clone returned
//! (with CLONE_VFORK, the child has then exec'ed or exited).

use std::io;
use std::ptr;

/// Enough for `child_setup`'s few small frames, many times over.
const STACK_SIZE: usize = 64 * 1024;

/// An anonymous mapping: a PROT_NONE guard page, then the stack.
pub(crate) struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
    guard: usize,
}

impl ChildStack {
    pub(crate) fn new() -> io::Result<ChildStack> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|&page| page > 0)
            .unwrap_or(4096);
        let len = STACK_SIZE + page;
        // SAFETY: a new private anonymous mapping, aliasing nothing.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack {
            base,
            len,
            guard: page,
        };
        // SAFETY: the first page of our own mapping.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The lowest usable address (above the guard page), as clone3's
    /// `stack` and clone4's `stack_start`.
    pub(crate) fn start(&self) -> u64 {
        self.base as u64 + self.guard as u64
    }

    /// The usable size, as `stack_size`.
    pub(crate) fn size(&self) -> u64 {
        (self.len - self.guard) as u64
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our mapping, which no child uses any more (see the
        // module comment).
        unsafe { libc::munmap(self.base, self.len) };
    }
}
