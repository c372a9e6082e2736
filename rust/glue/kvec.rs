// SPDX-License-Identifier: GPL-2.0
//! What 6.12's `KVec` / `KVVec` lack and the control plane needs: ordered removal, front
//! insertion, swap removal and pop.
//!
//! C header: none (rust/kernel/alloc/kvec.rs)

use kernel::alloc::{AllocError, Allocator, Flags, KVec, Vec};

/// Remove and return element `idx`, keeping the order of the others (`Vec::remove`).
pub(crate) fn remove<T>(v: &mut KVec<T>, idx: usize) -> Option<T> {
    let len = v.len();
    if idx >= len {
        return None;
    }
    v.as_mut_slice()[idx..].rotate_left(1);
    // SAFETY: `len - 1 < len` is initialised; after reading it out we shrink the length so it
    // is neither dropped nor read again.
    unsafe {
        let last = core::ptr::read(v.as_ptr().add(len - 1));
        v.set_len(len - 1);
        Some(last)
    }
}

/// Insert `x` before all other elements (C's `list_add()` order).
pub(crate) fn push_front<T>(v: &mut KVec<T>, x: T, flags: Flags) -> Result<(), AllocError> {
    v.push(x, flags)?;
    v.as_mut_slice().rotate_right(1);
    Ok(())
}

/// Remove and return element `idx`, moving the last element into its place (`Vec::swap_remove`).
pub(crate) fn swap_remove<T, A: Allocator>(v: &mut Vec<T, A>, idx: usize) -> Option<T> {
    let len = v.len();
    if idx >= len {
        return None;
    }
    v.as_mut_slice().swap(idx, len - 1);
    // SAFETY: as in `remove`: element `len - 1` is initialised, read out once, and the
    // length shrinks so it is neither dropped nor read again.
    unsafe {
        let last = core::ptr::read(v.as_ptr().add(len - 1));
        v.set_len(len - 1);
        Some(last)
    }
}

/// Remove and return the last element (`Vec::pop`, which 6.12's `KVec` lacks).
pub(crate) fn pop<T, A: Allocator>(v: &mut Vec<T, A>) -> Option<T> {
    let len = v.len();
    swap_remove(v, len.checked_sub(1)?)
}

/// A vector of `len` zero bytes (6.12's `KVec` has no `resize`; `from_elem` may panic).
pub(crate) fn zeroed(len: usize, flags: Flags) -> Result<KVec<u8>, AllocError> {
    let mut v = KVec::with_capacity(len, flags)?;
    // SAFETY: the capacity is at least `len` (just reserved); the first `len` bytes are
    // written (zeroed) before the length says they exist.
    unsafe {
        core::ptr::write_bytes(v.as_mut_ptr(), 0, len);
        v.set_len(len);
    }
    Ok(v)
}
