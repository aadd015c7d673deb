//! The floating-point types the simulators are generic over (f32 and f64), and the precision
//! a run chooses between them.

use num_traits::{Float, FromPrimitive, ToPrimitive};
use std::fmt::Debug;

/// A float the integrator can run in. `of` converts a parameter given in f64.
pub trait Real:
    Float + FromPrimitive + ToPrimitive + Debug + Default + Send + Sync + 'static + std::iter::Sum
{
    /// Converts an f64 parameter to this precision.
    fn of(x: f64) -> Self;
    /// Converts back to f64 for output.
    fn f64(self) -> f64;
    /// Name used in benchmark and check output.
    const NAME: &'static str;
}

impl Real for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    const NAME: &'static str = "f32";
}

impl Real for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
    const NAME: &'static str = "f64";
}

/// Working precision of the CPU backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    #[default]
    F64,
}
