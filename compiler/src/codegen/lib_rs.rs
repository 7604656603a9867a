//! Generates the emitted crate's `src/lib.rs`: constants, the `Model` API, and one function
//! per step named after its source node. The body of each step function makes exactly the
//! `qrt` call the simulator makes (see `crate::sim`).

use super::tokens::{self, size};
use crate::quant::{ChannelRefs, GemmRefs, Kernel, Program, QTensor, Step};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use std::collections::HashSet;

/// What the generated module refers to the blob by, and how it gates `std`.
pub struct Paths {
    /// Expression of type `&'static [u8]` holding the weight blob (64-byte aligned).
    pub blob: TokenStream,
    /// How the items that need `std` (the `Model` type) are gated.
    pub std_gate: StdGate,
}

/// How the items that need `std` are gated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdGate {
    /// `#[cfg(feature = "std")]` on each: the emitted crate's own `std` feature.
    CrateFeature,
    /// Inside `qrt::__if_std! { .. }`: a module in a user's crate follows the `std`
    /// feature of the `qrt` it depends on (the user's crate has no such feature of its own).
    RuntimeFeature,
}

/// Emits the items of the model module (everything except the crate attributes and banner).
pub fn model_items(p: &Program, paths: &Paths) -> TokenStream {
    let names = step_names(p);
    let t_in = &p.tensors[p.input];
    let t_out = &p.tensors[p.output];
    let (in_shape, in_len) = (shape_tokens(&t_in.shape), size(t_in.len()));
    let (out_shape, out_len) = (shape_tokens(&t_out.shape), size(t_out.len()));
    let (in_rank, out_rank) = (size(t_in.shape.len()), size(t_out.shape.len()));
    let (in_scale, in_zp) = (tokens::float(t_in.scale), tokens::int(t_in.zero_point as i64));
    let (out_scale, out_zp) = (tokens::float(t_out.scale), tokens::int(t_out.zero_point as i64));
    let (in_off, out_off) = (size(t_in.offset), size(t_out.offset));
    // An NCHW image is quantized in bands of rows of its planes, the rows each thread's
    // band of the first layers reads; other inputs in ranges of elements.
    let (planes, row) = match t_in.shape[..] {
        [n, c, _, w] => (n * c, w),
        _ => (1, t_in.len()),
    };
    let (planes, row) = (size(planes), size(row));
    let arena = size(p.arena_bytes);
    let blob_len = size(p.blob.len());
    let macs = proc_macro2::Literal::u64_unsuffixed(p.macs());
    let blob = &paths.blob;
    let calls = names.iter().map(|n| quote!(#n(arena, par);));
    let layer_count = size(names.len());
    let layer_infos = p.steps.iter().zip(&names).map(|(s, n)| {
        let (name, op) = (n.to_string(), s.op.clone());
        let macs = proc_macro2::Literal::u64_unsuffixed(s.macs);
        quote!(LayerInfo { name: #name, op: #op, macs: #macs })
    });
    let joined = p.joined_steps();
    let steps = (0..p.steps.len()).map(|i| {
        if joined[i] {
            joined_fn(&p.steps[i], &names[i], &names[i - 1])
        } else {
            let next = (joined.get(i + 1) == Some(&true)).then(|| &p.steps[i + 1]);
            step_fn(p, &p.steps[i], &names[i], next)
        }
    });
    let std_items = gate_std(paths.std_gate, std_items());
    quote! {
        pub use qrt::Error;

        /// Input shape (ONNX order, NCHW for images).
        pub const INPUT_SHAPE: [usize; #in_rank] = #in_shape;
        /// Number of input elements.
        pub const INPUT_LEN: usize = #in_len;
        /// Scale of the int8 input.
        pub const INPUT_SCALE: f32 = #in_scale;
        /// Zero point of the int8 input.
        pub const INPUT_ZERO_POINT: i32 = #in_zp;
        /// Output shape (ONNX order).
        pub const OUTPUT_SHAPE: [usize; #out_rank] = #out_shape;
        /// Number of output elements.
        pub const OUTPUT_LEN: usize = #out_len;
        /// Scale of the int8 output.
        pub const OUTPUT_SCALE: f32 = #out_scale;
        /// Zero point of the int8 output.
        pub const OUTPUT_ZERO_POINT: i32 = #out_zp;
        /// Bytes of activation memory a run needs (planned at compile time).
        pub const ARENA_BYTES: usize = #arena;
        /// Bytes of read-only weights, biases and requantization constants.
        pub const WEIGHT_BYTES: usize = #blob_len;
        /// Multiply-accumulates per run.
        pub const MACS: u64 = #macs;

        const INPUT_OFFSET: usize = #in_off;
        const OUTPUT_OFFSET: usize = #out_off;

        #std_items

        fn check(arena: &mut [i8], input: usize, output: usize) -> Result<&mut [i8], Error> {
            if input != INPUT_LEN {
                return Err(Error::InputLength { expected: INPUT_LEN, actual: input });
            }
            if output != OUTPUT_LEN {
                return Err(Error::OutputLength { expected: OUTPUT_LEN, actual: output });
            }
            let actual = arena.len();
            qrt::arena::window(arena, ARENA_BYTES).ok_or(Error::ArenaTooSmall { expected: ARENA_BYTES, actual })
        }

        /// Runs on a float32 input using a caller-supplied arena of at least `ARENA_BYTES`,
        /// on the calling thread.
        pub fn run_with_arena(arena: &mut [i8], input: &[f32], output: &mut [f32]) -> Result<(), Error> {
            run_f32(arena, input, output, qrt::par::Par::single())
        }

        /// Runs on an int8 input using a caller-supplied arena of at least `ARENA_BYTES`,
        /// on the calling thread.
        pub fn run_int8_with_arena(arena: &mut [i8], input: &[i8], output: &mut [i8]) -> Result<(), Error> {
            run_i8(arena, input, output, qrt::par::Par::single())
        }

        /// Like [`run_with_arena`], with the arena as bytes: a `&mut [u8]` of at least
        /// `ARENA_BYTES` (e.g. a `static mut [u8; ARENA_BYTES]` or a buffer from an allocator).
        pub fn run_with_byte_arena(arena: &mut [u8], input: &[f32], output: &mut [f32]) -> Result<(), Error> {
            run_f32(qrt::arena::bytes_as_i8(arena), input, output, qrt::par::Par::single())
        }

        /// Like [`run_int8_with_arena`], with the arena as bytes (at least `ARENA_BYTES`).
        pub fn run_int8_with_byte_arena(arena: &mut [u8], input: &[i8], output: &mut [i8]) -> Result<(), Error> {
            run_i8(qrt::arena::bytes_as_i8(arena), input, output, qrt::par::Par::single())
        }

        /// The model over a caller-supplied arena: the `no_std` way to hold a model without an
        /// allocator. The arena (at least `ARENA_BYTES`, checked once here) is `[i8]`
        /// ([`ArenaModel::new`]) or bytes ([`ArenaModel::from_bytes`]): a
        /// `&'static mut [u8; ARENA_BYTES]` in a `static` the caller places, or any borrowed
        /// slice. Runs on the calling thread.
        pub struct ArenaModel<'a> {
            arena: &'a mut [i8],
        }

        impl<'a> ArenaModel<'a> {
            /// Takes the arena; `Err(Error::ArenaTooSmall)` if it is shorter than `ARENA_BYTES`.
            pub fn new(arena: &'a mut [i8]) -> Result<Self, Error> {
                let actual = arena.len();
                if actual < ARENA_BYTES {
                    return Err(Error::ArenaTooSmall { expected: ARENA_BYTES, actual });
                }
                Ok(ArenaModel { arena })
            }

            /// Takes the arena as bytes; `Err(Error::ArenaTooSmall)` if it is shorter than
            /// `ARENA_BYTES`.
            pub fn from_bytes(arena: &'a mut [u8]) -> Result<Self, Error> {
                Self::new(qrt::arena::bytes_as_i8(arena))
            }

            /// Runs on a float32 input of `INPUT_LEN` elements, writing `OUTPUT_LEN` floats.
            pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), Error> {
                run_f32(self.arena, input, output, qrt::par::Par::single())
            }

            /// Runs on an int8 input (`INPUT_SCALE`, `INPUT_ZERO_POINT`), writing the int8 output.
            pub fn run_int8(&mut self, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
                run_i8(self.arena, input, output, qrt::par::Par::single())
            }
        }

        /// The f32 input to int8 in the arena, split over threads by rows of its planes.
        fn quantize_input(input: &[f32], arena: &mut [i8], par: qrt::par::Par<'_>) {
            let to = &mut arena[INPUT_OFFSET..INPUT_OFFSET + INPUT_LEN];
            qrt::par::quantize_planes(par, #planes, #row, INPUT_SCALE, INPUT_ZERO_POINT, input, to);
        }

        fn run_f32(arena: &mut [i8], input: &[f32], output: &mut [f32], par: qrt::par::Par<'_>) -> Result<(), Error> {
            let arena = check(arena, input.len(), output.len())?;
            quantize_input(input, arena, par);
            forward(arena, par);
            qrt::quant::dequantize(OUTPUT_SCALE, OUTPUT_ZERO_POINT, &arena[OUTPUT_OFFSET..OUTPUT_OFFSET + OUTPUT_LEN], output);
            Ok(())
        }

        fn run_i8(arena: &mut [i8], input: &[i8], output: &mut [i8], par: qrt::par::Par<'_>) -> Result<(), Error> {
            let arena = check(arena, input.len(), output.len())?;
            arena[INPUT_OFFSET..INPUT_OFFSET + INPUT_LEN].copy_from_slice(input);
            forward(arena, par);
            output.copy_from_slice(&arena[OUTPUT_OFFSET..OUTPUT_OFFSET + OUTPUT_LEN]);
            Ok(())
        }

        fn blob() -> &'static [u8] {
            #blob
        }

        fn weights(offset: usize, len: usize) -> &'static [i8] {
            qrt::blob::i8s(blob(), offset, len)
        }

        fn words(offset: usize, len: usize) -> &'static [i32] {
            qrt::blob::i32s(blob(), offset, len)
        }

        /// All layers, in order.
        fn forward(arena: &mut [i8], par: qrt::par::Par<'_>) {
            #(#calls)*
        }

        /// One layer, as the model card lists it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct LayerInfo {
            /// Function name in this file (after the source node).
            pub name: &'static str,
            /// What it computes, e.g. `Conv+Relu6`.
            pub op: &'static str,
            /// Multiply-accumulates per run.
            pub macs: u64,
        }

        /// Every layer, in execution order.
        pub const LAYERS: [LayerInfo; #layer_count] = [#(#layer_infos),*];

        const LAYER_FNS: [fn(&mut [i8], qrt::par::Par<'_>); #layer_count] = [#(#names),*];

        /// Runs like [`run_with_arena`], calling `at(i)` just before layer `i` and
        /// `at(LAYERS.len())` after the last one: a hook for per-layer timing.
        pub fn run_profiled(arena: &mut [i8], input: &[f32], output: &mut [f32], at: impl FnMut(usize)) -> Result<(), Error> {
            profiled(arena, input, output, qrt::par::Par::single(), at)
        }

        fn profiled(arena: &mut [i8], input: &[f32], output: &mut [f32], par: qrt::par::Par<'_>, mut at: impl FnMut(usize)) -> Result<(), Error> {
            let arena = check(arena, input.len(), output.len())?;
            quantize_input(input, arena, par);
            for (i, layer) in LAYER_FNS.iter().enumerate() {
                at(i);
                layer(arena, par);
            }
            at(LAYER_FNS.len());
            qrt::quant::dequantize(OUTPUT_SCALE, OUTPUT_ZERO_POINT, &arena[OUTPUT_OFFSET..OUTPUT_OFFSET + OUTPUT_LEN], output);
            Ok(())
        }

        #(#steps)*
    }
}

/// The items that need `std` (the `Model` type, its impls, and the pool helper), each as
/// its doc comment and the item.
fn std_items() -> Vec<(TokenStream, TokenStream)> {
    vec![
        (
            quote!(#[doc = " The model with its own arena (and, with [`Model::with_threads`], a thread pool)."]),
            quote! {
                pub struct Model {
                    arena: std::vec::Vec<i8>,
                    pool: Option<qrt::threads::Pool>,
                }
            },
        ),
        (
            quote!(),
            quote! {
                impl Model {
                    /// Allocates the arena (the only allocation; runs allocate nothing). Runs on the
                    /// calling thread.
                    pub fn new() -> Self {
                        Self::with_threads(1)
                    }

                    /// Like [`Model::new`], but splits the heavy layers over `threads` threads in
                    /// all (the caller included). The output bytes are the same as with one thread.
                    pub fn with_threads(threads: usize) -> Self {
                        Model { arena: std::vec![0; ARENA_BYTES + qrt::arena::ALIGN - 1], pool: (threads > 1).then(|| qrt::threads::Pool::new(threads)) }
                    }

                    /// Threads a run uses.
                    pub fn threads(&self) -> usize {
                        self.pool.as_ref().map_or(1, |p| p.threads())
                    }

                    /// Each thread's speed relative to the calling thread's, as measured on
                    /// the layers run so far: each layer's rows are shared out in these
                    /// proportions (`[1.0]` with one thread).
                    pub fn thread_speeds(&self) -> std::vec::Vec<f32> {
                        self.pool.as_ref().map_or(std::vec![1.0], |p| p.weights())
                    }

                    /// Runs on a float32 input of `INPUT_LEN` elements, writing `OUTPUT_LEN` floats.
                    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), Error> {
                        run_f32(&mut self.arena, input, output, par(&self.pool))
                    }

                    /// Runs on an int8 input (quantized with `INPUT_SCALE`, `INPUT_ZERO_POINT`),
                    /// writing the int8 output (`OUTPUT_SCALE`, `OUTPUT_ZERO_POINT`).
                    pub fn run_int8(&mut self, input: &[i8], output: &mut [i8]) -> Result<(), Error> {
                        run_i8(&mut self.arena, input, output, par(&self.pool))
                    }

                    /// Per-layer timing hook on this model's arena and threads (see [`run_profiled`]).
                    pub fn run_profiled(&mut self, input: &[f32], output: &mut [f32], at: impl FnMut(usize)) -> Result<(), Error> {
                        profiled(&mut self.arena, input, output, par(&self.pool), at)
                    }
                }
            },
        ),
        (
            quote!(#[doc = " Where a model's layers run: its pool, or the calling thread."]),
            quote! {
                fn par(pool: &Option<qrt::threads::Pool>) -> qrt::par::Par<'_> {
                    match pool {
                        Some(pool) => qrt::par::Par::pool(pool),
                        None => qrt::par::Par::single(),
                    }
                }
            },
        ),
        (
            quote!(),
            quote! {
                impl Default for Model {
                    fn default() -> Self {
                        Self::new()
                    }
                }
            },
        ),
    ]
}

fn gate_std(gate: StdGate, items: Vec<(TokenStream, TokenStream)>) -> TokenStream {
    let (docs, items): (Vec<_>, Vec<_>) = items.into_iter().unzip();
    match gate {
        StdGate::CrateFeature => quote!(#(#docs #[cfg(feature = "std")] #items)*),
        StdGate::RuntimeFeature => quote!(qrt::__if_std! { #(#docs #items)* }),
    }
}

fn shape_tokens(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| size(d));
    quote!([#(#dims),*])
}

/// Function names after the source nodes: snake case, unique, never a keyword or one of
/// the module's own items.
pub fn step_names(p: &Program) -> Vec<Ident> {
    const RESERVED: &[&str] = &[
        "check",
        "blob",
        "weights",
        "words",
        "forward",
        "run_with_arena",
        "run_int8_with_arena",
        "run_with_byte_arena",
        "run_int8_with_byte_arena",
        "run_f32",
        "run_i8",
        "run_profiled",
        "profiled",
        "par",
        "self",
        "super",
        "crate",
    ];
    let mut used: HashSet<String> = RESERVED.iter().map(|s| s.to_string()).collect();
    p.steps
        .iter()
        .map(|s| {
            let suffix = match s.kernel {
                Kernel::NchwToNhwc { .. } => "_to_nhwc",
                Kernel::NhwcToNchw { .. } => "_to_nchw",
                _ => "",
            };
            let mut base = sanitize(&format!("{}{suffix}", s.node));
            if syn::parse_str::<Ident>(&base).is_err() {
                base.push('_');
            }
            let mut name = base.clone();
            let mut k = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            Ident::new(&name, Span::call_site())
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_').to_string();
    match trimmed.chars().next() {
        None => "layer".into(),
        Some(c) if c.is_ascii_digit() => format!("layer_{trimmed}"),
        Some(_) => trimmed,
    }
}

fn describe(t: &QTensor) -> String {
    format!("{:?} (scale {}, zero point {})", t.shape, t.scale, t.zero_point)
}

/// A step that runs in the job of the step before ([`Program::joined_steps`]): its
/// function does nothing (it stays in `LAYERS` so the layers keep the program's steps).
fn joined_fn(step: &Step, name: &Ident, prev: &Ident) -> TokenStream {
    let doc = [
        format!(" `{}`: {}.", step.node, step.op),
        String::new(),
        format!(" Runs in `{prev}`'s job, band by band on the same threads: nothing left to do here."),
    ];
    quote! {
        #(#[doc = #doc])*
        fn #name(_arena: &mut [i8], _par: qrt::par::Par<'_>) {}
    }
}

/// The function of `step`, and of `next` too when that runs in its job.
fn step_fn(p: &Program, step: &Step, name: &Ident, next: Option<&Step>) -> TokenStream {
    let out = &p.tensors[step.output];
    let inputs: Vec<String> =
        step.inputs.iter().map(|&i| format!("`{}` {}", p.tensors[i].name, describe(&p.tensors[i]))).collect();
    let mut doc =
        vec![format!(" `{}`: {}.", step.node, step.op), String::new(), format!(" Reads {}.", inputs.join(", "))];
    doc.push(format!(" Writes `{}` {}.", out.name, describe(out)));
    if step.macs > 0 {
        doc.push(format!(" {} multiply-accumulates.", step.macs));
    }
    if let Some(next) = next {
        let t = &p.tensors[next.output];
        doc.push(String::new());
        doc.push(format!(
            " Then, in the same job, `{}`: {}, writing `{}` {} ({} multiply-accumulates).",
            next.node,
            next.op,
            t.name,
            describe(t),
            next.macs
        ));
    }
    let (out_off, out_len) = (size(out.offset), size(out.len()));
    let input = |i: usize| {
        let t = &p.tensors[step.inputs[i]];
        let (off, len) = (size(t.offset), size(t.len()));
        quote!(split.input(#off, #len))
    };
    let call = match &step.kernel {
        Kernel::Conv(params, refs) => {
            let (pt, w, q, x) = (tokens::conv2d(params), weights(refs), quant(refs), input(0));
            quote! {
                const P: qrt::conv::Conv2d = #pt;
                let q = #q;
                qrt::conv::conv2d(&P, #x, #w, &q, split.output);
            }
        }
        Kernel::Gemm(params, refs) => {
            let (pt, w, q, x) = (tokens::gemm(params), weights(&refs.base), gemm_quant(refs), input(0));
            quote! {
                const P: qrt::gemm::Gemm = #pt;
                let q = #q;
                qrt::par::gemm(par, &P, #x, #w, &q, split.output);
            }
        }
        Kernel::Depthwise(params, refs) => {
            let (pt, w, q, x) = (tokens::depthwise(params), weights(refs), quant(refs), input(0));
            quote! {
                const P: qrt::depthwise::Depthwise = #pt;
                let q = #q;
                qrt::par::depthwise(par, &P, #x, #w, &q, split.output);
            }
        }
        Kernel::ExpandDepthwise { pair, gemm, dw, .. } => {
            let (g, d) = (tokens::gemm(&pair.gemm), tokens::depthwise(&pair.dw));
            let (gw, gq, dw_w, dq, x) = (weights(&gemm.base), gemm_quant(gemm), weights(dw), quant(dw), input(0));
            quote! {
                const P: qrt::fused::ExpandDepthwise = qrt::fused::ExpandDepthwise { gemm: #g, dw: #d };
                let (gq, dq) = (#gq, #dq);
                qrt::par::expand_depthwise(par, &P, #x, #gw, &gq, #dw_w, &dq, split.scratch, split.output);
            }
        }
        Kernel::DepthwiseProject { layers, dw, gemm, .. } => {
            let (d, g) = (tokens::depthwise(&layers.dw), tokens::gemm(&layers.gemm));
            let residual = match layers.residual {
                Some(r) => {
                    let (a, gemm_is_a) = (tokens::add(&r.add), r.gemm_is_a);
                    quote!(Some(qrt::fused_project::Residual { add: #a, gemm_is_a: #gemm_is_a }))
                }
                None => quote!(None),
            };
            let (dw_w, dq, gw, gq, x) = (weights(dw), quant(dw), weights(&gemm.base), gemm_quant(gemm), input(0));
            let other = if layers.residual.is_some() { input(1) } else { quote!(&[]) };
            let then = match next.map(|s| &s.kernel) {
                Some(Kernel::Gemm(params, refs)) => {
                    let (pn, nw, nq) = (tokens::gemm(params), weights(&refs.base), gemm_quant(refs));
                    Some(quote! {
                        const N: qrt::gemm::Gemm = #pn;
                        let nq = #nq;
                        qrt::par::depthwise_project_then_gemm(
                            par, &P, (#x, #other), (#dw_w, &dq), (#gw, &gq), split.scratch, split.output, (&N, #nw, &nq), split.second,
                        );
                    })
                }
                _ => None,
            };
            let call = then.unwrap_or_else(
                || quote!(qrt::par::depthwise_project(par, &P, #x, #dw_w, &dq, #gw, &gq, #other, split.scratch, split.output);),
            );
            quote! {
                const P: qrt::fused_project::DepthwiseProject =
                    qrt::fused_project::DepthwiseProject { dw: #d, gemm: #g, residual: #residual };
                let (dq, gq) = (#dq, #gq);
                #call
            }
        }
        Kernel::Im2colGemm { conv, gemm, .. } => {
            let (g, m) = (tokens::im2col(&conv.gather), tokens::gemm(&conv.gemm));
            let (w, q, x) = (weights(&gemm.base), gemm_quant(gemm), input(0));
            quote! {
                const P: qrt::im2col::Im2colGemm = qrt::im2col::Im2colGemm { gather: #g, gemm: #m };
                let q = #q;
                qrt::par::im2col_gemm(par, &P, #x, #w, &q, split.scratch, split.output);
            }
        }
        Kernel::Add(params) => {
            let (pt, a, b) = (tokens::add(params), input(0), input(1));
            quote! {
                const P: qrt::add::Add = #pt;
                qrt::par::add(par, &P, #a, #b, split.output);
            }
        }
        Kernel::MaxPool(params) => {
            let (pt, x) = (tokens::pool2d(params), input(0));
            quote! {
                const P: qrt::pool::Pool2d = #pt;
                qrt::par::max_pool(par, &P, #x, split.output);
            }
        }
        Kernel::AveragePool(params) => {
            let (pt, x) = (tokens::pool2d(params), input(0));
            quote! {
                const P: qrt::pool::Pool2d = #pt;
                qrt::pool::average_pool(&P, #x, split.output);
            }
        }
        Kernel::GlobalAveragePool(params) => {
            let (pt, x) = (tokens::global_average_pool(params), input(0));
            quote! {
                const P: qrt::pool::GlobalAveragePool = #pt;
                qrt::pool::global_average_pool(&P, #x, split.output);
            }
        }
        Kernel::Clamp(params) => {
            let (pt, x) = (tokens::clamp(params), input(0));
            quote! {
                const P: qrt::clamp::Clamp = #pt;
                qrt::clamp::clamp(&P, #x, split.output);
            }
        }
        Kernel::CopyInto(params) => {
            let (pt, x) = (tokens::copy_into(params), input(0));
            quote! {
                const P: qrt::concat::CopyInto = #pt;
                qrt::concat::copy_into(&P, #x, split.output);
            }
        }
        Kernel::NhwcToNchw { c, h, w } => {
            let (c, h, w, x) = (size(*c), size(*h), size(*w), input(0));
            quote!(qrt::layout::nhwc_to_nchw(#c, #h, #w, #x, split.output);)
        }
        Kernel::NchwToNhwc { c, h, w } => {
            let (c, h, w, x) = (size(*c), size(*h), size(*w), input(0));
            quote!(qrt::par::nchw_to_nhwc(par, #c, #h, #w, #x, split.output);)
        }
    };
    let uses_par = step.kernel.splits_over_threads();
    let split = match (step.scratch(), next) {
        (Some(s), Some(next)) => {
            let (s, t) = (&p.tensors[s], &p.tensors[next.output]);
            let (s_off, s_len, t_off, t_len) = (size(s.offset), size(s.len()), size(t.offset), size(t.len()));
            quote!(qrt::arena::split_with_two(arena, #out_off, #out_len, #s_off, #s_len, #t_off, #t_len))
        }
        (Some(s), None) => {
            let s = &p.tensors[s];
            let (s_off, s_len) = (size(s.offset), size(s.len()));
            quote!(qrt::arena::split_with_scratch(arena, #out_off, #out_len, #s_off, #s_len))
        }
        (None, _) => quote!(qrt::arena::split(arena, #out_off, #out_len)),
    };
    let par_arg = if uses_par { quote!(par) } else { quote!(_par) };
    quote! {
        #(#[doc = #doc])*
        fn #name(arena: &mut [i8], #par_arg: qrt::par::Par<'_>) {
            let split = #split;
            #call
        }
    }
}

fn weights(r: &ChannelRefs) -> TokenStream {
    let (off, len) = (size(r.weights.offset), size(r.weights.len));
    quote!(weights(#off, #len))
}

fn gemm_quant(r: &GemmRefs) -> TokenStream {
    let slice = |b: crate::quant::BlobRef| {
        let (off, len) = (size(b.offset), size(b.len));
        quote!(words(#off, #len))
    };
    let (b, bu, m, s) = (slice(r.base.bias), slice(r.bias_u8), slice(r.base.multiplier), slice(r.base.shift));
    quote!(qrt::gemm::GemmQuant { bias: #b, bias_u8: #bu, multiplier: #m, shift: #s })
}

fn quant(r: &ChannelRefs) -> TokenStream {
    let slice = |b: crate::quant::BlobRef| {
        let (off, len) = (size(b.offset), size(b.len));
        quote!(words(#off, #len))
    };
    let (b, m, s) = (slice(r.bias), slice(r.multiplier), slice(r.shift));
    quote!(qrt::ChannelQuant { bias: #b, multiplier: #m, shift: #s })
}
