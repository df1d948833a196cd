//! Chart test support: placeholder, replaced with helpers that run helm.
