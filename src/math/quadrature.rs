//! Gauss–Legendre quadrature nodes and weights on [−1, 1].
//!
//! Nodes are the roots of `P_n`, found by Newton's method from the asymptotic guess
//! `cos(π(i − 1/4)/(n + 1/2))`; weights `2 / ((1 − x²) P_n'(x)²)`. Exact for polynomials of
//! degree `2n − 1`.

/// `n` nodes and weights on [−1, 1], nodes increasing.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 0 {
                1.0
            } else if n == 1 {
                x
            } else {
                p1
            };
            let pm = if n == 1 { 1.0 } else { p0 };
            derivative = n as f64 * (x * pn - pm) / (x * x - 1.0);
            let dx = pn / derivative;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - x * x) * derivative * derivative);
        nodes[n - 1 - i] = x;
        nodes[i] = -x;
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_polynomials_and_smooth_functions() {
        for n in [1, 2, 5, 16, 64, 400] {
            let (x, w) = gauss_legendre(n);
            let total: f64 = w.iter().sum();
            assert!((total - 2.0).abs() < 1e-13, "n={n}");
            // ∫ x^{2k} = 2/(2k+1) exactly for 2k ≤ 2n − 1
            let k = (n - 1).min(20);
            let integral: f64 = x
                .iter()
                .zip(&w)
                .map(|(x, w)| w * x.powi(2 * k as i32))
                .sum();
            assert!((integral - 2.0 / (2 * k + 1) as f64).abs() < 1e-13, "n={n}");
        }
        let (x, w) = gauss_legendre(40);
        let integral: f64 = x.iter().zip(&w).map(|(x, w)| w * x.exp()).sum();
        assert!((integral - (1f64.exp() - (-1f64).exp())).abs() < 1e-14);
    }
}
