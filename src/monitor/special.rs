//! Special functions the drift tests need: ln Γ (Lanczos), the regularised upper incomplete
//! gamma Q(a, x) (Numerical Recipes §6.2), and the survival functions of the chi-square and the
//! limiting Kolmogorov distributions, each checked against scipy in the tests. The finite-n
//! Kolmogorov and Smirnov distributions of the KS test live in [`super::ks`], which builds on
//! [`ln_gamma`]. (`statrs` has ln Γ and Q(a, x) too, but not the Kolmogorov distributions.)

/// Survival function of the Kolmogorov distribution, `scipy.stats.kstwobign.sf(x)`:
/// 2 Σ (−1)^(k−1) exp(−2k²x²), or the Jacobi-theta form for small x where that series converges
/// slowly.
pub fn kolmogorov_sf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x < 1.0 {
        // CDF = √(2π)/x Σ_{k≥1} exp(−(2k−1)²π²/(8x²)).
        let t = -std::f64::consts::PI * std::f64::consts::PI / (8.0 * x * x);
        let mut s = 0.0;
        for k in 1..=20 {
            let j = (2 * k - 1) as f64;
            let term = (t * j * j).exp();
            s += term;
            if term < 1e-300 {
                break;
            }
        }
        return (1.0 - (2.0 * std::f64::consts::PI).sqrt() / x * s).clamp(0.0, 1.0);
    }
    let mut s = 0.0;
    for k in 1..=100 {
        let kf = k as f64;
        let term = (-2.0 * kf * kf * x * x).exp();
        s += if k % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

/// Survival function of the chi-square distribution with `k` degrees of freedom,
/// `scipy.stats.chi2.sf(x, k)` = Q(k/2, x/2).
pub fn chi2_sf(x: f64, k: f64) -> f64 {
    if x.is_nan() || k <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    gamma_q(0.5 * k, 0.5 * x)
}

/// Regularised upper incomplete gamma Q(a, x): the power series of P below `x < a + 1`, Lentz's
/// continued fraction above (Numerical Recipes §6.2).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut del) = (a, 1.0 / a);
        let mut sum = del;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * front).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (front * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::monitor::assert_close as close;

    #[test]
    fn kolmogorov_sf_matches_scipy_kstwobign() {
        // scipy 1.x: [stats.kstwobign.sf(x) for x in (0.3, 0.5, 0.8, 1.0, 1.36, 2.0, 3.0)]
        let want = [
            (0.3, 0.9999906941986655),
            (0.5, 0.9639452436648751),
            (0.8, 0.5441424115741981),
            (1.0, 0.26999967167735456),
            (1.36, 0.049485876755377876),
            (2.0, 0.0006709252557796953),
            (3.0, 3.045995948942526e-08),
        ];
        for (x, p) in want {
            close(kolmogorov_sf(x), p, 1e-10);
        }
    }

    #[test]
    fn chi2_sf_matches_scipy() {
        // stats.chi2.sf(x, k)
        let want = [
            (3.0, 3.0, 0.3916251762710877),
            (50.0, 10.0, 2.669083424904495e-07),
            (0.5, 1.0, 0.47950012218695337),
            (120.0, 99.0, 0.07424385580596692),
            (1e-3, 2.0, 0.9995001249791693),
            (30.0, 4.0, 4.894437128029217e-06),
        ];
        for (x, k, p) in want {
            close(chi2_sf(x, k), p, 1e-10);
        }
        assert_eq!(chi2_sf(f64::INFINITY, 3.0), 0.0);
    }
}
