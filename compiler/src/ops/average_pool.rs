//! `AveragePool` (both `count_include_pad` modes, `ceil_mode`). Geometry in
//! [`super::pool`]. Quantized, the output keeps the input's scale and zero point and the
//! integer kernel divides the window sum with rounding (see `qrt::pool`).
