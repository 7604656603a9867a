//! Plain loops compiled once per x86 vector width.
//!
//! Some kernels are ordinary Rust loops that the compiler vectorizes: quantizing the
//! model's f32 input, layout changes, pooling. An emitted crate is compiled for its
//! target's baseline (SSE2 on x86-64), where those loops run 4 lanes wide on a core that
//! has 16. [`wide!`] compiles one body again with AVX2 and with AVX-512 enabled and picks
//! the copy by backend. Every copy is the same Rust code, so the same integer and IEEE
//! float operations in the same order (Rust never reassociates float arithmetic or fuses
//! a multiply and an add on its own): each returns the bytes of the baseline copy, which
//! `qrt/tests/wide.rs` and the kernel registry check on every backend.

/// Defines `$name(args)`, which runs on [`crate::cpu::backend`], and `$on(backend, args)`,
/// which runs the copy of the body compiled for `backend`'s vector width.
macro_rules! wide {
    ($(#[$meta:meta])* pub fn $name:ident / $on:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        pub fn $name($($arg: $ty),*) {
            $on($crate::cpu::backend(), $($arg),*)
        }

        #[doc = concat!("[`", stringify!($name), "`] as compiled for `backend` (which must be available; tests use")]
        #[doc = "this to compare backends). Every backend returns the same bytes."]
        pub fn $on(backend: $crate::cpu::Backend, $($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            assert!(backend.available(), "{}: backend {} is not available on this CPU", stringify!($name), backend.name());
            match backend {
                #[cfg(target_arch = "x86_64")]
                $crate::cpu::Backend::Avx512Vnni | $crate::cpu::Backend::Avx512Amx => {
                    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
                    fn avx512($($arg: $ty),*) {
                        body($($arg),*)
                    }
                    // SAFETY: the backend is available (asserted above), so the CPU has
                    // AVX-512 F, BW and VL, and AVX2.
                    unsafe { avx512($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                $crate::cpu::Backend::Avx2 | $crate::cpu::Backend::AvxVnni => {
                    #[target_feature(enable = "avx2")]
                    fn avx2($($arg: $ty),*) {
                        body($($arg),*)
                    }
                    // SAFETY: the backend is available (asserted above): the CPU has AVX2
                    // (AVX-VNNI's backend requires it too).
                    unsafe { avx2($($arg),*) }
                }
                // Scalar, and Arm, whose baseline already has its only vector width.
                _ => body($($arg),*),
            }
        }
    };
}

pub(crate) use wide;
