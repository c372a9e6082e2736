// SPDX-License-Identifier: GPL-2.0
//! KUnit suites written in Rust.
//!
//! C header: include/kunit/test.h
//!
//! Linux 6.12 has no `#[kunit_tests]`; [`kunit_suite!`](crate::kunit_suite) is the small piece
//! we need. It emits, all in static storage, a NUL-terminated `struct kunit_case` array, a
//! `struct kunit_suite`, and a pointer to the suite in the `.kunit_test_suites` section; the
//! module loader collects that section and KUnit runs the suite when the module goes live,
//! printing KTAP to the kernel log. A case is a plain `fn(&mut Test)`; failed expectations
//! are reported through `KUNIT_FAIL` and mark the case `not ok`.

use super::bindings;
use core::cell::UnsafeCell;
use core::fmt;
use kernel::str::CString;

/// The running test case (`struct kunit`).
///
/// # Invariants
///
/// `raw` is the `struct kunit` of the case currently running on this thread.
pub(crate) struct Test {
    raw: *mut bindings::kunit,
}

impl Test {
    /// # Safety
    ///
    /// `raw` is the `struct kunit` KUnit passed to the running case.
    pub(crate) unsafe fn from_raw(raw: *mut bindings::kunit) -> Test {
        // INVARIANT: guaranteed by the caller.
        Test { raw }
    }

    /// Record a failure at `file:line` (`file` NUL-terminated) with a message.
    pub(crate) fn fail(&mut self, file: &'static str, line: u32, msg: fmt::Arguments<'_>) {
        let text = CString::try_from_fmt(msg);
        let text = match &text {
            Ok(s) => s.as_char_ptr().cast::<core::ffi::c_char>(),
            Err(_) => c"(failure message lost: out of memory)".as_ptr(),
        };
        // SAFETY: `raw` is the running test (type invariant); `file` ends in NUL (the macros
        // build it with `concat!`), `text` is a valid C string that outlives the call.
        unsafe {
            bindings::ipvs_rs_kunit_fail(self.raw, file.as_ptr().cast(), line as _, text.cast())
        };
    }
}

/// Expect a condition to hold; on failure the case is marked failed and goes on.
#[macro_export]
macro_rules! kunit_expect {
    ($t:expr, $cond:expr $(,)?) => {
        if !$cond {
            $t.fail(concat!(file!(), "\0"), line!(), format_args!("expected {}", stringify!($cond)));
        }
    };
    ($t:expr, $cond:expr, $($arg:tt)+) => {
        if !$cond {
            $t.fail(concat!(file!(), "\0"), line!(), format_args!($($arg)+));
        }
    };
}

/// Expect two values to be equal, printing both on failure.
#[macro_export]
macro_rules! kunit_expect_eq {
    ($t:expr, $left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    $t.fail(
                        concat!(file!(), "\0"),
                        line!(),
                        format_args!(
                            "{}: expected {} == {}: {:?} != {:?}",
                            format_args!($($msg)+),
                            stringify!($left),
                            stringify!($right),
                            l,
                            r
                        ),
                    );
                }
            }
        }
    };
    ($t:expr, $left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    $t.fail(
                        concat!(file!(), "\0"),
                        line!(),
                        format_args!("expected {} == {}: {:?} != {:?}", stringify!($left), stringify!($right), l, r),
                    );
                }
            }
        }
    };
}

/// Static storage the kernel writes into (case status, logs).
#[repr(transparent)]
pub(crate) struct KunitCell<T>(pub(crate) UnsafeCell<T>);

// SAFETY: KUnit runs one suite at a time under its own mutex and is the only writer.
unsafe impl<T> Sync for KunitCell<T> {}

/// A pointer to a suite, as stored in the `.kunit_test_suites` section.
#[repr(transparent)]
pub(crate) struct SuitePtr(pub(crate) *mut bindings::kunit_suite);

// SAFETY: the pointer is only read by the module loader and KUnit.
unsafe impl Sync for SuitePtr {}

/// One `struct kunit_case`; `name` must be NUL-terminated.
pub(crate) const fn case(
    name: &'static str,
    run: unsafe extern "C" fn(*mut bindings::kunit),
) -> bindings::kunit_case {
    // SAFETY: all-zero is a valid `kunit_case` (null pointers, absent callbacks, status 0).
    let mut c: bindings::kunit_case = unsafe { core::mem::zeroed() };
    c.run_case = Some(run);
    c.name = name.as_ptr().cast();
    c
}

/// The all-zero case that terminates a case array.
pub(crate) const fn case_end() -> bindings::kunit_case {
    // SAFETY: all-zero is a valid `kunit_case`.
    unsafe { core::mem::zeroed() }
}

/// A `struct kunit_suite` named `name` (at most 255 bytes) running `cases`.
pub(crate) const fn suite(name: &str, cases: *mut bindings::kunit_case) -> bindings::kunit_suite {
    // SAFETY: all-zero is a valid `kunit_suite`.
    let mut s: bindings::kunit_suite = unsafe { core::mem::zeroed() };
    let bytes = name.as_bytes();
    assert!(bytes.len() < s.name.len(), "KUnit suite name too long");
    let mut i = 0;
    while i < bytes.len() {
        s.name[i] = bytes[i] as _;
        i += 1;
    }
    s.test_cases = cases;
    s
}

/// Define a KUnit suite from `fn(&mut Test)` cases in the current module.
///
/// ```ignore
/// kunit_suite!(ipvs_rs_sysctl: defaults_in_init_net, parser_agrees_with_proc_dointvec);
/// ```
#[macro_export]
macro_rules! kunit_suite {
    ($suite:ident : $($case:ident),+ $(,)?) => {
        #[allow(non_snake_case)]
        mod $suite {
            use $crate::glue::bindings::{kunit, kunit_case, kunit_suite};
            use $crate::glue::kunit::{case, case_end, suite, KunitCell, SuitePtr, Test};

            $(
                unsafe extern "C" fn $case(raw: *mut kunit) {
                    // SAFETY: KUnit calls `run_case` with the running test.
                    let mut test = unsafe { Test::from_raw(raw) };
                    super::$case(&mut test);
                }
            )+

            const N: usize = [$(stringify!($case)),+].len() + 1;

            static CASES: KunitCell<[kunit_case; N]> = KunitCell(core::cell::UnsafeCell::new([
                $(case(concat!(stringify!($case), "\0"), $case),)+
                case_end(),
            ]));

            static SUITE: KunitCell<kunit_suite> = KunitCell(core::cell::UnsafeCell::new(
                suite(stringify!($suite), core::ptr::addr_of!(CASES).cast::<kunit_case>().cast_mut()),
            ));

            #[used]
            #[link_section = ".kunit_test_suites"]
            static SUITE_PTR: SuitePtr = SuitePtr(core::ptr::addr_of!(SUITE).cast::<kunit_suite>().cast_mut());
        }
    };
}
