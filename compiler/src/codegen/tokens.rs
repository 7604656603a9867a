//! Rust tokens for the constants of each kernel call: `qrt` parameter structs as struct
//! literals, so the emitted code shows every shape, zero point and multiplier.

use proc_macro2::{Literal, TokenStream};
use qrt::requant::{OutputQuant, Requant};
use quote::quote;

/// An integer literal (negative values as `-N`).
pub fn int(v: i64) -> TokenStream {
    let lit = Literal::u64_unsuffixed(v.unsigned_abs());
    if v < 0 {
        quote!(-#lit)
    } else {
        quote!(#lit)
    }
}

/// A `usize` literal.
pub fn size(v: usize) -> TokenStream {
    let lit = Literal::usize_unsuffixed(v);
    quote!(#lit)
}

/// An `f32` literal that round-trips exactly.
pub fn float(v: f32) -> TokenStream {
    let lit = Literal::f32_suffixed(v.abs());
    if v.is_sign_negative() {
        quote!(-#lit)
    } else {
        quote!(#lit)
    }
}

/// `true` / `false`.
pub fn boolean(v: bool) -> TokenStream {
    if v {
        quote!(true)
    } else {
        quote!(false)
    }
}

/// `qrt::OutputQuant { .. }`.
pub fn output_quant(o: &OutputQuant) -> TokenStream {
    let (z, lo, hi) = (int(o.zero_point as i64), int(o.min as i64), int(o.max as i64));
    quote!(qrt::OutputQuant { zero_point: #z, min: #lo, max: #hi })
}

/// `qrt::Requant { .. }`.
pub fn requant(r: &Requant) -> TokenStream {
    let (m, s) = (int(r.multiplier as i64), int(r.shift as i64));
    quote!(qrt::Requant { multiplier: #m, shift: #s })
}

/// `qrt::conv::Conv2d { .. }`.
pub fn conv2d(p: &qrt::conv::Conv2d) -> TokenStream {
    let f = [
        p.in_h,
        p.in_w,
        p.in_c,
        p.out_h,
        p.out_w,
        p.out_c,
        p.kernel_h,
        p.kernel_w,
        p.stride_h,
        p.stride_w,
        p.dilation_h,
        p.dilation_w,
        p.pad_top,
        p.pad_left,
        p.groups,
    ]
    .map(size);
    let [in_h, in_w, in_c, out_h, out_w, out_c, kh, kw, sh, sw, dh, dw, pt, pl, g] = f;
    let (zi, out) = (int(p.input_zero_point as i64), output_quant(&p.output));
    quote!(qrt::conv::Conv2d {
        in_h: #in_h, in_w: #in_w, in_c: #in_c,
        out_h: #out_h, out_w: #out_w, out_c: #out_c,
        kernel_h: #kh, kernel_w: #kw,
        stride_h: #sh, stride_w: #sw,
        dilation_h: #dh, dilation_w: #dw,
        pad_top: #pt, pad_left: #pl,
        groups: #g,
        input_zero_point: #zi,
        output: #out,
    })
}

/// `qrt::gemm::Gemm { .. }`.
pub fn gemm(p: &qrt::gemm::Gemm) -> TokenStream {
    let [rows, k, n, is, os] = [p.rows, p.k, p.n, p.input_stride, p.output_stride].map(size);
    let out = output_quant(&p.output);
    quote!(qrt::gemm::Gemm { rows: #rows, k: #k, n: #n, input_stride: #is, output_stride: #os, output: #out })
}

/// `qrt::depthwise::Depthwise { .. }`.
pub fn depthwise(p: &qrt::depthwise::Depthwise) -> TokenStream {
    let f = [
        p.in_h, p.in_w, p.channels, p.out_h, p.out_w, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_top,
        p.pad_left,
    ]
    .map(size);
    let [in_h, in_w, c, out_h, out_w, kh, kw, sh, sw, pt, pl] = f;
    let (zi, out) = (int(p.input_zero_point as i64), output_quant(&p.output));
    quote!(qrt::depthwise::Depthwise {
        in_h: #in_h, in_w: #in_w, channels: #c,
        out_h: #out_h, out_w: #out_w,
        kernel_h: #kh, kernel_w: #kw,
        stride_h: #sh, stride_w: #sw,
        pad_top: #pt, pad_left: #pl,
        input_zero_point: #zi,
        output: #out,
    })
}

/// `qrt::add::Add { .. }`.
pub fn add(p: &qrt::add::Add) -> TokenStream {
    let len = size(p.len);
    let [za, ma, zb, mb, s] =
        [p.a_zero_point, p.a_multiplier, p.b_zero_point, p.b_multiplier, p.shift].map(|v| int(v as i64));
    let out = output_quant(&p.output);
    quote!(qrt::add::Add {
        len: #len,
        a_zero_point: #za, a_multiplier: #ma,
        b_zero_point: #zb, b_multiplier: #mb,
        shift: #s,
        output: #out,
    })
}

/// `qrt::pool::Pool2d { .. }`.
pub fn pool2d(p: &qrt::pool::Pool2d) -> TokenStream {
    let f = [
        p.in_h,
        p.in_w,
        p.channels,
        p.out_h,
        p.out_w,
        p.kernel_h,
        p.kernel_w,
        p.stride_h,
        p.stride_w,
        p.pad_top,
        p.pad_left,
        p.pad_bottom,
        p.pad_right,
    ]
    .map(size);
    let [in_h, in_w, c, out_h, out_w, kh, kw, sh, sw, pt, pl, pb, pr] = f;
    let (cip, z) = (boolean(p.count_include_pad), int(p.zero_point as i64));
    quote!(qrt::pool::Pool2d {
        in_h: #in_h, in_w: #in_w, channels: #c,
        out_h: #out_h, out_w: #out_w,
        kernel_h: #kh, kernel_w: #kw,
        stride_h: #sh, stride_w: #sw,
        pad_top: #pt, pad_left: #pl, pad_bottom: #pb, pad_right: #pr,
        count_include_pad: #cip,
        zero_point: #z,
    })
}

/// `qrt::pool::GlobalAveragePool { .. }`.
pub fn global_average_pool(p: &qrt::pool::GlobalAveragePool) -> TokenStream {
    let (px, c, zi, r, zo) = (
        size(p.pixels),
        size(p.channels),
        int(p.in_zero_point as i64),
        requant(&p.requant),
        int(p.out_zero_point as i64),
    );
    quote!(qrt::pool::GlobalAveragePool { pixels: #px, channels: #c, in_zero_point: #zi, requant: #r, out_zero_point: #zo })
}

/// `qrt::concat::CopyInto { .. }`.
pub fn copy_into(p: &qrt::concat::CopyInto) -> TokenStream {
    let [outer, inner, out_inner, offset] = [p.outer, p.inner, p.out_inner, p.offset].map(size);
    let [zi, m, s, zo] = [p.in_zero_point, p.multiplier, p.shift, p.out_zero_point].map(|v| int(v as i64));
    quote!(qrt::concat::CopyInto {
        outer: #outer, inner: #inner, out_inner: #out_inner, offset: #offset,
        in_zero_point: #zi, multiplier: #m, shift: #s, out_zero_point: #zo,
    })
}

/// `qrt::clamp::Clamp { .. }`.
pub fn clamp(p: &qrt::clamp::Clamp) -> TokenStream {
    let (len, lo, hi) = (size(p.len), int(p.min as i64), int(p.max as i64));
    quote!(qrt::clamp::Clamp { len: #len, min: #lo, max: #hi })
}

/// `qrt::im2col::Im2col { .. }`.
pub fn im2col(p: &qrt::im2col::Im2col) -> TokenStream {
    let f = [
        p.in_h,
        p.in_w,
        p.in_c,
        p.out_h,
        p.out_w,
        p.kernel_h,
        p.kernel_w,
        p.stride_h,
        p.stride_w,
        p.dilation_h,
        p.dilation_w,
        p.pad_top,
        p.pad_left,
    ]
    .map(size);
    let [in_h, in_w, in_c, out_h, out_w, kh, kw, sh, sw, dh, dw, pt, pl] = f;
    let z = int(p.zero_point as i64);
    quote!(qrt::im2col::Im2col {
        in_h: #in_h, in_w: #in_w, in_c: #in_c,
        out_h: #out_h, out_w: #out_w,
        kernel_h: #kh, kernel_w: #kw,
        stride_h: #sh, stride_w: #sw,
        dilation_h: #dh, dilation_w: #dw,
        pad_top: #pt, pad_left: #pl,
        zero_point: #z,
    })
}
