//! Float helpers that `core` lacks (`round`, `exp2`), written out so that `qrt` stays
//! `no_std` and every target computes the same bits.

/// Defines `$name(x: $f) -> $f`: rounds to the nearest integer, halves away from zero. NaN,
/// infinities and values that are already integers pass through unchanged (a negative value
/// that rounds to zero gives `+0.0`). `$integral` is `2^(mantissa bits)`: every value of at
/// least that magnitude is an integer, and below it truncation through `$int` is exact, and
/// so is the subtraction (the fraction is just the low bits of `x`).
macro_rules! round_half_away {
    ($name:ident, $f:ty, $int:ty, $integral:expr) => {
        pub(crate) fn $name(x: $f) -> $f {
            const INTEGRAL: $f = $integral;
            if !(x > -INTEGRAL && x < INTEGRAL) {
                return x;
            }
            let truncated = x as $int as $f;
            let fraction = x - truncated;
            if fraction >= 0.5 {
                truncated + 1.0
            } else if fraction <= -0.5 {
                truncated - 1.0
            } else {
                truncated
            }
        }
    };
}

round_half_away!(round_half_away_f32, f32, i32, 8_388_608.0);
round_half_away!(round_half_away_f64, f64, i64, 4_503_599_627_370_496.0);

/// `2^k` exactly, including subnormal results; 0 below the smallest subnormal and
/// infinity above the largest finite power.
pub(crate) fn pow2(k: i32) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1u64 << (k + 1074))
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_halves_go_away_from_zero() {
        let cases: [(f32, f32); 9] = [
            (0.5, 1.0),
            (-0.5, -1.0),
            (0.499_999_97, 0.0),
            (-0.499_999_97, 0.0),
            (1.5, 2.0),
            (2.5, 3.0),
            (-2.5, -3.0),
            (8_388_607.5, 8_388_608.0),
            (16_777_216.0, 16_777_216.0),
        ];
        for (x, want) in cases {
            assert_eq!(round_half_away_f32(x), want, "round({x})");
            assert_eq!(round_half_away_f64(x as f64), want as f64, "round({x} as f64)");
        }
        assert!(round_half_away_f32(f32::NAN).is_nan());
        assert_eq!(round_half_away_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_half_away_f64(0.499_999_999_999_999_94), 0.0);
        assert_eq!(round_half_away_f64(-4_503_599_627_370_495.5), -4_503_599_627_370_496.0);
    }

    #[test]
    fn powers_of_two_are_exact() {
        assert_eq!(pow2(0), 1.0);
        assert_eq!(pow2(1), 2.0);
        assert_eq!(pow2(-1), 0.5);
        assert_eq!(pow2(-62), 1.0 / 4_611_686_018_427_387_904.0);
        assert_eq!(pow2(1023), f64::MAX / (2.0 - f64::EPSILON));
        assert_eq!(pow2(1024), f64::INFINITY);
        assert_eq!(pow2(-1074), f64::from_bits(1));
        assert_eq!(pow2(-1075), 0.0);
    }
}
