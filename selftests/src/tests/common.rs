//! Helpers shared by the test modules.

use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::time::Duration;

use nix::sys::signal::SigSet;

/// How long to wait for something that must happen.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The set of one signal, by number: real-time ones too, which
/// `nix::sys::signal::Signal` cannot name. Panics on an invalid number.
pub fn signal_set(signo: c_int) -> SigSet {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset() initializes the set it is given; sigaddset()
    // then only updates it.
    let set = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        assert_eq!(
            libc::sigaddset(set.as_mut_ptr(), signo),
            0,
            "signal {signo}"
        );
        set.assume_init()
    };
    // SAFETY: built by sigemptyset() and sigaddset() above.
    unsafe { SigSet::from_sigset_t_unchecked(set) }
}
