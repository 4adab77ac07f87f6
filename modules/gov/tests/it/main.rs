//! One integration-test binary per crate (faster to link than one per file).

mod gov;
