//! What `clonefd run` changes about itself (it is a launcher, so these are
//! its own business, not the library's): blocking the terminal's interrupt
//! signals, as time(1) ignores them, and checking CAP_SYS_ADMIN.

/// Blocks SIGINT and SIGQUIT in this thread, so that ^C or ^\ ends the
/// command (which gets them from the terminal too) and clonefd lives to
/// report it. The children start with an empty signal mask.
pub fn block_terminal_interrupts() {
    // SAFETY: a local sigset_t, filled by the libc calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGQUIT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Whether this thread has CAP_SYS_ADMIN in its effective set.
pub fn has_cap_sys_admin() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_SYS_ADMIN: u32 = 21;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: a v3 header and two data structs, as capget(2) wants.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    ret == 0 && data[0].effective & (1 << CAP_SYS_ADMIN) != 0
}
