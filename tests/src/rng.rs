//! A small seeded PRNG (splitmix64) with uniform and normal (Box-Muller) draws, so that
//! test models and data are reproducible byte for byte without a `rand` dependency.

/// splitmix64: a 64-bit state advanced by a constant, then mixed.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    /// The second value of the last Box-Muller pair, not yet returned.
    spare: Option<f64>,
}

impl Rng {
    /// A generator seeded with `seed` (any value, including 0).
    pub fn new(seed: u64) -> Self {
        Rng { state: seed ^ 0x5851_F42D_4C95_7F2D, spare: None }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        (lo as f64 + (hi - lo) as f64 * self.unit()) as f32
    }

    /// Normal with mean 0 and standard deviation `std` (Box-Muller: each pair of uniforms
    /// gives two values).
    pub fn normal(&mut self, std: f32) -> f32 {
        if let Some(z) = self.spare.take() {
            return (z * std as f64) as f32;
        }
        let u1 = 1.0 - self.unit(); // (0, 1]: ln is finite
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        self.spare = Some(r * sin);
        (r * cos * std as f64) as f32
    }

    /// `n` normal values with standard deviation `std`.
    pub fn normals(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal(std)).collect()
    }

    /// `n` uniform values in `[lo, hi)`.
    pub fn uniforms(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}
