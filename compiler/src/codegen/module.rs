//! A model as a module of the user's own crate (the `quantize_model!` and build.rs doors):
//! the same items as the emitted crate's `lib.rs` (one generator, [`model_items`]), with
//! every runtime path absolute (`::qrt::...`, the `qrt` the user's crate depends on) and the
//! `Model` type following `qrt`'s `std` feature (reaching `std` through `qrt`, so a
//! `#![no_std]` crate builds whichever way that feature is unified).

use super::lib_rs::{model_items, Paths, StdGate};
use super::{header_docs, Provenance};
use crate::quant::Program;
use proc_macro2::{Ident, Spacing, TokenStream, TokenTree};
use quote::quote;

/// The inner attributes and items of the module, without the weight blob: the wrapper
/// ([`wrap_module`]) declares `BLOB`, which embeds the blob from wherever the door put it.
pub fn module_body(p: &Program, meta: &Provenance) -> TokenStream {
    let (banner, doc) = header_docs(p, meta, "");
    let items = model_items(p, &Paths { blob: quote!(&BLOB.0), std_gate: StdGate::RuntimeFeature });
    absolute_paths(quote! {
        #![doc = #banner]
        #![doc = ""]
        #![doc = #doc]
        #![forbid(unsafe_code)]

        #items
    })
}

/// `#vis mod #name { #body static BLOB = include_bytes!(#blob_file); #extra }`:
/// `blob_file` is a string literal or a macro call that expands to one, `extra` more items
/// (the macro adds the `include_bytes!` of each input, so editing one rebuilds the crate).
pub fn wrap_module(
    body: TokenStream,
    vis: TokenStream,
    name: &Ident,
    blob_file: TokenStream,
    extra: TokenStream,
) -> TokenStream {
    quote! {
        #vis mod #name {
            #body

            static BLOB: &::qrt::blob::Aligned<[u8]> = &::qrt::blob::Aligned(*include_bytes!(#blob_file));

            #extra
        }
    }
}

/// Makes every path that starts at `qrt` absolute (`::qrt::x`), so a module in the user's
/// crate reaches the runtime whatever the user's own items are called, and sends paths that
/// start at `std` through it (`::qrt::__std::x`): the items that use `std` follow `qrt`'s
/// `std` feature, which can be on in a `#![no_std]` crate that has no `::std` of its own.
fn absolute_paths(code: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = code.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len() + 16);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), absolute_paths(g.stream()));
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
                continue;
            }
            TokenTree::Ident(id) if (id == "qrt" || id == "std") && is_path_sep(&tokens, i + 1) => {
                let after_sep = i >= 2 && is_path_sep(&tokens, i - 2);
                if !after_sep && id == "std" {
                    out.extend(quote!(::qrt::__std));
                    continue;
                }
                if !after_sep {
                    out.push(TokenTree::Punct(proc_macro2::Punct::new(':', Spacing::Joint)));
                    out.push(TokenTree::Punct(proc_macro2::Punct::new(':', Spacing::Alone)));
                }
            }
            _ => {}
        }
        out.push(t.clone());
    }
    out.into_iter().collect()
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_qrt_become_absolute_std_goes_through_qrt_and_others_stay() {
        let code = quote! {
            pub use qrt::Error;
            fn f() -> qrt::par::Par<'static> { let v: std::vec::Vec<i8> = std::vec![]; ::qrt::par::Par::single() }
            fn g(qrt: u8) -> u8 { my::qrt::x(qrt) }
        };
        let want = quote! {
            pub use ::qrt::Error;
            fn f() -> ::qrt::par::Par<'static> { let v: ::qrt::__std::vec::Vec<i8> = ::qrt::__std::vec![]; ::qrt::par::Par::single() }
            fn g(qrt: u8) -> u8 { my::qrt::x(qrt) }
        };
        assert_eq!(absolute_paths(code).to_string(), want.to_string());
    }
}
