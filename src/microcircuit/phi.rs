//! Transfer functions `r = φ(u)` (MODEL.md section 6).

use crate::num::Real;
use serde::{Deserialize, Serialize};

/// The somatic transfer function, shared by all instances of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", try_from = "RawTransfer")]
pub enum Transfer {
    /// `φ(x) = 1 / (1 + e^{-x})`
    Sigmoid,
    /// `φ(x) = ln(1 + e^x)`, evaluated stably as `max(x,0) + ln(1 + e^{-|x|})`.
    /// (The seed clipped to 0 / x beyond |x| > 15; the stable form is exact instead.)
    Softplus,
    /// The paper's form `φ(x) = γ ln(1 + e^{β(x-θ)})`.
    ScaledSoftplus { gamma: f64, beta: f64, theta: f64 },
}

/// `network.phi` as written, checked key by key into a [`Transfer`] (serde's internally tagged
/// enums ignore unknown keys of unit variants, so `{"name": "softplus", "gamma": 2}` would pass).
#[derive(Deserialize)]
struct RawTransfer {
    name: String,
    gamma: Option<f64>,
    beta: Option<f64>,
    theta: Option<f64>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_json::Value>,
}

impl TryFrom<RawTransfer> for Transfer {
    type Error = String;

    fn try_from(r: RawTransfer) -> Result<Self, String> {
        const ALLOWED: &str = "allowed: {\"name\": \"sigmoid\"}, {\"name\": \"softplus\"}, {\"name\": \"scaled_softplus\", \"gamma\": …, \"beta\": …, \"theta\": …}";
        if let Some(k) = r.other.keys().next() {
            return Err(format!("network.phi.{k}: unknown key; {ALLOWED}"));
        }
        let given = [("gamma", r.gamma), ("beta", r.beta), ("theta", r.theta)];
        match r.name.as_str() {
            "sigmoid" | "softplus" => match given.iter().find(|(_, v)| v.is_some()) {
                Some((k, _)) => Err(format!(
                    "network.phi.{k}: {} takes no parameters (only scaled_softplus takes gamma, beta and theta); {ALLOWED}",
                    r.name
                )),
                None if r.name == "sigmoid" => Ok(Transfer::Sigmoid),
                None => Ok(Transfer::Softplus),
            },
            "scaled_softplus" => match (r.gamma, r.beta, r.theta) {
                (Some(gamma), Some(beta), Some(theta)) => {
                    Ok(Transfer::ScaledSoftplus { gamma, beta, theta })
                }
                _ => {
                    let missing: Vec<&str> = given
                        .iter()
                        .filter(|(_, v)| v.is_none())
                        .map(|(k, _)| *k)
                        .collect();
                    Err(format!(
                        "network.phi: scaled_softplus needs gamma, beta and theta; missing {}",
                        missing.join(", ")
                    ))
                }
            },
            other => Err(format!("network.phi.name: unknown `{other}`; {ALLOWED}")),
        }
    }
}

impl Transfer {
    /// Evaluates φ at `x`.
    #[inline(always)]
    pub fn apply<F: Real>(&self, x: F) -> F {
        match *self {
            Transfer::Sigmoid => F::one() / (F::one() + (-x).exp()),
            Transfer::Softplus => softplus(x),
            Transfer::ScaledSoftplus { gamma, beta, theta } => {
                F::of(gamma) * softplus(F::of(beta) * (x - F::of(theta)))
            }
        }
    }

    /// Evaluates φ elementwise: `out[i] = φ(x[i])`.
    #[inline]
    pub fn apply_slice<F: Real>(&self, x: &[F], out: &mut [F]) {
        match *self {
            Transfer::Sigmoid => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = F::one() / (F::one() + (-v).exp());
                }
            }
            _ => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = self.apply(v);
                }
            }
        }
    }

    /// Short name used in output tables.
    pub fn name(&self) -> &'static str {
        match self {
            Transfer::Sigmoid => "sigmoid",
            Transfer::Softplus => "softplus",
            Transfer::ScaledSoftplus { .. } => "scaled_softplus",
        }
    }
}

/// `ln(1 + e^x)` without overflow: `max(x, 0) + ln(1 + e^{-|x|})`.
#[inline(always)]
fn softplus<F: Real>(x: F) -> F {
    x.max(F::zero()) + (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_values() {
        assert_eq!(Transfer::Sigmoid.apply(0.0f64), 0.5);
        let x = 1.3f64;
        assert!((Transfer::Sigmoid.apply(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-15);
    }

    #[test]
    fn softplus_matches_definition_and_is_stable() {
        for &x in &[-30.0f64, -3.0, -0.2, 0.0, 0.7, 4.0, 14.0] {
            let want = (1.0 + x.exp()).ln();
            assert!((Transfer::Softplus.apply(x) - want).abs() < 1e-14, "x={x}");
        }
        assert_eq!(Transfer::Softplus.apply(1000.0f64), 1000.0);
        assert!(Transfer::Softplus.apply(-1000.0f64) >= 0.0);
        assert!(Transfer::Softplus.apply(100.0f32).is_finite());
    }

    #[test]
    fn scaled_softplus_is_paper_form() {
        let t = Transfer::ScaledSoftplus {
            gamma: 0.1,
            beta: 1.0,
            theta: 3.0,
        };
        let x = 2.5f64;
        let want = 0.1 * (1.0 + (x - 3.0f64).exp()).ln();
        assert!((t.apply(x) - want).abs() < 1e-15);
    }

    #[test]
    fn slice_form_equals_scalar_form() {
        let xs = [-2.0f32, 0.0, 0.5, 3.0];
        for t in [
            Transfer::Sigmoid,
            Transfer::Softplus,
            Transfer::ScaledSoftplus {
                gamma: 0.1,
                beta: 1.0,
                theta: 3.0,
            },
        ] {
            let mut out = [0.0f32; 4];
            t.apply_slice(&xs, &mut out);
            for (o, &x) in out.iter().zip(&xs) {
                assert_eq!(*o, t.apply(x));
            }
        }
    }
}
