//! Generators shared by the property tests of the request and frame parsers.

use marauder_core::protocol::LocationInput;
use proptest::prelude::*;

/// Any finite f64: the only numbers JSON can carry.
pub(crate) fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>().prop_filter("finite", |v| v.is_finite()), -200.0..200.0f64]
}

/// A location frame or body with any finite numbers, valid or not.
pub(crate) fn location_input() -> impl Strategy<Value = LocationInput> {
    let optional = || prop::option::of(finite());
    ((finite(), finite()), (optional(), optional()), (optional(), optional()), prop::option::of(any::<i64>()))
        .prop_map(|((lat, lon), (accuracy, altitude), (speed, heading), ts)| LocationInput {
            lat,
            lon,
            accuracy,
            altitude,
            speed,
            heading,
            ts,
        })
}
