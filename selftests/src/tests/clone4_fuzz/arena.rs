//! The memory the fuzzer points clone4() and the fd's operations at.
//!
//! Nothing here is memory that Rust code uses: the kernel may write only
//! the scratch page (which holds [`SENTINEL`] before each call, so any
//! write shows), fail to write the read-only page or the guard page, or
//! read the region, where each call's struct is written.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{fence, Ordering};

use nix::errno::Errno;

use crate::sys::Mapping;

/// x86_64's page size; also clone4()'s limit on `size`.
pub(super) const PAGE: usize = 4096;
/// The readable pages of the region, before its guard page.
pub(super) const DATA_PAGES: usize = 2;
/// What the scratch page holds where the kernel did not write.
pub(super) const SENTINEL: u8 = 0x5a;
/// What the region holds past the struct the kernel may read.
pub(super) const GARBAGE: u8 = 0xa5;
/// The lowest address of the kernel's half of the address space (with
/// 4-level and 5-level paging alike).
pub(super) const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

/// Where a pointer that the kernel may write through points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Null,
    /// This offset of the scratch page: writable.
    Scratch(usize),
    /// This offset of the read-only page of zeros.
    ReadOnly(usize),
    /// This offset of the PROT_NONE guard page.
    Guard(usize),
    /// KERNEL_ADDRESS plus this.
    Kernel(u64),
}

impl Target {
    pub(super) fn writable(self) -> bool {
        matches!(self, Target::Scratch(_))
    }
}

/// The mappings.
pub(super) struct Arena {
    /// DATA_PAGES read-write (or, during a call, read-only) pages, then a
    /// PROT_NONE guard page.
    region: Mapping,
    /// The page the kernel may write (ptid, clonefd).
    scratch: Mapping,
    /// A read-only page of zeros.
    read_only: Mapping,
    /// The region's data pages are read-only.
    region_read_only: bool,
}

impl Arena {
    pub(super) fn new() -> nix::Result<Self> {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let region = Mapping::new((DATA_PAGES + 1) * PAGE, rw, 0)?;
        let arena = Arena {
            region,
            scratch: Mapping::new(PAGE, rw, 0)?,
            read_only: Mapping::new(PAGE, libc::PROT_READ, 0)?,
            region_read_only: false,
        };
        arena.protect(arena.guard(), PAGE, libc::PROT_NONE)?;
        Ok(arena)
    }

    /// mprotect() on pages of our own mappings.
    fn protect(&self, addr: usize, len: usize, prot: libc::c_int) -> nix::Result<()> {
        // SAFETY: the pages belong to mappings of this arena, which no Rust
        // reference points into.
        Errno::result(unsafe { libc::mprotect(addr as *mut c_void, len, prot) }).map(drop)
    }

    /// The address of the guard page, where the region's data ends.
    pub(super) fn guard(&self) -> usize {
        self.region.addr() + DATA_PAGES * PAGE
    }

    /// The start of the region's data pages.
    pub(super) fn region_start(&self) -> usize {
        self.region.addr()
    }

    /// The address `target` stands for.
    pub(super) fn target(&self, target: Target) -> u64 {
        match target {
            Target::Null => 0,
            Target::Scratch(offset) => (self.scratch.addr() + offset) as u64,
            Target::ReadOnly(offset) => (self.read_only.addr() + offset) as u64,
            Target::Guard(offset) => (self.guard() + offset) as u64,
            Target::Kernel(offset) => KERNEL_ADDRESS + offset,
        }
    }

    /// Fills the scratch page with SENTINEL.
    pub(super) fn reset_scratch(&self) {
        // SAFETY: the page is ours, writable, and no Rust reference points
        // into it.
        unsafe { ptr::write_bytes(self.scratch.as_ptr().cast::<u8>(), SENTINEL, PAGE) };
    }

    /// The scratch page's bytes now.
    pub(super) fn scratch_bytes(&self) -> [u8; PAGE] {
        read_page(self.scratch.as_ptr())
    }

    /// Whether the read-only page still holds only zeros.
    pub(super) fn read_only_clean(&self) -> bool {
        read_page(self.read_only.as_ptr()) == [0; PAGE]
    }

    /// Writes `bytes` at `readable` bytes before the guard page (at most
    /// the bytes that fit before it), then GARBAGE for up to 16 bytes;
    /// makes the data pages read-only if asked. The address written at.
    pub(super) fn place(&mut self, bytes: &[u8], readable: usize, read_only: bool) -> u64 {
        assert!(readable <= DATA_PAGES * PAGE, "readable {readable}");
        let at = self.guard() - readable;
        let len = bytes.len().min(readable);
        let garbage = (readable - len).min(16);
        // SAFETY: [at, at + len + garbage) lies in the region's data pages,
        // which are writable here (release() made them so) and which no
        // Rust reference points into.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, len);
            ptr::write_bytes((at + len) as *mut u8, GARBAGE, garbage);
        }
        if read_only {
            self.protect(self.region_start(), DATA_PAGES * PAGE, libc::PROT_READ)
                .expect("mprotect(PROT_READ) on our own pages");
            self.region_read_only = true;
        }
        at as u64
    }

    /// Makes the region's data pages writable again.
    pub(super) fn release(&mut self) {
        if self.region_read_only {
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            self.protect(self.region_start(), DATA_PAGES * PAGE, rw)
                .expect("mprotect(PROT_READ | PROT_WRITE) on our own pages");
            self.region_read_only = false;
        }
    }

    /// Fills the `len` bytes of the region just before the guard page with
    /// `byte`: a read buffer that runs into the guard. Its address.
    pub(super) fn fill_before_guard(&self, len: usize, byte: u8) -> *mut u8 {
        assert!(len <= DATA_PAGES * PAGE);
        let at = self.guard() - len;
        // SAFETY: as in place(): our writable data pages, no reference.
        unsafe { ptr::write_bytes(at as *mut u8, byte, len) };
        at as *mut u8
    }

    /// The `len` bytes before the guard page.
    pub(super) fn bytes_before_guard(&self, len: usize) -> Vec<u8> {
        let at = self.guard() - len;
        let mut out = vec![0; len];
        // SAFETY: readable data pages of ours; the kernel no longer writes
        // them (the read() that did has returned).
        unsafe { ptr::copy_nonoverlapping(at as *const u8, out.as_mut_ptr(), len) };
        out
    }
}

/// A copy of a page of ours.
fn read_page(page: *const c_void) -> [u8; PAGE] {
    let mut out = [0; PAGE];
    // The kernel wrote it in a syscall: an opaque call, then this fence.
    fence(Ordering::SeqCst);
    // SAFETY: `page` is a readable page of one of our mappings, which no
    // Rust reference points into.
    unsafe { ptr::copy_nonoverlapping(page.cast::<u8>(), out.as_mut_ptr(), PAGE) };
    out
}
